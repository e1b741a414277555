//! `ashiato-eth-bench`: Ethereum JSON-RPC sync speed against a real local node (anvil),
//! with a plain Python client as the baseline in the same run. Not a test: numbers
//! depend on the machine; rerun it to check a claim.
//!
//! The load is SYNTHETIC, made by a seeded generator (SplitMix64, `--seed`): the test
//! ERC-20 (`ashiato_eth::devnet::erc20_runtime`) is deployed, ~200 synthetic holders get
//! ETH and a mint of the token, then `--blocks` blocks of `--txs-per-block` transactions
//! each, a mix of plain ETH payments and ERC-20 transfers between the holders (automine
//! off, the transactions sent, then `evm_mine`; block times fixed). Making the load is
//! timed apart from the sync.
//!
//! Every block from genesis to the tip is then synced into a fresh store over JSON-RPC
//! with the default client (receipts by block, geth `callTracer` traces), once per
//! `--concurrency`; and fetched by `tools/baseline_eth_rpc.py` (urllib, one call at a
//! time, the same three calls per block), which counts `Transfer` logs. Both must count
//! exactly the `Transfer` logs the generator caused, and the store must hold exactly the
//! transfers the sync reports.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use ashiato::splitmix::SplitMix64;
use ashiato_eth::devnet::{self, erc20_mint, erc20_runtime, erc20_transfer, Anvil};
use ashiato_eth::json::{Fixed, H160, H256, Q};
use ashiato_eth::rpc::{ClientOptions, EthClient, TraceMode};
use ashiato_eth::sync::{sync, SyncOptions};
use ashiato_model::Chain;
use ashiato_store::Store;
use clap::Parser;
use comfy_table::presets::ASCII_MARKDOWN;
use comfy_table::Table;
use serde_json::{json, Value};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The chain's genesis time (unix seconds); block k is 12 s later per block.
const GENESIS_TIME: u64 = 1_700_000_000;
const BLOCK_SECONDS: u64 = 12;
/// 1 ETH in wei.
const ETHER: u128 = 1_000_000_000_000_000_000;
/// Explicit gas limits, so nothing is estimated against a state the block changes.
const GAS_ETH: u64 = 21_000;
const GAS_TOKEN: u64 = 120_000;

#[derive(Parser)]
#[command(
    about = "Ethereum JSON-RPC sync speed on a SYNTHETIC anvil chain, against a plain Python client"
)]
struct Args {
    /// Blocks of synthetic payments (after the deploy, funding and minting blocks).
    #[arg(long, default_value_t = 400)]
    blocks: u64,
    #[arg(long, default_value_t = 8)]
    txs_per_block: usize,
    /// Synthetic token holders.
    #[arg(long, default_value_t = 200)]
    holders: usize,
    /// Share of the transactions that are ERC-20 transfers (the rest: ETH payments).
    #[arg(long, default_value_t = 0.5)]
    token_share: f64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Ashiato sync runs: blocks fetched in parallel.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    concurrency: Vec<usize>,
    /// Runs of each client; the table shows the median.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Skip the Python baseline.
    #[arg(long)]
    no_baseline: bool,
    #[arg(long, default_value = "python3")]
    python: String,
}

/// A seeded SplitMix64, so the load is the same on every run.
struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn address(&mut self) -> H160 {
        let mut a = [0u8; 20];
        for chunk in a.chunks_mut(8) {
            let w = self.next().to_be_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        Fixed(a)
    }
}

/// What the generator put on the chain.
#[derive(Default)]
struct Load {
    tip: u64,
    txs: u64,
    eth_payments: u64,
    token_transfers: u64,
    /// `Transfer` logs: the mints and the token transfers.
    transfer_logs: u64,
    seconds: f64,
}

/// Sends transactions with explicit nonces and gas (automine off: they wait in the pool).
struct Sender<'a> {
    node: &'a Anvil,
    nonces: HashMap<H160, u64>,
    pending: usize,
}

