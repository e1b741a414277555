//! A real local Ethereum node for tests and benchmarks: anvil (Foundry), installed from
//! npm (`@foundry-rs/anvil-linux-amd64`) into `target/tools/anvil` when it is not on the
//! machine, started on a free 127.0.0.1 port, stopped when dropped.
//!
//! Also the two contracts the tests deploy, written as EVM bytecode here (no Solidity
//! compiler is needed): a minimal ERC-20 (`transfer`, `mint`, `balanceOf`; emits the
//! standard `Transfer` event) and a splitter that forwards the ETH it is sent to several
//! accounts in one transaction (internal value transfers, visible only in call traces).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ashiato_net::jsonrpc::{CallError, CallOptions, JsonRpc};
use serde_json::{json, Value};

use crate::convert::TRANSFER_TOPIC;
use crate::json::{Receipt, H160, H256, Q};

/// The anvil release the tests are written against.
pub const ANVIL_VERSION: &str = "1.7.1";
const NPM_PACKAGE: &str = "@foundry-rs/anvil-linux-amd64";

#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    #[error("anvil: {0}")]
    Setup(String),
    #[error("anvil: {call}: {why}")]
    Call { call: String, why: String },
}

fn call_error(e: CallError) -> DevnetError {
    match e {
        CallError::Unavailable { call, why, .. } | CallError::Lied { call, why } => {
            DevnetError::Call { call, why }
        }
        CallError::Rpc {
            call,
            code,
            message,
        } => DevnetError::Call {
            call,
            why: format!("RPC error {code}: {message}"),
        },
        CallError::Unauthorized { call, status } => DevnetError::Call {
            call,
            why: format!("HTTP {status}"),
        },
    }
}

