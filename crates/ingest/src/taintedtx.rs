//! The BlockSci export used by TaintedTX: every Bitcoin transaction of 2009 as five CSVs.
//!
//! What the files hold, and how each quirk is handled (checked against the data):
//! - `tx_index` is a global chain-order index; join on it, never on `tx_hash` (2,052
//!   hashes lost their last hex digit; they are kept as given and stay unique).
//! - `output_index` is `tx_index · 10 + vout` (no 2009 transaction has ten outputs); each
//!   transaction's outputs are ordered by it.
//! - Two coinbase outputs (242510 and 242520) are listed twice, identically; exact
//!   duplicate rows are dropped (otherwise 100 BTC would be counted twice).
//! - Inputs are in file order per transaction, which is not sorted by the output they
//!   spend (120 of 133 multi-input transactions are not), so it is taken as the
//!   serialised order.
//! - `spent_index` is written as a float (`2850.0`); it is not needed: an input names the
//!   output it spends by `output_index`.
//! - Five address ids (21 outputs) are missing from `adr_hash.csv`: those outputs have no
//!   known owner (`address: None`), but their coins are still followed.
//! - There are no block times: `time` is `None`; order is by block and `tx_index`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ashiato_model::{Address, Amount, Chain, OutPoint, TxIn, TxOut, UtxoTx};

use crate::IngestError;

/// A 63-character hash: the export lost its last hex digit.
pub fn is_truncated_hash(s: &str) -> bool {
    s.len() == 63
}

struct Table {
    file: String,
    rows: Vec<(u64, Vec<String>)>,
}

fn table(dir: &Path, name: &str, header: &[&str]) -> Result<Table, IngestError> {
    let path = dir.join(name);
    let file = path.display().to_string();
    let mut rows = Vec::new();
    crate::for_each_record(&path, header, |line, rec| {
        rows.push((line, rec.iter().map(str::to_owned).collect()));
        Ok(())
    })?;
    Ok(Table { file, rows })
}

impl Table {
    fn int(
        &self,
        line: u64,
        row: &[String],
        col: usize,
        name: &'static str,
    ) -> Result<u64, IngestError> {
        row[col]
            .trim()
            .parse::<u64>()
            .map_err(|_| IngestError::Field {
                file: self.file.clone(),
                line,
                column: name,
                why: format!("{:?} is not an unsigned integer", row[col]),
            })
    }
}

