//! Getting data in: from files straight into a graph (`trace --input`), or through the
//! store (`ingest`, `trace --store`).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ashiato_ingest::{csv::CsvReader, mftracer, taintedtx};
use ashiato_model::{Address, Chain, Incident, Label, LabelKind, Transfer};
use ashiato_store::{fingerprint_file, IngestReport, SourceKey, Store, TransferHashes};
use ashiato_trace::{Graph, GraphBuilder};

use crate::InputFormat;

/// A graph ready to trace, with what the source said about it.
pub struct Loaded {
    pub graph: Graph,
    pub labels: Vec<Label>,
    /// The incident a source defines by itself (an MFTracer case's source addresses).
    pub incident: Option<Incident>,
}

impl Loaded {
    /// A graph from a source that names no labels or incident.
    fn bare(graph: Graph) -> Loaded {
        Loaded {
            graph,
            labels: Vec::new(),
            incident: None,
        }
    }
}

fn detect(path: &Path, format: InputFormat) -> Result<InputFormat> {
    if format != InputFormat::Auto {
        return Ok(format);
    }
    if path.is_file() {
        let mut head = [0u8; 4];
        let is_blk = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok()
            && head == ashiato_btc::blk::MAINNET_MAGIC;
        return Ok(if is_blk {
            InputFormat::Blk
        } else {
            InputFormat::Csv
        });
    }
    if !path.is_dir() {
        bail!("{}: no such file or directory", path.display());
    }
    if path.join("tx_output.csv").is_file() {
        return Ok(InputFormat::Taintedtx);
    }
    if path.join("bitfinex_tx_dataset.csv").is_file() {
        return Ok(InputFormat::Bitfinex);
    }
    if ashiato_btc::chain::blocks_dir(path).is_ok() {
        return Ok(InputFormat::Blk);
    }
    if path.join("source addresses.csv").is_file() || !case_dirs(path)?.is_empty() {
        return Ok(InputFormat::Mftracer);
    }
    bail!(
        "{}: cannot tell the format of this folder (give --format csv|mftracer|taintedtx|blk)",
        path.display()
    )
}

/// The MFTracer case folders under `root` (or `root` itself if it is one).
pub fn case_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    if root.join("source addresses.csv").is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("source addresses.csv").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The data file of a case folder: its one CSV that is not an address list.
fn case_csv(dir: &Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|e| e == "csv")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("addresses"))
        })
        .with_context(|| format!("{}: no case CSV", dir.display()))
}

pub fn load_input(path: &Path, format: InputFormat, chain: Chain) -> Result<Loaded> {
    match detect(path, format)? {
        InputFormat::Csv => {
            let mut b = GraphBuilder::new(chain);
            CsvReader::open(path, chain)?.for_each(0, |_, t| {
                b.add_transfer(&t);
                Ok(())
            })?;
            Ok(Loaded::bare(b.finish()?))
        }
        InputFormat::Mftracer => {
            let dirs = case_dirs(path)?;
            let [dir] = dirs.as_slice() else {
                bail!(
                    "{} holds {} MFTracer cases; trace one case folder, or ingest them into a store",
                    path.display(),
                    dirs.len()
                );
            };
            let case = mftracer::read_case(dir)?;
            let mut b = GraphBuilder::new(Chain::Ethereum);
            for t in &case.transfers {
                b.add_transfer(t);
            }
            Ok(Loaded {
                graph: b.finish()?,
                labels: case.labels,
                incident: Some(case.incident),
            })
        }
        InputFormat::Taintedtx => {
            let mut b = GraphBuilder::new(Chain::Bitcoin);
            for (i, tx) in taintedtx::read_dir(path)?.into_iter().enumerate() {
                b.add_utxo_tx(tx, i as u64);
            }
            Ok(Loaded::bare(b.finish()?))
        }
        InputFormat::Blk => {
            let mut b = GraphBuilder::new(Chain::Bitcoin);
            let mut row = 0u64;
            blk_txs(path, |tx| {
                b.add_utxo_tx(tx, row);
                row += 1;
                Ok(())
            })?;
            Ok(Loaded::bare(b.finish()?))
        }
        InputFormat::Bitfinex => bail!(
            "{}: an incident definition without movements; ingest it into a store next to the chain data",
            path.display()
        ),
        InputFormat::Auto => unreachable!("detect never returns Auto"),
    }
}

/// The UTXO transactions of a Bitcoin input (blk files or the BlockSci export), in chain
/// order: what clustering and peel-chain detection work on.
pub fn load_utxo_txs(path: &Path, format: InputFormat) -> Result<Vec<ashiato_model::UtxoTx>> {
    match detect(path, format)? {
        InputFormat::Taintedtx => Ok(taintedtx::read_dir(path)?),
        InputFormat::Blk => {
            let mut out = Vec::new();
            blk_txs(path, |tx| {
                out.push(tx);
                Ok(())
            })?;
            Ok(out)
        }
        _ => bail!(
            "{}: not Bitcoin transactions (give blk files or a BlockSci/TaintedTX export)",
            path.display()
        ),
    }
}

