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
