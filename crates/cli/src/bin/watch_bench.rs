//! `ashiato-watch-bench`: alert latency of the watch, against a sync-only follower as the
//! baseline in the same run. Not a test: numbers depend on the machine; rerun it to check
//! a claim.
//!
//! Alert latency is the time from a block becoming available on the node
//! (`ReplayServer::set_tip`) to the alert for a tainted movement in that block being
//! written by a stdout-like sink. The watch runs in-process (`ashiato_watch::run`, the
//! loop `ashiato watch` runs) in its own thread: the NIS1 sync one block a batch, the
//! judging step, delivery to a sink that timestamps every record. The main thread reveals
//! the chain one block at a time, waits until the watch has finished the round that took
//! the block in, then waits a seeded random part of a poll interval (a block arrives at
//! any point of the poll cycle) before revealing the next.
//!
//! Chains: the Coincheck 2018 fixture (published facts laid out as NIS1 blocks, with
//! SYNTHETIC filler: stand-in keys, amounts and hops that are not public; see
//! `ashiato_nem::coincheck`), alone and with SYNTHETIC volume (`ashiato_nem::synth`,
//! seeded) stored in front of it, so the cost of re-tracing the whole stored chain on each
//! new block shows. Which blocks carry alerts, and how many, is known beforehand from one
//! full evaluation (`ashiato_watch::evaluate`) over a store synced to the tip.
//!
//! Baseline: the same blocks followed by a plain `ashiato_nem::sync::sync` loop at the
//! same poll interval, no judging; its latency is set_tip → block committed to the store.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use ashiato::splitmix::SplitMix64;
use ashiato_model::{Amount, Chain};
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::coincheck::{self, Fixture};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, Fetch, SyncOptions};
use ashiato_nem::synth::{self, push_block, SynthOptions};
use ashiato_nem::NemBlock;
use ashiato_store::Store;
use ashiato_trace::PolicyName;
use ashiato_watch::feed::FeedKey;
use ashiato_watch::sink::Sink;
use ashiato_watch::{Event, Followed, Progress, Record, RunOptions, WatchConfig, Watcher};
use clap::Parser;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const XEM: Amount = coincheck::XEM as Amount;
/// The 30 Jan 2018 spray moved 100 XEM a transfer; no laundering hop less than 300,000.
const SPRAY_MAX: Amount = 1_000 * XEM;
/// Transactions a block in the SYNTHETIC history.
const SYNTH_TXS_PER_BLOCK: usize = 100;
/// Requests in flight for the followers (the CLI's default).
const CONCURRENCY: usize = 4;
/// How long the main thread waits for a follower's round before calling it stuck.
const STUCK: Duration = Duration::from_secs(120);

#[derive(Parser)]
#[command(
    about = "Alert latency of the watch (block on the node → alert delivered), against a sync-only follower"
)]
struct Args {
    /// A short run: the fixture at the first poll interval and the smallest history.
    #[arg(long)]
    quick: bool,
    /// Poll intervals for the fixture alone, in milliseconds (the first is used for the
    /// runs with history in front).
    #[arg(long, value_delimiter = ',', default_value = "50,10")]
    poll_ms: Vec<u64>,
    /// SYNTHETIC transactions stored in front of the fixture, one run each.
    #[arg(long, value_delimiter = ',', default_value = "20000,100000")]
    history_txs: Vec<usize>,
    /// Simulated node round trip added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    node_latency_ms: u64,
    /// Seeds the SYNTHETIC history and the reveal jitter.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// What the followers tell the main thread.
enum Msg {
    /// The store holds the blocks before the measured ones; the loop starts.
    Ready {
        transfers: u64,
    },
    /// The sink wrote a record.
    Record {
        block: u64,
        event: Event,
        at: Instant,
    },
    /// One round of the loop ended (after delivery, for the watch).
    Round(Round),
    NodeError(String),
}

#[derive(Clone, Copy)]
struct Round {
    height: u64,
    blocks: u64,
    follow_start: Instant,
    follow_end: Instant,
    /// The watch's step ended and delivery began (the sync-only follower: `follow_end`).
    deliver_start: Instant,
}

/// A stdout-like sink: writes each record's JSON line (to nowhere), then reports when.
/// `deliver` asks a sink its name first thing, after the step: that call marks the
/// boundary between judging and delivering.
struct Timed {
    tx: Sender<Msg>,
    deliver_start: Rc<Cell<Option<Instant>>>,
    out: std::io::Sink,
}

impl Sink for Timed {
    fn name(&self) -> String {
        self.deliver_start.set(Some(Instant::now()));
        "bench".into()
    }

