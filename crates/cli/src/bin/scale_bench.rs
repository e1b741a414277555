//! `ashiato-scale-bench`: issue 8's benchmark, printed as one table with the baselines
//! (DuckDB, PostgreSQL, plain Python: `tools/scale_baselines.py`) run in the same session
//! on the same files. Not a test: numbers depend on the machine; rerun it to check a claim.
//!
//! 1. generate a SYNTHETIC account chain fitted to the real data
//!    (`ashiato_ingest::synth_fit`, docs/synthetic.md), as CSV part files;
//! 2. in a child process per size (so that peak memory is that phase's alone): ingest the
//!    parts into a fresh durable store, then open it, build the graph and trace it — full
//!    haircut, FIFO and poison from the theft accounts, single-seed 20-hop traces over the
//!    holder index, screening lookups;
//! 3. run the baselines on the smaller size and print every measure with its ratio.
//!
//! The baselines cannot walk 100 M transfers in a session (the Python haircut alone walks
//! ~0.25 M transfers/s), so ratios compare both engines on the same smaller set; the large
//! set shows how Ashiato itself scales.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ashiato_ingest::synth_fit::{write_fitted_accounts, FitSpec};
use ashiato_model::{Address, Amount, Chain};
use ashiato_store::Store;
use ashiato_trace::{Graph, PolicyName, TraceSpec};
use clap::{Parser, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Full-chain scale benchmark against DuckDB, PostgreSQL and Python baselines")]
struct Args {
    #[command(subcommand)]
    phase: Option<Phase>,
    /// Transfers in the large set (Ashiato alone).
    #[arg(long, default_value_t = 100_000_000)]
    transfers: u64,
    /// Transfers in the set both Ashiato and the baselines run on (a prefix of the large
    /// set: its first part files).
    #[arg(long, default_value_t = 1_000_000)]
    baseline_transfers: u64,
    #[arg(long, default_value_t = 1_000_000)]
    part_rows: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Working folder (generated parts, stores, results).
    #[arg(long, default_value = "bench-data/scale")]
    dir: PathBuf,
    /// Baseline engines to run (empty: none).
    #[arg(long, default_value = "python,duckdb,postgres", value_delimiter = ',')]
    engines: Vec<String>,
    /// Cap on the events PostgreSQL's PL/pgSQL haircut and FIFO walk (they run at ~10 k
    /// transfers/s); the rate is then that of the prefix.
    #[arg(long)]
    haircut_limit: Option<u64>,
    /// Reuse generated parts, stores and baseline results of an earlier run.
    #[arg(long)]
    reuse: bool,
    /// Instead of the fitted generator, the issue-2 generator's simple shape over this
    /// many accounts (each part drawn with seed + part number): the per-transfer memory
    /// cost without the fitted chain's 0.52 new accounts per transfer.
    #[arg(long)]
    uniform_accounts: Option<u64>,
    /// Skip the large set (quick runs).
    #[arg(long)]
    small_only: bool,
}

#[derive(Subcommand)]
enum Phase {
    /// (internal) ingest the parts listed in DIR/parts.json into DIR/STORE.
    Ingest {
        dir: PathBuf,
        store: PathBuf,
        files: usize,
    },
    /// (internal) open DIR/STORE, trace, print a JSON line.
    Trace { store: PathBuf, seeds: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct IngestOut {
    rows: u64,
    seconds: f64,
    peak_rss: u64,
    store_bytes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TraceOut {
    events: u64,
    holders: u64,
    addresses: u64,
    load_s: f64,
    rss_after_load: u64,
    haircut_walk_s: f64,
    haircut_s: f64,
    haircut_addresses: u64,
    haircut_entered: String,
    haircut_held: String,
    fifo_s: f64,
    fifo_addresses: u64,
    poison_s: f64,
    poison_addresses: u64,
    index_s: f64,
    index_bytes: u64,
    /// Per chain position (share of the chain before the seed's theft): latencies in ms.
    single: Vec<SingleOut>,
    /// The baseline's single-seed query (s0 from the start, poison, 20 hops).
    s0_poison_ms: f64,
    s0_poison_addresses: u64,
    screen_per_s: f64,
    peak_rss: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SingleOut {
    position: f64,
    policy: String,
    seeds: usize,
    median_ms: f64,
    p90_ms: f64,
    max_ms: f64,
    mean_addresses: f64,
}

fn main() -> Result<()> {
    let a = Args::parse();
    match a.phase {
        Some(Phase::Ingest { dir, store, files }) => return phase_ingest(&dir, &store, files),
        Some(Phase::Trace { store, seeds }) => return phase_trace(&store, &seeds),
        None => {}
    }
    std::fs::create_dir_all(&a.dir)?;
    let data = a.dir.join(match a.uniform_accounts {
        None => format!("data-{}-seed{}", a.transfers, a.seed),
        Some(n) => format!("data-{}-seed{}-uniform{n}", a.transfers, a.seed),
    });
    let gen = generate(&data, &a)?;
    let small_files = (a.baseline_transfers.div_ceil(a.part_rows) as usize).min(gen.files.len());
    let mut sizes = vec![(small_files, "small")];
    if !a.small_only && small_files < gen.files.len() {
        sizes.push((gen.files.len(), "large"));
    }
    let mut runs = Vec::new();
    for &(files, name) in &sizes {
        let store = a.dir.join(format!("{name}.store"));
        let cached = a.dir.join(format!("{name}.json"));
        if a.reuse && cached.exists() {
            let (i, t): (IngestOut, TraceOut) = serde_json::from_slice(&std::fs::read(&cached)?)?;
            runs.push((name, i, t));
            continue;
        }
        let ingest: IngestOut = child(&[
            "ingest",
            &data.display().to_string(),
            &store.display().to_string(),
            &files.to_string(),
        ])?;
        eprintln!(
            "{name}: ingested {} rows in {:.1} s",
            ingest.rows, ingest.seconds
        );
        let trace: TraceOut =
            child(&["trace", &store.display().to_string(), &gen.seeds.join(",")])?;
        std::fs::write(&cached, serde_json::to_vec(&(&ingest, &trace))?)?;
        runs.push((name, ingest, trace));
    }
    let baseline = run_baselines(&a, &data, &gen, small_files)?;
    print_table(&runs, baseline.as_ref());
    Ok(())
}

struct Generated {
    files: Vec<PathBuf>,
    seeds: Vec<String>,
}

/// The SYNTHETIC parts, generated once per (size, seed).
fn generate(dir: &Path, a: &Args) -> Result<Generated> {
    let (transfers, part_rows, seed) = (a.transfers, a.part_rows, a.seed);
    let done = dir.join("parts.json");
    if a.reuse && done.exists() {
        let (files, seeds): (Vec<PathBuf>, Vec<String>) =
            serde_json::from_slice(&std::fs::read(&done)?)?;
        return Ok(Generated { files, seeds });
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let t = Instant::now();
    if let Some(accounts) = a.uniform_accounts {
        let mut files = Vec::new();
        let (mut left, mut part) = (transfers, 0u64);
        while left > 0 {
            let rows = left.min(part_rows);
            let path = dir.join(format!("part-{part:05}.csv"));
            let file = std::fs::File::create(&path)?;
            let spec = ashiato_ingest::synth::SynthSpec {
                accounts,
                transfers: rows,
                seed: seed + part,
                start_time: 1_500_000_000 + part as i64 * 1_000_000_000,
            };
            ashiato_ingest::synth::write_account_csv(std::io::BufWriter::new(file), &spec)?;
            files.push(path);
            (left, part) = (left - rows, part + 1);
        }
        let seeds = ashiato_ingest::synth::theft_accounts();
        eprintln!(
            "generated {transfers} SYNTHETIC transfers over at most {accounts} accounts (issue-2 shape) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        std::fs::write(&done, serde_json::to_vec(&(&files, &seeds))?)?;
        return Ok(Generated { files, seeds });
    }
    let spec = FitSpec {
        transfers,
        seed,
        start_time: 1_500_000_000,
    };
    let summary = write_fitted_accounts(dir, &spec, part_rows)?;
    let files: Vec<PathBuf> = summary
        .files
        .into_iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        })
        .collect();
    let seeds = summary.seeds;
    eprintln!(
        "generated {transfers} SYNTHETIC transfers over {} accounts (fitted to the real data, docs/synthetic.md) in {} parts in {:.1} s",
        summary.accounts,
        files.len(),
        t.elapsed().as_secs_f64()
    );
    std::fs::write(&done, serde_json::to_vec(&(&files, &seeds))?)?;
    Ok(Generated { files, seeds })
}

fn child<T: for<'de> Deserialize<'de>>(args: &[&str]) -> Result<T> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running a benchmark phase")?;
    if !out.status.success() {
        bail!("phase {} failed", args[0]);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .with_context(|| format!("phase {} printed {text:?}", args[0]))
}

/// A memory field of this process (`VmRSS:`, `VmHWM:`), in bytes (0 where unknown).
fn rss(key: &str) -> u64 {
    ashiato::procstat::status_kb(key).map_or(0, |kb| kb * 1024)
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn phase_ingest(dir: &Path, store_dir: &Path, files: usize) -> Result<()> {
    let (parts, _): (Vec<PathBuf>, Vec<String>) =
        serde_json::from_slice(&std::fs::read(dir.join("parts.json"))?)?;
    if store_dir.exists() {
        std::fs::remove_dir_all(store_dir)?;
    }
    let t = Instant::now();
    let mut store = Store::open(store_dir)?;
    let mut rows = 0;
    for p in &parts[..files] {
        rows += ashiato::load::ingest_csv(&mut store, p, Chain::Generic)?.added;
    }
    let seconds = t.elapsed().as_secs_f64();
    drop(store);
    let out = IngestOut {
        rows,
        seconds,
        peak_rss: rss("VmHWM:"),
        store_bytes: dir_bytes(store_dir),
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn parse(s: &str) -> Result<Address> {
    Ok(Address::parse(Chain::Generic, s)?)
}

fn phase_trace(store_dir: &Path, seeds: &str) -> Result<()> {
    let store = Store::open(store_dir)?;
    let t = Instant::now();
    let graph = store.graph(Chain::Generic)?;
    let mut o = TraceOut {
        load_s: t.elapsed().as_secs_f64(),
        rss_after_load: rss("VmRSS:"),
        events: graph.events() as u64,
        holders: graph.holder_count() as u64,
        addresses: graph.addresses.len() as u64,
        ..TraceOut::default()
    };
    drop(store);
    let full = TraceSpec {
        seeds: seeds.split(',').map(parse).collect::<Result<_>>()?,
        ..TraceSpec::default()
    };
    let time = |spec: &TraceSpec, p: PolicyName| -> Result<(f64, ashiato_trace::TraceResult)> {
        let t = Instant::now();
        let r = ashiato_trace::trace(&graph, spec, p)?;
        Ok((t.elapsed().as_secs_f64(), r))
    };
    let walk_only = TraceSpec {
        summary_only: true,
        ..full.clone()
    };
    o.haircut_walk_s = time(&walk_only, PolicyName::Haircut)?.0;
    let (s, haircut) = time(&full, PolicyName::Haircut)?;
    (o.haircut_s, o.haircut_addresses) = (s, haircut.addresses.len() as u64);
    o.haircut_entered = haircut.summary.entered.to_string();
    o.haircut_held = haircut.summary.held.to_string();
    let (s, r) = time(&full, PolicyName::Fifo)?;
    (o.fifo_s, o.fifo_addresses) = (s, r.addresses.len() as u64);
    drop(r);
    let (s, r) = time(&full, PolicyName::Poison)?;
    (o.poison_s, o.poison_addresses) = (s, r.addresses.len() as u64);
    drop(r);

    // Screening: address text → taint, as an exchange asks it (parse and check the
    // address, then one probe), for addresses half tainted, half drawn from the chain.
    let taint: FxHashMap<Address, Amount> = haircut
        .addresses
        .iter()
        .map(|a| Ok((parse(&a.address)?, a.taint)))
        .collect::<Result<_>>()?;
    let mut rng = ashiato::splitmix::SplitMix64(7);
    let queries: Vec<String> = (0..200_000)
        .map(|i| {
            if i % 2 == 0 && !haircut.addresses.is_empty() {
                let k = rng.below(haircut.addresses.len() as u64) as usize;
                haircut.addresses[k].address.clone()
            } else {
                let k = rng.below(graph.addresses.len() as u64) as usize;
                graph.addresses[k].to_string()
            }
        })
        .collect();
    drop(haircut);
    let t = Instant::now();
    let mut hits = 0u64;
    for q in &queries {
        if taint.get(&parse(q)?).is_some_and(|&t| t > 0) {
            hits += 1;
        }
    }
    o.screen_per_s = queries.len() as f64 / t.elapsed().as_secs_f64();
    eprintln!("screening: {hits} of {} queries tainted", queries.len());
    drop(taint);

    let t = Instant::now();
    let index = graph
        .build_holder_index()
        .context("an account graph has a holder index")?;
    o.index_s = t.elapsed().as_secs_f64();
    o.index_bytes = index.bytes() as u64;

    o.single = single_seed(&graph)?;
    let s0 = TraceSpec {
        seeds: vec![parse("s0")?],
        max_hops: Some(20),
        ..TraceSpec::default()
    };
    let (s, r) = time(&s0, PolicyName::Poison)?;
    (o.s0_poison_ms, o.s0_poison_addresses) = (s * 1e3, r.addresses.len() as u64);
    o.peak_rss = rss("VmHWM:");
    println!("{}", serde_json::to_string(&o)?);
    Ok(())
}

/// Single-seed forward traces of at most 20 hops, each from the sender of a transfer
/// drawn at a given position of the chain, starting at that transfer's time (a theft
/// that far into the chain): how fast an analyst gets an answer.
fn single_seed(graph: &Graph) -> Result<Vec<SingleOut>> {
    let ashiato_trace::Legs::Account(acc) = &graph.legs else {
        bail!("the benchmark chain is an account chain");
    };
    let n = graph.events() as u64;
    let mut rng = ashiato::splitmix::SplitMix64(11);
    let mut out = Vec::new();
    for position in [0.5, 0.9, 0.99] {
        for policy in [PolicyName::Poison, PolicyName::Haircut] {
            let mut ms = Vec::new();
            let mut reached = 0usize;
            let k = 15;
            for _ in 0..k {
                let lo = (n as f64 * position) as u64;
                let e = (lo + rng.below((n - lo).max(1))) as usize;
                let holder = acc.from[e];
                let (addr, _) = graph.holder_owner(holder);
                let spec = TraceSpec {
                    seeds: vec![graph.addresses[addr as usize].clone()],
                    since: Some(graph.time[e]),
                    max_hops: Some(20),
                    ..TraceSpec::default()
                };
                let t = Instant::now();
                let r = ashiato_trace::trace(graph, &spec, policy)?;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                reached += r.addresses.len();
            }
            ms.sort_by(f64::total_cmp);
            out.push(SingleOut {
                position,
                policy: policy.to_string(),
                seeds: k,
                median_ms: ms[k / 2],
                p90_ms: ms[(k * 9) / 10],
                max_ms: ms[k - 1],
                mean_addresses: reached as f64 / k as f64,
            });
        }
    }
    Ok(out)
}

/// The baselines' JSON (see tools/scale_baselines.py), or None when none was asked for.
fn run_baselines(
    a: &Args,
    data: &Path,
    gen: &Generated,
    files: usize,
) -> Result<Option<serde_json::Value>> {
    if a.engines.is_empty() || a.engines.iter().all(|e| e.is_empty()) {
        return Ok(None);
    }
    let out = data.join(format!("baselines-{files}.json"));
    if !(a.reuse && out.exists()) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/scale_baselines.py");
        let csv: Vec<String> = gen.files[..files]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let status = Command::new("python3")
            .arg(&script)
            .args(["--csv", &csv.join(",")])
            .args(["--seeds", &gen.seeds.join(",")])
            .args(["--single-seed", &gen.seeds[0], "--hops", "20"])
            .args(["--engines", &a.engines.join(",")])
            .args(["--screen", "100000", "--json"])
            .arg(&out)
            .args(
                a.haircut_limit
                    .map(|n| vec!["--haircut-limit".to_string(), n.to_string()])
                    .unwrap_or_default(),
            )
            .status()
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("the baselines failed ({status})");
        }
    }
    Ok(Some(serde_json::from_slice(&std::fs::read(&out)?)?))
}

fn print_table(runs: &[(&str, IngestOut, TraceOut)], baseline: Option<&serde_json::Value>) {
    let engines = ["python", "duckdb", "postgres"];
    // The best baseline of a measure: the highest rate (or the lowest time) any engine
    // reached, with the engine's name.
    let best = |key: &str, higher_better: bool| -> Option<(f64, String)> {
        let b = baseline?;
        engines
            .iter()
            .filter_map(|e| {
                let engine = &b["engines"][e];
                // Memory: resident memory where the engine reports it (DuckDB's file
                // is compressed on disk but it works in memory), else the footprint.
                let v = match key {
                    "bytes_per_transfer" => engine["peak_rss_bytes_per_transfer"]
                        .as_f64()
                        .or_else(|| engine[key].as_f64())?,
                    _ => engine[key].as_f64()?,
                };
                Some((v, e.to_string()))
            })
            .filter(|(v, _)| v.is_finite() && *v > 0.0)
            .reduce(|x, y| {
                let better = if higher_better { y.0 > x.0 } else { y.0 < x.0 };
                if better {
                    y
                } else {
                    x
                }
            })
    };
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["measure".to_string()];
    for (name, _, tr) in runs {
        header.push(format!("ashiato, {name} ({} transfers)", tr.events));
    }
    header.extend([
        "best baseline (same small set)".into(),
        "ratio".into(),
        "target".into(),
    ]);
    t.set_header(header);
    let small = &runs[0].2;
    let edges = |tr: &TraceOut| tr.events as f64;
    type Cell = Box<dyn Fn(&IngestOut, &TraceOut) -> (String, f64)>;
    let mrate = |n: f64, s: f64| (format!("{:.2} M/s", n / s / 1e6), n / s);
    // (label, cell, the baseline key and whether higher is better, target)
    type Row<'a> = (&'a str, Cell, Option<(&'a str, bool)>, &'a str);
    let rows: Vec<Row> = vec![
        (
            "ingest CSV → durable store (transfers/s)",
            Box::new(move |i, _| mrate(i.rows as f64, i.seconds)),
            Some(("ingest_rows_per_s", true)),
            "",
        ),
        (
            "memory: peak RSS of the trace process per transfer",
            Box::new(|_, t| {
                let b = t.peak_rss as f64 / t.events as f64;
                (
                    format!(
                        "{b:.0} B ({:.2} GiB)",
                        t.peak_rss as f64 / (1u64 << 30) as f64
                    ),
                    b,
                )
            }),
            Some(("bytes_per_transfer", false)),
            "100 M in < 8 GiB",
        ),
        (
            "memory: peak RSS of the ingest per transfer",
            Box::new(|i, _| {
                let b = i.peak_rss as f64 / i.rows as f64;
                (
                    format!(
                        "{b:.0} B ({:.2} GiB)",
                        i.peak_rss as f64 / (1u64 << 30) as f64
                    ),
                    b,
                )
            }),
            None,
            "",
        ),
        (
            "load graph from store",
            Box::new(|_, t| (format!("{:.1} s", t.load_s), t.load_s)),
            None,
            "",
        ),
        (
            "full-graph haircut walk, summary only (edges/s)",
            Box::new(move |_, t| mrate(edges(t), t.haircut_walk_s)),
            Some(("haircut_edges_per_s", true)),
            "≥ 50 M/s per core",
        ),
        (
            "full-graph haircut with per-address report (edges/s)",
            Box::new(move |_, t| mrate(edges(t), t.haircut_s)),
            Some(("haircut_edges_per_s", true)),
            "",
        ),
        (
            "full-graph FIFO with report (edges/s)",
            Box::new(move |_, t| mrate(edges(t), t.fifo_s)),
            Some(("fifo_edges_per_s", true)),
            "",
        ),
        (
            "full-graph poison with report (s)",
            Box::new(|_, t| (format!("{:.2} s", t.poison_s), t.poison_s)),
            Some(("poison_full_s", false)),
            "",
        ),
        (
            "holder index build (s, bytes per transfer)",
            Box::new(|_, t| {
                (
                    format!(
                        "{:.2} s, {:.1} B",
                        t.index_s,
                        t.index_bytes as f64 / t.events as f64
                    ),
                    t.index_s,
                )
            }),
            None,
            "",
        ),
        (
            "single seed s0 from the chain's start, poison, 20 hops (ms)",
            Box::new(|_, t| {
                (
                    format!(
                        "{:.1} ms ({} addresses)",
                        t.s0_poison_ms, t.s0_poison_addresses
                    ),
                    t.s0_poison_ms,
                )
            }),
            Some(("single_seed_ms", false)),
            "< 100 ms",
        ),
        (
            "screening lookups, one thread (lookups/s)",
            Box::new(move |_, t| mrate(t.screen_per_s, 1.0)),
            Some(("screen_per_s", true)),
            "",
        ),
    ];
    for (label, cell, base, target) in &rows {
        let mut r = vec![label.to_string()];
        for (_, i, tr) in runs {
            r.push(cell(i, tr).0);
        }
        let ours = cell(&runs[0].1, small).1;
        match base.and_then(|(k, hb)| best(k, hb).map(|b| (b, hb))) {
            Some(((v, engine), higher_better)) => {
                let shown = if higher_better && v > 1e3 {
                    format!("{:.3} M/s ({engine})", v / 1e6)
                } else if label.contains("memory") {
                    format!("{v:.0} B ({engine})")
                } else if label.contains("(ms)") {
                    format!("{v:.1} ms ({engine})")
                } else {
                    format!("{v:.2} ({engine})")
                };
                let ratio = if higher_better { ours / v } else { v / ours };
                r.push(shown);
                r.push(format!("{ratio:.1}×"));
            }
            None => {
                r.push(String::new());
                r.push(String::new());
            }
        }
        r.push(target.to_string());
        t.add_row(r);
    }
    for s in &small.single {
        let mut r = vec![format!(
            "single seed at {:.0}% of the chain, {}, 20 hops (median / p90 / max ms, mean addresses)",
            s.position * 100.0,
            s.policy
        )];
        for (_, _, tr) in runs {
            let x = tr
                .single
                .iter()
                .find(|x| x.position == s.position && x.policy == s.policy);
            r.push(x.map_or(String::new(), |x| {
                format!(
                    "{:.1} / {:.1} / {:.1} ms, {:.0}",
                    x.median_ms, x.p90_ms, x.max_ms, x.mean_addresses
                )
            }));
        }
        r.extend([String::new(), String::new(), "< 100 ms".into()]);
        t.add_row(r);
    }
    println!("{t}");
    if let Some(b) = baseline {
        for e in engines {
            let v = &b["engines"][e];
            if v.is_object() {
                println!(
                    "{e} {}: haircut agrees {}, fifo agrees {}, poison agrees {}, single seed agrees {}",
                    v["version"], v["haircut_agrees"], v["fifo_agrees"], v["poison_agrees"], v["single_seed_agrees"]
                );
            }
        }
    }
    println!(
        "haircut totals ({} set): entered {} held {}",
        runs[0].0, small.haircut_entered, small.haircut_held
    );
}
