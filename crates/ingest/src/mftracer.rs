//! The MFTracer ground-truth cases (Ethereum): expert-verified laundering edges valued in
//! USD, with each case's source (theft) and terminal (exchange, bridge, mixer) addresses.
//!
//! The data gives no token amounts, only USD values, so transfers use the pseudo-asset
//! `USD` in integer cents (parsed from the decimal text, never through a float). Rows of
//! one case are not in chain order; the graph orders them by block, then time, then row.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use ashiato_model::{Address, Amount, Asset, Chain, Incident, Label, LabelKind, Transfer, UtcTime};

use crate::IngestError;

pub const SOURCE: &str = "github.com/AnonymousMFTracer/dataset@371b2ef (MIT)";
const HEADER: [&str; 8] = [
    "Timestamp",
    "Block",
    "Tx_hash",
    "From",
    "From_label",
    "To",
    "To_label",
    "Value_in_USD",
];

/// One case: its transfers, the incident its sources define, and labels.
#[derive(Debug, Clone)]
pub struct MftracerCase {
    pub name: String,
    pub transfers: Vec<Transfer>,
    pub incident: Incident,
    pub labels: Vec<Label>,
    pub sources: Vec<Address>,
    pub terminals: Vec<Address>,
}

/// Parses a non-negative decimal USD value into integer cents, exactly. Values with more
/// than two decimals are refused (the four published cases have none).
pub fn parse_usd_cents(s: &str) -> Result<Amount, String> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) {
        return Err(format!("{s:?} is not a decimal number"));
    }
    if frac.len() > 2 {
        return Err(format!("{s:?} has more than two decimals"));
    }
    let whole: Amount = whole.parse().map_err(|_| format!("{s:?} is too large"))?;
    let cents: Amount = format!("{frac:0<2}")
        .parse()
        .map_err(|_| format!("{s:?}"))?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn read_addresses(path: &Path) -> Result<Vec<Address>, IngestError> {
    let text = std::fs::read_to_string(path).map_err(|e| IngestError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        out.push(
            Address::parse(Chain::Ethereum, line).map_err(|e| IngestError::Field {
                file: path.display().to_string(),
                line: i as u64 + 1,
                column: "address",
                why: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// The case's transfer file: its one CSV that is not an address list.
pub fn case_csv(dir: &Path) -> Result<PathBuf, IngestError> {
    let entries = std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "csv")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with("addresses.csv"))
        })
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(IngestError::Inconsistent {
            file: dir.display().to_string(),
            why: format!(
                "expected exactly one case CSV besides the address lists, found {}",
                found.len()
            ),
        }),
    }
}

pub fn read_case(dir: &Path) -> Result<MftracerCase, IngestError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let sources = read_addresses(&dir.join("source addresses.csv"))?;
    let terminals = read_addresses(&dir.join("terminal addresses.csv"))?;
    let file = case_csv(dir)?;
    let fname = file.display().to_string();
    let usd = Asset::parse("USD").expect("USD is a valid asset");
    let mut per_tx: HashMap<String, u32> = HashMap::new();
    let mut transfers = Vec::new();
    let mut seen_labels: Vec<(Address, String)> = Vec::new();
    crate::for_each_record(&file, &HEADER, |line, rec| {
        let err = |column: &'static str, why: String| IngestError::Field {
            file: fname.clone(),
            line,
            column,
            why,
        };
        let time = UtcTime::parse(&rec[0]).map_err(|e| err("Timestamp", e.to_string()))?;
        let block = rec[1]
            .parse::<u64>()
            .map_err(|_| err("Block", format!("{:?} is not a block number", &rec[1])))?;
        let from =
            Address::parse(Chain::Ethereum, &rec[3]).map_err(|e| err("From", e.to_string()))?;
        let to = Address::parse(Chain::Ethereum, &rec[5]).map_err(|e| err("To", e.to_string()))?;
        let amount = parse_usd_cents(rec[7].trim()).map_err(|e| err("Value_in_USD", e))?;
        let tx = rec[2].to_ascii_lowercase();
        let index = per_tx.entry(tx.clone()).or_insert(0);
        for (a, l) in [(&from, &rec[4]), (&to, &rec[6])] {
            if !l.trim().is_empty() {
                seen_labels.push((a.clone(), l.trim().to_owned()));
            }
        }
        transfers.push(Transfer {
            time,
            block,
            tx,
            index: *index,
            from,
            to,
            asset: usd.clone(),
            amount,
        });
        *index += 1;
        Ok(())
    })?;
    let labels = case_labels(&name, &fname, &sources, &terminals, &seen_labels);
    let incident = Incident {
        name: name.clone(),
        chain: Chain::Ethereum,
        seeds: sources.clone(),
        seed_txs: Vec::new(),
        since: None,
        description: format!("MFTracer ground truth: {name}"),
        source: SOURCE.into(),
    };
    Ok(MftracerCase {
        name,
        transfers,
        incident,
        labels,
        sources,
        terminals,
    })
}