/// Reads the whole export into transactions in chain order.
pub fn read_dir(dir: &Path) -> Result<Vec<UtxoTx>, IngestError> {
    let hashes = table(dir, "tx_hash.csv", &["tx_index", "tx_hash"])?;
    let heights = table(dir, "tx_height.csv", &["tx_index", "block_index"])?;
    let outputs = table(
        dir,
        "tx_output.csv",
        &[
            "output_index",
            "tx_index",
            "adr_index",
            "output_value",
            "spent_index",
        ],
    )?;
    let inputs = table(
        dir,
        "tx_input.csv",
        &[
            "output_index",
            "tx_index",
            "adr_index",
            "input_value",
            "spent_index",
        ],
    )?;
    let adrs = table(dir, "adr_hash.csv", &["adr_index", "adr_hash"])?;

    let mut address: HashMap<u64, Address> = HashMap::new();
    for (line, r) in &adrs.rows {
        let id = adrs.int(*line, r, 0, "adr_index")?;
        let a = Address::parse(Chain::Bitcoin, &r[1]).map_err(|e| IngestError::Field {
            file: adrs.file.clone(),
            line: *line,
            column: "adr_hash",
            why: e.to_string(),
        })?;
        address.insert(id, a);
    }
    let mut txs: BTreeMap<u64, UtxoTx> = BTreeMap::new();
    for (line, r) in &hashes.rows {
        let ix = hashes.int(*line, r, 0, "tx_index")?;
        txs.insert(
            ix,
            UtxoTx {
                txid: r[1].clone(),
                block: 0,
                time: None,
                coinbase: true,
                inputs: Vec::new(),
                outputs: Vec::new(),
            },
        );
    }
    let missing_tx = |t: &Table, line: u64, ix: u64| IngestError::Field {
        file: t.file.clone(),
        line,
        column: "tx_index",
        why: format!("transaction {ix} is not in tx_hash.csv"),
    };
    for (line, r) in &heights.rows {
        let ix = heights.int(*line, r, 0, "tx_index")?;
        let block = heights.int(*line, r, 1, "block_index")?;
        txs.get_mut(&ix)
            .ok_or_else(|| missing_tx(&heights, *line, ix))?
            .block = block;
    }
    // Outputs: ordered by output_index within each transaction; exact duplicates dropped.
    let mut outs: BTreeMap<u64, (u64, u64, Amount, u64)> = BTreeMap::new();
    for (line, r) in &outputs.rows {
        let oi = outputs.int(*line, r, 0, "output_index")?;
        let ix = outputs.int(*line, r, 1, "tx_index")?;
        let adr = outputs.int(*line, r, 2, "adr_index")?;
        let value = outputs.int(*line, r, 3, "output_value")? as Amount;
        let row = (ix, adr, value, *line);
        match outs.get(&oi) {
            Some(prev) if (prev.0, prev.1, prev.2) == (ix, adr, value) => continue,
            Some(_) => {
                return Err(IngestError::Field {
                    file: outputs.file.clone(),
                    line: *line,
                    column: "output_index",
                    why: format!("output {oi} is listed twice with different contents"),
                })
            }
            None => {
                outs.insert(oi, row);
            }
        }
    }
    let mut vout_of: HashMap<u64, (u64, u32)> = HashMap::new();
    for (&oi, &(ix, adr, value, line)) in &outs {
        let tx = txs
            .get_mut(&ix)
            .ok_or_else(|| missing_tx(&outputs, line, ix))?;
        vout_of.insert(oi, (ix, tx.outputs.len() as u32));
        tx.outputs.push(TxOut {
            address: address.get(&adr).cloned(),
            value,
        });
    }
    for (line, r) in &inputs.rows {
        let oi = inputs.int(*line, r, 0, "output_index")?;
        let ix = inputs.int(*line, r, 1, "tx_index")?;
        let value = inputs.int(*line, r, 3, "input_value")? as Amount;
        let &(prev_ix, vout) = vout_of.get(&oi).ok_or_else(|| IngestError::Field {
            file: inputs.file.clone(),
            line: *line,
            column: "output_index",
            why: format!("spends output {oi}, which tx_output.csv does not have"),
        })?;
        let prev_txid = txs[&prev_ix].txid.clone();
        let spent_value = txs[&prev_ix].outputs[vout as usize].value;
        if spent_value != value {
            return Err(IngestError::Field {
                file: inputs.file.clone(),
                line: *line,
                column: "input_value",
                why: format!("input value {value} differs from the spent output's {spent_value}"),
            });
        }
        let owner = txs[&prev_ix].outputs[vout as usize].address.clone();
        let tx = txs
            .get_mut(&ix)
            .ok_or_else(|| missing_tx(&inputs, *line, ix))?;
        tx.coinbase = false;
        tx.inputs.push(TxIn {
            prev: OutPoint {
                txid: prev_txid,
                vout,
            },
            address: owner,
            value,
        });
    }
    let txs: Vec<UtxoTx> = txs.into_values().collect();
    for tx in &txs {
        if tx.fee().is_none() {
            return Err(IngestError::Inconsistent {
                file: inputs.file.clone(),
                why: format!("transaction {} spends less than it creates", tx.txid),
            });
        }
    }
    Ok(txs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_of_2009() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/btc-2009-full-year-taintedtx");
        let txs = read_dir(&dir).unwrap();
        assert_eq!(txs.len(), 32_709);
        assert_eq!(txs.iter().map(|t| t.inputs.len()).sum::<usize>(), 2_887);
        // 32,783 rows less the two duplicated coinbase outputs.
        assert_eq!(txs.iter().map(|t| t.outputs.len()).sum::<usize>(), 32_781);
        assert_eq!(txs.iter().filter(|t| t.coinbase).count(), 32_490);
        assert_eq!(
            txs.iter().filter(|t| is_truncated_hash(&t.txid)).count(),
            2_052
        );
        // Totals computed independently (Python over the CSVs, duplicates dropped): the
        // coinbases pay 32,490 × 50 BTC plus the year's 2.87 BTC of fees.
        let coinbase: Amount = txs
            .iter()
            .filter(|t| t.coinbase)
            .flat_map(|t| &t.outputs)
            .map(|o| o.value)
            .sum();
        assert_eq!(coinbase, 32_490 * 5_000_000_000 + 287_000_000);
        let fees: Amount = txs.iter().map(|t| t.fee().unwrap()).sum();
        assert_eq!(fees, 287_000_000);
        assert_eq!(
            txs.iter()
                .flat_map(|t| &t.outputs)
                .filter(|o| o.address.is_none())
                .count(),
            21
        );
        // The first person-to-person payment: Satoshi to Hal Finney, block 170.
        let t = &txs[171];
        assert_eq!(
            t.txid,
            "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
        );
        assert_eq!(t.block, 170);
        assert_eq!(t.inputs.len(), 1);
        assert_eq!(t.inputs[0].value, 5_000_000_000);
        assert_eq!(t.inputs[0].prev.txid, txs[9].txid);
        assert_eq!(t.inputs[0].prev.vout, 0);
        let outs: Vec<(Amount, &str)> = t
            .outputs
            .iter()
            .map(|o| (o.value, o.address.as_ref().map_or("", |a| a.as_str())))
            .collect();
        assert_eq!(outs[0].0, 1_000_000_000);
        assert_eq!(outs[1].0, 4_000_000_000);
        assert_eq!(
            t.inputs[0].address.as_ref().map(|a| a.as_str()),
            Some(outs[1].1),
            "change back to the sender"
        );
    }
}
