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
    #[command(flatten)]
    pub common: SyncCommon,
    #[command(subcommand)]
    pub node: NodeCmd,
}

/// How a store follows a node: shared by `sync` and `watch`.
#[derive(Args, Clone)]
pub struct SyncCommon {
    /// Store directory (created if missing).
    #[arg(long, default_value = "ashiato.store", global = true)]
    pub store: PathBuf,
    /// Begin a fresh store at this height instead of the first block.
    #[arg(long, global = true)]
    pub start: Option<u64>,
    /// Stop at this height (default: the node's tip).
    #[arg(long, global = true)]
    pub until: Option<u64>,
    /// Blocks per durable batch.
    #[arg(long, default_value_t = 100, global = true)]
    pub batch: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 4, global = true)]
    pub concurrency: usize,
    /// Seconds before a request is given up (and retried).
    #[arg(long, default_value_t = 30, global = true)]
    pub timeout: u64,
}

#[derive(Subcommand, Clone)]
pub enum NodeCmd {
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
pub enum Traces {
    Auto,
    Geth,
    Parity,
    Off,
}

/// A connected node client of any chain, and the URL it talks to.
pub struct Client {
    pub url: String,
    inner: Inner,
}

enum Inner {
    Bitcoin(ashiato_btc::rpc::RpcClient),
    Ethereum(ashiato_eth::rpc::EthClient),
    Nem(ashiato_nem::client::Nis1Client, Vec<String>),
}

/// What one sync did, whatever the chain: the heights, counts, and the chain's own lines.
pub struct Synced {
    pub from_height: u64,
    pub to_height: u64,
    pub blocks: u64,
    pub rolled_back_to: Option<u64>,
    pub summary: Vec<String>,
}

impl Synced {
    /// From the store's sync-loop report (Bitcoin and Ethereum).
    fn of(r: &ashiato_store::sync::Report, summary: Vec<String>) -> Synced {
        Synced {
            from_height: r.from_height,
            to_height: r.to_height,
            blocks: r.blocks,
            rolled_back_to: r.rolled_back_to,
            summary,
        }
    }
}

impl SyncCommon {
    /// The options of a JSON-RPC sync (Bitcoin Core, Ethereum).
    fn rpc_options(&self) -> ashiato_store::sync::RpcSyncOptions {
        ashiato_store::sync::RpcSyncOptions {
            batch_blocks: self.batch,
            concurrency: self.concurrency,
            until: self.until,
            start: self.start,
        }
    }
}

impl NodeCmd {
    pub fn chain(&self) -> ashiato_model::Chain {
        use ashiato_model::Chain;
        match self {
            NodeCmd::Bitcoin { .. } => Chain::Bitcoin,
            NodeCmd::Ethereum { .. } => Chain::Ethereum,
            NodeCmd::Nem { .. } => Chain::Nem,
        }
    }

    pub fn connect(&self, timeout: Duration) -> Result<Client> {
        let url = match self {
            NodeCmd::Bitcoin { rpc, .. } | NodeCmd::Ethereum { rpc, .. } => rpc.clone(),
            NodeCmd::Nem { node, .. } => node.clone(),
        };
        let inner = match self.clone() {
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
                Inner::Bitcoin(RpcClient::new(
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
                )?)
            }
            NodeCmd::Ethereum {
                rpc,
                traces,
                no_header_check,
            } => {
                use ashiato_eth::rpc::{ClientOptions, EthClient, TraceMode};
                Inner::Ethereum(EthClient::new(
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
                )?)
            }
            NodeCmd::Nem { node, namespace } => {
                use ashiato_nem::client::{ClientOptions, Nis1Client};
                Inner::Nem(
                    Nis1Client::new(
                        &node,
                        ClientOptions {
                            timeout,
                            ..ClientOptions::default()
                        },
                    )?,
                    namespace,
                )
            }
        };
        Ok(Client { url, inner })
    }
}

impl Client {
    /// One incremental, reorg-aware sync of `store` from the node.
    pub fn sync(&self, store: &mut Store, c: &SyncCommon) -> Result<Synced> {
        let url = &self.url;
        Ok(match &self.inner {
            Inner::Bitcoin(client) => {
                let r = ashiato_btc::sync::sync(store, client, &c.rpc_options())?;
                Synced::of(
                    &r,
                    vec![format!(
                        "bitcoin {}: heights {}..{}, {} blocks, {} transactions added, {} duplicates",
                        url, r.from_height, r.to_height, r.blocks, r.added, r.duplicates
                    )],
                )
            }
            Inner::Ethereum(client) => {
                use ashiato_eth::rpc::TraceMode;
                let r = ashiato_eth::sync::sync(store, client, &c.rpc_options())?;
                let t = &r.tally;
                let mut summary = vec![
                    format!(
                        "ethereum {}: heights {}..{}, {} blocks, {} transactions ({} failed), {} transfers added, {} duplicates",
                        url, r.run.from_height, r.run.to_height, r.run.blocks, t.txs, t.failed_txs, r.run.added, r.run.duplicates
                    ),
                    format!(
                        "  {} native, {} internal, {} ERC-20, {} fee transfers; skipped: {} NFT and {} odd Transfer logs, {} withdrawals",
                        t.native, t.internal, t.erc20, t.fees, t.nft_skipped, t.odd_logs_skipped, t.withdrawals_skipped
                    ),
                ];
                match r.traces {
                    Some(TraceMode::Off) => summary.push(
                        "  no call traces from this node: internal transfers (contract payouts) are missing".into(),
                    ),
                    Some(m) => summary.push(format!("  internal transfers from {m:?} traces")),
                    None => {}
                }
                Synced::of(&r.run, summary)
            }
            Inner::Nem(client, namespaces) => {
                use ashiato_nem::sync::{Fetch, SyncOptions};
                let r = ashiato_nem::sync::sync(
                    store,
                    client,
                    &SyncOptions {
                        fetch: Fetch::BlockAt {
                            concurrency: c.concurrency,
                        },
                        batch_blocks: c.batch,
                        until: c.until,
                        start: c.start,
                        namespaces: namespaces.clone(),
                    },
                )?;
                Synced {
                    from_height: r.from_height,
                    to_height: r.to_height,
                    blocks: r.blocks,
                    rolled_back_to: r.rolled_back_to,
                    summary: vec![format!(
                        "nem {}: heights {}..{}, {} blocks, {} transfers added, {} duplicates",
                        url, r.from_height, r.to_height, r.blocks, r.transfers_added, r.duplicates
                    )],
                }
            }
        })
    }
}

pub fn run(a: SyncArgs) -> Result<()> {
    let c = &a.common;
    let mut store =
        Store::open(&c.store).with_context(|| format!("opening store {}", c.store.display()))?;
    let client = a.node.connect(Duration::from_secs(c.timeout.max(1)))?;
    let r = client.sync(&mut store, c)?;
    if let Some(h) = r.rolled_back_to {
        println!("reorganisation: rolled back to height {h}");
    }
    for line in r.summary {
        println!("{line}");
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