impl Sender<'_> {
    fn send(&mut self, from: &H160, to: &H160, value: u128, data: &[u8], gas: u64) -> Result<()> {
        let nonce = match self.nonces.get(from) {
            Some(n) => *n,
            None => {
                let q: Q = self.node.call(
                    "eth_getTransactionCount",
                    json!([from.to_string(), "latest"]),
                )?;
                q.u64().context("nonce over 64 bits")?
            }
        };
        let tx = json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "value": format!("{value:#x}"),
            "data": format!("0x{}", hex(data)),
            "gas": format!("{gas:#x}"),
            "nonce": format!("{nonce:#x}"),
        });
        let _: H256 = self.node.call("eth_sendTransaction", json!([tx]))?;
        self.nonces.insert(*from, nonce + 1);
        self.pending += 1;
        Ok(())
    }

    /// Mines the pending transactions into the next block, at its fixed time, and checks
    /// that all of them are in it and succeeded.
    fn mine(&mut self, height: u64) -> Result<()> {
        self.node
            .set_next_time(GENESIS_TIME + BLOCK_SECONDS * height)?;
        self.node.call_null("evm_mine", json!([]))?;
        let tag = format!("{height:#x}");
        let b: Value = self
            .node
            .call("eth_getBlockByNumber", json!([tag, false]))?;
        let n = b
            .get("transactions")
            .and_then(Value::as_array)
            .map(Vec::len)
            .with_context(|| format!("block {height}: no transactions in {b}"))?;
        ensure!(
            n == self.pending,
            "block {height} holds {n} transactions, {} were sent",
            self.pending
        );
        let receipts: Vec<Value> = self.node.call("eth_getBlockReceipts", json!([tag]))?;
        let failed = receipts
            .iter()
            .filter(|r| r.get("status").and_then(Value::as_str) != Some("0x1"))
            .count();
        ensure!(failed == 0, "block {height}: {failed} transactions failed");
        self.pending = 0;
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Deploys the token, funds and mints to the holders, then the payment blocks.
fn generate(node: &Anvil, a: &Args) -> Result<Load> {
    ensure!(a.holders >= 2, "--holders must be at least 2");
    ensure!(a.txs_per_block >= 1, "--txs-per-block must be at least 1");
    let t = Instant::now();
    let mut rng = Rng(SplitMix64(a.seed));
    let dev = node.accounts.first().context("anvil has no dev accounts")?;
    let minter = node.accounts.get(1).unwrap_or(dev);
    let mut load = Load::default();

    node.set_next_time(GENESIS_TIME + BLOCK_SECONDS)?;
    let token = node.deploy(dev, &erc20_runtime())?;
    load.tip = 1;
    load.txs += 1;

    node.call_null("evm_setAutomine", json!([false]))?;
    let mut s = Sender {
        node,
        nonces: HashMap::new(),
        pending: 0,
    };
    let holders: Vec<H160> = (0..a.holders).map(|_| rng.address()).collect();
    // Block 2: gas money for every holder; block 3: a mint of the token to each.
    for h in &holders {
        s.send(dev, h, 10 * ETHER, &[], GAS_ETH)?;
    }
    load.tip += 1;
    s.mine(load.tip)?;
    let mut tokens: Vec<u128> = Vec::with_capacity(holders.len());
    for h in &holders {
        let amount = 1_000_000_000 + u128::from(rng.below(1_000_000_000_000));
        s.send(minter, &token, 0, &erc20_mint(h, amount), GAS_TOKEN)?;
        tokens.push(amount);
    }
    load.tip += 1;
    s.mine(load.tip)?;
    load.txs += 2 * holders.len() as u64;
    load.eth_payments += holders.len() as u64;
    load.transfer_logs += holders.len() as u64;

    // The payment blocks. A sender spends only from its balance at the start of the
    // block: the node may order a block's transactions unlike the order they were sent.
    let n = holders.len() as u64;
    for _ in 0..a.blocks {
        let mut received = vec![0u128; holders.len()];
        for _ in 0..a.txs_per_block {
            let from = rng.below(n) as usize;
            let to = ((from as u64 + 1 + rng.below(n - 1)) % n) as usize;
            if rng.chance(a.token_share) && tokens[from] >= 2 {
                let amount = 1 + u128::from(rng.next()) % (tokens[from] / 2);
                s.send(
                    &holders[from],
                    &token,
                    0,
                    &erc20_transfer(&holders[to], amount),
                    GAS_TOKEN,
                )?;
                tokens[from] -= amount;
                received[to] += amount;
                load.token_transfers += 1;
                load.transfer_logs += 1;
            } else {
                let wei = 1_000_000_000_000 + u128::from(rng.below(10_000_000_000_000_000));
                s.send(&holders[from], &holders[to], wei, &[], GAS_ETH)?;
                load.eth_payments += 1;
            }
            load.txs += 1;
        }
        load.tip += 1;
        s.mine(load.tip)?;
        for (t, r) in tokens.iter_mut().zip(received) {
            *t += r;
        }
    }
    node.call_null("evm_setAutomine", json!([true]))?;
    load.seconds = t.elapsed().as_secs_f64();
    Ok(load)
}

/// One Ashiato sync of every block into a fresh store.
struct Run {
    concurrency: usize,
    seconds: f64,
    blocks: u64,
    txs: u64,
    logs: u64,
    stored: u64,
}

fn ashiato_sync(url: &str, tip: u64, concurrency: usize, load: &Load) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path())?;
    let client = EthClient::new(url, ClientOptions::default())?;
    let t = Instant::now();
    let r = sync(
        &mut store,
        &client,
        &SyncOptions {
            concurrency,
            until: Some(tip),
            ..SyncOptions::default()
        },
    )?;
    let seconds = t.elapsed().as_secs_f64();
    let stored = store
        .stats()?
        .chains
        .get(Chain::Ethereum.as_str())
        .map_or(0, |c| c.transfers);
    let what = format!("Ashiato sync, concurrency {concurrency}");
    ensure!(
        r.traces == Some(TraceMode::Geth),
        "{what}: traces from {:?}, not geth's callTracer",
        r.traces
    );
    ensure!(
        r.run.blocks == tip + 1 && r.tally.blocks == tip + 1,
        "{what}: synced {} blocks, the chain has {}",
        r.run.blocks,
        tip + 1
    );
    ensure!(
        r.tally.txs == load.txs && r.tally.failed_txs == 0,
        "{what}: {} transactions ({} failed), {} were sent",
        r.tally.txs,
        r.tally.failed_txs,
        load.txs
    );
    ensure!(
        r.tally.erc20 == load.transfer_logs,
        "DISAGREE: {what} counted {} ERC-20 Transfer logs, the generator caused {}",
        r.tally.erc20,
        load.transfer_logs
    );
    ensure!(
        r.tally.native == load.eth_payments,
        "{what}: {} ETH payments, {} were sent",
        r.tally.native,
        load.eth_payments
    );
    ensure!(
        stored == r.run.added,
        "{what}: the store holds {stored} transfers, the sync added {}",
        r.run.added
    );
    Ok(Run {
        concurrency,
        seconds,
        blocks: r.run.blocks,
        txs: r.tally.txs,
        logs: r.tally.erc20,
        stored,
    })
}

