//! A Bitcoin Core JSON-RPC client: `getblockcount`, `getblockhash`, `getblock` with
//! verbosity 3 (every transaction's raw bytes and the coin each input spends, from the
//! node's undo data, so a sync can start anywhere without a UTXO set).
//!
//! Nothing the node says is taken on trust where it can be checked: the block is rebuilt
//! from the header fields and the raw transactions, and must hash to the hash asked for,
//! carry enough proof of work for the network, and match its merkle root and witness
//! commitment; every transaction must hash to its txid; every input's prevout must be
//! the outpoint the raw input names; no transaction may spend more than its inputs hold,
//! no txid may repeat. What cannot be checked without a UTXO set is the prevouts
//! themselves (value and script, i.e. the spent coin's owner), and proof of work is
//! checked against the network's minimum difficulty, not the chain's difficulty at that
//! height: trust the node you sync from for those.
//!
//! Errors name the node, the call and what was wrong. Transport failures, timeouts, 5xx
//! without an RPC error, bodies that are not JSON (a truncated answer) and Core's
//! "warming up" (-28) are retried with exponential backoff; an RPC error, a wrong
//! password and an answer that fails a check are not.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ashiato_net::jsonrpc::{CallOptions, JsonRpc};
use bitcoin::block::{Header, Version};
use bitcoin::consensus::Decodable;
use bitcoin::hashes::Hash;
use bitcoin::hex::FromHex;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, ScriptBuf, Target, Transaction, TxMerkleNode, TxOut,
    Txid,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::block::check_block;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// The first backoff; it doubles after each failed attempt.
    pub backoff: Duration,
    /// Which network's proof-of-work limit a block must meet.
    pub network: bitcoin::Network,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(200),
            network: bitcoin::Network::Bitcoin,
        }
    }
}

/// How to log in: Core's `-rpcuser`/`-rpcpassword`, or its `.cookie` file.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    UserPass(String, String),
    Cookie(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("Bitcoin node {node}: {call}: {why} (after {attempts} attempts)")]
    Unavailable {
        node: String,
        call: String,
        why: String,
        attempts: u32,
    },
    #[error("Bitcoin node {node}: {call}: RPC error {code}: {message}")]
    Rpc {
        node: String,
        call: String,
        code: i64,
        message: String,
    },
    #[error("Bitcoin node {node}: {call}: refused the login (HTTP {status}); check the RPC user and password or the cookie file")]
    Unauthorized {
        node: String,
        call: String,
        status: u16,
    },
    #[error("Bitcoin node {node}: {call}: the node lied: {why}")]
    Lied {
        node: String,
        call: String,
        why: String,
    },
    #[error("cookie file {path}: {why}")]
    Cookie { path: PathBuf, why: String },
}

ashiato_net::impl_from_call!(RpcError);

/// A block as a sync uses it: checked, with the coins its inputs spend in input order
/// (coinbase excluded), as undo data gives them.
#[derive(Debug, Clone)]
pub struct RpcBlock {
    pub height: u64,
    pub block: Block,
    pub prevouts: Vec<TxOut>,
}

/// `getblock <hash> 3`, the fields read (Core sends more).
#[derive(Deserialize)]
pub(crate) struct JBlock {
    hash: String,
    height: u64,
    version: i32,
    merkleroot: String,
    time: u32,
    nonce: u32,
    bits: String,
    previousblockhash: Option<String>,
    tx: Vec<JTx>,
}

#[derive(Deserialize)]
struct JTx {
    txid: String,
    hex: String,
    vin: Vec<JVin>,
}

#[derive(Deserialize)]
struct JVin {
    coinbase: Option<String>,
    txid: Option<String>,
    vout: Option<u32>,
    prevout: Option<JPrevout>,
}

#[derive(Deserialize)]
struct JPrevout {
    value: Box<RawValue>,
    #[serde(rename = "scriptPubKey")]
    script_pub_key: JScript,
}

#[derive(Deserialize)]
struct JScript {
    hex: String,
}

/// Core's amounts are JSON numbers with up to eight decimals (`50.00000000`); read
/// exactly, as satoshi, from the number's text.
pub fn parse_btc_amount(text: &str) -> Option<u64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || frac.len() > 8
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = int.parse().ok()?;
    let mut frac_sat = 0u64;
    for (i, d) in frac.bytes().enumerate() {
        frac_sat += u64::from(d - b'0') * 10u64.pow(7 - i as u32);
    }
    let sat = whole.checked_mul(100_000_000)?.checked_add(frac_sat)?;
    (sat <= Amount::MAX_MONEY.to_sat()).then_some(sat)
}

