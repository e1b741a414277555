//! `ashiato-btc-bench`: the issue-4 Bitcoin benchmark, printed as one table with a Python
//! baseline from the same run. Not a test: numbers depend on the machine; rerun it to
//! check a claim.
//!
//! 1. Real mainnet blocks (`../shared/data/btc-mainnet-raw-blocks`): every raw block file
//!    decoded, checked and converted to the model's UTXO transactions, and the first
//!    megabyte of `blk00000.dat` through the blk reader, the best-chain pass and a UTXO set;
//!    repeated until the numbers are stable; then all of it indexed into a trace graph.
//! 2. The 2009 graph (BlockSci/TaintedTX export): load, index, and a full-graph haircut
//!    trace from the coinbase of block 9.
//! 3. A SYNTHETIC UTXO chain (`ashiato_ingest::synth_utxo`, seeded; 10 million
//!    transactions by default): generation, indexing, memory per transaction, the haircut
//!    walk and a full-graph haircut trace from its theft transaction.
//! 4. The same haircut trace in plain Python (`tools/baseline_utxo_haircut.py`) on the
//!    2009 graph and on the SYNTHETIC chain (written to a file it reads): both must agree
//!    to the satoshi on every address's taint and holding, and on the totals.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use ashiato_btc::block::{convert_with_undo, parse_undo};
use ashiato_btc::chain::{blocks_dir, for_each_block};
use ashiato_btc::{parse_block, UtxoSet};
use ashiato_ingest::synth_utxo::{SynthUtxo, SynthUtxoSpec};
use ashiato_ingest::taintedtx;
use ashiato_model::{Chain, UtxoTx};
use ashiato_trace::{Graph, GraphBuilder, Legs, PolicyName, TraceResult, TraceSpec};
use clap::Parser;
use comfy_table::presets::{ASCII_MARKDOWN, UTF8_FULL_CONDENSED};
use comfy_table::Table;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The coinbase of block 9: the 50 BTC Satoshi sent to Hal Finney in tx 171 (block 170).
const BLOCK9_COINBASE: &str = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9";

#[derive(Parser)]
#[command(
    about = "Bitcoin benchmark: real blocks, the 2009 graph and a SYNTHETIC UTXO chain, against a Python baseline"
)]
struct Args {
    /// Transactions of the SYNTHETIC UTXO chain.
    #[arg(long, default_value_t = 10_000_000)]
    txs: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Working folder for the files the baseline reads.
    #[arg(long, default_value = "bench-data")]
    dir: PathBuf,
    /// The real mainnet blocks (default: ../shared/data/btc-mainnet-raw-blocks beside the
    /// repository).
    #[arg(long)]
    raw_blocks: Option<PathBuf>,
    /// The 2009 TaintedTX export (default: the bundled data/btc-2009-full-year-taintedtx).
    #[arg(long)]
    taintedtx: Option<PathBuf>,
    /// Skip the Python baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Run the baseline on the first N transactions of the SYNTHETIC chain only (Ashiato
    /// traces that prefix again for the comparison). Default: the whole chain.
    #[arg(long)]
    baseline_txs: Option<u64>,
    /// Repeat each small measurement for at least this long (and at least 3 times).
    #[arg(long, default_value_t = 3.0)]
    min_seconds: f64,
    #[arg(long, default_value = "python3")]
    python: String,
    /// Print the table as Markdown (for docs/bitcoin.md).
    #[arg(long)]
    markdown: bool,
}

/// One table row: measure, ashiato, baseline, ratio, note.
type Row = [String; 5];

fn row(measure: &str, ours: String, base: String, ratio: String, note: String) -> Row {
    [measure.to_owned(), ours, base, ratio, note]
}

fn section(title: &str) -> Row {
    row(
        &format!("— {title} —"),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    )
}

