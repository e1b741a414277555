//! `ashiato-nem-bench`: NIS1 sync speed against the replay server, with a plain
//! page-by-page client as the baseline in the same run. Not a test: numbers depend on the
//! machine; rerun it to check a claim.
//!
//! The chain is SYNTHETIC (`ashiato_nem::synth`, seeded): XEM and mosaic transfers with
//! a levy, multisig-wrapped transfers and messages. Every configuration syncs it into a
//! fresh store over loopback HTTP, once with no added latency and once with a simulated
//! round trip to a remote node, and must store exactly the transfers the blocks hold.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use ashiato_model::Chain;
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, Fetch, SyncOptions};
use ashiato_nem::synth::{self, SynthOptions};
use ashiato_nem::{block_transfers, MosaicBook, Tally, MAINNET};
use ashiato_store::Store;
use clap::Parser;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

#[derive(Parser)]
#[command(about = "NIS1 sync speed against the replay server, against a plain page-by-page client")]
struct Args {
    #[arg(long, default_value_t = 1_000)]
    blocks: u64,
    #[arg(long, default_value_t = 50)]
    txs_per_block: usize,
    #[arg(long, default_value_t = 20_000)]
    accounts: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Simulated node round trips to run, in milliseconds.
    #[arg(long, value_delimiter = ',', default_value = "0,20")]
    latency_ms: Vec<u64>,
}

struct Config {
    name: &'static str,
    fetch: Fetch,
    batch_blocks: u64,
}

const CONFIGS: [Config; 5] = [
    Config {
        name: "baseline: plain page-by-page (1 block a request, 1 in flight, commit each)",
        fetch: Fetch::BlockAt { concurrency: 1 },
        batch_blocks: 1,
    },
    Config {
        name: "plain client, commit every 100 (fetch cost alone)",
        fetch: Fetch::BlockAt { concurrency: 1 },
        batch_blocks: 100,
    },
    Config {
        name: "blocks-after pages of 10, sequential, commit every 100",
        fetch: Fetch::BlocksAfter,
        batch_blocks: 100,
    },
    Config {
        name: "block/at/public, 8 in flight, commit every 100",
        fetch: Fetch::BlockAt { concurrency: 8 },
        batch_blocks: 100,
    },
    Config {
        name: "block/at/public, 32 in flight, commit every 500",
        fetch: Fetch::BlockAt { concurrency: 32 },
        batch_blocks: 500,
    },
];

fn main() -> Result<()> {
    let a = Args::parse();
    let t = Instant::now();
    let blocks = synth::chain(&SynthOptions {
        seed: a.seed,
        blocks: a.blocks,
        txs_per_block: a.txs_per_block,
        accounts: a.accounts,
    });
    let mut tally = Tally::default();
    let mut book = MosaicBook::default();
    let mut want = 0u64;
    for b in &blocks {
        want += block_transfers(b, &mut book, MAINNET, &mut tally)?.len() as u64;
    }
    println!(
        "SYNTHETIC NIS1 chain: {} blocks, {} transactions ({} multisig, {} levies), {want} transfers incl. fees, seed {}; built in {:.1} s",
        a.blocks,
        tally.transactions,
        tally.multisig_inner,
        tally.levies,
        a.seed,
        t.elapsed().as_secs_f64()
    );
    let server = ReplayServer::start(blocks)?;
    let client = Nis1Client::new(
        &server.url(),
        ClientOptions {
            timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        },
    )?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "node round trip",
        "client",
        "requests",
        "seconds",
        "blocks/s",
        "transfers/s",
        "× baseline",
    ]);
    for ms in &a.latency_ms {
        server.set_latency(Duration::from_millis(*ms));
        let mut base_s = None;
        for c in &CONFIGS {
            let dir = tempfile::tempdir()?;
            let mut store = Store::open(dir.path())?;
            let before = server.requests();
            let t = Instant::now();
            let r = sync(
                &mut store,
                &client,
                &SyncOptions {
                    fetch: c.fetch,
                    batch_blocks: c.batch_blocks,
                    ..SyncOptions::default()
                },
            )?;
            let s = t.elapsed().as_secs_f64();
            let stored = store
                .stats()?
                .chains
                .get(Chain::Nem.as_str())
                .map_or(0, |x| x.transfers);
            if r.transfers_added != want || stored != want {
                bail!(
                    "{}: stored {stored} transfers (sync said {}), the blocks hold {want}",
                    c.name,
                    r.transfers_added
                );
            }
            let base = *base_s.get_or_insert(s);
            table.add_row(vec![
                format!("{ms} ms"),
                c.name.to_string(),
                (server.requests() - before).to_string(),
                format!("{s:.2}"),
                format!("{:.0}", r.blocks as f64 / s),
                format!("{:.0}", want as f64 / s),
                format!("{:.1}", base / s),
            ]);
        }
    }
    println!("{table}");
    println!("every run stored exactly {want} transfers into a fresh durable store");
    Ok(())
}