pub struct RpcClient {
    rpc: JsonRpc,
    opts: ClientOptions,
}

impl RpcClient {
    pub fn new(url: &str, auth: Auth, opts: ClientOptions) -> Result<RpcClient, RpcError> {
        let auth = match auth {
            Auth::None => None,
            Auth::UserPass(u, p) => Some((u, p)),
            Auth::Cookie(path) => Some(read_cookie(&path)?),
        };
        let call_opts = CallOptions {
            timeout: opts.timeout,
            retries: opts.retries,
            backoff: opts.backoff,
            // -28: Core is still loading its block index.
            retry_codes: vec![-28],
        };
        let rpc = JsonRpc::new(url, auth, call_opts).map_err(|why| RpcError::Unavailable {
            node: url.to_owned(),
            call: "client setup".into(),
            why,
            attempts: 0,
        })?;
        Ok(RpcClient { rpc, opts })
    }

    pub fn node(&self) -> &str {
        self.rpc.url()
    }

    pub fn network(&self) -> bitcoin::Network {
        self.opts.network
    }

    fn lied(&self, call: &str, why: impl Into<String>) -> RpcError {
        RpcError::Lied {
            node: self.node().to_owned(),
            call: call.to_owned(),
            why: why.into(),
        }
    }

    /// One call with retries.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, RpcError> {
        self.rpc
            .call(method, params)
            .map_err(|e| RpcError::from_call(self.node(), e))
    }

    pub fn block_count(&self) -> Result<u64, RpcError> {
        self.call("getblockcount", serde_json::json!([]))
    }

    pub fn block_hash(&self, height: u64) -> Result<BlockHash, RpcError> {
        let s: String = self.call("getblockhash", serde_json::json!([height]))?;
        s.parse().map_err(|_| {
            self.lied(
                &format!("getblockhash [{height}]"),
                format!("{s:?} is not a block hash"),
            )
        })
    }

    /// The block at `height` with its prevouts, checked (see the module notes).
    pub fn block_at(&self, height: u64) -> Result<RpcBlock, RpcError> {
        let hash = self.block_hash(height)?;
        let call = format!("getblock [\"{hash}\",3]");
        let j: JBlock = self.call("getblock", serde_json::json!([hash.to_string(), 3]))?;
        block_from_json(&j, height, hash, self.opts.network).map_err(|why| self.lied(&call, why))
    }
}