struct BaselineOut {
    blocks: u64,
    txs: u64,
    logs: u64,
    seconds: f64,
}

fn baseline(python: &str, script: &Path, url: &str, tip: u64) -> Result<BaselineOut> {
    let out = Command::new(python)
        .arg(script)
        .arg(url)
        .arg("0")
        .arg(tip.to_string())
        .output()
        .with_context(|| {
            format!(
                "running {python} {} (or give --no-baseline)",
                script.display()
            )
        })?;
    if !out.status.success() {
        bail!("baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .with_context(|| format!("baseline printed {text:?}"))?;
    let int = |k: &str| -> Result<u64> {
        v.get(k)
            .and_then(Value::as_u64)
            .with_context(|| format!("baseline output lacks integer {k}: {text}"))
    };
    Ok(BaselineOut {
        blocks: int("blocks")?,
        txs: int("txs")?,
        logs: int("logs")?,
        seconds: v
            .get("seconds")
            .and_then(Value::as_f64)
            .with_context(|| format!("baseline output lacks seconds: {text}"))?,
    })
}

/// Runs `f` `n` times (each run checks itself) and keeps the run of median time.
fn median<T>(n: usize, secs: impl Fn(&T) -> f64, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    ensure!(n >= 1, "--repeat must be at least 1");
    let mut runs = (0..n).map(|_| f()).collect::<Result<Vec<T>>>()?;
    runs.sort_by(|x, y| secs(x).total_cmp(&secs(y)));
    let mid = runs.len() / 2;
    runs.into_iter().nth(mid).context("no runs")
}

fn per_s(n: u64, s: f64) -> String {
    format!("{:.0}", n as f64 / s)
}

fn main() -> Result<()> {
    let a = Args::parse();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/baseline_eth_rpc.py");
    eprintln!("starting anvil {}", devnet::ANVIL_VERSION);
    let node = Anvil::start(GENESIS_TIME)?;
    let url = node.url().to_owned();
    let load = generate(&node, &a)?;
    let tip = load.tip;
    eprintln!(
        "generated {} blocks, {} transactions in {:.1} s",
        tip + 1,
        load.txs,
        load.seconds
    );

    let base = if a.no_baseline {
        None
    } else {
        let b = median(
            a.repeat,
            |b: &BaselineOut| b.seconds,
            || baseline(&a.python, &script, &url, tip),
        )?;
        ensure!(
            b.blocks == tip + 1 && b.txs == load.txs,
            "baseline fetched {} blocks and {} transactions, the chain has {} and {}",
            b.blocks,
            b.txs,
            tip + 1,
            load.txs
        );
        ensure!(
            b.logs == load.transfer_logs,
            "DISAGREE: the baseline counted {} Transfer logs, the generator caused {}",
            b.logs,
            load.transfer_logs
        );
        Some(b)
    };
    let mut runs = Vec::new();
    for &c in &a.concurrency {
        ensure!(c >= 1, "--concurrency must be at least 1");
        let r = median(
            a.repeat,
            |r: &Run| r.seconds,
            || ashiato_sync(&url, tip, c, &load),
        )?;
        if let Some(b) = &base {
            ensure!(
                r.logs == b.logs,
                "DISAGREE: Ashiato (concurrency {c}) counted {} Transfer logs, the baseline {}",
                r.logs,
                b.logs
            );
        }
        runs.push(r);
    }

    let mut t = Table::new();
    t.load_preset(ASCII_MARKDOWN).set_header(vec![
        "client",
        "seconds",
        "blocks/s",
        "txs/s",
        "Transfer logs/s",
        "transfers stored/s",
        "× baseline (blocks/s)",
    ]);
    if let Some(b) = &base {
        t.add_row(vec![
            "baseline: Python urllib, 1 call at a time (tools/baseline_eth_rpc.py)".to_string(),
            format!("{:.2}", b.seconds),
            per_s(b.blocks, b.seconds),
            per_s(b.txs, b.seconds),
            per_s(b.logs, b.seconds),
            "— (stores nothing)".to_string(),
            "1.0".to_string(),
        ]);
    }
    for r in &runs {
        let ratio = base.as_ref().map_or_else(
            || "—".to_string(),
            |b| {
                format!(
                    "{:.1}",
                    (r.blocks as f64 / r.seconds) / (b.blocks as f64 / b.seconds)
                )
            },
        );
        t.add_row(vec![
            format!(
                "Ashiato sync, {} block{} in flight, commit every 100",
                r.concurrency,
                if r.concurrency == 1 { "" } else { "s" }
            ),
            format!("{:.2}", r.seconds),
            per_s(r.blocks, r.seconds),
            per_s(r.txs, r.seconds),
            per_s(r.logs, r.seconds),
            per_s(r.stored, r.seconds),
            ratio,
        ]);
    }
    println!("{t}");
    println!();
    println!(
        "The data is SYNTHETIC, made by a seeded generator (SplitMix64, seed {}) on a local anvil {} node: {} blocks (genesis, the token's deploy, funding and minting to {} holders, then {} blocks of {} transactions), {} transactions: 1 deploy, {} ETH payments ({} of them funding), {} ERC-20 transfers, {} mints; generated in {:.1} s (not timed above).",
        a.seed,
        devnet::ANVIL_VERSION,
        tip + 1,
        a.holders,
        a.blocks,
        a.txs_per_block,
        load.txs,
        load.eth_payments,
        a.holders,
        load.token_transfers,
        a.holders,
        load.seconds,
    );
    println!(
        "Every client fetched blocks 0–{tip} with full transactions, receipts by block and geth callTracer traces over loopback HTTP; each counted exactly the {} ERC-20 Transfer logs the generator caused{}; each Ashiato run synced into a fresh durable store, which holds exactly the {} transfers it reported (ETH, ERC-20, fees). Ashiato also checks every block (header hash, receipts and traces against the transactions) and converts it; the baseline only counts. Median of {} runs each; anvil runs on the same machine.",
        load.transfer_logs,
        if base.is_some() { " (Ashiato and the baseline agree)" } else { "" },
        runs.first().map_or(0, |r| r.stored),
        a.repeat,
    );
    Ok(())
}