    fn send(&mut self, r: &Record) -> Result<(), String> {
        writeln!(self.out, "{}", r.line()).map_err(|e| e.to_string())?;
        self.tx
            .send(Msg::Record {
                block: r.alert.block,
                event: r.event,
                at: Instant::now(),
            })
            .map_err(|e| e.to_string())
    }

    fn flush(&mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| e.to_string())
    }
}

/// A chain to watch and where the measured part begins.
struct Scenario {
    name: String,
    blocks: Vec<NemBlock>,
    /// Heights up to this are synced before the loop starts (not measured).
    prefix: u64,
    poll: Duration,
}

fn client(url: &str) -> Result<Nis1Client> {
    Ok(Nis1Client::new(
        url,
        ClientOptions {
            timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        },
    )?)
}

fn nem_transfers(store: &Store) -> Result<u64> {
    Ok(store
        .stats()?
        .chains
        .get(Chain::Nem.as_str())
        .map_or(0, |c| c.transfers))
}

/// Opens a fresh store at `dir` with the fixture's labels and incident, synced to
/// `until` in batches of 100 (the part before the measured blocks).
fn prepared(dir: &Path, url: &str, f: &Fixture, until: u64) -> Result<Store> {
    let mut store = Store::open(dir)?;
    store.put_labels(&f.labels)?;
    store.put_incident(&f.incident)?;
    sync(
        &mut store,
        &client(url)?,
        &SyncOptions {
            fetch: Fetch::BlockAt { concurrency: 8 },
            batch_blocks: 100,
            until: Some(until),
            ..SyncOptions::default()
        },
    )?;
    Ok(store)
}

/// Followers take each block as it comes.
fn one_block() -> SyncOptions {
    SyncOptions {
        fetch: Fetch::BlockAt {
            concurrency: CONCURRENCY,
        },
        batch_blocks: 1,
        ..SyncOptions::default()
    }
}

fn config(f: &Fixture) -> WatchConfig {
    WatchConfig {
        spray_max: SPRAY_MAX,
        custody: vec![f.hot_wallet.clone()],
        appeal: "benchmark".into(),
        ..WatchConfig::new(Chain::Nem, vec![f.incident.clone()], PolicyName::Poison)
    }
}

/// The feed key from a fixed secret: the feed does not change what is alerted, but the
/// run stays the same run to run.
fn feed_key(dir: &Path) -> Result<FeedKey> {
    let path = dir.join("feed.key");
    std::fs::write(&path, format!("{}\n", "07".repeat(32)))?;
    Ok(FeedKey::load_or_create(&path)?.0)
}

/// One follower's run: the chain's fixture, the heights and the poll interval.
#[derive(Clone, Copy)]
struct Plan<'a> {
    f: &'a Fixture,
    /// Synced before the loop starts (not measured).
    prefix: u64,
    /// The last height; the loop ends there.
    last: u64,
    poll: Duration,
}

