//! The Bitfinex 2016 theft's seed set (real data, data/bitfinex-2016-hack).

use std::path::Path;

use ashiato_ingest::bitfinex::read_case;

#[test]
fn the_bitfinex_seed_set_has_the_published_totals() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bitfinex-2016-hack");
    let case = read_case(&dir).unwrap();
    assert_eq!(case.thefts.len(), 2_072);
    // 119,756.62032288 BTC (the DOJ's "119,754/119,756 BTC"), summed in satoshi.
    let total: u64 = case.thefts.iter().map(|t| t.amount).sum();
    assert_eq!(total, 11_975_662_032_288);
    // From P2SH (BitGo 2-of-3) deposit wallets to P2PKH addresses, all distinct.
    assert!(case.thefts.iter().all(|t| t.from.as_str().starts_with('3')));
    assert!(case.thefts.iter().all(|t| t.to.as_str().starts_with('1')));
    let seeds: std::collections::HashSet<_> = case.incident.seeds.iter().collect();
    assert_eq!(seeds.len(), 2_072);
    assert_eq!(case.labels.len(), 2_072);
    // The largest single theft.
    let max = case.thefts.iter().max_by_key(|t| t.amount).unwrap();
    assert_eq!(max.amount, 203_874_872_100);
}

#[test]
fn a_corrupt_row_is_named_by_file_line_and_column() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/bitfinex-2016-hack");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(src.join("bitfinex_tx_dataset.csv")).unwrap();
    // Line 3: a mistyped hacker address (checksum fails).
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replace(
        "1L14Rw9G4P173tTZdMKsFPpMNY9WdiLKK7",
        "1L14Rw9G4P173tTZdMKsFPpMNY9WdiLKK8",
    );
    std::fs::write(dir.path().join("bitfinex_tx_dataset.csv"), lines.join("\n")).unwrap();
    std::fs::copy(src.join("seeds.csv"), dir.path().join("seeds.csv")).unwrap();
    let e = read_case(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("bitfinex_tx_dataset.csv:3: column \"to\""),
        "{e}"
    );
}