/// The blk files of `path` (a blocks folder or one file) and their XOR key.
fn blk_files(path: &Path) -> Result<(Vec<PathBuf>, [u8; 8])> {
    if path.is_dir() {
        Ok(ashiato_btc::chain::blocks_dir(path)?)
    } else {
        let key = ashiato_btc::blk::xor_key(path.parent().unwrap_or(Path::new(".")))?;
        Ok((vec![path.to_path_buf()], key))
    }
}

/// Every transaction of the best chain in `path`, in chain order, with input values
/// from the coins of earlier blocks.
fn blk_txs(
    path: &Path,
    mut f: impl FnMut(ashiato_model::UtxoTx) -> Result<()>,
) -> Result<ashiato_btc::chain::ChainReport> {
    let (files, key) = blk_files(path)?;
    let mut set = ashiato_btc::UtxoSet::default();
    let mut failed = None;
    let report = ashiato_btc::chain::for_each_block(&files, key, |h, block| {
        for tx in set.apply(block, h)? {
            if let Err(e) = f(tx) {
                failed = Some(e);
                return Err(ashiato_btc::chain::ChainError::Stopped);
            }
        }
        Ok(())
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(report?)
}

pub fn load_store(store: &Store, chain: Chain) -> Result<Loaded> {
    Ok(Loaded {
        graph: store.graph(chain)?,
        labels: store.labels(chain)?,
        incident: None,
    })
}

/// What one `ingest` of one path did, for the user.
pub struct IngestSummary {
    pub path: PathBuf,
    pub parts: Vec<(String, IngestReport)>,
    pub labels: usize,
    pub incidents: Vec<String>,
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, r) in &self.parts {
            if r.already_complete {
                writeln!(f, "{name}: already ingested, nothing added")?;
            } else {
                write!(
                    f,
                    "{name}: {} rows, {} added, {} duplicates",
                    r.rows, r.added, r.duplicates
                )?;
                if r.resumed_from > 0 {
                    write!(f, " (resumed after row {})", r.resumed_from)?;
                }
                writeln!(f)?;
            }
        }
        if self.labels > 0 {
            writeln!(
                f,
                "{}: {} labels new or changed",
                self.path.display(),
                self.labels
            )?;
        }
        for i in &self.incidents {
            writeln!(f, "incident {i} saved")?;
        }
        Ok(())
    }
}

pub fn ingest_path(
    store: &mut Store,
    path: &Path,
    format: InputFormat,
    chain: Chain,
) -> Result<IngestSummary> {
    let mut summary = IngestSummary {
        path: path.to_path_buf(),
        parts: Vec::new(),
        labels: 0,
        incidents: Vec::new(),
    };
    match detect(path, format)? {
        InputFormat::Csv => {
            let r = ingest_csv(store, path, chain)?;
            summary.parts.push((path.display().to_string(), r));
        }
        InputFormat::Mftracer => {
            for dir in case_dirs(path)? {
                let case = mftracer::read_case(&dir)?;
                let file = case_csv(&dir)?;
                let key = source_key("mftracer", &file, &[&file])?;
                let mut s = store.begin_source(Chain::Ethereum, key)?;
                let report = if s.is_complete() {
                    s.finish()?
                } else {
                    let skip = s.resume_from();
                    for (row, t) in case.transfers.iter().enumerate().skip(skip as usize) {
                        s.push_transfer(row as u64, t)?;
                    }
                    s.finish()?
                };
                summary
                    .parts
                    .push((format!("{} ({})", file.display(), case.name), report));
                summary.labels += store.put_labels(&case.labels)?;
                store.put_incident(&case.incident)?;
                summary.incidents.push(case.incident.name.clone());
            }
        }
        InputFormat::Taintedtx => {
            let files: Vec<PathBuf> = [
                "tx_hash.csv",
                "tx_height.csv",
                "tx_input.csv",
                "tx_output.csv",
                "adr_hash.csv",
            ]
            .iter()
            .map(|f| path.join(f))
            .collect();
            let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
            let key = source_key("taintedtx", path, &refs)?;
            let mut s = store.begin_source(Chain::Bitcoin, key)?;
            if !s.is_complete() {
                let txs = taintedtx::read_dir(path)?;
                let skip = s.resume_from();
                for (row, tx) in txs.iter().enumerate().skip(skip as usize) {
                    s.push_utxo_tx(row as u64, tx)?;
                }
            }
            summary
                .parts
                .push((path.display().to_string(), s.finish()?));
        }
        InputFormat::Blk => {
            let (files, _) = blk_files(path)?;
            let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
            let key = source_key("blk", path, &refs)?;
            let mut s = store.begin_source(Chain::Bitcoin, key)?;
            if !s.is_complete() {
                // Earlier blocks are read again even when committed: their coins give
                // the values of later inputs.
                let skip = s.resume_from();
                let mut row = 0u64;
                blk_txs(path, |tx| {
                    if row >= skip {
                        s.push_utxo_tx(row, &tx)?;
                    }
                    row += 1;
                    Ok(())
                })?;
            }
            summary
                .parts
                .push((path.display().to_string(), s.finish()?));
        }
        InputFormat::Bitfinex => {
            let case = ashiato_ingest::bitfinex::read_case(path)?;
            summary.labels += store.put_labels(&case.labels)?;
            store.put_incident(&case.incident)?;
            summary.incidents.push(case.incident.name.clone());
        }
        InputFormat::Auto => unreachable!("detect never returns Auto"),
    }
    Ok(summary)
}