/// The watch, as `ashiato watch` runs it, with the timing sink.
fn watch_thread(
    dir: PathBuf,
    url: String,
    plan: Plan<'_>,
    stop: Arc<AtomicBool>,
    tx: Sender<Msg>,
) -> Result<()> {
    let f = plan.f;
    let mut store = prepared(&dir.join("store"), &url, f, plan.prefix)?;
    let watcher = Watcher::new(config(f), feed_key(&dir)?);
    let client = client(&url)?;
    tx.send(Msg::Ready {
        transfers: nem_transfers(&store)?,
    })?;
    let followed_at: Rc<Cell<Option<(Instant, Instant)>>> = Rc::new(Cell::new(None));
    let deliver_start: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    let mut sinks: Vec<Box<dyn Sink>> = vec![Box::new(Timed {
        tx: tx.clone(),
        deliver_start: deliver_start.clone(),
        out: std::io::sink(),
    })];
    let fa = followed_at.clone();
    let mut follow = move |store: &mut Store| -> Result<Followed, String> {
        let t = Instant::now();
        let r = sync(store, &client, &one_block()).map_err(|e| e.to_string())?;
        fa.set(Some((t, Instant::now())));
        Ok(Followed {
            height: r.to_height,
            blocks: r.blocks,
            rolled_back_to: r.rolled_back_to,
        })
    };
    let ptx = tx.clone();
    ashiato_watch::run(
        &mut store,
        &watcher,
        &mut follow,
        &mut sinks,
        &mut |_| Ok(()),
        &RunOptions {
            poll: plan.poll,
            until_height: Some(plan.last),
            stop,
        },
        &mut |p| {
            let _ = match p {
                Progress::Round { followed, .. } => {
                    let (follow_start, follow_end) =
                        followed_at.get().expect("a round follows first");
                    ptx.send(Msg::Round(Round {
                        height: followed.height,
                        blocks: followed.blocks,
                        follow_start,
                        follow_end,
                        deliver_start: deliver_start.get().unwrap_or(follow_end),
                    }))
                }
                Progress::NodeError(e) | Progress::SinkError(e) => {
                    ptx.send(Msg::NodeError(e.to_owned()))
                }
            };
        },
    )?;
    Ok(())
}

/// The baseline: a plain sync loop at the same interval, sleeping the way `run` does.
fn sync_only_thread(
    dir: PathBuf,
    url: String,
    plan: Plan<'_>,
    stop: Arc<AtomicBool>,
    tx: Sender<Msg>,
) -> Result<()> {
    let mut store = prepared(&dir.join("store"), &url, plan.f, plan.prefix)?;
    let client = client(&url)?;
    tx.send(Msg::Ready {
        transfers: nem_transfers(&store)?,
    })?;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let r = sync(&mut store, &client, &one_block());
        match r {
            Ok(r) => {
                let end = Instant::now();
                tx.send(Msg::Round(Round {
                    height: r.to_height,
                    blocks: r.blocks,
                    follow_start: started,
                    follow_end: end,
                    deliver_start: end,
                }))?;
                if r.to_height >= plan.last {
                    break;
                }
            }
            Err(e) => tx.send(Msg::NodeError(e.to_string()))?,
        }
        let deadline = Instant::now() + plan.poll.saturating_sub(started.elapsed());
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            thread::sleep((deadline - Instant::now()).min(Duration::from_millis(20)));
        }
    }
    Ok(())
}

/// The reveal jitter, seeded.
struct Jitter(SplitMix64);

impl Jitter {
    fn next(&mut self, below: Duration) -> Duration {
        Duration::from_micros(self.0.below(below.as_micros().max(1) as u64))
    }
}

/// What one follower showed over the measured blocks.
#[derive(Default)]
struct Measured {
    /// Per delivered alert: set_tip → the sink wrote it (the watch), or per alert block:
    /// set_tip → committed (the sync-only follower).
    latency: Vec<Duration>,
    /// Per alert block: poll wait, sync, judge, deliver (ending at the block's last alert).
    split: Vec<[Duration; 4]>,
    alert_blocks: usize,
    alerts: usize,
    retracted: usize,
    /// Alerts that arrived for another block than the one just revealed, or blocks whose
    /// alert count differs from the full evaluation.
    off: usize,
    node_errors: usize,
    stored_before: u64,
}

