//! The Ashiato CSV transfer format.
//!
//! ```text
//! time,block,tx,from,to,asset,amount
//! 2018-01-25T15:02:13Z,14000123,a1b2…,NC3BI3…,NC4C6P…,XEM,1000000
//! ```
//! - `time`: RFC 3339 in UTC, or unix seconds;
//! - `block`: block height, an unsigned integer;
//! - `tx`: transaction id; the rows of one transaction must be adjacent, and their order is
//!   the order of the transfers inside it (`Transfer::index`);
//! - `from`, `to`: addresses, validated for the chain being ingested;
//! - `asset`: ticker or identifier; `amount`: integer in the asset's base units.
//!
//! Blank lines are skipped. Any other problem stops the read with an error naming the
//! file, the 1-based line and the column.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use ashiato_model::{parse_amount, Address, Asset, Chain, Transfer, UtcTime};

use crate::IngestError;

pub const CSV_HEADER: &str = "time,block,tx,from,to,asset,amount";
const COLUMNS: [&str; 7] = ["time", "block", "tx", "from", "to", "asset", "amount"];

/// Streams the transfers of one CSV file.
pub struct CsvReader<R: Read> {
    name: String,
    chain: Chain,
    inner: ::csv::Reader<R>,
}

impl CsvReader<File> {
    pub fn open(path: &Path, chain: Chain) -> Result<Self, IngestError> {
        let f = File::open(path).map_err(|e| IngestError::io(path, e))?;
        CsvReader::from_reader(&path.display().to_string(), f, chain)
    }
}

impl<R: Read> CsvReader<R> {
    /// `name` is what errors call the input (a path, or a label for tests).
    pub fn from_reader(name: &str, r: R, chain: Chain) -> Result<Self, IngestError> {
        let mut inner = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(r);
        let mut header = ::csv::ByteRecord::new();
        let ok = inner
            .read_byte_record(&mut header)
            .map_err(|e| IngestError::Row {
                file: name.to_owned(),
                line: 1,
                why: e.to_string(),
            })?;
        let got: Vec<String> = header
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect();
        if !ok || got != COLUMNS {
            return Err(IngestError::Row {
                file: name.to_owned(),
                line: 1,
                why: format!(
                    "header must be exactly `{CSV_HEADER}`, found `{}`",
                    got.join(",")
                ),
            });
        }
        Ok(CsvReader {
            name: name.to_owned(),
            chain,
            inner,
        })
    }

    /// Calls `f(row, transfer)` for every data row (`row` counts data rows from 0). The
    /// first `skip` rows are passed over without being checked: they were committed by an
    /// earlier run. Returns the number of data rows in the file.
    pub fn for_each(
        mut self,
        skip: u64,
        mut f: impl FnMut(u64, Transfer) -> Result<(), IngestError>,
    ) -> Result<u64, IngestError> {
        let mut rec = ::csv::ByteRecord::new();
        let mut row = 0u64;
        let mut last: Option<Last> = None;
        let mut skipped: Option<(Vec<u8>, u32)> = None;
        loop {
            let line = self.inner.position().line().max(2);
            let more = self
                .inner
                .read_byte_record(&mut rec)
                .map_err(|e| IngestError::Row {
                    file: self.name.clone(),
                    line,
                    why: e.to_string(),
                })?;
            if !more {
                return Ok(row);
            }
            let line = rec.position().map_or(line, |p| p.line());
            if rec.len() == 1 && rec[0].iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if row < skip {
                // Keep counting the legs of the transaction in progress, so a resumed read
                // numbers them exactly as an uninterrupted one would.
                let tx = rec.get(2).unwrap_or_default().trim_ascii();
                match &mut skipped {
                    Some((prev, index)) if prev.as_slice() == tx => *index += 1,
                    _ => skipped = Some((tx.to_vec(), 0)),
                }
                row += 1;
                continue;
            }
            let mut t = self.parse(&rec, line, last.as_ref())?;
            if let Some((prev, index)) = skipped.take() {
                if last.is_none() && prev == t.tx.as_bytes() {
                    t.index = index + 1;
                }
            }
            let l = last.get_or_insert_with(|| Last {
                tx: String::new(),
                index: 0,
                asset: t.asset.clone(),
            });
            // Reuse the buffer: one allocation saved per row.
            l.tx.clear();
            l.tx.push_str(&t.tx);
            l.index = t.index;
            if l.asset != t.asset {
                l.asset = t.asset.clone();
            }
            f(row, t)?;
            row += 1;
        }
    }

