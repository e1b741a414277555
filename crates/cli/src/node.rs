//! `ashiato sync`: incremental, reorg-aware sync of a store from a live node — a Bitcoin
//! Core node over JSON-RPC, or a NEM NIS1 node over REST. Re-run it to catch up; it
//! resumes after the last committed batch and rolls back what a reorganisation replaced.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use ashiato_store::Store;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct SyncArgs {
    /// Store directory (created if missing).
    #[arg(long, default_value = "ashiato.store", global = true)]
    store: PathBuf,
    /// Begin a fresh store at this height instead of the first block.
    #[arg(long, global = true)]
    start: Option<u64>,
    /// Stop at this height (default: the node's tip).
    #[arg(long, global = true)]
    until: Option<u64>,
    /// Blocks per durable batch.
    #[arg(long, default_value_t = 100, global = true)]
    batch: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 4, global = true)]
    concurrency: usize,
    /// Seconds before a request is given up (and retried).
    #[arg(long, default_value_t = 30, global = true)]
    timeout: u64,
    #[command(subcommand)]
    node: NodeCmd,
}

#[derive(Subcommand)]
enum NodeCmd {
    /// A Bitcoin Core node (Core 23+ for getblock verbosity 3; an unpruned node).
    Bitcoin {
        /// The node's RPC URL, e.g. http://127.0.0.1:8332.
        #[arg(long)]
        rpc: String,
        #[arg(long, requires = "rpc_password")]
        rpc_user: Option<String>,
        #[arg(long, requires = "rpc_user")]
        rpc_password: Option<String>,
        /// Core's .cookie file (instead of user and password).
        #[arg(long, conflicts_with = "rpc_user")]
        rpc_cookie: Option<PathBuf>,
        /// The node runs regtest (blocks are checked against regtest's easier
        /// proof-of-work limit).
        #[arg(long)]
        regtest: bool,
    },
    /// An Ethereum (EVM) node over JSON-RPC: geth, Erigon, Reth, Nethermind, anvil.
    Ethereum {
        /// The node's JSON-RPC URL, e.g. http://127.0.0.1:8545.
        #[arg(long)]
        rpc: String,
        /// Where internal value transfers come from: geth's callTracer, trace_block, or
        /// none (auto: whichever the node offers).
        #[arg(long, value_enum, default_value_t = Traces::Auto)]
        traces: Traces,
        /// Do not check headers against their hashes (EVM chains whose headers are not
        /// Ethereum's).
        #[arg(long)]
        no_header_check: bool,
    },
    /// A NEM NIS1 node.
    Nem {
        /// The node's URL, e.g. http://127.0.0.1:7890.
        #[arg(long)]
        node: String,
        /// Namespaces whose mosaic definitions are fetched first when starting mid-chain.
        #[arg(long, value_delimiter = ',')]
        namespace: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Traces {
    Auto,
    Geth,
    Parity,
    Off,
}

pub fn run(a: SyncArgs) -> Result<()> {
    let mut store =
        Store::open(&a.store).with_context(|| format!("opening store {}", a.store.display()))?;
    let timeout = Duration::from_secs(a.timeout.max(1));
    match a.node {
        NodeCmd::Bitcoin {
            rpc,
            rpc_user,
            rpc_password,
            rpc_cookie,
            regtest,
        } => {
            use ashiato_btc::rpc::{Auth, ClientOptions, RpcClient};
            let auth = match (rpc_user, rpc_password, rpc_cookie) {
                (Some(u), Some(p), _) => Auth::UserPass(u, p),
                (_, _, Some(c)) => Auth::Cookie(c),
                _ => Auth::None,
            };
            let client = RpcClient::new(
                &rpc,
                auth,
                ClientOptions {
                    timeout,
                    network: if regtest {
                        bitcoin::Network::Regtest
                    } else {
                        bitcoin::Network::Bitcoin
                    },
                    ..ClientOptions::default()
                },
            )?;
            let r = ashiato_btc::sync::sync(
                &mut store,
                &client,
                &ashiato_btc::sync::SyncOptions {
                    batch_blocks: a.batch,
                    concurrency: a.concurrency,
                    until: a.until,
                    start: a.start,
                },
            )?;
            if let Some(h) = r.rolled_back_to {
                println!("reorganisation: rolled back to height {h}");
            }
            println!(
                "bitcoin {rpc}: heights {}..{}, {} blocks, {} transactions added, {} duplicates",
                r.from_height, r.to_height, r.blocks, r.added, r.duplicates
            );
        }
        NodeCmd::Ethereum {
            rpc,
            traces,
            no_header_check,
        } => {
            use ashiato_eth::rpc::{ClientOptions, EthClient, TraceMode};
            let client = EthClient::new(
                &rpc,
                ClientOptions {
                    timeout,
                    traces: match traces {
                        Traces::Auto => TraceMode::Auto,
                        Traces::Geth => TraceMode::Geth,
                        Traces::Parity => TraceMode::Parity,
                        Traces::Off => TraceMode::Off,
                    },
                    check_header: !no_header_check,
                    ..ClientOptions::default()
                },
            )?;
            let r = ashiato_eth::sync::sync(
                &mut store,
                &client,
                &ashiato_eth::sync::SyncOptions {
                    batch_blocks: a.batch,
                    concurrency: a.concurrency,
                    until: a.until,
                    start: a.start,
                },
            )?;
            if let Some(h) = r.run.rolled_back_to {
                println!("reorganisation: rolled back to height {h}");
            }
            let t = &r.tally;
            println!(
                "ethereum {rpc}: heights {}..{}, {} blocks, {} transactions ({} failed), {} transfers added, {} duplicates",
                r.run.from_height, r.run.to_height, r.run.blocks, t.txs, t.failed_txs, r.run.added, r.run.duplicates
            );
            println!(
                "  {} native, {} internal, {} ERC-20, {} fee transfers; skipped: {} NFT and {} odd Transfer logs, {} withdrawals",
                t.native, t.internal, t.erc20, t.fees, t.nft_skipped, t.odd_logs_skipped, t.withdrawals_skipped
            );
            match r.traces {
                Some(TraceMode::Off) => println!(
                    "  no call traces from this node: internal transfers (contract payouts) are missing"
                ),
                Some(m) => println!("  internal transfers from {m:?} traces"),
                None => {}
            }
        }
        NodeCmd::Nem { node, namespace } => {
            use ashiato_nem::client::{ClientOptions, Nis1Client};
            use ashiato_nem::sync::{Fetch, SyncOptions};
            let client = Nis1Client::new(
                &node,
                ClientOptions {
                    timeout,
                    ..ClientOptions::default()
                },
            )?;
            let r = ashiato_nem::sync::sync(
                &mut store,
                &client,
                &SyncOptions {
                    fetch: Fetch::BlockAt {
                        concurrency: a.concurrency,
                    },
                    batch_blocks: a.batch,
                    until: a.until,
                    start: a.start,
                    namespaces: namespace,
                },
            )?;
            if let Some(h) = r.rolled_back_to {
                println!("reorganisation: rolled back to height {h}");
            }
            println!(
                "nem {node}: heights {}..{}, {} blocks, {} transfers added, {} duplicates",
                r.from_height, r.to_height, r.blocks, r.transfers_added, r.duplicates
            );
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct DepositsArgs {
    /// Store directory: its transfers and its exchange labels are used.
    #[arg(long, default_value = "ashiato.store")]
    store: PathBuf,
    /// Read transfers from this CSV (time,block,tx,from,to,asset,amount) instead.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Chain of the transfers.
    #[arg(long, default_value = "ethereum")]
    chain: ashiato_model::Chain,
    /// Exchange addresses (ADDRESS=NAME), besides the store's exchange labels.
    #[arg(long, value_delimiter = ',')]
    exchange: Vec<String>,
    /// Seconds between a deposit and the sweep it is part of.
    #[arg(long, default_value_t = 86_400)]
    window: i64,
    /// Share (%) of what an address sends of an asset that must go to one exchange.
    #[arg(long, default_value_t = 90)]
    min_share: u8,
    /// Deposit addresses with more payers are reported, not clustered.
    #[arg(long, default_value_t = 50)]
    max_depositors: usize,
    /// Store the deposit addresses found as exchange labels (so traces stop there).
    #[arg(long)]
    save_labels: bool,
    #[arg(long)]
    json: bool,
}

pub fn deposits(a: DepositsArgs, out: &mut impl std::io::Write) -> Result<()> {
    use ashiato_model::{Address, LabelKind};
    use std::collections::HashMap;
    let mut store =
        Store::open(&a.store).with_context(|| format!("opening store {}", a.store.display()))?;
    let mut exchanges: HashMap<Address, String> = store
        .labels(a.chain)?
        .into_iter()
        .filter(|l| l.kind == LabelKind::Exchange)
        .map(|l| (l.address, l.name))
        .collect();
    for e in &a.exchange {
        let (addr, name) = e
            .split_once('=')
            .with_context(|| format!("--exchange {e:?}: give ADDRESS=NAME"))?;
        let addr = Address::parse(a.chain, addr).with_context(|| format!("--exchange {e:?}"))?;
        exchanges.insert(addr, name.to_owned());
    }
    anyhow::ensure!(
        !exchanges.is_empty(),
        "no exchange addresses: label some (ashiato labels --import) or give --exchange ADDRESS=NAME"
    );
    let transfers = match &a.input {
        Some(p) => {
            let mut v = Vec::new();
            ashiato_ingest::csv::CsvReader::open(p, a.chain)?.for_each(0, |_, t| {
                v.push(t);
                Ok(())
            })?;
            v
        }
        None => store.transfers(a.chain)?,
    };
    let opts = ashiato_eth::deposit::DepositOptions {
        window: a.window,
        min_share_pct: a.min_share,
        max_depositors: a.max_depositors,
    };
    let f = ashiato_eth::deposit::find(&transfers, &exchanges, &opts);
    if a.json {
        serde_json::to_writer_pretty(&mut *out, &f)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{} deposit addresses of {} exchange addresses, {} customers ({} transfers)",
            f.deposits.len(),
            exchanges.len(),
            f.customers.len(),
            transfers.len()
        )?;
        for d in &f.deposits {
            writeln!(
                out,
                "{} → {}{}: {} depositors, {} deposit/sweep pairs",
                d.address,
                d.exchange,
                if d.crowded {
                    " (crowded, not clustered)"
                } else {
                    ""
                },
                d.depositors.len(),
                d.evidence.len()
            )?;
            for e in d.evidence.iter().take(3) {
                writeln!(
                    out,
                    "    {} paid {} {} in {}, swept {} in {} after {} s",
                    e.depositor,
                    e.deposited,
                    e.asset,
                    e.deposit_tx,
                    e.swept,
                    e.sweep_tx,
                    e.delay_secs
                )?;
            }
        }
        for c in &f.customers {
            writeln!(
                out,
                "customer of {}: deposit addresses {}; pays from {}",
                c.exchange,
                c.deposit_addresses
                    .iter()
                    .map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                c.depositors
                    .iter()
                    .map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )?;
        }
    }
    if a.save_labels {
        let n = store.put_labels(&ashiato_eth::deposit::labels(a.chain, &f, a.window))?;
        writeln!(out, "{n} deposit-address labels stored")?;
    }
    Ok(())
}