/// Where anvil is: `$ASHIATO_ANVIL`, `anvil` on the PATH, or the npm package under
/// `target/tools/anvil` (installed there if missing).
pub fn anvil_binary() -> Result<PathBuf, DevnetError> {
    if let Some(p) = std::env::var_os("ASHIATO_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("anvil"))
            .find(|p| p.is_file())
    }) {
        return Ok(p);
    }
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/anvil");
    let bin = prefix
        .join("node_modules")
        .join(NPM_PACKAGE)
        .join("bin/anvil");
    if bin.is_file() {
        return Ok(bin);
    }
    // Several test binaries may get here at once: one installs, the others wait.
    std::fs::create_dir_all(&prefix).map_err(|e| DevnetError::Setup(e.to_string()))?;
    let lock = prefix.join(".installing");
    let started = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(_) if started.elapsed() < Duration::from_secs(300) => {
                if bin.is_file() {
                    return Ok(bin);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(DevnetError::Setup(format!("{}: {e}", lock.display()))),
        }
    }
    // npm writes the package in place, so a waiter that saw `bin` appear could exec it
    // half-written ("Text file busy"). Install into a staging prefix and rename the
    // finished tree into place: `bin` exists only once it is whole.
    let staging = prefix.join(format!(".staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let status = Command::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&staging)
        .arg(format!("{NPM_PACKAGE}@{ANVIL_VERSION}"))
        .stdout(Stdio::null())
        .status();
    let installed = match status {
        Ok(s) if s.success() => {
            let modules = prefix.join("node_modules");
            // A kill during an earlier install can leave a tree without the binary.
            let _ = std::fs::remove_dir_all(&modules);
            std::fs::rename(staging.join("node_modules"), &modules)
                .map_err(|e| DevnetError::Setup(format!("{}: {e}", modules.display())))
                .and_then(|()| {
                    if bin.is_file() {
                        Ok(bin)
                    } else {
                        Err(DevnetError::Setup(format!(
                            "npm installed {NPM_PACKAGE}@{ANVIL_VERSION} without {}",
                            bin.display()
                        )))
                    }
                })
        }
        Ok(s) => Err(DevnetError::Setup(format!(
            "npm install {NPM_PACKAGE}@{ANVIL_VERSION} failed ({s}); install anvil or set ASHIATO_ANVIL"
        ))),
        Err(e) => Err(DevnetError::Setup(format!(
            "npm is needed to install anvil ({e}); install anvil or set ASHIATO_ANVIL"
        ))),
    };
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_file(&lock);
    installed
}

/// A running anvil node and a client for driving it.
pub struct Anvil {
    child: Child,
    url: String,
    rpc: JsonRpc,
    /// anvil's funded, unlocked dev accounts.
    pub accounts: Vec<H160>,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil with the genesis at `genesis_time` (unix seconds) and any account
    /// able to send (`--auto-impersonate`), so a replay can use a case's real addresses.
    pub fn start(genesis_time: u64) -> Result<Anvil, DevnetError> {
        let bin = anvil_binary()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| DevnetError::Setup(e.to_string()))?
            .port();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--timestamp", &genesis_time.to_string()])
            .args(["--accounts", "3", "--balance", "100000000"])
            .args(["--auto-impersonate", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| DevnetError::Setup(format!("{}: {e}", bin.display())))?;
        let url = format!("http://127.0.0.1:{port}");
        let rpc = JsonRpc::new(
            &url,
            None,
            CallOptions {
                timeout: Duration::from_secs(30),
                retries: 0,
                ..CallOptions::default()
            },
        )
        .map_err(DevnetError::Setup)?;
        let mut a = Anvil {
            child,
            url,
            rpc,
            accounts: Vec::new(),
        };
        let started = Instant::now();
        loop {
            match a.rpc.call::<Vec<H160>>("eth_accounts", json!([])) {
                Ok(acc) => {
                    a.accounts = acc;
                    return Ok(a);
                }
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(call_error(e)),
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, DevnetError> {
        self.rpc.call(method, params).map_err(call_error)
    }

    /// A call whose answer does not matter (anvil answers some with `null`).
    pub fn call_null(&self, method: &str, params: Value) -> Result<(), DevnetError> {
        self.rpc
            .call_opt::<Value>(method, params)
            .map(|_| ())
            .map_err(call_error)
    }

    /// Sends a transaction (auto-mined into its own block) and returns its receipt.
    pub fn send(
        &self,
        from: &H160,
        to: Option<&H160>,
        value: u128,
        data: &[u8],
    ) -> Result<Receipt, DevnetError> {
        let mut tx = json!({
            "from": from.to_string(),
            "value": format!("{value:#x}"),
            "data": format!("0x{}", hex::encode(data)),
        });
        if let Some(to) = to {
            tx["to"] = json!(to.to_string());
        }
        let hash: H256 = self.call("eth_sendTransaction", json!([tx]))?;
        // Auto-mining is asynchronous: the receipt appears a moment later.
        let started = Instant::now();
        let r: Receipt = loop {
            let p = json!([hash.to_string()]);
            match self.rpc.call_opt("eth_getTransactionReceipt", p) {
                Ok(Some(r)) => break r,
                Ok(None) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(None) => {
                    return Err(DevnetError::Call {
                        call: format!("eth_getTransactionReceipt {hash}"),
                        why: "not mined within 10 s".into(),
                    })
                }
                Err(e) => return Err(call_error(e)),
            }
        };
        if r.status.map(|s| s.0) != Some(1) {
            return Err(DevnetError::Call {
                call: format!("eth_sendTransaction {tx}"),
                why: "the transaction failed".into(),
            });
        }
        Ok(r)
    }

    /// Deploys `runtime` code; returns the contract's address.
    pub fn deploy(&self, from: &H160, runtime: &[u8]) -> Result<H160, DevnetError> {
        let r = self.send(from, None, 0, &initcode(runtime))?;
        r.contract_address.ok_or_else(|| DevnetError::Call {
            call: "deploy".into(),
            why: "no contract address in the receipt".into(),
        })
    }

    /// The next block's time (must be after the last block's).
    pub fn set_next_time(&self, unix: u64) -> Result<(), DevnetError> {
        self.call_null("evm_setNextBlockTimestamp", json!([unix]))
    }

    pub fn balance(&self, a: &H160) -> Result<u128, DevnetError> {
        let q: Q = self.call("eth_getBalance", json!([a.to_string(), "latest"]))?;
        Ok(q.0)
    }

    pub fn token_balance(&self, token: &H160, a: &H160) -> Result<u128, DevnetError> {
        let mut data = vec![0x70, 0xa0, 0x82, 0x31];
        data.extend_from_slice(&word_addr(a));
        let out: crate::json::Bytes = self.call(
            "eth_call",
            json!([{"to": token.to_string(), "data": format!("0x{}", hex::encode(&data))}, "latest"]),
        )?;
        let w: [u8; 32] = out.0.as_slice().try_into().map_err(|_| DevnetError::Call {
            call: "balanceOf".into(),
            why: "not one word".into(),
        })?;
        crate::json::Fixed(w).amount().ok_or(DevnetError::Call {
            call: "balanceOf".into(),
            why: "over u128".into(),
        })
    }

    /// `evm_snapshot`: an id to [`Anvil::revert`] to.
    pub fn snapshot(&self) -> Result<String, DevnetError> {
        self.call("evm_snapshot", json!([]))
    }

    /// Throws away every block after the snapshot: what a reorganisation looks like
    /// from outside once other blocks are mined at those heights.
    pub fn revert(&self, id: &str) -> Result<(), DevnetError> {
        let ok: bool = self.call("evm_revert", json!([id]))?;
        if ok {
            Ok(())
        } else {
            Err(DevnetError::Call {
                call: format!("evm_revert {id}"),
                why: "refused".into(),
            })
        }
    }
}

fn word_addr(a: &H160) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(&a.0);
    w
}

fn word_u128(v: u128) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// Calldata for the token's `transfer(to, amount)`.
pub fn erc20_transfer(to: &H160, amount: u128) -> Vec<u8> {
    let mut d = vec![0xa9, 0x05, 0x9c, 0xbb];
    d.extend_from_slice(&word_addr(to));
    d.extend_from_slice(&word_u128(amount));
    d
}

/// Calldata for the token's `mint(to, amount)` (a `Transfer` from the zero address).
pub fn erc20_mint(to: &H160, amount: u128) -> Vec<u8> {
    let mut d = vec![0x40, 0xc1, 0x0f, 0x19];
    d.extend_from_slice(&word_addr(to));
    d.extend_from_slice(&word_u128(amount));
    d
}

/// Calldata for the splitter: (recipient, amount) pairs.
pub fn split(pays: &[(H160, u128)]) -> Vec<u8> {
    let mut d = Vec::new();
    for (to, v) in pays {
        d.extend_from_slice(&word_addr(to));
        d.extend_from_slice(&word_u128(*v));
    }
    d
}

/// A tiny assembler: opcodes, `PUSH2 label`, `JUMPDEST label`.
struct Asm {
    code: Vec<u8>,
    labels: Vec<(&'static str, usize)>,
    fixups: Vec<(&'static str, usize)>,
}

// The opcodes used.
const STOP: u8 = 0x00;
const ADD: u8 = 0x01;
const SUB: u8 = 0x03;
const LT: u8 = 0x10;
const GT: u8 = 0x11;
const EQ: u8 = 0x14;
const ISZERO: u8 = 0x15;
const SHR: u8 = 0x1c;
const CALLER: u8 = 0x33;
const CALLDATALOAD: u8 = 0x35;
const CALLDATASIZE: u8 = 0x36;
const CODECOPY: u8 = 0x39;
const MSTORE: u8 = 0x52;
const SLOAD: u8 = 0x54;
const SSTORE: u8 = 0x55;
const JUMP: u8 = 0x56;
const JUMPI: u8 = 0x57;
const GAS: u8 = 0x5a;
const JUMPDEST: u8 = 0x5b;
const PUSH1: u8 = 0x60;
const PUSH2: u8 = 0x61;
const PUSH4: u8 = 0x63;
const PUSH32: u8 = 0x7f;
const DUP1: u8 = 0x80;
const DUP2: u8 = 0x81;
const DUP4: u8 = 0x83;
const DUP5: u8 = 0x84;
const DUP6: u8 = 0x85;
const SWAP1: u8 = 0x90;
const LOG3: u8 = 0xa3;
const CALL: u8 = 0xf1;
const RETURN: u8 = 0xf3;
const REVERT: u8 = 0xfd;

impl Asm {
    fn new() -> Asm {
        Asm {
            code: Vec::new(),
            labels: Vec::new(),
            fixups: Vec::new(),
        }
    }
    fn op(&mut self, ops: &[u8]) -> &mut Asm {
        self.code.extend_from_slice(ops);
        self
    }
    fn push1(&mut self, v: u8) -> &mut Asm {
        self.op(&[PUSH1, v])
    }
    fn push_label(&mut self, l: &'static str) -> &mut Asm {
        self.code.push(PUSH2);
        self.fixups.push((l, self.code.len()));
        self.op(&[0, 0])
    }
    fn label(&mut self, l: &'static str) -> &mut Asm {
        self.labels.push((l, self.code.len()));
        self.op(&[JUMPDEST])
    }
    fn finish(&mut self) -> Vec<u8> {
        for (l, at) in &self.fixups {
            let pos = self
                .labels
                .iter()
                .find(|(n, _)| n == l)
                .map(|(_, p)| *p as u16)
                .expect("every label used is defined");
            self.code[*at..*at + 2].copy_from_slice(&pos.to_be_bytes());
        }
        std::mem::take(&mut self.code)
    }
}

/// Code that returns `runtime` as the contract's code.
pub fn initcode(runtime: &[u8]) -> Vec<u8> {
    let len = (runtime.len() as u16).to_be_bytes();
    // PUSH2 len, DUP1, PUSH1 offset, PUSH1 0, CODECOPY, PUSH1 0, RETURN: 12 bytes.
    let mut c = vec![
        PUSH2, len[0], len[1], DUP1, PUSH1, 12, PUSH1, 0, CODECOPY, PUSH1, 0, RETURN,
    ];
    c.extend_from_slice(runtime);
    c
}

/// The minimal ERC-20: balances in storage slot = holder address; `transfer` reverts
/// when the balance is short; `mint` is open to anyone (a test token).
pub fn erc20_runtime() -> Vec<u8> {
    let mut a = Asm::new();
    a.push1(0).op(&[CALLDATALOAD]).push1(0xe0).op(&[SHR]);
    for (sel, l) in [
        ([0xa9, 0x05, 0x9c, 0xbb], "transfer"),
        ([0x40, 0xc1, 0x0f, 0x19], "mint"),
        ([0x70, 0xa0, 0x82, 0x31], "balanceOf"),
    ] {
        a.op(&[DUP1, PUSH4])
            .op(&sel)
            .op(&[EQ])
            .push_label(l)
            .op(&[JUMPI]);
    }
    a.label("fail").push1(0).op(&[DUP1, REVERT]);
    // transfer(to, amount): [amount] → debit the caller, credit `to`, log, return true.
    a.label("transfer")
        .push1(0x24)
        .op(&[CALLDATALOAD, CALLER, SLOAD]); // amount bal
    a.op(&[DUP2, DUP2, LT]).push_label("fail").op(&[JUMPI]); // bal < amount → fail
    a.op(&[DUP2, SWAP1, SUB, CALLER, SSTORE]); // bal - amount → [amount]
    a.push_label("credit").op(&[JUMP]);
    // mint(to, amount): no debit; the event's sender is the zero address.
    a.label("mint").push1(0x24).op(&[CALLDATALOAD]);
    a.push_label("credit_from_zero").op(&[JUMP]);
    a.label("credit")
        .op(&[CALLER])
        .push_label("credit_common")
        .op(&[JUMP]);
    a.label("credit_from_zero").push1(0);
    // [amount, from]
    a.label("credit_common")
        .push1(4)
        .op(&[CALLDATALOAD, DUP1, SLOAD]); // amount from to balto
    a.op(&[DUP4, ADD, SWAP1, SSTORE]); // amount from
    a.op(&[SWAP1]).push1(0).op(&[MSTORE]); // from; mem[0] = amount
    a.push1(4).op(&[CALLDATALOAD, SWAP1]); // to from
    a.op(&[PUSH32])
        .op(&TRANSFER_TOPIC)
        .push1(0x20)
        .push1(0)
        .op(&[LOG3]);
    a.push1(1)
        .push1(0)
        .op(&[MSTORE])
        .push1(0x20)
        .push1(0)
        .op(&[RETURN]);
    // balanceOf(owner)
    a.label("balanceOf")
        .push1(4)
        .op(&[CALLDATALOAD, SLOAD])
        .push1(0)
        .op(&[MSTORE]);
    a.push1(0x20).push1(0).op(&[RETURN]);
    a.finish()
}

/// The splitter: calldata is (recipient, amount) word pairs; each is paid with a CALL;
/// any failed payment reverts the whole transaction.
pub fn splitter_runtime() -> Vec<u8> {
    let mut a = Asm::new();
    a.push1(0); // [i]
    a.label("loop")
        .op(&[DUP1, CALLDATASIZE, GT, ISZERO])
        .push_label("end")
        .op(&[JUMPI]);
    a.push1(0).op(&[DUP1, DUP1, DUP1]); // retSize retOff argsSize argsOff
    a.op(&[DUP5]).push1(0x20).op(&[ADD, CALLDATALOAD]); // value = cd[i + 32]
    a.op(&[DUP6, CALLDATALOAD, GAS, CALL]); // to = cd[i]
    a.op(&[ISZERO]).push_label("fail").op(&[JUMPI]);
    a.push1(0x40).op(&[ADD]).push_label("loop").op(&[JUMP]);
    a.label("end").op(&[STOP]);
    a.label("fail").push1(0).op(&[DUP1, REVERT]);
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_patched_to_their_jumpdests() {
        for code in [erc20_runtime(), splitter_runtime()] {
            let mut i = 0;
            while i < code.len() {
                let op = code[i];
                if op == PUSH2 {
                    let at = u16::from_be_bytes([code[i + 1], code[i + 2]]) as usize;
                    if code.get(i + 3).is_some_and(|&n| n == JUMP || n == JUMPI) {
                        assert_eq!(code[at], JUMPDEST, "PUSH2 at {i} points at {at}");
                    }
                }
                i += 1 + if (PUSH1..=PUSH32).contains(&op) {
                    (op - PUSH1 + 1) as usize
                } else {
                    0
                };
            }
        }
    }
}