    fn parse(
        &self,
        rec: &::csv::ByteRecord,
        line: u64,
        last: Option<&Last>,
    ) -> Result<Transfer, IngestError> {
        if rec.len() != COLUMNS.len() {
            return Err(IngestError::Row {
                file: self.name.clone(),
                line,
                why: format!(
                    "expected {} fields, found {} (truncated or extra columns?)",
                    COLUMNS.len(),
                    rec.len()
                ),
            });
        }
        let err = |column: &'static str, why: String| IngestError::Field {
            file: self.name.clone(),
            line,
            column,
            why,
        };
        // Validate the record's bytes once; only on failure look for the bad column.
        let whole = std::str::from_utf8(rec.as_slice()).ok();
        let field = |i: usize| match (whole, rec.range(i)) {
            (Some(w), Some(r)) => Ok(w[r].trim()),
            _ => std::str::from_utf8(&rec[i])
                .map(str::trim)
                .map_err(|_| err(COLUMNS[i], "not valid UTF-8".into())),
        };
        let time = UtcTime::parse(field(0)?).map_err(|e| err("time", e.to_string()))?;
        let block_s = field(1)?;
        let block = block_s.parse::<u64>().map_err(|_| {
            err(
                "block",
                format!("block {block_s:?} is not an unsigned integer"),
            )
        })?;
        let tx = field(2)?;
        if tx.is_empty() {
            return Err(err("tx", "transaction id is empty".into()));
        }
        let from = Address::parse(self.chain, field(3)?).map_err(|e| err("from", e.to_string()))?;
        let to = Address::parse(self.chain, field(4)?).map_err(|e| err("to", e.to_string()))?;
        let asset_s = field(5)?;
        // Most files carry one asset: reuse the last one rather than re-validating it.
        let asset = match last {
            Some(l) if l.asset.as_str() == asset_s => l.asset.clone(),
            _ => Asset::parse(asset_s).map_err(|e| err("asset", e.to_string()))?,
        };
        let amount = parse_amount(field(6)?).map_err(|e| err("amount", e.to_string()))?;
        let index = match last {
            Some(l) if l.tx == tx => l.index + 1,
            _ => 0,
        };
        Ok(Transfer {
            time,
            block,
            tx: tx.to_owned(),
            index,
            from,
            to,
            asset,
            amount,
        })
    }
}

/// What the next row needs from the previous one.
struct Last {
    tx: String,
    index: u32,
    asset: Asset,
}

/// Reads a whole CSV file.
pub fn read_csv(path: &Path, chain: Chain) -> Result<Vec<Transfer>, IngestError> {
    let mut out = Vec::new();
    CsvReader::open(path, chain)?.for_each(0, |_, t| {
        out.push(t);
        Ok(())
    })?;
    Ok(out)
}

