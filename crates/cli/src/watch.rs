//! `ashiato watch`: follow a node, alert within one block when tainted value moves, keep
//! the signed taint feed; `ashiato feed`: export, verify, key, revoke.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ashiato_model::{Address, Amount};
use ashiato_net::Serving;
use ashiato_serve::index::IndexOptions;
use ashiato_serve::{ServeOptions, Service};
use ashiato_store::Store;
use ashiato_trace::PolicyName;
use ashiato_watch::drain::DrainRules;
use ashiato_watch::feed::FeedKey;
use ashiato_watch::sink::{self, Hub, Lines, Sink, Webhook};
use ashiato_watch::{engine, Followed, Progress, RunOptions, WatchConfig, Watcher};
use clap::{Args, Subcommand};

use crate::node::{NodeCmd, SyncCommon};

/// What an innocent recipient is told in every feed notice unless `--appeal` says more.
pub const DEFAULT_APPEAL: &str = "If you received these funds in good faith, contact the feed's publisher with the transaction ids; a listing shown to be unrelated is revoked with the reason";

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    common: SyncCommon,
    /// Stored incidents to watch (default: every stored incident of the chain).
    #[arg(long, value_delimiter = ',', global = true)]
    incident: Vec<String>,
    /// Taint policy deciding who holds taint.
    #[arg(long, default_value = "poison", global = true)]
    policy: PolicyName,
    /// Tainted movements below this (base units) are dust: reported, not followed.
    #[arg(long, default_value_t = 0, global = true)]
    dust: Amount,
    /// Dust-spray defence (base units, 0: off): a movement of at most this much taint
    /// to an address with history of its own is a spray onto a bystander, not a new
    /// holder (docs/watch.md).
    #[arg(long, default_value_t = 0, global = true)]
    spray_max: Amount,
    #[arg(long, global = true)]
    max_hops: Option<u32>,
    /// Custody wallets watched for a drain (account chains), comma-separated.
    #[arg(long, value_delimiter = ',', global = true)]
    custody: Vec<String>,
    /// Drain rules: the window (seconds)…
    #[arg(long, default_value_t = 3600, global = true)]
    drain_window: i64,
    /// …outflow in the window above this % of the balance at its start…
    #[arg(long, default_value_t = 10, global = true)]
    drain_volume_pct: u32,
    /// …one transfer to a never-paid recipient above this % of the balance…
    #[arg(long, default_value_t = 5, global = true)]
    drain_new_recipient_pct: u32,
    /// …or outflow in the window above this many base units.
    #[arg(long, global = true)]
    drain_volume_abs: Option<Amount>,
    /// POST every alert to this URL (repeatable).
    #[arg(long, global = true)]
    webhook: Vec<String>,
    /// Serve server-sent events, the feed and the watchlist on this address
    /// (e.g. 127.0.0.1:8610).
    #[arg(long, global = true)]
    sse: Option<SocketAddr>,
    /// Also serve the screening API and the tracking site on this address (e.g.
    /// 127.0.0.1:8080), rebuilt after every block that changed an alert; the site's
    /// live panel shows alerts as they are written.
    #[arg(long, global = true)]
    serve: Option<SocketAddr>,
    /// Milliseconds between asking the node for new blocks.
    #[arg(long, default_value_t = 1000, global = true)]
    poll_ms: u64,
    /// Printed in every feed notice: how an innocent recipient appeals.
    #[arg(long, default_value = DEFAULT_APPEAL, global = true)]
    appeal: String,
    /// The feed's secret key file (default: feed.key in the store; made on first run).
    #[arg(long, global = true)]
    feed_key: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    node: NodeCmd,
}

fn key_path(store: &std::path::Path, given: &Option<PathBuf>) -> PathBuf {
    given.clone().unwrap_or_else(|| store.join("feed.key"))
}