fn source_key(kind: &str, name: &Path, files: &[&Path]) -> Result<SourceKey> {
    let mut fp = [0u8; 16];
    for (i, f) in files.iter().enumerate() {
        let h = fingerprint_file(f).with_context(|| format!("reading {}", f.display()))?;
        for (k, b) in h.iter().enumerate() {
            fp[(k + i) % 16] ^= b.rotate_left(i as u32);
        }
    }
    Ok(SourceKey {
        kind: kind.into(),
        name: name.display().to_string(),
        fingerprint: fp,
    })
}

/// Ingests one CSV file: one thread parses, the other stores, so the two cores overlap.
pub fn ingest_csv(store: &mut Store, path: &Path, chain: Chain) -> Result<IngestReport> {
    let key = source_key("csv", path, &[path])?;
    let mut s = store.begin_source(chain, key)?;
    if s.is_complete() {
        return Ok(s.finish()?);
    }
    let skip = s.resume_from();
    // About 60 bytes a row; the hint only sizes tables.
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    s.reserve((size / 60) as usize)?;
    let reader = CsvReader::open(path, chain)?;
    const BATCH: usize = 16_384;
    // The parsing thread also hashes rows and drops duplicates (it owns the key set for
    // the duration); the storing thread interns addresses and writes segments.
    let mut keys = s.lend_keys()?;
    type Row = (u64, Option<(Transfer, TransferHashes)>);
    // Room for about half a second of parsing, so a segment commit does not stall the parser.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(64);
    let (parsed, keys_back) = std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut rows: Vec<(u64, Transfer, TransferHashes)> = Vec::with_capacity(BATCH);
            let (mut key_col, mut new) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
            // Dedup a whole batch at once, so the key table's misses overlap.
            let mut flush = |rows: &mut Vec<(u64, Transfer, TransferHashes)>| -> bool {
                key_col.clear();
                key_col.extend(rows.iter().map(|(_, _, h)| h.key));
                keys.insert_batch(&key_col, &mut new);
                let batch: Vec<Row> = rows
                    .drain(..)
                    .zip(&new)
                    .map(|((row, t, h), &is_new)| (row, is_new.then_some((t, h))))
                    .collect();
                tx.send(batch).is_ok()
            };
            let r = reader.for_each(skip, |row, t| {
                let h = TransferHashes::of(chain, &t);
                rows.push((row, t, h));
                if rows.len() == BATCH && !flush(&mut rows) {
                    return Err(ashiato_ingest::IngestError::Aborted);
                }
                Ok(())
            });
            if r.is_ok() && !rows.is_empty() {
                // The receiver only hangs up after a store error, reported below.
                flush(&mut rows);
            }
            (r, keys)
        });
        let mut stored: Result<()> = Ok(());
        'batches: for batch in rx {
            for (row, new) in &batch {
                let r = match new {
                    Some((t, h)) => s.push_unique(*row, t, *h),
                    None => s.push_duplicate(*row),
                };
                if let Err(e) = r {
                    stored = Err(e.into());
                    break 'batches;
                }
            }
        }
        match parser.join() {
            Ok((parsed, keys)) => (stored.and(Ok(parsed)), Some(keys)),
            Err(_) => (Err(anyhow::anyhow!("the CSV parser thread panicked")), None),
        }
    });
    if let Some(k) = keys_back {
        s.return_keys(k);
    }
    let parsed = parsed?;
    if let Err(e) = parsed {
        // A malformed row: take back everything of this file so nothing is half-written.
        s.abort().context("rolling back after a malformed row")?;
        return Err(anyhow::Error::new(e).context(format!(
            "{} was not ingested; nothing of it was kept",
            path.display()
        )));
    }
    Ok(s.finish()?)
}

/// Reads a label CSV: `address,name,kind[,source,confidence]` with a header row.
pub fn read_labels(path: &Path, chain: Chain) -> Result<Vec<Label>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{}:{line}", path.display()))?;
        let field = |k: usize| rec.get(k).unwrap_or("").trim();
        let at = |col: &str| format!("{}:{line}: column {col:?}", path.display());
        let address = Address::parse(chain, field(0)).with_context(|| at("address"))?;
        let kind: LabelKind = field(2).parse().with_context(|| at("kind"))?;
        let confidence = match field(4) {
            "" => 50,
            c => c
                .parse::<u8>()
                .ok()
                .filter(|c| *c <= 100)
                .with_context(|| at("confidence"))?,
        };
        out.push(Label {
            chain,
            address,
            name: field(1).to_owned(),
            kind,
            source: match field(3) {
                "" => path.display().to_string(),
                s => s.to_owned(),
            },
            confidence,
        });
    }
    Ok(out)
}