/// Writes transfers in the same format (times as RFC 3339 UTC).
pub fn write_csv(w: impl Write, transfers: &[Transfer]) -> std::io::Result<()> {
    let mut w = BufWriter::new(w);
    writeln!(w, "{CSV_HEADER}")?;
    for t in transfers {
        writeln!(
            w,
            "{},{},{},{},{},{},{}",
            t.time.to_rfc3339(),
            t.block,
            t.tx,
            t.from,
            t.to,
            t.asset,
            t.amount
        )?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, chain: Chain) -> Result<Vec<Transfer>, IngestError> {
        let mut out = Vec::new();
        CsvReader::from_reader("t.csv", text.as_bytes(), chain)?.for_each(0, |_, t| {
            out.push(t);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_rows_exactly() {
        let text = "time,block,tx,from,to,asset,amount\n\
            2018-01-25T15:02:13Z,7,t1,a,b,XEM,1000000\n\
            \n\
            1516892534,7,t1,a,c,nem:coincheck,5\n\
            1516892600,8,t2,b,c,XEM,340282366920938463463374607431768211455\n";
        let ts = read(text, Chain::Generic).unwrap();
        assert_eq!(ts.len(), 3);
        assert_eq!(ts[0].time, UtcTime(1_516_892_533));
        assert_eq!(ts[0].block, 7);
        assert_eq!((ts[0].index, ts[1].index, ts[2].index), (0, 1, 0));
        assert_eq!(ts[1].asset.as_str(), "nem:coincheck");
        assert_eq!(ts[2].amount, u128::MAX);
        let mut back = Vec::new();
        write_csv(&mut back, &ts).unwrap();
        assert_eq!(
            read(std::str::from_utf8(&back).unwrap(), Chain::Generic).unwrap(),
            ts
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad = |row: &str| {
            read(
                &format!("{CSV_HEADER}\n2018-01-25T15:02:13Z,1,t,a,b,X,1\n{row}\n"),
                Chain::Generic,
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            bad("2018-01-25T15:02:13Z,1,t,a,b,X,1.5"),
            "t.csv:3: column \"amount\": amount \"1.5\" is not a non-negative integer in base units"
        );
        assert!(bad("yesterday,1,t,a,b,X,1").starts_with("t.csv:3: column \"time\""));
        assert!(bad("1,-1,t,a,b,X,1").starts_with("t.csv:3: column \"block\""));
        assert!(bad("1,1,,a,b,X,1").starts_with("t.csv:3: column \"tx\""));
        assert!(bad("1,1,t,a b,b,X,1").starts_with("t.csv:3: column \"from\""));
        assert!(bad("1,1,t,a,b,X!,1").starts_with("t.csv:3: column \"asset\""));
        assert!(bad("1,1,t,a,b").starts_with("t.csv:3: expected 7 fields, found 5"));
        let eth = read(
            &format!("{CSV_HEADER}\n1,1,t,0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD,0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed,ETH,1\n"),
            Chain::Ethereum,
        )
        .unwrap_err()
        .to_string();
        assert!(eth.starts_with("t.csv:2: column \"from\""), "{eth}");
        assert!(eth.contains("checksum"), "{eth}");
    }

    #[test]
    fn header_and_truncation() {
        let e = read("time,block,tx,from,to,amount\n", Chain::Generic)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.csv:1: header must be exactly"), "{e}");
        // A file cut in the middle of its last line.
        let e = read(
            &format!("{CSV_HEADER}\n1,1,t,a,b,X,1\n2,2,t2,a"),
            Chain::Generic,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("t.csv:3: expected 7 fields, found 4"), "{e}");
    }

    #[test]
    fn skip_passes_over_committed_rows() {
        let text = format!("{CSV_HEADER}\n1,1,t0,a,b,X,1\n2,2,t1,a,b,X,2\n3,3,t2,a,b,X,3\n");
        let mut seen = Vec::new();
        let n = CsvReader::from_reader("t.csv", text.as_bytes(), Chain::Generic)
            .unwrap()
            .for_each(2, |row, t| {
                seen.push((row, t.amount));
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(seen, vec![(2, 3)]);
        // Legs of one transaction split by the resume point keep their numbering.
        let text = format!("{CSV_HEADER}\n1,1,t,a,b,X,1\n1,1,t,a,c,X,2\n1,1,t,a,d,X,3\n");
        let mut idx = Vec::new();
        CsvReader::from_reader("t.csv", text.as_bytes(), Chain::Generic)
            .unwrap()
            .for_each(2, |_, t| {
                idx.push(t.index);
                Ok(())
            })
            .unwrap();
        assert_eq!(idx, vec![2]);
    }
}