/// Terminals become exit labels (named by the case's own label where it has one); other
/// named addresses become informational labels; sources are victims. One label per
/// address: terminal wins, then the first name seen.
fn case_labels(
    case: &str,
    file: &str,
    sources: &[Address],
    terminals: &[Address],
    seen: &[(Address, String)],
) -> Vec<Label> {
    let mut first_name: HashMap<&Address, &str> = HashMap::new();
    for (a, l) in seen {
        first_name.entry(a).or_insert(l);
    }
    let source_set: HashSet<&Address> = sources.iter().collect();
    let mut done: HashSet<&Address> = HashSet::new();
    let mut out = Vec::new();
    let label = |a: &Address, name: String, kind, source: String| Label {
        chain: Chain::Ethereum,
        address: a.clone(),
        name,
        kind,
        source,
        confidence: 80,
    };
    for a in terminals {
        if done.insert(a) {
            let name = first_name
                .get(a)
                .map_or_else(|| format!("terminal ({case})"), |n| n.to_string());
            out.push(label(
                a,
                name,
                LabelKind::Terminal,
                format!("mftracer:{case} terminal addresses.csv"),
            ));
        }
    }
    for (a, _) in seen {
        if done.insert(a) {
            let kind = if source_set.contains(a) {
                LabelKind::Victim
            } else {
                LabelKind::Info
            };
            out.push(label(
                a,
                first_name[a].to_owned(),
                kind,
                format!("mftracer:{case} {file}"),
            ));
        }
    }
    out
}

/// Every case folder under `root`, by name.
pub fn read_all(root: &Path) -> Result<Vec<MftracerCase>, IngestError> {
    let entries = std::fs::read_dir(root).map_err(|e| IngestError::io(root, e))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("source addresses.csv").is_file())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| read_case(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/eth-mftracer-cases")
    }

    #[test]
    fn usd_to_cents_exactly() {
        assert_eq!(parse_usd_cents("945646.73"), Ok(94_564_673));
        assert_eq!(parse_usd_cents("2200000.0"), Ok(220_000_000));
        assert_eq!(parse_usd_cents("335.65"), Ok(33_565));
        assert_eq!(parse_usd_cents("5"), Ok(500));
        assert!(parse_usd_cents("0.001").is_err());
        assert!(parse_usd_cents("-1").is_err());
        assert!(parse_usd_cents("1e3").is_err());
        assert!(parse_usd_cents(".5").is_err());
    }

    #[test]
    fn the_four_cases() {
        let cases = read_all(&root()).unwrap();
        let got: Vec<(&str, usize, usize, usize)> = cases
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.transfers.len(),
                    c.sources.len(),
                    c.terminals.len(),
                )
            })
            .collect();
        // Rows, sources and terminals as counted in the files (SOURCE.txt agrees).
        assert_eq!(
            got,
            vec![
                ("Atomic", 1080, 17, 101),
                ("LIFI", 135, 1, 33),
                ("TxPhish", 292, 2, 13),
                ("XSam", 1307, 7, 465)
            ]
        );
        // Totals computed independently with Python's decimal module.
        let totals: Vec<Amount> = cases
            .iter()
            .map(|c| c.transfers.iter().map(|t| t.amount).sum())
            .collect();
        assert_eq!(
            totals,
            vec![5_070_095_696, 2_221_592_408, 13_919_732_788, 386_639_425]
        );
        let lifi = &cases[1];
        assert_eq!(
            lifi.incident.seeds[0].as_str(),
            "0x8b3cb6bf982798fba233bca56749e22eec42dcf3"
        );
        let terminal_labels = lifi
            .labels
            .iter()
            .filter(|l| l.kind == LabelKind::Terminal)
            .count();
        assert_eq!(terminal_labels, 33);
        // Legs of one transaction are numbered in file order.
        let atomic = &cases[0];
        let mut seen = HashSet::new();
        for t in &atomic.transfers {
            assert!(
                seen.insert((t.tx.clone(), t.index)),
                "duplicate leg {} {}",
                t.tx,
                t.index
            );
        }
    }
}
