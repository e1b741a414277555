//! Exports one stored chain as Parquet partitions, so that a distributed engine (Spark,
//! `tools/spark/trace_poison.py`) can run the same trace as the embedded walker on data
//! that does not fit one machine. Layout and schema: `docs/scale-out.md`.
//!
//! The `event` column is the transfer's position in the chain order the walker uses
//! (`Store::graph`), so a job that orders by it sees exactly the walk's order; block,
//! time and source position never have to be compared again off this machine.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ashiato_model::{Amount, Chain, Incident, Label};
use ashiato_store::{Store, StoreError};
use ashiato_trace::graph::{AccountEvents, Graph, Legs};
use parquet::basic::Compression;
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, FixedLenByteArray, FixedLenByteArrayType,
    Int64Type,
};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;
use serde::{Deserialize, Serialize};

/// Names the layout; a reader refuses a manifest with another.
pub const FORMAT: &str = "ashiato-parquet/1";

/// Parquet DECIMAL(38,0) holds at most 38 digits.
pub const AMOUNT_LIMIT: Amount = 100_000_000_000_000_000_000_000_000_000_000_000_000;

/// Rows per row group inside a partition: bounds the export's memory per column and lets
/// a reader skip row groups by their statistics.
const ROW_GROUP: usize = 1 << 16;

const TRANSFERS_SCHEMA: &str = "
message transfers {
  required int64 event;
  required int64 block;
  required int64 time;
  required binary tx (STRING);
  required binary from (STRING);
  required binary to (STRING);
  required binary asset (STRING);
  required fixed_len_byte_array(16) amount (DECIMAL(38,0));
}";

const LABELS_SCHEMA: &str = "
message labels {
  required int64 position;
  required binary address (STRING);
  required binary name (STRING);
  required binary kind (STRING);
  required boolean exit;
  required binary source (STRING);
  required int64 confidence;
}";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{0} is a UTXO chain; the Parquet export covers the account family (transfers) only so far"
    )]
    UtxoFamily(Chain),
    #[error("the store holds no {0} movements to export")]
    Empty(Chain),
    #[error(
        "{0}: the output directory must be new or empty (an export never mixes with an older one)"
    )]
    OutNotEmpty(PathBuf),
    #[error("transfer {event} (block {block}, tx {tx}): amount {amount} is 10^38 or more, which Parquet DECIMAL(38,0) cannot hold")]
    AmountTooLarge {
        event: usize,
        block: u64,
        tx: String,
        amount: Amount,
    },
    #[error(
        "transfer {event} (tx {tx}): block {block} does not fit a signed 64-bit Parquet column"
    )]
    BlockTooLarge {
        event: usize,
        block: u64,
        tx: String,
    },
    #[error("rows per partition must be at least 1")]
    NoRows,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
}

/// How to cut the export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// A partition is closed at the first block boundary after this many rows, so that
    /// partitions hold whole blocks and their block ranges never overlap.
    pub rows_per_part: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            rows_per_part: 1_000_000,
        }
    }
}

/// `MANIFEST.json`: written last, so an export without it is incomplete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub chain: Chain,
    pub family: String,
    /// The store directory the export was read from.
    pub source_store: String,
    pub transfers: Transfers,
    pub labels: Table,
    pub incidents: Table,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfers {
    pub rows: u64,
    /// In chain order; their event ranges are consecutive.
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Relative to the export directory.
    pub file: String,
    pub first_block: u64,
    pub last_block: u64,
    pub first_event: u64,
    pub last_event: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub file: String,
    pub rows: u64,
}

/// One incident as `incidents.json` lists it (`since` in unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRow {
    pub name: String,
    pub chain: Chain,
    pub seeds: Vec<String>,
    pub seed_txs: Vec<String>,
    pub since: Option<i64>,
    pub description: String,
}

