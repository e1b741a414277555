//! Segment files: written once, read many times, never changed.
//!
//! `transfers.bin` (little-endian): magic `ASHSEG01`, row count `n`, tx-bytes length,
//! (66 bytes of columns per row)
//! then the columns time i64, block u64, seq u64, from u32, to u32, asset u16, amount
//! u128, key u64, tx_end u64 (each `n` long), then the tx id bytes. Its exact length is
//! known from the header, so truncation or padding is detected before anything is used.

use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use ashiato_model::{Amount, Transfer, UtxoTx};
use serde::{Deserialize, Serialize};

#[cfg(target_endian = "big")]
compile_error!("segment files are written as little-endian memory images");

const MAGIC: &[u8; 8] = b"ASHSEG01";
const TRANSFERS: &str = "transfers.bin";
const UTXO: &str = "utxo.jsonl";

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is corrupt: {why}")]
    Corrupt { path: PathBuf, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SegmentError + '_ {
    move |source| SegmentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, why: impl Into<String>) -> SegmentError {
    SegmentError::Corrupt {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegKind {
    Transfers,
    Utxo,
}

pub fn dir_name(id: u64) -> String {
    format!("{id:010}")
}

/// Columns of one account-family segment, plus the names it introduces.
#[derive(Debug, Default)]
pub struct AccountSegment {
    pub time: Vec<i64>,
    pub block: Vec<u64>,
    pub seq: Vec<u64>,
    pub from: Vec<u32>,
    pub to: Vec<u32>,
    pub asset: Vec<u16>,
    pub amount: Vec<Amount>,
    pub key: Vec<u64>,
    tx_end: Vec<u64>,
    tx_bytes: Vec<u8>,
    pub new_addresses: Vec<String>,
    pub new_assets: Vec<String>,
}

impl AccountSegment {
    /// Room for `rows` rows, so that filling a segment never copies its columns.
    pub fn with_capacity(rows: usize) -> Self {
        AccountSegment {
            time: Vec::with_capacity(rows),
            block: Vec::with_capacity(rows),
            seq: Vec::with_capacity(rows),
            from: Vec::with_capacity(rows),
            to: Vec::with_capacity(rows),
            asset: Vec::with_capacity(rows),
            amount: Vec::with_capacity(rows),
            key: Vec::with_capacity(rows),
            tx_end: Vec::with_capacity(rows),
            tx_bytes: Vec::with_capacity(rows * 16),
            ..AccountSegment::default()
        }
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Empties the segment but keeps its memory for the next one.
    pub fn clear(&mut self) {
        self.time.clear();
        self.block.clear();
        self.seq.clear();
        self.from.clear();
        self.to.clear();
        self.asset.clear();
        self.amount.clear();
        self.key.clear();
        self.tx_end.clear();
        self.tx_bytes.clear();
        self.new_addresses.clear();
        self.new_assets.clear();
    }

    pub fn tx(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.tx_end[i - 1] as usize
        };
        // Validated as UTF-8 when read; written from `String`s.
        std::str::from_utf8(&self.tx_bytes[start..self.tx_end[i] as usize]).unwrap_or("")
    }

    pub fn push(&mut self, t: &Transfer, seq: u64, from: u32, to: u32, asset: u16, key: u64) {
        self.time.push(t.time.0);
        self.block.push(t.block);
        self.seq.push(seq);
        self.from.push(from);
        self.to.push(to);
        self.asset.push(asset);
        self.amount.push(t.amount);
        self.key.push(key);
        self.tx_bytes.extend_from_slice(t.tx.as_bytes());
        self.tx_end.push(self.tx_bytes.len() as u64);
    }

    /// Writes the segment into `tmp`, syncs it and renames it to `dest`. Returns the data
    /// file's checksum.
    pub fn write(&self, tmp: &Path, dest: &Path) -> Result<String, SegmentError> {
        fs::create_dir_all(tmp).map_err(io_err(tmp))?;
        let path = tmp.join(TRANSFERS);
        let mut f = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(io_err(&path))?);
        let n = self.len() as u64;
        let mut w = |b: &[u8]| f.write_all(b).map_err(io_err(&path));
        w(MAGIC)?;
        w(&n.to_le_bytes())?;
        w(&(self.tx_bytes.len() as u64).to_le_bytes())?;
        w(bytemuck::cast_slice(&self.time))?;
        w(bytemuck::cast_slice(&self.block))?;
        w(bytemuck::cast_slice(&self.seq))?;
        w(bytemuck::cast_slice(&self.from))?;
        w(bytemuck::cast_slice(&self.to))?;
        w(bytemuck::cast_slice(&self.asset))?;
        w(bytemuck::cast_slice(&self.amount))?;
        w(bytemuck::cast_slice(&self.key))?;
        w(bytemuck::cast_slice(&self.tx_end))?;
        w(&self.tx_bytes)?;
        let f = f.into_inner().map_err(|e| SegmentError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(io_err(&path))?;
        drop(f);
        write_names(tmp, &self.new_addresses, &self.new_assets)?;
        publish(tmp, dest)?;
        checksum(dest, SegKind::Transfers)
    }

    pub fn read(dir: &Path, rows: u64) -> Result<AccountSegment, SegmentError> {
        let path = dir.join(TRANSFERS);
        let data = fs::read(&path).map_err(io_err(&path))?;
        if data.len() < 24 || &data[..8] != MAGIC {
            return Err(corrupt(
                &path,
                "not a segment file (bad magic or shorter than its header)",
            ));
        }
        let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        let (n, tx_len) = (word(8), word(16));
        if n != rows {
            return Err(corrupt(
                &path,
                format!("holds {n} rows, the manifest says {rows}"),
            ));
        }
        let n = n as usize;
        let want = 24u64
            .checked_add(66u64.saturating_mul(n as u64))
            .and_then(|x| x.checked_add(tx_len));
        if want != Some(data.len() as u64) {
            return Err(corrupt(
                &path,
                format!(
                    "is {} bytes, its header implies {want:?} (truncated?)",
                    data.len()
                ),
            ));
        }
        let mut at = 24usize;
        let mut take = |bytes: usize| {
            let s = &data[at..at + bytes];
            at += bytes;
            s
        };
        let mut seg = AccountSegment {
            time: bytemuck::pod_collect_to_vec(take(8 * n)),
            block: bytemuck::pod_collect_to_vec(take(8 * n)),
            seq: bytemuck::pod_collect_to_vec(take(8 * n)),
            from: bytemuck::pod_collect_to_vec(take(4 * n)),
            to: bytemuck::pod_collect_to_vec(take(4 * n)),
            asset: bytemuck::pod_collect_to_vec(take(2 * n)),
            amount: bytemuck::pod_collect_to_vec(take(16 * n)),
            key: bytemuck::pod_collect_to_vec(take(8 * n)),
            tx_end: bytemuck::pod_collect_to_vec(take(8 * n)),
            ..AccountSegment::default()
        };
        seg.tx_bytes = take(tx_len as usize).to_vec();
        let ends_ok = seg.tx_end.windows(2).all(|w| w[0] <= w[1])
            && seg.tx_end.last().is_none_or(|&e| e == tx_len);
        if !ends_ok || std::str::from_utf8(&seg.tx_bytes).is_err() {
            return Err(corrupt(&path, "transaction id column is inconsistent"));
        }
        Ok(seg)
    }
}

fn write_names(dir: &Path, addresses: &[String], assets: &[String]) -> Result<(), SegmentError> {
    for (file, names) in [("addresses.txt", addresses), ("assets.txt", assets)] {
        let path = dir.join(file);
        let mut f = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
        for n in names {
            writeln!(f, "{n}").map_err(io_err(&path))?;
        }
        let f = f.into_inner().map_err(|e| SegmentError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(io_err(&path))?;
    }
    Ok(())
}

/// Renames a fully written temporary directory into place and makes the rename durable.
fn publish(tmp: &Path, dest: &Path) -> Result<(), SegmentError> {
    File::open(tmp)
        .and_then(|d| d.sync_all())
        .map_err(io_err(tmp))?;
    fs::rename(tmp, dest).map_err(io_err(dest))?;
    if let Some(parent) = dest.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(io_err(parent))?;
    }
    Ok(())
}

pub fn read_names(path: &Path, expected: usize) -> Result<Vec<String>, SegmentError> {
    let f = File::open(path).map_err(io_err(path))?;
    let names: Vec<String> = io::BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io_err(path))?;
    if names.len() != expected {
        return Err(corrupt(
            path,
            format!("holds {} names, the manifest says {expected}", names.len()),
        ));
    }
    Ok(names)
}

#[derive(Serialize, Deserialize)]
struct UtxoRow {
    seq: u64,
    tx: UtxoTx,
}

pub fn write_utxo(
    tmp: &Path,
    dest: &Path,
    txs: &[(u64, UtxoTx)],
    addresses: &[String],
    assets: &[String],
) -> Result<String, SegmentError> {
    fs::create_dir_all(tmp).map_err(io_err(tmp))?;
    let path = tmp.join(UTXO);
    let mut f = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
    for (seq, tx) in txs {
        let row = UtxoRow {
            seq: *seq,
            tx: tx.clone(),
        };
        serde_json::to_writer(&mut f, &row).map_err(|e| SegmentError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        f.write_all(b"\n").map_err(io_err(&path))?;
    }
    let f = f.into_inner().map_err(|e| SegmentError::Io {
        path: path.clone(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(io_err(&path))?;
    write_names(tmp, addresses, assets)?;
    publish(tmp, dest)?;
    checksum(dest, SegKind::Utxo)
}

pub fn read_utxo(dir: &Path, rows: u64) -> Result<Vec<(u64, UtxoTx)>, SegmentError> {
    let path = dir.join(UTXO);
    let f = File::open(&path).map_err(io_err(&path))?;
    let mut out = Vec::new();
    for (i, line) in io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(io_err(&path))?;
        let row: UtxoRow = serde_json::from_str(&line)
            .map_err(|e| corrupt(&path, format!("line {}: {e}", i + 1)))?;
        out.push((row.seq, row.tx));
    }
    if out.len() as u64 != rows {
        return Err(corrupt(
            &path,
            format!("holds {} transactions, the manifest says {rows}", out.len()),
        ));
    }
    Ok(out)
}

fn data_file(dir: &Path, kind: SegKind) -> PathBuf {
    dir.join(match kind {
        SegKind::Transfers => TRANSFERS,
        SegKind::Utxo => UTXO,
    })
}

pub fn checksum(dir: &Path, kind: SegKind) -> Result<String, SegmentError> {
    let path = data_file(dir, kind);
    let h = crate::fingerprint_file(&path).map_err(io_err(&path))?;
    Ok(h.iter().map(|b| format!("{b:02x}")).collect())
}

/// Deletes a dropped segment's movements (its names stay).
pub fn remove_data(dir: &Path) -> Result<(), SegmentError> {
    for kind in [SegKind::Transfers, SegKind::Utxo] {
        let p = data_file(dir, kind);
        if p.exists() {
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    Ok(())
}