fn main() -> Result<()> {
    let a = Args::parse();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let mut mem = Mem::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    let raw_dir = a
        .raw_blocks
        .clone()
        .unwrap_or_else(|| repo.join("../shared/data/btc-mainnet-raw-blocks"));
    eprintln!("real blocks: {}", raw_dir.display());
    real_blocks(&raw_dir, a.min_seconds, &mut rows)?;

    let tt_dir = a
        .taintedtx
        .clone()
        .unwrap_or_else(|| repo.join("data/btc-2009-full-year-taintedtx"));
    eprintln!("2009 graph: {}", tt_dir.display());
    let script = repo.join("tools/baseline_utxo_haircut.py");
    let base = (!a.no_baseline).then_some(Baseline {
        python: &a.python,
        script: &script,
    });
    year_2009(&tt_dir, &a, base.as_ref(), &mut rows)?;

    synthetic(&a, base.as_ref(), &mut mem, &mut rows, &mut notes)?;

    let mut t = Table::new();
    t.load_preset(if a.markdown {
        ASCII_MARKDOWN
    } else {
        UTF8_FULL_CONDENSED
    });
    t.set_header([
        "measure",
        "ashiato",
        "baseline (Python, same run)",
        "ratio",
        "note",
    ]);
    for r in rows {
        t.add_row(r.to_vec());
    }
    println!("{t}");
    for n in &notes {
        println!("{n}");
    }
    println!(
        "peak memory (VmHWM) of this process: {}",
        gb(mem.peak_kb() * 1024)
    );
    Ok(())
}

// ---------------------------------------------------------------- 1. real blocks

/// One raw block file and the coins its inputs spend.
struct RawBlock {
    place: String,
    height: u64,
    bytes: Vec<u8>,
    /// Spent coins in input order: the block's undo data, or stand-ins.
    undo: Vec<bitcoin::TxOut>,
    real_undo: bool,
}

fn is_block_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let other = ["license", "copying", "source", "readme"]
        .iter()
        .any(|p| name.starts_with(p));
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    !other && !name.contains("undo") && matches!(ext.as_deref(), None | Some("raw") | Some("dat"))
}

/// The digits of a file name (`block300025.raw` → 300025), the block's height in these
/// fixtures; 0 when it has none.
fn height_from_name(path: &Path) -> u64 {
    let digits: String = path
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect()
        })
        .unwrap_or_default();
    digits.parse().unwrap_or(0)
}

/// A single block's prevouts are not in the data set (only block 300025 comes with undo
/// data), so its inputs get stand-in coins: an output script of the same block, in turn,
/// and value 0 (unknown). Conversion does the same work per input as with real coins.
fn stand_in_coins(block: &bitcoin::Block) -> Vec<bitcoin::TxOut> {
    let scripts: Vec<&bitcoin::ScriptBuf> = block
        .txdata
        .iter()
        .flat_map(|t| t.output.iter().map(|o| &o.script_pubkey))
        .collect();
    let inputs: usize = block
        .txdata
        .iter()
        .filter(|t| !t.is_coinbase())
        .map(|t| t.input.len())
        .sum();
    (0..inputs)
        .filter_map(|i| scripts.get(i % scripts.len().max(1)))
        .map(|s| bitcoin::TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: (*s).clone(),
        })
        .collect()
}

