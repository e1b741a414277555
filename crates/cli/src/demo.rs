//! `ashiato demo`: the main job on the bundled real data, end to end through the store.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ashiato_ingest::mftracer;
use ashiato_model::{Chain, Label};
use ashiato_store::Store;
use ashiato_trace::{PolicyName, TraceResult, TraceSpec};
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::{load, InputFormat};

#[derive(Args)]
pub struct DemoArgs {
    /// Store directory (created if missing; reusing it shows that re-ingest adds nothing).
    #[arg(long, default_value = "demo.store")]
    store: PathBuf,
    /// Folder with the bundled data (default: ./data, else the checkout's data folder).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run one case instead: `coincheck` (NEM 2018, synced from the NIS1 replay server).
    #[arg(long)]
    case: Option<String>,
    /// Dust threshold in base units for `--case coincheck` (default 1,000 XEM).
    #[arg(long)]
    dust: Option<u128>,
}

fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(d) = given {
        return Ok(d);
    }
    let here = PathBuf::from("data");
    if here.join("eth-mftracer-cases").is_dir() {
        return Ok(here);
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    if checkout.join("eth-mftracer-cases").is_dir() {
        return Ok(checkout);
    }
    anyhow::bail!("bundled data not found: run from the repository root or pass --data DIR")
}

/// Share of `wanted` that appears in `got`, as "n/m (p%)".
pub fn recall(got: &BTreeSet<String>, wanted: &BTreeSet<String>) -> String {
    let hit = wanted.intersection(got).count();
    let pct = if wanted.is_empty() {
        0.0
    } else {
        100.0 * hit as f64 / wanted.len() as f64
    };
    format!("{hit}/{} ({pct:.0}%)", wanted.len())
}

pub fn run(a: DemoArgs) -> Result<()> {
    match a.case.as_deref() {
        None => {}
        Some("coincheck") => {
            let mut store = Store::open(&a.store)
                .with_context(|| format!("opening store {}", a.store.display()))?;
            let run = crate::coincheck::run_case(
                &mut store,
                a.dust.unwrap_or(crate::coincheck::DEFAULT_DUST),
            )?;
            return crate::coincheck::print(&mut io::stdout().lock(), &run, &a.store);
        }
        Some(other) => anyhow::bail!("unknown case {other:?}: the cases are: coincheck"),
    }
    let data = data_dir(a.data)?;
    let mut store =
        Store::open(&a.store).with_context(|| format!("opening store {}", a.store.display()))?;
    println!(
        "Ashiato demo: store {}, data {}\n",
        a.store.display(),
        data.display()
    );

    println!("== ingest (real data; a second run adds nothing)");
    let cases_dir = data.join("eth-mftracer-cases");
    print!(
        "{}",
        load::ingest_path(
            &mut store,
            &cases_dir,
            InputFormat::Mftracer,
            Chain::Ethereum
        )?
    );
    let btc_dir = data.join("btc-2009-full-year-taintedtx");
    print!(
        "{}",
        load::ingest_path(&mut store, &btc_dir, InputFormat::Taintedtx, Chain::Bitcoin)?
    );

    println!("\n== Ethereum: the four MFTracer cases, traced from their sources through the store");
    let eth = load::load_store(&store, Chain::Ethereum)?;
    let stop_at: Vec<_> = eth
        .labels
        .iter()
        .filter(|l| l.kind.is_exit())
        .map(|l: &Label| (l.address.clone(), l.name.clone()))
        .collect();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["case".to_string(), "terminals".into()];
    header.extend(PolicyName::ALL.iter().map(|p| format!("{p} recall")));
    t.set_header(header);
    let mut detail = Vec::new();
    for case_dir in load::case_dirs(&cases_dir)? {
        let case = mftracer::read_case(&case_dir)?;
        let incident = store
            .incident(&case.name)?
            .with_context(|| format!("incident {} missing after ingest", case.name))?;
        let spec = TraceSpec {
            seeds: incident.seeds.clone(),
            since: incident.since.map(|t| t.0),
            stop_at: stop_at.clone(),
            ..TraceSpec::default()
        };
        let terminals: BTreeSet<String> = case.terminals.iter().map(|a| a.to_string()).collect();
        let mut row = vec![case.name.clone(), terminals.len().to_string()];
        for p in PolicyName::ALL {
            let r = ashiato_trace::trace(&eth.graph, &spec, p)?;
            let reached: BTreeSet<String> = r.exits.iter().map(|e| e.address.clone()).collect();
            row.push(recall(&reached, &terminals));
            if p == PolicyName::Haircut {
                detail.push((case.name.clone(), r));
            }
        }
        t.add_row(row);
    }
    println!("share of each case's terminal addresses (exchanges, bridges, mixers) that the trace reaches:\n{t}");
    for (name, r) in &detail {
        let usd = |c: u128| format!("${}.{:02}", c / 100, c % 100);
        println!(
            "{name} (haircut): {} entered from the sources, {} reached exits, {} still held, {} exits; biggest exit {}",
            usd(r.summary.entered),
            usd(r.summary.exited),
            usd(r.summary.held),
            r.exits.len(),
            r.exits
                .first()
                .map(|e| format!("{} {} via {} tx", e.label, usd(e.amount), e.path.len()))
                .unwrap_or_default()
        );
    }

    println!("\n== Bitcoin 2009: where the first person-to-person payment went (tx 171, Satoshi to Hal Finney, block 170)");
    let btc = load::load_store(&store, Chain::Bitcoin)?;
    let spec = TraceSpec {
        seed_txs: vec!["f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16".into()],
        ..TraceSpec::default()
    };
    let results: Vec<TraceResult> = [PolicyName::Poison, PolicyName::Haircut, PolicyName::Fifo]
        .iter()
        .map(|&p| ashiato_trace::trace(&btc.graph, &spec, p))
        .collect::<Result<_, _>>()?;
    let out = io::stdout();
    write_comparison(&mut out.lock(), &results, 10)?;
    println!(
        "\nNext: `ashiato trace --store {} --incident LIFI --policy all`, or `ashiato trace --input FILE.csv --seed ADDR --policy haircut --format json`;\nbrowse it: `ashiato serve --store {}` and open http://127.0.0.1:8080/.",
        a.store.display(),
        a.store.display()
    );
    Ok(())
}