fn read_cookie(path: &Path) -> Result<(String, String), RpcError> {
    let text = std::fs::read_to_string(path).map_err(|e| RpcError::Cookie {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    let (u, p) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| RpcError::Cookie {
            path: path.to_owned(),
            why: "not of the form user:password".into(),
        })?;
    Ok((u.to_owned(), p.to_owned()))
}

fn hash_of<H: std::str::FromStr>(s: &str, what: &str) -> Result<H, String> {
    s.parse()
        .map_err(|_| format!("{what} {s:?} is not a 32-byte hex hash"))
}

/// Rebuilds and checks a `getblock … 3` answer.
pub(crate) fn block_from_json(
    j: &JBlock,
    height: u64,
    hash: BlockHash,
    network: bitcoin::Network,
) -> Result<RpcBlock, String> {
    if j.height != height {
        return Err(format!(
            "asked for the block at height {height}, got height {}",
            j.height
        ));
    }
    if hash_of::<BlockHash>(&j.hash, "hash")? != hash {
        return Err(format!("asked for block {hash}, got {}", j.hash));
    }
    let bits =
        u32::from_str_radix(&j.bits, 16).map_err(|_| format!("bits {:?} is not hex", j.bits))?;
    let header = Header {
        version: Version::from_consensus(j.version),
        prev_blockhash: match &j.previousblockhash {
            Some(p) => hash_of(p, "previousblockhash")?,
            None => BlockHash::all_zeros(),
        },
        merkle_root: hash_of::<TxMerkleNode>(&j.merkleroot, "merkleroot")?,
        time: j.time,
        bits: CompactTarget::from_consensus(bits),
        nonce: j.nonce,
    };
    if header.block_hash() != hash {
        return Err(format!(
            "the header fields hash to {}, not to the block's hash {hash}",
            header.block_hash()
        ));
    }
    let limit = match network {
        bitcoin::Network::Bitcoin => Target::MAX_ATTAINABLE_MAINNET,
        bitcoin::Network::Regtest => Target::MAX_ATTAINABLE_REGTEST,
        _ => Target::MAX_ATTAINABLE_TESTNET,
    };
    if header.target() > limit {
        return Err(format!(
            "target {:#x} is easier than the {network} limit",
            bits
        ));
    }
    let mut txdata = Vec::with_capacity(j.tx.len());
    let mut txids = std::collections::HashSet::with_capacity(j.tx.len());
    let mut prevouts = Vec::new();
    for (ti, t) in j.tx.iter().enumerate() {
        let raw = hex_bytes(&t.hex).ok_or_else(|| format!("tx {ti}: hex is not hex"))?;
        let mut r = raw.as_slice();
        let tx = Transaction::consensus_decode(&mut r)
            .map_err(|e| format!("tx {ti} ({}): not a transaction: {e}", t.txid))?;
        if !r.is_empty() {
            return Err(format!(
                "tx {ti} ({}): {} bytes after the transaction",
                t.txid,
                r.len()
            ));
        }
        let txid = tx.compute_txid();
        if txid != hash_of::<Txid>(&t.txid, "txid")? {
            return Err(format!(
                "tx {ti}: its bytes hash to {txid}, not to the txid {}",
                t.txid
            ));
        }
        if t.vin.len() != tx.input.len() {
            return Err(format!(
                "tx {txid}: {} vin entries for {} inputs",
                t.vin.len(),
                tx.input.len()
            ));
        }
        let mut spent = 0u64;
        for (i, (v, input)) in t.vin.iter().zip(&tx.input).enumerate() {
            if tx.is_coinbase() {
                if v.coinbase.is_none() {
                    return Err(format!("tx {txid}: a coinbase input without `coinbase`"));
                }
                continue;
            }
            let named = match (&v.txid, v.vout) {
                (Some(t), Some(o)) => (hash_of::<Txid>(t, "vin txid")?, o),
                _ => return Err(format!("tx {txid} input {i}: no txid/vout")),
            };
            if named != (input.previous_output.txid, input.previous_output.vout) {
                return Err(format!(
                    "tx {txid} input {i}: vin says {}:{}, the raw input spends {}",
                    named.0, named.1, input.previous_output
                ));
            }
            let p = v.prevout.as_ref().ok_or_else(|| {
                format!("tx {txid} input {i}: no prevout (a pruned block, or a node older than Core 23 that lacks getblock verbosity 3)")
            })?;
            let value = parse_btc_amount(p.value.get()).ok_or_else(|| {
                format!(
                    "tx {txid} input {i}: prevout value {} is not an amount",
                    p.value.get()
                )
            })?;
            let script = hex_bytes(&p.script_pub_key.hex)
                .ok_or_else(|| format!("tx {txid} input {i}: prevout script is not hex"))?;
            spent = spent.saturating_add(value);
            prevouts.push(TxOut {
                value: Amount::from_sat(value),
                script_pubkey: ScriptBuf::from_bytes(script),
            });
        }
        let paid = tx
            .output
            .iter()
            .try_fold(0u64, |sum, o| sum.checked_add(o.value.to_sat()))
            .filter(|p| *p <= Amount::MAX_MONEY.to_sat())
            .ok_or_else(|| format!("tx {txid}: outputs pay more than 21 million BTC"))?;
        if !tx.is_coinbase() && paid > spent {
            return Err(format!(
                "tx {txid} pays {paid} sat from prevouts worth {spent} sat"
            ));
        }
        if !txids.insert(txid) {
            // A repeated last transaction leaves the merkle root unchanged (CVE-2012-2459).
            return Err(format!("tx {txid} appears twice in the block"));
        }
        txdata.push(tx);
    }
    let block = Block { header, txdata };
    check_block(&block, &format!("getblock {hash}")).map_err(|e| e.to_string())?;
    Ok(RpcBlock {
        height,
        block,
        prevouts,
    })
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    Vec::from_hex(s).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_btc_amount;

    #[test]
    fn amounts_are_read_exactly() {
        assert_eq!(parse_btc_amount("50.00000000"), Some(5_000_000_000));
        assert_eq!(parse_btc_amount("0.00000001"), Some(1));
        assert_eq!(parse_btc_amount("0.1"), Some(10_000_000));
        assert_eq!(
            parse_btc_amount("20999999.97690000"),
            Some(2_099_999_997_690_000)
        );
        assert_eq!(parse_btc_amount("21000000.00000001"), None);
        for bad in ["", ".5", "-1.0", "1e-8", "0.000000001", "1.2.3", "NaN"] {
            assert_eq!(parse_btc_amount(bad), None, "{bad}");
        }
    }
}