/// Reveals `prefix + 1 ..= last` one block at a time and times the follower.
fn measure(
    server: &ReplayServer,
    rx: &Receiver<Msg>,
    plan: Plan<'_>,
    expected: &BTreeMap<u64, usize>,
    seed: u64,
    watch: bool,
) -> Result<Measured> {
    let (prefix, last, poll) = (plan.prefix, plan.last, plan.poll);
    let mut m = Measured::default();
    let recv = |m: &mut Measured| -> Result<Msg> {
        loop {
            match rx.recv_timeout(STUCK) {
                Ok(Msg::NodeError(e)) => {
                    eprintln!("follower: {e}");
                    m.node_errors += 1;
                }
                Ok(msg) => return Ok(msg),
                Err(_) => bail!("the follower stopped or is stuck"),
            }
        }
    };
    loop {
        if let Msg::Ready { transfers } = recv(&mut m)? {
            m.stored_before = transfers;
            break;
        }
    }
    // The first round (the watch judges what is stored) before anything is revealed.
    loop {
        if let Msg::Round(r) = recv(&mut m)? {
            if r.height >= prefix {
                break;
            }
        }
    }
    let mut jitter = Jitter(SplitMix64(seed));
    for h in prefix + 1..=last {
        thread::sleep(jitter.next(poll));
        let t0 = Instant::now();
        server.set_tip(h);
        let mut delivered: Vec<Instant> = Vec::new();
        let round = loop {
            match recv(&mut m)? {
                Msg::Record { block, event, at } => match event {
                    Event::Retract => m.retracted += 1,
                    Event::Alert if block == h => delivered.push(at),
                    Event::Alert => m.off += 1,
                },
                Msg::Round(r) if r.height >= h => break r,
                _ => {}
            }
        };
        if round.height != h || round.blocks == 0 {
            bail!(
                "block {h}: the follower went to height {} in {} blocks",
                round.height,
                round.blocks
            );
        }
        let want = expected.get(&h).copied().unwrap_or(0);
        if want == 0 {
            m.off += delivered.len();
            continue;
        }
        m.alert_blocks += 1;
        let wait = round.follow_start.saturating_duration_since(t0);
        let synced = round.follow_end - round.follow_start;
        if watch {
            if delivered.len() != want {
                m.off += 1;
            }
            m.alerts += delivered.len();
            let Some(&end) = delivered.iter().max() else {
                continue;
            };
            m.latency.extend(delivered.iter().map(|at| *at - t0));
            m.split.push([
                wait,
                synced,
                round
                    .deliver_start
                    .saturating_duration_since(round.follow_end),
                end.saturating_duration_since(round.deliver_start),
            ]);
        } else {
            m.alerts += want;
            m.latency.push(round.follow_end - t0);
            m.split.push([wait, synced, Duration::ZERO, Duration::ZERO]);
        }
    }
    Ok(m)
}