/// Several policies side by side: per address the taint each policy gives, then totals.
pub fn write_comparison(
    w: &mut impl Write,
    results: &[TraceResult],
    limit: usize,
) -> io::Result<()> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut best: std::collections::HashMap<(String, String), u128> = Default::default();
    for r in results {
        for a in &r.addresses {
            let k = (a.address.clone(), a.asset.clone());
            let e = best.entry(k.clone()).or_insert_with(|| {
                keys.push(k.clone());
                0
            });
            *e = (*e).max(a.taint);
        }
    }
    keys.sort_by(|a, b| best[b].cmp(&best[a]).then_with(|| a.cmp(b)));
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["address".to_string(), "asset".into()];
    header.extend(results.iter().map(|r| r.policy.to_string()));
    t.set_header(header);
    for (addr, asset) in keys.iter().take(limit) {
        let mut row = vec![addr.clone(), asset.clone()];
        row.extend(results.iter().map(|r| r.taint_of(addr, asset).to_string()));
        t.add_row(row);
    }
    let total = |name: &str, f: &dyn Fn(&TraceResult) -> String| {
        let mut row = vec![name.to_string(), String::new()];
        row.extend(results.iter().map(f));
        row
    };
    t.add_row(total("addresses tainted", &|r| {
        r.addresses
            .iter()
            .filter(|a| a.taint > 0)
            .count()
            .to_string()
    }));
    t.add_row(total("exits reached", &|r| r.exits.len().to_string()));
    t.add_row(total("exited (total)", &|r| r.summary.exited.to_string()));
    t.add_row(total("still held", &|r| r.summary.held.to_string()));
    t.add_row(total("lost to fees", &|r| {
        r.summary.lost_to_fees.to_string()
    }));
    writeln!(w, "{t}")?;
    if keys.len() > limit {
        writeln!(w, "(top {limit} of {} addresses by taint)", keys.len())?;
    }
    Ok(())
}
