//! `ashiato-bench`: the issue-2 benchmark, printed as one table with a baseline from the
//! same run. Not a test: numbers depend on the machine; rerun it to check a claim.
//!
//! 1. generate a SYNTHETIC account graph (seeded, deterministic) as Ashiato CSV;
//! 2. ingest it from CSV into a fresh embedded store (end to end, durable);
//! 3. load the graph from the store; run a full-graph haircut trace (and FIFO, poison);
//! 4. run the same haircut trace in the Python baseline (`tools/baseline_haircut.py`)
//!    on the same file, check that both agree to the unit, and print the speed ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ashiato_ingest::synth::{theft_accounts, write_account_csv, SynthSpec};
use ashiato_model::{Address, Chain};
use ashiato_store::Store;
use ashiato_trace::{PolicyName, TraceSpec};
use clap::Parser;

// Ingest allocates per row on one thread and frees on the other; glibc's allocator
// serialises that, mimalloc does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

#[derive(Parser)]
#[command(
    about = "Ingest and trace benchmark on a seeded synthetic account graph, against a Python baseline"
)]
struct Args {
    #[arg(long, default_value_t = 10_000_000)]
    transfers: u64,
    #[arg(long, default_value_t = 1_000_000)]
    accounts: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Working folder for the generated CSV and the store.
    #[arg(long, default_value = "bench-data")]
    dir: PathBuf,
    /// Skip the Python baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Reuse the CSV and store of an earlier run with the same parameters (trace only).
    #[arg(long)]
    reuse: bool,
}