/// Writes `chain` of `store` (opened from `store_dir`) under `out`: `transfers/part-*.parquet`,
/// `labels.parquet`, `incidents.json`, then `MANIFEST.json`.
pub fn export(
    store: &Store,
    store_dir: &Path,
    chain: Chain,
    out: &Path,
    opts: &ExportOptions,
) -> Result<Manifest, ExportError> {
    if opts.rows_per_part == 0 {
        return Err(ExportError::NoRows);
    }
    let graph = store.graph(chain)?;
    let events = match &graph.legs {
        Legs::Account(a) => a,
        Legs::Utxo(_) => return Err(ExportError::UtxoFamily(chain)),
    };
    if graph.events() == 0 {
        return Err(ExportError::Empty(chain));
    }
    // Every row is checked before anything is written: a refused export leaves no files.
    check_rows(&graph, events)?;
    prepare_out(out)?;
    let dir = out.join("transfers");
    fs::create_dir(&dir).map_err(io_at(&dir))?;

    let mut parts = Vec::new();
    for range in partitions(&graph.block, opts.rows_per_part) {
        let (first_block, last_block) = (graph.block[range.start], graph.block[range.end - 1]);
        let file = format!("transfers/part-{first_block:010}-{last_block:010}.parquet");
        write_transfers(&graph, events, range.clone(), &out.join(&file))?;
        parts.push(Part {
            file,
            first_block,
            last_block,
            first_event: range.start as u64,
            last_event: range.end as u64 - 1,
            rows: range.len() as u64,
        });
    }

    let labels = store.labels(chain)?;
    write_labels(&labels, &out.join("labels.parquet"))?;
    let incidents: Vec<IncidentRow> = store
        .incidents()?
        .into_iter()
        .filter(|i| i.chain == chain)
        .map(incident_row)
        .collect();
    write_json(&out.join("incidents.json"), &incidents)?;

    let manifest = Manifest {
        format: FORMAT.into(),
        chain,
        family: "account".into(),
        source_store: store_dir.display().to_string(),
        transfers: Transfers {
            rows: graph.events() as u64,
            parts,
        },
        labels: Table {
            file: "labels.parquet".into(),
            rows: labels.len() as u64,
        },
        incidents: Table {
            file: "incidents.json".into(),
            rows: incidents.len() as u64,
        },
    };
    write_json(&out.join("MANIFEST.json"), &manifest)?;
    Ok(manifest)
}

fn check_rows(g: &Graph, a: &AccountEvents) -> Result<(), ExportError> {
    for (e, (&amount, &block)) in a.amount.iter().zip(&g.block).enumerate() {
        let tx = || g.tx_names.get(g.tx[e]).to_owned();
        if amount >= AMOUNT_LIMIT {
            return Err(ExportError::AmountTooLarge {
                event: e,
                block,
                tx: tx(),
                amount,
            });
        }
        if i64::try_from(block).is_err() {
            return Err(ExportError::BlockTooLarge {
                event: e,
                block,
                tx: tx(),
            });
        }
    }
    Ok(())
}

fn prepare_out(out: &Path) -> Result<(), ExportError> {
    match fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ExportError::OutNotEmpty(out.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(io_at(out))
        }
        Err(e) => Err(io_at(out)(e)),
    }
}

/// Event ranges of at least `rows` events (the last may be shorter), each ending at a
/// block boundary.
fn partitions(blocks: &[u64], rows: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut e = rows.min(blocks.len());
    while start < blocks.len() {
        while e < blocks.len() && blocks[e] == blocks[e - 1] {
            e += 1;
        }
        out.push(start..e);
        start = e;
        e = (start + rows).min(blocks.len());
    }
    out
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pq_at(path: &Path) -> impl Fn(ParquetError) -> ExportError + '_ {
    move |source| ExportError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

fn writer(path: &Path, schema: &str) -> Result<SerializedFileWriter<BufWriter<File>>, ExportError> {
    let schema: Arc<Type> = Arc::new(parse_message_type(schema).map_err(pq_at(path))?);
    let props = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("ashiato-parquet {}", env!("CARGO_PKG_VERSION")))
        .build();
    let file = File::create(path).map_err(io_at(path))?;
    SerializedFileWriter::new(BufWriter::new(file), schema, Arc::new(props)).map_err(pq_at(path))
}