pub fn watch(a: WatchArgs) -> Result<()> {
    let chain = a.node.chain();
    let c = a.common.clone();
    let mut store =
        Store::open(&c.store).with_context(|| format!("opening store {}", c.store.display()))?;
    let incidents = if a.incident.is_empty() {
        store
            .incidents()?
            .into_iter()
            .filter(|i| i.chain == chain)
            .collect()
    } else {
        a.incident
            .iter()
            .map(|n| {
                store.incident(n)?.with_context(|| {
                    format!("no incident {n:?} in the store (ashiato incident add)")
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    let custody = a
        .custody
        .iter()
        .map(|s| Address::parse(chain, s).with_context(|| format!("--custody {s}")))
        .collect::<Result<Vec<_>>>()?;
    if incidents.is_empty() && custody.is_empty() {
        bail!("nothing to watch: store an incident of {chain} (ashiato incident add) or give --custody");
    }
    let kp = key_path(&c.store, &a.feed_key);
    let (key, created) = FeedKey::load_or_create(&kp)?;
    if created && !a.quiet {
        eprintln!(
            "feed key created: {} (public key {})",
            kp.display(),
            key.public_hex()
        );
    }
    let watcher_incidents: Vec<String> = incidents.iter().map(|i| i.name.clone()).collect();
    let watcher = Watcher::new(
        WatchConfig {
            chain,
            incidents,
            policy: a.policy,
            dust: a.dust,
            spray_max: a.spray_max,
            max_hops: a.max_hops,
            custody,
            drain: DrainRules {
                window_secs: a.drain_window,
                volume_pct: a.drain_volume_pct,
                new_recipient_pct: a.drain_new_recipient_pct,
                volume_abs: a.drain_volume_abs,
            },
            appeal: a.appeal.clone(),
        },
        key,
    );
    let client = a.node.connect(Duration::from_secs(c.timeout.max(1)))?;
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Lines::new("stdout", std::io::stdout()))];
    for url in &a.webhook {
        sinks.push(Box::new(
            Webhook::new(url, Duration::from_secs(10), 5, Duration::from_millis(500))
                .map_err(anyhow::Error::msg)?,
        ));
    }
    let hub = Hub::new(&watcher.public_key());
    let _server = match a.sse {
        Some(addr) => {
            let s = sink::serve(addr, hub.clone()).with_context(|| format!("--sse {addr}"))?;
            if !a.quiet {
                eprintln!(
                    "serving alerts at {}/alerts, the feed at {}/feed",
                    s.url(),
                    s.url()
                );
            }
            Some(s)
        }
        None => None,
    };
    let web = match a.serve {
        Some(addr) => {
            let index = IndexOptions {
                policies: vec![a.policy],
                dust: a.dust,
                spray_max: a.spray_max,
                max_hops: a.max_hops,
                only: watcher_incidents.clone(),
                ..IndexOptions::default()
            };
            hub.refresh(&store)?;
            let (service, backend) = Service::new(
                &store,
                ServeOptions {
                    index,
                    ..ServeOptions::default()
                },
                hub.clone(),
            )?;
            let s = Serving::start(addr, service.router())
                .with_context(|| format!("--serve {addr}"))?;
            eprintln!("listening on {}", s.url());
            Some((s, backend))
        }
        None => None,
    };
    let backend = web.as_ref().map(|w| &w.1);
    let quiet = a.quiet;
    let mut follow = |store: &mut Store| -> Result<Followed, String> {
        // Writes the API queued (incidents, labels) go in between rounds: the watch
        // owns the store.
        if let Some(b) = backend {
            b.apply_pending(store).map_err(|e| e.to_string())?;
        }
        let r = client.sync(store, &c).map_err(|e| format!("{e:#}"))?;
        Ok(Followed {
            height: r.to_height,
            blocks: r.blocks,
            rolled_back_to: r.rolled_back_to,
        })
    };
    let result = ashiato_watch::run(
        &mut store,
        &watcher,
        &mut follow,
        &mut sinks,
        &mut |s| {
            // The index first: a page woken by a new alert must find it already served.
            if let Some(b) = backend {
                // A failed rebuild keeps the previous index serving; the next one retries.
                if let Err(e) = b.rebuild(s) {
                    eprintln!("screening index not rebuilt: {e}");
                }
            }
            hub.refresh(s)
        },
        &RunOptions {
            poll: Duration::from_millis(a.poll_ms),
            until_height: c.until,
            stop: Arc::new(AtomicBool::new(false)),
        },
        &mut |p| {
            if quiet {
                return;
            }
            match p {
                Progress::Round { followed, step } => {
                    if let Some(h) = followed.rolled_back_to {
                        eprintln!("reorganisation: rolled back to height {h}");
                    }
                    if let Some(s) = step.filter(|s| s.wrote()) {
                        eprintln!(
                            "height {}: {} alerts, {} retracted, {} feed notices",
                            followed.height, s.issued, s.retracted, s.notices
                        );
                    }
                }
                Progress::NodeError(e) => eprintln!("node {}: {e}; asking again", client.url),
                Progress::SinkError(e) => eprintln!("{e}; will resend"),
            }
        },
    );
    hub.close();
    result?;
    Ok(())
}

#[derive(Args)]
pub struct FeedArgs {
    #[command(subcommand)]
    cmd: FeedCmd,
}

#[derive(Subcommand)]
enum FeedCmd {
    /// Print the signed feed (JSON lines) a watch has written to the store.
    Export {
        #[arg(long, default_value = "ashiato.store")]
        store: PathBuf,
    },
    /// Print the feed's public key (making the key pair if there is none yet).
    Key {
        #[arg(long, default_value = "ashiato.store")]
        store: PathBuf,
        #[arg(long)]
        feed_key: Option<PathBuf>,
    },
    /// Check a feed file offline against a public key: every signature, the sequence
    /// and the hash chain; print what it lists now.
    Verify {
        file: PathBuf,
        /// The publisher's public key (hex).
        #[arg(long)]
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Take an address off the feed with a reason (an appeal was granted): a signed
    /// revoke notice now, and never listed again for the incident.
    Revoke {
        #[arg(long, default_value = "ashiato.store")]
        store: PathBuf,
        #[arg(long)]
        feed_key: Option<PathBuf>,
        #[arg(long)]
        address: String,
        #[arg(long)]
        asset: String,
        #[arg(long)]
        incident: String,
        #[arg(long)]
        reason: String,
    },
}

pub fn feed(a: FeedArgs, out: &mut impl Write) -> Result<()> {
    match a.cmd {
        FeedCmd::Export { store } => {
            let store = Store::open(&store)?;
            for l in engine::feed_lines(&store)? {
                writeln!(out, "{l}")?;
            }
        }
        FeedCmd::Key { store, feed_key } => {
            let (key, _) = FeedKey::load_or_create(&key_path(&store, &feed_key))?;
            writeln!(out, "{}", key.public_hex())?;
        }
        FeedCmd::Verify { file, key, json } => {
            let f = std::fs::File::open(&file).with_context(|| format!("{}", file.display()))?;
            let r: Box<dyn BufRead> = Box::new(std::io::BufReader::new(f));
            let listing = ashiato_watch::feed::verify_feed(r, &key)
                .with_context(|| format!("{} does not verify", file.display()))?;
            if json {
                let entries: Vec<_> = listing.entries.values().collect();
                serde_json::to_writer_pretty(&mut *out, &entries)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{}: {} notices, all signed by {key}, unbroken; {} listed now",
                    file.display(),
                    listing.notices,
                    listing.entries.len()
                )?;
                for n in listing.entries.values() {
                    writeln!(
                        out,
                        "  {} {} {} of {} ({}; since block {}, tx {})",
                        n.chain, n.address, n.taint, n.asset, n.incident, n.block, n.tx
                    )?;
                }
            }
        }
        FeedCmd::Revoke {
            store,
            feed_key,
            address,
            asset,
            incident,
            reason,
        } => {
            let (key, _) = FeedKey::load_or_create(&key_path(&store, &feed_key))?;
            let mut st = Store::open(&store)?;
            match engine::revoke(&mut st, &key, &address, &asset, &incident, &reason)? {
                Some(seq) => writeln!(out, "revoked {address} ({incident}): feed notice {seq}")?,
                None => writeln!(
                    out,
                    "{address} is not listed for {incident}; it will not be listed in future"
                )?,
            }
        }
    }
    Ok(())
}