fn main() -> Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.dir)?;
    let csv = a.dir.join(format!(
        "synthetic-accounts{}-transfers{}-seed{}.csv",
        a.accounts, a.transfers, a.seed
    ));
    let spec = SynthSpec {
        accounts: a.accounts,
        transfers: a.transfers,
        seed: a.seed,
        start_time: 1_500_000_000,
    };
    let store_dir = a.dir.join("bench.store");
    let reuse = a.reuse && csv.exists() && store_dir.exists();
    let t = Instant::now();
    if !reuse {
        let file =
            std::fs::File::create(&csv).with_context(|| format!("creating {}", csv.display()))?;
        write_account_csv(std::io::BufWriter::new(file), &spec)?;
    }
    let gen_s = t.elapsed().as_secs_f64();
    let seeds = theft_accounts();
    let size = std::fs::metadata(&csv)?.len();
    println!(
        "SYNTHETIC data: {} transfers over {} accounts (seed {}), {:.0} MB CSV, generated in {gen_s:.1} s; trace seeds: {}",
        a.transfers,
        a.accounts,
        a.seed,
        size as f64 / 1e6,
        seeds.join(",")
    );

    // CSV parse alone, to separate parsing from storing.
    let t = Instant::now();
    let rows =
        ashiato_ingest::csv::CsvReader::open(&csv, Chain::Generic)?.for_each(0, |_, _| Ok(()))?;
    let parse_s = t.elapsed().as_secs_f64();

    let (store, ingest_s) = if reuse {
        (Store::open(&store_dir)?, f64::NAN)
    } else {
        if store_dir.exists() {
            std::fs::remove_dir_all(&store_dir)?;
        }
        let t = Instant::now();
        let mut store = Store::open(&store_dir)?;
        let report = ashiato::load::ingest_csv(&mut store, &csv, Chain::Generic)?;
        let ingest_s = t.elapsed().as_secs_f64();
        if report.added != rows {
            bail!("ingest added {} of {rows} rows", report.added);
        }
        (store, ingest_s)
    };

    let t = Instant::now();
    let graph = store.graph(Chain::Generic)?;
    let load_s = t.elapsed().as_secs_f64();
    let edges = graph.edges() as f64;

    let trace_spec = TraceSpec {
        seeds: seeds
            .iter()
            .map(|s| Address::parse(Chain::Generic, s))
            .collect::<Result<_, _>>()?,
        ..TraceSpec::default()
    };
    // The walk alone (summary and exits, no per-address list), then full reports.
    let walk_spec = TraceSpec {
        summary_only: true,
        ..trace_spec.clone()
    };
    let t = Instant::now();
    let walk = ashiato_trace::trace(&graph, &walk_spec, PolicyName::Haircut)?;
    let walk_s = t.elapsed().as_secs_f64();
    let mut traces = Vec::new();
    for p in [PolicyName::Haircut, PolicyName::Fifo, PolicyName::Poison] {
        let t = Instant::now();
        let r = ashiato_trace::trace(&graph, &trace_spec, p)?;
        traces.push((p, t.elapsed().as_secs_f64(), r));
    }
    let (_, haircut_s, haircut) = &traces[0];

    let baseline = if a.no_baseline {
        None
    } else {
        Some(run_baseline(&csv, &seeds)?)
    };

    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "measure",
        "ashiato",
        "baseline (Python, same run)",
        "ratio",
        "target",
    ]);
    let rate = |n: f64, s: f64| format!("{:.2} M/s", n / s / 1e6);
    t.add_row(vec![
        "CSV parse (rows/s)".to_string(),
        rate(rows as f64, parse_s),
        baseline
            .as_ref()
            .map(|b| rate(rows as f64, b.parse_s))
            .unwrap_or_default(),
        baseline
            .as_ref()
            .map(|b| format!("{:.1}×", b.parse_s / parse_s))
            .unwrap_or_default(),
        String::new(),
    ]);
    t.add_row(vec![
        "ingest CSV → store, durable (transfers/s)".to_string(),
        if reuse {
            "reused an earlier store (--reuse)".to_string()
        } else {
            format!("{} ({ingest_s:.1} s)", rate(rows as f64, ingest_s))
        },
        String::new(),
        String::new(),
        "≥ 1 M/s".into(),
    ]);
    t.add_row(vec![
        "load graph from store".to_string(),
        format!("{load_s:.2} s"),
        String::new(),
        String::new(),
        String::new(),
    ]);
    t.add_row(vec![
        "haircut walk only, no per-address report (edges/s)".to_string(),
        format!("{} ({walk_s:.2} s)", rate(edges, walk_s)),
        String::new(),
        String::new(),
        "≥ 50 M/s, one core".into(),
    ]);
    assert_eq!(
        walk.summary, traces[0].2.summary,
        "the walk does not depend on the report"
    );
    for (p, s, r) in &traces {
        let is_haircut = *p == PolicyName::Haircut;
        t.add_row(vec![
            format!("full-graph {p} trace (edges/s)"),
            format!(
                "{} ({s:.2} s, {} addresses tainted)",
                rate(edges, *s),
                r.addresses.len()
            ),
            match (&baseline, is_haircut) {
                (Some(b), true) => format!("{} ({:.1} s)", rate(edges, b.trace_s), b.trace_s),
                _ => String::new(),
            },
            match (&baseline, is_haircut) {
                (Some(b), true) => format!("{:.0}×", b.trace_s / s),
                _ => String::new(),
            },
            if is_haircut {
                "≥ 50 M/s, one core".into()
            } else {
                String::new()
            },
        ]);
    }
    println!("{t}");
    if let Some(b) = &baseline {
        let agree = b.entered == haircut.summary.entered && b.held == haircut.summary.held;
        println!(
            "haircut totals: ashiato entered {} held {}; baseline entered {} held {} → {}",
            haircut.summary.entered,
            haircut.summary.held,
            b.entered,
            b.held,
            if agree {
                "agree to the unit"
            } else {
                "DISAGREE"
            }
        );
        if !agree {
            bail!("the baseline and ashiato disagree");
        }
    }
    let _ = haircut_s;
    Ok(())
}

struct Baseline {
    parse_s: f64,
    trace_s: f64,
    entered: u128,
    held: u128,
}

fn run_baseline(csv: &Path, seeds: &[String]) -> Result<Baseline> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/baseline_haircut.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(csv)
        .arg("--seed")
        .arg(seeds.join(","))
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("baseline failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or(""))
        .with_context(|| format!("baseline printed {line:?}"))?;
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_f64())
            .with_context(|| format!("baseline output lacks {k}"))
    };
    let int = |k: &str| -> Result<u128> {
        let x = v
            .get(k)
            .with_context(|| format!("baseline output lacks {k}"))?;
        x.to_string()
            .parse::<u128>()
            .with_context(|| format!("baseline {k} = {x}"))
    };
    Ok(Baseline {
        parse_s: num("parse_seconds")?,
        trace_s: num("trace_seconds")?,
        entered: int("entered")?,
        held: int("held")?,
    })
}
