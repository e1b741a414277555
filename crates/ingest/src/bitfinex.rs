//! The Bitfinex 2016 theft (data/bitfinex-2016-hack): the first hop of 2,072 transactions
//! from users' BitGo multisig deposit wallets to the thief's addresses. It becomes an
//! incident whose seeds are the thief's receiving addresses (everything they send from
//! 2 Aug 2016 on is stolen) and victim labels on the deposit wallets.

use std::collections::HashSet;
use std::path::Path;

use ashiato_model::{Address, Chain, Incident, Label, LabelKind, UtcTime};

use crate::IngestError;

pub const INCIDENT: &str = "bitfinex-2016";
const HEADER: [&str; 4] = ["txid", "from", "to", "amount"];

/// One theft transaction as the data set lists it: only the stolen output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheftTx {
    pub txid: String,
    pub from: Address,
    pub to: Address,
    /// Satoshi.
    pub amount: u64,
}

pub struct BitfinexCase {
    pub thefts: Vec<TheftTx>,
    pub incident: Incident,
    pub labels: Vec<Label>,
}

/// `"5.85006242"` BTC to satoshi, exactly (at most 8 decimals, no sign, no exponent).
pub fn parse_btc(s: &str) -> Result<u64, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (!frac.is_empty() && !digits(frac)) || s.ends_with('.') {
        return Err(format!("{s:?} is not a decimal BTC amount"));
    }
    if frac.len() > 8 {
        return Err(format!(
            "{s:?} has more than 8 decimals (below one satoshi)"
        ));
    }
    let whole: u64 = int.parse().map_err(|_| format!("{s:?} is too large"))?;
    let frac: u64 = format!("{frac:0<8}").parse().expect("8 digits");
    whole
        .checked_mul(100_000_000)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn is_txid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Reads `bitfinex_tx_dataset.csv` and checks `seeds.csv` lists the same transactions.
pub fn read_case(dir: &Path) -> Result<BitfinexCase, IngestError> {
    let path = dir.join("bitfinex_tx_dataset.csv");
    let file = path.display().to_string();
    let mut thefts = Vec::new();
    let mut txids = HashSet::new();
    crate::for_each_record(&path, &HEADER, |line, rec| {
        let err = |column: &'static str, why: String| IngestError::Field {
            file: file.clone(),
            line,
            column,
            why,
        };
        let txid = rec[0].to_ascii_lowercase();
        if !is_txid(&txid) {
            return Err(err("txid", format!("{:?} is not 64 hex digits", &rec[0])));
        }
        if !txids.insert(txid.clone()) {
            return Err(err("txid", format!("{txid} is listed twice")));
        }
        let addr = |col: usize, name: &'static str| {
            Address::parse(Chain::Bitcoin, &rec[col]).map_err(|e| err(name, e.to_string()))
        };
        thefts.push(TheftTx {
            from: addr(1, "from")?,
            to: addr(2, "to")?,
            amount: parse_btc(&rec[3]).map_err(|e| err("amount", e))?,
            txid,
        });
        Ok(())
    })?;
    let seeds_path = dir.join("seeds.csv");
    let mut seeds = HashSet::new();
    crate::for_each_record(&seeds_path, &["txid"], |_, rec| {
        seeds.insert(rec[0].to_ascii_lowercase());
        Ok(())
    })?;
    if seeds != txids {
        return Err(IngestError::Inconsistent {
            file: seeds_path.display().to_string(),
            why: format!(
                "lists {} transactions, {} of them not in bitfinex_tx_dataset.csv",
                seeds.len(),
                seeds.difference(&txids).count()
            ),
        });
    }
    let total: u64 = thefts.iter().map(|t| t.amount).sum();
    let incident = Incident {
        name: INCIDENT.into(),
        chain: Chain::Bitcoin,
        seeds: thefts.iter().map(|t| t.to.clone()).collect(),
        seed_txs: Vec::new(),
        since: Some(UtcTime::parse("2016-08-02T00:00:00Z").expect("static time")),
        description: format!(
            "Bitfinex theft, 2 Aug 2016: {} transactions, {} sat from users' BitGo multisig wallets to the thief's addresses (the seeds)",
            thefts.len(),
            total
        ),
        source: "github.com/FranciscoCavazos/bitfinex-biggest-heist-forensics (MIT)".into(),
    };
    let labels = thefts
        .iter()
        .map(|t| Label {
            chain: Chain::Bitcoin,
            address: t.from.clone(),
            name: "Bitfinex user deposit wallet (BitGo 2-of-3)".into(),
            kind: LabelKind::Victim,
            source: format!("bitfinex-2016 theft tx {}", t.txid),
            confidence: 90,
        })
        .collect();
    Ok(BitfinexCase {
        thefts,
        incident,
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_btc;

    #[test]
    fn btc_amounts_are_exact() {
        assert_eq!(parse_btc("5.85006242"), Ok(585_006_242));
        assert_eq!(parse_btc("2038.748721"), Ok(203_874_872_100));
        assert_eq!(parse_btc("1"), Ok(100_000_000));
        assert_eq!(parse_btc("0.00000001"), Ok(1));
        for bad in [
            "",
            ".5",
            "1.",
            "-1",
            "1e3",
            "0.000000001",
            "1,5",
            "184467440737.1",
        ] {
            assert!(parse_btc(bad).is_err(), "{bad}");
        }
    }
}