fn raw_blocks(dir: &Path) -> Result<Vec<RawBlock>> {
    let mut out = Vec::new();
    for sub in ["bcoin", "bitcoinj", "bitcoin-test-data-crate"] {
        let d = dir.join(sub);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("reading {} (give --raw-blocks)", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_block_file(p))
            .collect();
        paths.sort();
        for path in paths {
            let place = format!(
                "{sub}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let block = parse_block(&bytes, &place)?;
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let undo_path = path.with_file_name(format!("{stem}-undo.raw"));
            let (undo, real_undo) = if undo_path.is_file() {
                let u = std::fs::read(&undo_path)
                    .with_context(|| format!("reading {}", undo_path.display()))?;
                (parse_undo(&u, &place)?, true)
            } else {
                (stand_in_coins(&block), false)
            };
            out.push(RawBlock {
                height: height_from_name(&path),
                place,
                bytes,
                undo,
                real_undo,
            });
        }
    }
    ensure!(!out.is_empty(), "{}: no raw block files", dir.display());
    Ok(out)
}

/// Runs `f` (which times itself) at least 3 times and for at least `min_s` seconds;
/// returns the median time, the number of runs and the last value.
fn repeat<T>(min_s: f64, mut f: impl FnMut() -> Result<(f64, T)>) -> Result<(f64, usize, T)> {
    let start = Instant::now();
    let mut times = Vec::new();
    loop {
        let (s, v) = f()?;
        times.push(s);
        if times.len() >= 3 && start.elapsed().as_secs_f64() >= min_s {
            times.sort_by(f64::total_cmp);
            return Ok((times[times.len() / 2], times.len(), v));
        }
    }
}

fn real_blocks(dir: &Path, min_s: f64, rows: &mut Vec<Row>) -> Result<()> {
    let blocks = raw_blocks(dir)?;
    let blk_dir = dir.join("blkfile-prefix");
    let (files, key) = blocks_dir(&blk_dir)?;
    let raw_bytes: usize = blocks.iter().map(|b| b.bytes.len()).sum();
    let blk_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    let with_undo: Vec<&str> = blocks
        .iter()
        .filter(|b| b.real_undo)
        .map(|b| b.place.as_str())
        .collect();

    let mut decode_times = Vec::new();
    let mut raw_times = Vec::new();
    let mut blk_times = Vec::new();
    let mut index_times = Vec::new();
    let mut counts = (0usize, 0usize, 0usize, 0usize, 0usize); // raw txs, inputs, outputs, blk blocks, blk txs
    let mut edges = 0;
    let start = Instant::now();
    while raw_times.len() < 3 || start.elapsed().as_secs_f64() < min_s {
        let t = Instant::now();
        for b in &blocks {
            parse_block(&b.bytes, &b.place)?;
        }
        decode_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut txs: Vec<UtxoTx> = Vec::new();
        for b in &blocks {
            let block = parse_block(&b.bytes, &b.place)?;
            txs.extend(convert_with_undo(&block, b.height, &b.undo)?);
        }
        raw_times.push(t.elapsed().as_secs_f64());
        let raw_txs = txs.len();
        let raw_in: usize = txs.iter().map(|t| t.inputs.len()).sum();
        let raw_out: usize = txs.iter().map(|t| t.outputs.len()).sum();

        let t = Instant::now();
        let mut set = UtxoSet::default();
        let report = for_each_block(&files, key, |h, b| {
            txs.extend(set.apply(b, h)?);
            Ok(())
        })?;
        blk_times.push(t.elapsed().as_secs_f64());
        counts = (
            raw_txs,
            raw_in,
            raw_out,
            report.best_height.map_or(0, |h| h as usize + 1),
            txs.len() - raw_txs,
        );

        let t = Instant::now();
        let g = build(txs, Chain::Bitcoin)?;
        index_times.push(t.elapsed().as_secs_f64());
        edges = g.edges();
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let runs = raw_times.len();
    let decode_s = med(decode_times);
    let (raw_s, blk_s, index_s) = (med(raw_times), med(blk_times), med(index_times));
    let (raw_txs, raw_in, raw_out, blk_blocks, blk_txs) = counts;
    rows.push(section(&format!(
        "real mainnet blocks ({}), median of {runs} runs",
        dir.file_name().unwrap_or_default().to_string_lossy()
    )));
    rows.push(row(
        "raw blocks: decode + checks only (txs/s)",
        format!("{} ({})", rate(raw_txs as f64, decode_s), secs(decode_s)),
        String::new(),
        String::new(),
        "bitcoin crate decode; proof of work, merkle root, witness commitment".into(),
    ));
    rows.push(row(
        "raw blocks: decode + checks + conversion to UtxoTx (txs/s)",
        format!("{} ({})", rate(raw_txs as f64, raw_s), secs(raw_s)),
        String::new(),
        String::new(),
        format!(
            "{} files (bcoin, bitcoinj, bitcoin-test-data-crate), {:.1} MB: {} txs, {} inputs, {} outputs; input coins from undo data for {}, stand-ins for the others (their prevouts are not in the data: an output script of the same block, value 0)",
            blocks.len(),
            raw_bytes as f64 / 1e6,
            thousands(raw_txs as u64),
            thousands(raw_in as u64),
            thousands(raw_out as u64),
            with_undo.join(", "),
        ),
    ));
    rows.push(row(
        "blk00000.dat prefix: blk reader + best chain + decode + checks + UTXO-set conversion (txs/s)",
        format!("{} ({})", rate(blk_txs as f64, blk_s), secs(blk_s)),
        String::new(),
        String::new(),
        format!(
            "{:.1} MB, {} blocks (heights 0–{}), {} txs",
            blk_bytes as f64 / 1e6,
            thousands(blk_blocks as u64),
            blk_blocks.saturating_sub(1),
            thousands(blk_txs as u64)
        ),
    ));
    let all = (raw_txs + blk_txs) as f64;
    rows.push(row(
        "all of them indexed into one trace graph (txs/s)",
        format!("{} ({})", rate(all, index_s), secs(index_s)),
        String::new(),
        String::new(),
        format!(
            "{} txs, {} edges; end to end (parse + convert + index) {}",
            thousands(all as u64),
            thousands(edges as u64),
            rate(all, raw_s + blk_s + index_s)
        ),
    ));
    Ok(())
}

fn build(txs: impl IntoIterator<Item = UtxoTx>, chain: Chain) -> Result<Graph> {
    let mut b = GraphBuilder::new(chain);
    for (i, tx) in txs.into_iter().enumerate() {
        b.add_utxo_tx(tx, i as u64);
    }
    Ok(b.finish()?)
}

// ---------------------------------------------------------------- 2. the 2009 graph

fn year_2009(dir: &Path, a: &Args, base: Option<&Baseline>, rows: &mut Vec<Row>) -> Result<()> {
    let (load_s, runs, txs) = repeat(a.min_seconds, || {
        let t = Instant::now();
        let txs = taintedtx::read_dir(dir)?;
        Ok((t.elapsed().as_secs_f64(), txs))
    })?;
    let n = txs.len() as f64;
    let (index_s, _, graph) = repeat(a.min_seconds, || {
        let copy = txs.clone();
        let t = Instant::now();
        let g = build(copy, Chain::Bitcoin)?;
        Ok((t.elapsed().as_secs_f64(), g))
    })?;
    let spec = TraceSpec {
        seed_txs: vec![BLOCK9_COINBASE.to_owned()],
        ..TraceSpec::default()
    };
    let (trace_s, trace_runs, result) = repeat(a.min_seconds, || {
        let t = Instant::now();
        let r = ashiato_trace::trace(&graph, &spec, PolicyName::Haircut)?;
        Ok((t.elapsed().as_secs_f64(), r))
    })?;
    let edges = graph.edges() as f64;
    rows.push(section(&format!(
        "Bitcoin 2009, every transaction (TaintedTX export, {} txs), median of ≥ {runs} runs",
        thousands(txs.len() as u64)
    )));
    rows.push(row(
        "2009: load the CSV export (txs/s)",
        format!("{} ({})", rate(n, load_s), secs(load_s)),
        String::new(),
        String::new(),
        "five CSVs read, joined and checked (ashiato_ingest::taintedtx)".into(),
    ));
    rows.push(row(
        "2009: index into the trace graph (txs/s)",
        format!("{} ({})", rate(n, index_s), secs(index_s)),
        String::new(),
        String::new(),
        format!(
            "{} edges, {} addresses",
            thousands(edges as u64),
            thousands(graph.addresses.len() as u64)
        ),
    ));
    let mut cells = (String::new(), String::new(), String::new());
    if let Some(b) = base {
        let file = a.dir.join("btc-2009-taintedtx.utxo.txt");
        let mut ordered: Vec<&UtxoTx> = txs.iter().collect();
        ordered.sort_by_key(|t| (t.block, t.time.map_or(i64::MIN, |x| x.0)));
        write_utxo_lines(&file, ordered)?;
        let tsv = a.dir.join("btc-2009-taintedtx.baseline-addresses.tsv");
        let out = b.run(&file, BLOCK9_COINBASE, None, 5, &tsv)?;
        let agreed = compare(&result, &out, edges as u64, &tsv)?;
        cells = (
            format!(
                "{} ({}, median of {})",
                rate(edges, out.trace_s),
                secs(out.trace_s),
                out.trace_runs
            ),
            ratio(out.trace_s, trace_s),
            format!(" Baseline agrees to the satoshi: {agreed}."),
        );
    }
    rows.push(row(
        "2009: full-graph haircut trace from the block-9 coinbase (edges/s)",
        format!(
            "{} ({}, {} addresses tainted, median of {trace_runs})",
            rate(edges, trace_s),
            secs(trace_s),
            thousands(result.addresses.len() as u64)
        ),
        cells.0,
        cells.1,
        format!(
            "seed {}… (50 BTC; Satoshi → Hal Finney in tx 171): entered {} sat, held {}, lost to fees {}.{}",
            &BLOCK9_COINBASE[..12],
            thousands_u128(result.summary.entered),
            thousands_u128(result.summary.held),
            thousands_u128(result.summary.lost_to_fees),
            cells.2
        ),
    ));
    Ok(())
}

// ---------------------------------------------------------------- 3. the SYNTHETIC chain

fn synthetic(
    a: &Args,
    base: Option<&Baseline>,
    mem: &mut Mem,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let spec = SynthUtxoSpec::new(a.txs, a.seed);
    eprintln!(
        "SYNTHETIC UTXO chain: generating {} transactions (seed {})",
        thousands(a.txs),
        a.seed
    );
    let reset = mem.reset_peak();
    let rss0 = mem.rss_kb();
    let t = Instant::now();
    let mut gen = SynthUtxo::new(spec);
    let mut txs: Vec<UtxoTx> = Vec::with_capacity(a.txs as usize);
    txs.extend(gen.by_ref());
    let gen_s = t.elapsed().as_secs_f64();
    let (theft_ix, theft) = gen
        .theft()
        .map(|(i, s)| (i, s.to_owned()))
        .context("the chain is too short to hold the theft (block 110): give a larger --txs")?;
    let unspent = gen.unspent();
    drop(gen);
    let rss_gen = mem.rss_kb();
    let n = txs.len() as f64;
    let n_in: usize = txs.iter().map(|t| t.inputs.len()).sum();
    let n_out: usize = txs.iter().map(|t| t.outputs.len()).sum();
    let blocks = txs.last().map_or(0, |t| t.block + 1);
    let stolen: u128 = txs
        .get(theft_ix as usize)
        .map_or(0, |t| t.outputs.iter().map(|o| o.value).sum());

    let file = a
        .dir
        .join(format!("synthetic-utxo-txs{}-seed{}.txt", a.txs, a.seed));
    if base.is_some() {
        eprintln!("SYNTHETIC: writing {} for the baseline", file.display());
        let t = Instant::now();
        let bytes = write_utxo_lines(&file, &txs)?;
        notes.push(format!(
            "SYNTHETIC chain written for the baseline to {} ({:.2} GB) in {}.",
            file.display(),
            bytes as f64 / 1e9,
            secs(t.elapsed().as_secs_f64())
        ));
    }

    eprintln!("SYNTHETIC: indexing");
    let t = Instant::now();
    let graph = build(txs, Chain::Generic)?;
    let index_s = t.elapsed().as_secs_f64();
    let peak = mem.hwm_kb();
    let graph_size = graph_bytes(&graph);
    let edges = graph.edges() as f64;
    let addresses = graph.addresses.len();

    eprintln!("SYNTHETIC: tracing");
    let spec = TraceSpec {
        seed_txs: vec![theft.clone()],
        ..TraceSpec::default()
    };
    let walk_spec = TraceSpec {
        summary_only: true,
        ..spec.clone()
    };
    // Three runs each (the first also pays for faulting in the walk's slots), median.
    let (walk_s, _, walk) = repeat(0.0, || {
        let t = Instant::now();
        let r = ashiato_trace::trace(&graph, &walk_spec, PolicyName::Haircut)?;
        Ok((t.elapsed().as_secs_f64(), r))
    })?;
    let (full_s, _, full) = repeat(0.0, || {
        let t = Instant::now();
        let r = ashiato_trace::trace(&graph, &spec, PolicyName::Haircut)?;
        Ok((t.elapsed().as_secs_f64(), r))
    })?;
    ensure!(
        walk.summary == full.summary,
        "the walk depends on the report"
    );
    drop(graph);

    rows.push(section(&format!(
        "SYNTHETIC UTXO chain: {} txs (seed {}), {} blocks, {} inputs, {} outputs, {} addresses",
        thousands(a.txs),
        a.seed,
        thousands(blocks),
        thousands(n_in as u64),
        thousands(n_out as u64),
        thousands(addresses as u64)
    )));
    rows.push(row(
        "SYNTHETIC: generate (txs/s)",
        format!("{} ({})", rate(n, gen_s), secs(gen_s)),
        String::new(),
        String::new(),
        format!(
            "ashiato_ingest::synth_utxo: coinbases, 1–3 inputs / 1–3 outputs, fees, mostly recent outputs spent; {} unspent at the end",
            thousands(unspent as u64)
        ),
    ));

    // The baseline: on the whole chain, or on a prefix that Ashiato then traces again.
    let mut base_cells = (String::new(), String::new(), String::new(), String::new());
    let mut whole_chain_base_s = None;
    if let Some(b) = base {
        let limit = a.baseline_txs.filter(|&p| p < a.txs);
        let tsv = a.dir.join(format!(
            "synthetic-utxo-txs{}-seed{}.baseline-addresses.tsv",
            a.txs, a.seed
        ));
        eprintln!(
            "SYNTHETIC: running the Python baseline on {} txs",
            thousands(limit.unwrap_or(a.txs))
        );
        let out = b.run(&file, &theft, limit, 1, &tsv)?;
        let prefix_result;
        let (ours_s, ours, prefix_edges, what) = match limit {
            None => (full_s, &full, edges, "the whole chain".to_owned()),
            Some(p) => {
                ensure!(
                    theft_ix < p,
                    "--baseline-txs {p} ends before the theft (tx {theft_ix})"
                );
                let g = build(SynthUtxo::new(spec_of(a)).take(p as usize), Chain::Generic)?;
                let (s, _, r) = repeat(0.0, || {
                    let t = Instant::now();
                    let r = ashiato_trace::trace(&g, &spec, PolicyName::Haircut)?;
                    Ok((t.elapsed().as_secs_f64(), r))
                })?;
                prefix_result = r;
                (
                    s,
                    &prefix_result,
                    g.edges() as f64,
                    format!(
                        "a PREFIX of {} txs (--baseline-txs; Ashiato traced the same prefix again in {})",
                        thousands(p),
                        secs(s)
                    ),
                )
            }
        };
        let agreed = compare(ours, &out, prefix_edges as u64, &tsv)?;
        if limit.is_none() {
            whole_chain_base_s = Some(out.trace_s);
        }
        base_cells = (
            format!(
                "{} ({}){}",
                rate(prefix_edges, out.trace_s),
                secs(out.trace_s),
                if limit.is_some() { " on a prefix" } else { "" }
            ),
            ratio(out.trace_s, ours_s),
            format!(
                " Baseline run on {what}; it agrees to the satoshi: {agreed}; Python peak memory {}.",
                gb(out.peak_rss_bytes)
            ),
            format!(
                "parse + index from text: {} ({})",
                rate(out.txs as f64, out.parse_s),
                secs(out.parse_s)
            ),
        );
    }
    rows.push(row(
        "SYNTHETIC: index into the trace graph (txs/s)",
        format!("{} ({})", rate(n, index_s), secs(index_s)),
        base_cells.3,
        String::new(),
        "GraphBuilder: tx ids, coins resolved by (txid, vout), addresses interned; the baseline also parses the text, so no ratio".into(),
    ));
    let per_tx = |kb: u64| kb as f64 * 1024.0 / n;
    rows.push(row(
        "SYNTHETIC: memory per tx (peak RSS delta / txs)",
        format!(
            "{:.0} B/tx (peak +{})",
            per_tx(peak.saturating_sub(rss0)),
            gb(peak.saturating_sub(rss0) * 1024)
        ),
        String::new(),
        String::new(),
        format!(
            "from before generation to the end of indexing: the generated UtxoTx values ({:.0} B/tx: a String per id and address; the builder keeps them all until finish) plus the graph (≈ {:.0} B/tx counted from its columns){}",
            per_tx(rss_gen.saturating_sub(rss0)),
            graph_size as f64 / n,
            if reset { "" } else { " (VmHWM could not be reset: the peak may be earlier)" }
        ),
    ));
    rows.push(row(
        "SYNTHETIC: haircut walk only, no per-address report (edges/s, median of 3)",
        format!("{} ({})", rate(edges, walk_s), secs(walk_s)),
        String::new(),
        whole_chain_base_s.map_or_else(String::new, |b| ratio(b, walk_s)),
        if whole_chain_base_s.is_some() {
            "ratio against the baseline's trace below (which sums per-address totals but sorts nothing)".into()
        } else {
            String::new()
        },
    ));
    rows.push(row(
        "SYNTHETIC: full-graph haircut trace from the theft tx (edges/s, median of 3)",
        format!(
            "{} ({}, {} addresses tainted)",
            rate(edges, full_s),
            secs(full_s),
            thousands(full.addresses.len() as u64)
        ),
        base_cells.0,
        base_cells.1,
        format!(
            "theft = tx {} in block {} ({} sat): entered {}, held {}, lost to fees {}.{}",
            thousands(theft_ix),
            ashiato_ingest::synth_utxo::THEFT_HEIGHT,
            thousands_u128(stolen),
            thousands_u128(full.summary.entered),
            thousands_u128(full.summary.held),
            thousands_u128(full.summary.lost_to_fees),
            base_cells.2
        ),
    ));
    Ok(())
}

/// The bytes a UTXO graph's columns and strings hold (allocator overhead and spare
/// capacity not counted; the address index estimated at 7/8 load).
fn graph_bytes(g: &Graph) -> u64 {
    let n = |x: usize| x as u64;
    let mut b = n(g.events()) * (8 + 8 + 4);
    b += (0..g.tx_names.len() as u32)
        .map(|i| n(g.tx_names.get(i).len()) + 8)
        .sum::<u64>();
    if let Legs::Utxo(u) = &g.legs {
        b += n(u.in_start.len() + u.out_start.len()) * 4 + n(u.coinbase.len());
        b += n(u.in_coin.len()) * (4 + 16 + 4) + n(u.out_addr.len()) * (4 + 16);
    }
    // Each address string is held twice (the list and the index), the index also maps
    // it to a u32 (24-byte entries plus a control byte).
    let strings: u64 = g.addresses.iter().map(|a| n(a.as_str().len()) + 16).sum();
    b + 2 * strings + n(g.addresses.len()) * 25 * 8 / 7
}

fn spec_of(a: &Args) -> SynthUtxoSpec {
    SynthUtxoSpec::new(a.txs, a.seed)
}

/// Writes transactions for the baseline, one a line (format: tools/baseline_utxo_haircut.py).
fn write_utxo_lines<'a>(path: &Path, txs: impl IntoIterator<Item = &'a UtxoTx>) -> Result<u64> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let token = |s: &'a str| -> Result<&'a str> {
        ensure!(
            !s.is_empty() && !s.bytes().any(|b| b.is_ascii_whitespace()),
            "{s:?} cannot be written as one token"
        );
        Ok(s)
    };
    let sat = |v: u128| -> Result<i64> {
        i64::try_from(v).with_context(|| format!("value {v} does not fit the baseline's 64 bits"))
    };
    for t in txs {
        write!(
            w,
            "{} {} {} {}",
            token(&t.txid)?,
            t.block,
            t.inputs.len(),
            t.outputs.len()
        )?;
        for i in &t.inputs {
            let addr = i.address.as_ref().map_or("-", |a| a.as_str());
            write!(
                w,
                " {} {} {} {}",
                token(&i.prev.txid)?,
                i.prev.vout,
                sat(i.value)?,
                token(addr)?
            )?;
        }
        for o in &t.outputs {
            let addr = o.address.as_ref().map_or("-", |a| a.as_str());
            write!(w, " {} {}", sat(o.value)?, token(addr)?)?;
        }
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

// ---------------------------------------------------------------- 4. the baseline

struct Baseline<'a> {
    python: &'a str,
    script: &'a Path,
}

struct BaselineOut {
    txs: u64,
    edges: u64,
    parse_s: f64,
    trace_s: f64,
    trace_runs: u64,
    entered: u128,
    held: u128,
    lost_to_fees: u128,
    returned_to_seeds: u128,
    tainted_events: u64,
    addresses: u64,
    peak_rss_bytes: u64,
}

impl Baseline<'_> {
    fn run(
        &self,
        file: &Path,
        seed_tx: &str,
        limit: Option<u64>,
        repeat: u32,
        tsv: &Path,
    ) -> Result<BaselineOut> {
        let mut c = Command::new(self.python);
        c.arg(self.script)
            .arg(file)
            .arg("--seed-tx")
            .arg(seed_tx)
            .arg("--repeat")
            .arg(repeat.to_string())
            .arg("--addresses")
            .arg(tsv);
        if let Some(n) = limit {
            c.arg("--limit").arg(n.to_string());
        }
        let out = c.output().with_context(|| {
            format!(
                "running {} {} (or give --no-baseline)",
                self.python,
                self.script.display()
            )
        })?;
        if !out.status.success() {
            bail!("baseline failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or(""))
            .with_context(|| format!("baseline printed {text:?}"))?;
        let int = |k: &str| -> Result<u64> {
            v.get(k)
                .and_then(|x| x.as_u64())
                .with_context(|| format!("baseline output lacks integer {k}: {text}"))
        };
        let num = |k: &str| -> Result<f64> {
            v.get(k)
                .and_then(|x| x.as_f64())
                .with_context(|| format!("baseline output lacks {k}: {text}"))
        };
        Ok(BaselineOut {
            txs: int("txs")?,
            edges: int("edges")?,
            parse_s: num("parse_seconds")?,
            trace_s: num("trace_seconds")?,
            trace_runs: int("trace_runs")?,
            entered: int("entered")?.into(),
            held: int("held")?.into(),
            lost_to_fees: int("lost_to_fees")?.into(),
            returned_to_seeds: int("returned_to_seeds")?.into(),
            tainted_events: int("tainted_events")?,
            addresses: int("addresses")?,
            peak_rss_bytes: int("peak_rss_bytes")?,
        })
    }
}

/// Requires the baseline to agree exactly: edges, totals, and every address's taint
/// received and holding. Returns a description of what agreed.
fn compare(ours: &TraceResult, b: &BaselineOut, edges: u64, tsv: &Path) -> Result<String> {
    let s = &ours.summary;
    let pairs = [
        ("edges", u128::from(edges), u128::from(b.edges)),
        ("entered", s.entered, b.entered),
        ("held", s.held, b.held),
        ("lost_to_fees", s.lost_to_fees, b.lost_to_fees),
        (
            "returned_to_seeds",
            s.returned_to_seeds,
            b.returned_to_seeds,
        ),
        (
            "tainted_events",
            u128::from(s.tainted_events),
            u128::from(b.tainted_events),
        ),
        (
            "addresses",
            ours.addresses.len() as u128,
            u128::from(b.addresses),
        ),
    ];
    for (name, x, y) in pairs {
        ensure!(x == y, "DISAGREE on {name}: ashiato {x}, baseline {y}");
    }
    let f = std::fs::File::open(tsv).with_context(|| format!("opening {}", tsv.display()))?;
    let mut theirs: HashMap<String, (u128, u128)> = HashMap::with_capacity(ours.addresses.len());
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        let mut it = line.split('\t');
        let (Some(addr), Some(t), Some(h), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            bail!(
                "{}:{}: expected address, taint, holding",
                tsv.display(),
                i + 1
            );
        };
        let num = |x: &str| {
            x.parse::<u128>()
                .with_context(|| format!("{}:{}: {x:?}", tsv.display(), i + 1))
        };
        theirs.insert(addr.to_owned(), (num(t)?, num(h)?));
    }
    ensure!(
        theirs.len() == ours.addresses.len(),
        "DISAGREE: ashiato taints {} addresses, the baseline {}",
        ours.addresses.len(),
        theirs.len()
    );
    for x in &ours.addresses {
        let mine = (x.taint, x.holding.unwrap_or(0));
        match theirs.get(&x.address) {
            Some(t) if *t == mine => {}
            other => bail!(
                "DISAGREE on {}: ashiato (taint, holding) = {mine:?}, baseline {other:?}",
                x.address
            ),
        }
    }
    Ok(format!(
        "taint and holding of all {} addresses, entered {} sat, held {}, fees {}",
        thousands(ours.addresses.len() as u64),
        thousands_u128(s.entered),
        thousands_u128(s.held),
        thousands_u128(s.lost_to_fees)
    ))
}

// ---------------------------------------------------------------- helpers

/// Resident memory from /proc/self/status (Linux; zeros elsewhere).
#[derive(Default)]
struct Mem {
    peak_kb: u64,
}

impl Mem {
    fn status(field: &str) -> Option<u64> {
        ashiato::procstat::status_kb(field)
    }

    fn rss_kb(&self) -> u64 {
        Self::status("VmRSS:").unwrap_or(0)
    }

    /// The peak since the last reset (and the run's peak is kept).
    fn hwm_kb(&mut self) -> u64 {
        let h = Self::status("VmHWM:").unwrap_or(0);
        self.peak_kb = self.peak_kb.max(h);
        h
    }

    /// Starts VmHWM again from the current RSS (`clear_refs` 5); false if the kernel
    /// refused.
    fn reset_peak(&mut self) -> bool {
        self.hwm_kb();
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }

    fn peak_kb(&mut self) -> u64 {
        self.hwm_kb();
        self.peak_kb
    }
}

fn rate(n: f64, s: f64) -> String {
    let r = n / s;
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.1} k/s", r / 1e3)
    }
}

fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

fn ratio(base_s: f64, ours_s: f64) -> String {
    let r = base_s / ours_s;
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

fn thousands(n: u64) -> String {
    thousands_u128(u128::from(n))
}

fn thousands_u128(n: u128) -> String {
    ashiato_model::group_digits(n)
}
