use super::*;

use ashiato_model::{Address, Asset, LabelKind, Transfer, UtcTime};
use ashiato_store::SourceKey;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

fn addr(s: &str) -> Address {
    Address::parse(Chain::Generic, s).unwrap()
}

/// (block, time, tx, from, to, asset, amount), given out of chain order on purpose.
type Row = (
    u64,
    i64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Amount,
);

fn store_with(dir: &Path, rows: &[Row]) -> Store {
    let mut store = Store::open(dir).unwrap();
    let key = SourceKey {
        kind: "test".into(),
        name: "rows".into(),
        fingerprint: [7; 16],
    };
    let mut s = store.begin_source(Chain::Generic, key).unwrap();
    for (i, &(block, time, tx, from, to, asset, amount)) in rows.iter().enumerate() {
        let t = Transfer {
            time: UtcTime(time),
            block,
            tx: tx.into(),
            index: 0,
            from: addr(from),
            to: addr(to),
            asset: Asset::parse(asset).unwrap(),
            amount,
        };
        s.push_transfer(i as u64, &t).unwrap();
    }
    s.finish().unwrap();
    store
}

type Read = (i64, i64, i64, String, String, String, String, Amount);

fn read_transfers(path: &Path) -> Vec<Read> {
    let r = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    r.get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let d = row.get_decimal(7).unwrap();
            assert_eq!((d.precision(), d.scale()), (38, 0));
            let bytes: [u8; 16] = d.data().try_into().unwrap();
            (
                row.get_long(0).unwrap(),
                row.get_long(1).unwrap(),
                row.get_long(2).unwrap(),
                row.get_string(3).unwrap().clone(),
                row.get_string(4).unwrap().clone(),
                row.get_string(5).unwrap().clone(),
                row.get_string(6).unwrap().clone(),
                u128::from_be_bytes(bytes),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn r(e: i64, b: i64, t: i64, tx: &str, f: &str, to: &str, a: &str, x: Amount) -> Read {
    (e, b, t, tx.into(), f.into(), to.into(), a.into(), x)
}

#[test]
fn partitions_hold_whole_blocks_in_chain_order() {
    let tmp = tempfile::tempdir().unwrap();
    let big = AMOUNT_LIMIT - 1;
    let store = store_with(
        &tmp.path().join("s"),
        &[
            (3, 300, "t3", "c", "d", "ETH", 5),
            (1, 100, "t1", "a", "b", "ETH", big),
            (1, 100, "t1b", "b", "c", "USDT", 2),
            (2, 200, "t2", "b", "a", "ETH", 0),
            (5, 500, "t5", "d", "a", "ETH", 1),
        ],
    );
    let out = tmp.path().join("out");
    let m = export(
        &store,
        &tmp.path().join("s"),
        Chain::Generic,
        &out,
        &ExportOptions { rows_per_part: 1 },
    )
    .unwrap();
    // Block 1 has two transfers, so the first part holds both despite one row per part.
    let files: Vec<(&str, u64, u64, u64)> = m
        .transfers
        .parts
        .iter()
        .map(|p| (p.file.as_str(), p.first_event, p.last_event, p.rows))
        .collect();
    assert_eq!(
        files,
        [
            ("transfers/part-0000000001-0000000001.parquet", 0, 1, 2),
            ("transfers/part-0000000002-0000000002.parquet", 2, 2, 1),
            ("transfers/part-0000000003-0000000003.parquet", 3, 3, 1),
            ("transfers/part-0000000005-0000000005.parquet", 4, 4, 1),
        ]
    );
    assert_eq!(m.transfers.rows, 5);
    let all: Vec<Read> = m
        .transfers
        .parts
        .iter()
        .flat_map(|p| read_transfers(&out.join(&p.file)))
        .collect();
    assert_eq!(
        all,
        [
            r(0, 1, 100, "t1", "a", "b", "ETH", big),
            r(1, 1, 100, "t1b", "b", "c", "USDT", 2),
            r(2, 2, 200, "t2", "b", "a", "ETH", 0),
            r(3, 3, 300, "t3", "c", "d", "ETH", 5),
            r(4, 5, 500, "t5", "d", "a", "ETH", 1),
        ]
    );
    let back: Manifest =
        serde_json::from_slice(&fs::read(out.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(back, m);

    // A second export into the same directory would mix two exports.
    let again = export(
        &store,
        tmp.path(),
        Chain::Generic,
        &out,
        &ExportOptions::default(),
    );
    assert!(matches!(again, Err(ExportError::OutNotEmpty(p)) if p == out));
}

#[test]
fn one_part_when_rows_allow() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with(
        &tmp.path().join("s"),
        &[
            (7, 1, "x", "a", "b", "GEN", 1),
            (9, 2, "y", "b", "c", "GEN", 2),
        ],
    );
    let m = export(
        &store,
        tmp.path(),
        Chain::Generic,
        &tmp.path().join("o"),
        &ExportOptions::default(),
    )
    .unwrap();
    let parts: Vec<&str> = m.transfers.parts.iter().map(|p| p.file.as_str()).collect();
    assert_eq!(parts, ["transfers/part-0000000007-0000000009.parquet"]);
}

#[test]
fn an_amount_of_ten_to_the_38_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with(
        &tmp.path().join("s"),
        &[
            (1, 1, "ok", "a", "b", "GEN", 1),
            (4, 2, "huge", "b", "c", "GEN", AMOUNT_LIMIT),
        ],
    );
    let out = tmp.path().join("o");
    let err = export(
        &store,
        tmp.path(),
        Chain::Generic,
        &out,
        &ExportOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "transfer 1 (block 4, tx huge): amount 100000000000000000000000000000000000000 is \
         10^38 or more, which Parquet DECIMAL(38,0) cannot hold"
    );
    assert!(!out.exists());
}

#[test]
fn labels_and_incidents_are_exported_for_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = store_with(&tmp.path().join("s"), &[(1, 1, "x", "a", "b", "GEN", 1)]);
    let label = |a: &str, name: &str, kind: LabelKind, source: &str| Label {
        chain: Chain::Generic,
        address: addr(a),
        name: name.into(),
        kind,
        source: source.into(),
        confidence: 50,
    };
    store
        .put_labels(&[
            label("b", "Kraken", LabelKind::Exchange, "s1"),
            label("a", "victim", LabelKind::Victim, "s1"),
        ])
        .unwrap();
    store
        .put_incident(&Incident {
            name: "heist".into(),
            chain: Chain::Generic,
            seeds: vec![addr("a")],
            seed_txs: vec![],
            since: Some(UtcTime(1)),
            description: "d".into(),
            source: "test".into(),
        })
        .unwrap();
    store
        .put_incident(&Incident {
            name: "elsewhere".into(),
            chain: Chain::Ethereum,
            seeds: vec![],
            seed_txs: vec!["0xab".into()],
            since: None,
            description: String::new(),
            source: "test".into(),
        })
        .unwrap();
    let out = tmp.path().join("o");
    let m = export(
        &store,
        tmp.path(),
        Chain::Generic,
        &out,
        &ExportOptions::default(),
    )
    .unwrap();
    assert_eq!((m.labels.rows, m.incidents.rows), (2, 1));
    let r = SerializedFileReader::new(File::open(out.join("labels.parquet")).unwrap()).unwrap();
    let rows: Vec<(i64, String, String, String, bool)> = r
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            (
                row.get_long(0).unwrap(),
                row.get_string(1).unwrap().clone(),
                row.get_string(2).unwrap().clone(),
                row.get_string(3).unwrap().clone(),
                row.get_bool(4).unwrap(),
            )
        })
        .collect();
    // The store's order (by address), which decides an address's exit label.
    assert_eq!(
        rows,
        [
            (0, "a".into(), "victim".into(), "victim".into(), false),
            (1, "b".into(), "Kraken".into(), "exchange".into(), true),
        ]
    );
    let inc: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("incidents.json")).unwrap()).unwrap();
    assert_eq!(
        inc,
        serde_json::json!([{"name": "heist", "chain": "generic", "seeds": ["a"],
            "seed_txs": [], "since": 1, "description": "d"}])
    );
}