type Follower = fn(PathBuf, String, Plan<'_>, Arc<AtomicBool>, Sender<Msg>) -> Result<()>;

/// Runs one follower over the scenario's chain against `server`.
fn follow_run(
    server: &ReplayServer,
    sc: &Scenario,
    f: &Fixture,
    expected: &BTreeMap<u64, usize>,
    seed: u64,
    watch: bool,
) -> Result<Measured> {
    let plan = Plan {
        f,
        prefix: sc.prefix,
        last: sc.blocks.len() as u64,
        poll: sc.poll,
    };
    server.set_tip(sc.prefix);
    let dir = tempfile::tempdir()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let url = server.url();
    let body: Follower = if watch {
        watch_thread
    } else {
        sync_only_thread
    };
    let path = dir.path().to_path_buf();
    let measured = thread::scope(|s| {
        let stop2 = stop.clone();
        let h = s.spawn(move || body(path, url, plan, stop2, tx));
        let m = measure(server, &rx, plan, expected, seed, watch);
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        let joined = h.join().map_err(|_| anyhow!("the follower panicked"))?;
        let m = m?;
        joined?;
        Ok::<_, anyhow::Error>(m)
    })?;
    Ok(measured)
}

/// Alerts per block from one evaluation over the whole chain (ids deduplicated as the
/// step does), and how long that evaluation took.
fn expected_alerts(
    server: &ReplayServer,
    sc: &Scenario,
    f: &Fixture,
) -> Result<(BTreeMap<u64, usize>, u64, Duration)> {
    server.set_tip(sc.blocks.len() as u64);
    let dir = tempfile::tempdir()?;
    let store = prepared(dir.path(), &server.url(), f, sc.blocks.len() as u64)?;
    let t = Instant::now();
    let desired = ashiato_watch::evaluate(&store, &config(f))?;
    let took = t.elapsed();
    let mut seen = std::collections::BTreeSet::new();
    let mut per_block = BTreeMap::new();
    for a in &desired.alerts {
        if seen.insert(a.id()) {
            *per_block.entry(a.block).or_insert(0) += 1;
        }
    }
    Ok((per_block, nem_transfers(&store)?, took))
}

/// The fixture re-sealed on top of `txs` SYNTHETIC transactions (blocks of 100, dated
/// 2018-01-01 on, all before the fixture's first block on 2018-01-20).
fn with_history(f: &Fixture, txs: usize, seed: u64) -> Vec<NemBlock> {
    let mut blocks = synth::chain(&SynthOptions {
        seed,
        blocks: txs.div_ceil(SYNTH_TXS_PER_BLOCK) as u64,
        txs_per_block: SYNTH_TXS_PER_BLOCK,
        accounts: 20_000,
    });
    for b in &f.blocks {
        push_block(&mut blocks, b.signer, b.timestamp, b.txs.clone());
    }
    blocks
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn mean(split: &[[Duration; 4]], i: usize) -> Duration {
    if split.is_empty() {
        return Duration::ZERO;
    }
    split.iter().map(|s| s[i]).sum::<Duration>() / split.len() as u32
}

fn main() -> Result<()> {
    let a = Args::parse();
    let begun = Instant::now();
    let f = coincheck::build(coincheck::SEED);
    let polls: Vec<u64> = if a.quick {
        a.poll_ms.iter().take(1).copied().collect()
    } else {
        a.poll_ms.clone()
    };
    let first_poll = Duration::from_millis(*polls.first().context("--poll-ms is empty")?);
    let histories: Vec<usize> = if a.quick {
        a.history_txs.iter().min().into_iter().copied().collect()
    } else {
        a.history_txs.clone()
    };
    let mut scenarios = Vec::new();
    for p in &polls {
        scenarios.push(Scenario {
            name: "a) Coincheck fixture (facts + SYNTHETIC filler)".into(),
            blocks: f.blocks.clone(),
            prefix: 1,
            poll: Duration::from_millis(*p),
        });
    }
    for n in &histories {
        let blocks = with_history(&f, *n, a.seed);
        let prefix = blocks.len() as u64 - f.blocks.len() as u64 + 1;
        scenarios.push(Scenario {
            name: format!("b) fixture + {n} SYNTHETIC txs of history in front"),
            blocks,
            prefix,
            poll: first_poll,
        });
    }
    println!(
        "Coincheck 2018 fixture chain (published facts laid out as NIS1 blocks; keys, filler \
         and laundering amounts SYNTHETIC, seed {}): {} blocks. Policy poison, spray_max \
         1,000 XEM, custody = the hot wallet (stand-in), drain rules default. SYNTHETIC history: \
         ashiato_nem::synth, seed {}, {} txs a block. Node: replay server on loopback, \
         +{} ms a request. Followers: sync in batches of 1 block, {} requests in flight.",
        coincheck::SEED,
        f.blocks.len(),
        a.seed,
        SYNTH_TXS_PER_BLOCK,
        a.node_latency_ms,
        CONCURRENCY
    );
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "chain",
        "follower",
        "poll ms",
        "stored transfers",
        "blocks with alerts",
        "alerts",
        "p50 ms",
        "p90 ms",
        "max ms",
        "wait / sync / judge / deliver ms (mean)",
        "× baseline p50",
    ]);
    let mut notes = Vec::new();
    for sc in &scenarios {
        let server = ReplayServer::start(sc.blocks.clone())?;
        server.set_latency(Duration::from_millis(a.node_latency_ms));
        let (expected, total_transfers, full_eval) = expected_alerts(&server, sc, &f)?;
        let measured_blocks = sc.blocks.len() as u64 - sc.prefix;
        let alert_blocks = expected.keys().filter(|b| **b > sc.prefix).count();
        let alerts: usize = expected
            .iter()
            .filter(|(b, _)| **b > sc.prefix)
            .map(|(_, n)| n)
            .sum();
        eprintln!(
            "{} @ {} ms: {measured_blocks} blocks revealed one by one, {alert_blocks} with {alerts} alerts",
            sc.name,
            sc.poll.as_millis()
        );
        let t = Instant::now();
        let base = follow_run(&server, sc, &f, &expected, a.seed, false)?;
        let base_s = t.elapsed();
        let t = Instant::now();
        let watch = follow_run(&server, sc, &f, &expected, a.seed, true)?;
        let watch_s = t.elapsed();
        let mut bl = base.latency.clone();
        bl.sort_unstable();
        let mut wl = watch.latency.clone();
        wl.sort_unstable();
        let stored = format!("{} → {}", base.stored_before, total_transfers);
        let split = |m: &Measured| {
            format!(
                "{} / {} / {} / {}",
                ms(mean(&m.split, 0)),
                ms(mean(&m.split, 1)),
                ms(mean(&m.split, 2)),
                ms(mean(&m.split, 3))
            )
        };
        let poll = sc.poll.as_millis().to_string();
        table.add_row(vec![
            sc.name.clone(),
            "baseline: sync only (block committed)".into(),
            poll.clone(),
            stored.clone(),
            base.alert_blocks.to_string(),
            "-".into(),
            ms(pct(&bl, 0.5)),
            ms(pct(&bl, 0.9)),
            ms(pct(&bl, 1.0)),
            split(&base),
            "1.0".into(),
        ]);
        let ratio = pct(&wl, 0.5).as_secs_f64() / pct(&bl, 0.5).as_secs_f64().max(1e-9);
        table.add_row(vec![
            sc.name.clone(),
            "watch (alert delivered)".into(),
            poll,
            stored,
            watch.alert_blocks.to_string(),
            watch.alerts.to_string(),
            ms(pct(&wl, 0.5)),
            ms(pct(&wl, 0.9)),
            ms(pct(&wl, 1.0)),
            split(&watch),
            format!("{ratio:.2}"),
        ]);
        notes.push(format!(
            "{} @ {} ms: one full evaluation over {} transfers {} ms; watch {:.1} s, sync-only {:.1} s; \
             alerts off their block or counts unlike the full evaluation: {}; retractions: {}; node errors: {}",
            sc.name,
            sc.poll.as_millis(),
            total_transfers,
            ms(full_eval),
            watch_s.as_secs_f64(),
            base_s.as_secs_f64(),
            watch.off,
            watch.retracted,
            watch.node_errors + base.node_errors
        ));
    }
    println!("{table}");
    for n in notes {
        println!("{n}");
    }
    println!(
        "latency: set_tip → the sink wrote the alert (watch, per alert) or the block was committed \
         (baseline, per alert block); split: means over alert blocks, ending at the block's last \
         alert; wait = set_tip → the round that took the block in began. Total {:.1} s.",
        begun.elapsed().as_secs_f64()
    );
    Ok(())
}