fn column<T: DataType>(
    rg: &mut SerializedRowGroupWriter<'_, BufWriter<File>>,
    values: &[T::T],
) -> Result<(), ParquetError> {
    let mut col = rg
        .next_column()?
        .ok_or_else(|| ParquetError::General("more columns written than the schema has".into()))?;
    col.typed::<T>().write_batch(values, None, None)?;
    col.close()
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// Big-endian two's complement, as Parquet's DECIMAL over FIXED_LEN_BYTE_ARRAY(16) wants;
/// amounts below 10^38 are below 2^127, so the sign bit stays clear.
fn decimal(x: Amount) -> FixedLenByteArray {
    FixedLenByteArray::from(x.to_be_bytes().to_vec())
}

fn write_transfers(
    g: &Graph,
    a: &AccountEvents,
    range: Range<usize>,
    path: &Path,
) -> Result<(), ExportError> {
    let mut w = writer(path, TRANSFERS_SCHEMA)?;
    let at = pq_at(path);
    let holder = |h: u32| g.holders[h as usize];
    let mut start = range.start;
    while start < range.end {
        let rows = start..(start + ROW_GROUP).min(range.end);
        let mut rg = w.next_row_group().map_err(&at)?;
        let ints = |f: &dyn Fn(usize) -> i64| rows.clone().map(f).collect::<Vec<i64>>();
        column::<Int64Type>(&mut rg, &ints(&|e| e as i64)).map_err(&at)?;
        // check_rows has made sure every block fits.
        column::<Int64Type>(&mut rg, &ints(&|e| g.block[e] as i64)).map_err(&at)?;
        column::<Int64Type>(&mut rg, &ints(&|e| g.time[e])).map_err(&at)?;
        let texts = |f: &dyn Fn(usize) -> ByteArray| rows.clone().map(f).collect::<Vec<_>>();
        column::<ByteArrayType>(&mut rg, &texts(&|e| text(g.tx_names.get(g.tx[e]))))
            .map_err(&at)?;
        let addr = |h: u32| text(g.addresses[holder(h).0 as usize].as_str());
        column::<ByteArrayType>(&mut rg, &texts(&|e| addr(a.from[e]))).map_err(&at)?;
        column::<ByteArrayType>(&mut rg, &texts(&|e| addr(a.to[e]))).map_err(&at)?;
        // A transfer's asset is its holders' (both sides hold the same asset).
        let asset = |e: usize| text(g.assets[holder(a.from[e]).1 as usize].as_str());
        column::<ByteArrayType>(&mut rg, &texts(&asset)).map_err(&at)?;
        let amounts: Vec<FixedLenByteArray> = rows.clone().map(|e| decimal(a.amount[e])).collect();
        column::<FixedLenByteArrayType>(&mut rg, &amounts).map_err(&at)?;
        rg.close().map_err(&at)?;
        start = rows.end;
    }
    finish(w, path)
}

fn finish(w: SerializedFileWriter<BufWriter<File>>, path: &Path) -> Result<(), ExportError> {
    let file = w.into_inner().map_err(pq_at(path))?;
    file.into_inner()
        .map_err(|e| io_at(path)(e.into_error()))?
        .sync_all()
        .map_err(io_at(path))
}

fn write_labels(labels: &[Label], path: &Path) -> Result<(), ExportError> {
    let mut w = writer(path, LABELS_SCHEMA)?;
    let at = pq_at(path);
    if !labels.is_empty() {
        let mut rg = w.next_row_group().map_err(&at)?;
        let positions: Vec<i64> = (0..labels.len() as i64).collect();
        column::<Int64Type>(&mut rg, &positions).map_err(&at)?;
        let texts =
            |f: &dyn Fn(&Label) -> &str| labels.iter().map(|l| text(f(l))).collect::<Vec<_>>();
        column::<ByteArrayType>(&mut rg, &texts(&|l| l.address.as_str())).map_err(&at)?;
        column::<ByteArrayType>(&mut rg, &texts(&|l| l.name.as_str())).map_err(&at)?;
        column::<ByteArrayType>(&mut rg, &texts(&|l| l.kind.as_str())).map_err(&at)?;
        let exits: Vec<bool> = labels.iter().map(|l| l.kind.is_exit()).collect();
        column::<BoolType>(&mut rg, &exits).map_err(&at)?;
        column::<ByteArrayType>(&mut rg, &texts(&|l| l.source.as_str())).map_err(&at)?;
        let conf: Vec<i64> = labels.iter().map(|l| i64::from(l.confidence)).collect();
        column::<Int64Type>(&mut rg, &conf).map_err(&at)?;
        rg.close().map_err(&at)?;
    }
    finish(w, path)
}

fn incident_row(i: Incident) -> IncidentRow {
    IncidentRow {
        name: i.name,
        chain: i.chain,
        seeds: i.seeds.iter().map(|s| s.as_str().to_owned()).collect(),
        seed_txs: i.seed_txs,
        since: i.since.map(|t| t.unix()),
        description: i.description,
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), ExportError> {
    let mut bytes = serde_json::to_vec_pretty(v).map_err(|e| io_at(path)(e.into()))?;
    bytes.push(b'\n');
    let mut f = File::create(path).map_err(io_at(path))?;
    f.write_all(&bytes).map_err(io_at(path))?;
    f.sync_all().map_err(io_at(path))
}

#[cfg(test)]
mod tests;
