//! The store: idempotent, resumable, crash-safe ingest; rollback of bad sources; metadata.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ashiato_model::{Address, Asset, Chain, Incident, Label, LabelKind, Transfer, UtcTime};
use ashiato_store::{SourceKey, Store};

fn t(i: u64) -> Transfer {
    Transfer {
        time: UtcTime(1_600_000_000 + i as i64),
        block: i / 10,
        tx: format!("tx{i}"),
        index: 0,
        from: Address::parse(Chain::Generic, &format!("a{}", i % 97)).unwrap(),
        to: Address::parse(Chain::Generic, &format!("a{}", (i * 7 + 1) % 101)).unwrap(),
        asset: Asset::parse(if i.is_multiple_of(3) { "X" } else { "Y" }).unwrap(),
        amount: (i as u128 + 1) * 1_000,
    }
}

fn key(name: &str, fp: u8) -> SourceKey {
    SourceKey {
        kind: "test".into(),
        name: name.into(),
        fingerprint: [fp; 16],
    }
}

/// Ingests rows `0..n` of a source, resuming where an earlier run stopped.
fn ingest(store: &mut Store, fp: u8, n: u64) -> ashiato_store::IngestReport {
    let mut s = store.begin_source(Chain::Generic, key("gen", fp)).unwrap();
    if s.is_complete() {
        return s.finish().unwrap();
    }
    for i in s.resume_from()..n {
        s.push_transfer(i, &t(i)).unwrap();
    }
    s.finish().unwrap()
}

#[test]
fn ingest_is_idempotent_and_incremental() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.set_segment_rows(100);
    let r = ingest(&mut store, 1, 1_000);
    assert_eq!(
        (r.rows, r.added, r.duplicates, r.already_complete),
        (1_000, 1_000, 0, false)
    );
    // The same content again: nothing read, nothing added.
    let r = ingest(&mut store, 1, 1_000);
    assert!(r.already_complete);
    assert_eq!(r.added, 0);
    // The file grew (new content, new fingerprint): only the new rows are added.
    let r = ingest(&mut store, 2, 1_500);
    assert_eq!((r.rows, r.added, r.duplicates), (1_500, 500, 1_000));
    let stats = store.stats().unwrap();
    assert_eq!(stats.chains["generic"].transfers, 1_500);
    assert_eq!(stats.chains["generic"].addresses, 101); // a0..a100
    let check = store.check().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.rows, 1_500);
    // Reopening keeps everything.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let g = store.graph(Chain::Generic).unwrap();
    assert_eq!(g.events(), 1_500);
    // Chain order: block, then time.
    assert!(g.block.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(g.tx_names.get(g.tx[0]), "tx0");
    assert_eq!(g.tx_names.get(g.tx[1_499]), "tx1499");
}

#[test]
fn abort_keeps_nothing_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.set_segment_rows(50);
    ingest(&mut store, 1, 120);
    let mut s = store.begin_source(Chain::Generic, key("bad", 9)).unwrap();
    for i in 1_000..1_180 {
        s.push_transfer(i - 1_000, &t(i)).unwrap();
    }
    // Three segments of the bad source were committed before the bad row was found.
    s.abort().unwrap();
    assert_eq!(store.stats().unwrap().chains["generic"].transfers, 120);
    assert!(store.check().unwrap().problems.is_empty());
    drop(store);
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.graph(Chain::Generic).unwrap().events(), 120);
    // The source can be ingested again from scratch once fixed.
    let s = store.begin_source(Chain::Generic, key("bad", 9)).unwrap();
    assert_eq!(s.resume_from(), 0);
}

#[test]
fn labels_and_incidents_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let zaif = Address::parse(Chain::Nem, "NC3BI3DNMR2PGEOOMP2NKXQGSAKMS7GYRKVA5CSZ").unwrap();
    let label = Label {
        chain: Chain::Nem,
        address: zaif.clone(),
        name: "hot wallet".into(),
        kind: LabelKind::Victim,
        source: "facts".into(),
        confidence: 100,
    };
    assert_eq!(store.put_labels(std::slice::from_ref(&label)).unwrap(), 1);
    assert_eq!(
        store.put_labels(std::slice::from_ref(&label)).unwrap(),
        0,
        "unchanged label is not rewritten"
    );
    let incident = Incident {
        name: "coincheck".into(),
        chain: Chain::Nem,
        seeds: vec![zaif],
        seed_txs: vec![],
        since: Some(UtcTime(1_516_892_400)),
        description: "".into(),
        source: "".into(),
    };
    store.put_incident(&incident).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.labels(Chain::Nem).unwrap(), vec![label]);
    assert!(store.labels(Chain::Ethereum).unwrap().is_empty());
    assert_eq!(store.incident("coincheck").unwrap(), Some(incident));
    assert_eq!(store.incident("nope").unwrap(), None);
}

#[test]
fn corruption_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    ingest(&mut store, 1, 10);
    drop(store);
    let seg = dir.path().join("segments/0000000001/transfers.bin");
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let err = store.graph(Chain::Generic).unwrap_err().to_string();
    assert!(err.contains("0000000001/transfers.bin"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    let problems = store.check().unwrap().problems;
    assert_eq!(problems.len(), 2, "{problems:?}"); // checksum and length
                                                   // A segment directory the manifest does not know (a crash before commit) is removed.
    drop(store);
    std::fs::create_dir_all(dir.path().join("segments/0000000002")).unwrap();
    std::fs::create_dir_all(dir.path().join("segments/tmp-3")).unwrap();
    Store::open(dir.path()).unwrap();
    assert!(!dir.path().join("segments/0000000002").exists());
    assert!(!dir.path().join("segments/tmp-3").exists());
}

const CRASH_ROWS: u64 = 300_000;

/// The child half of the crash test: ingests until killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("ASHIATO_CRASH_STORE") else {
        return;
    };
    let mut store = Store::open(Path::new(&dir)).unwrap();
    store.set_segment_rows(10_000);
    ingest(&mut store, 7, CRASH_ROWS);
}

#[test]
fn kill_9_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut resumed = Vec::new();
    // Seeded delays: early, middle and late in the run, plus one while committing.
    for delay_ms in [40u64, 150, 300, 450, 700] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("ASHIATO_CRASH_STORE", dir.path())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let check = store.check().unwrap();
        assert!(
            check.problems.is_empty(),
            "after kill at {delay_ms} ms: {:?}",
            check.problems
        );
        let s = {
            let mut store = store;
            let s = store.begin_source(Chain::Generic, key("gen", 7)).unwrap();
            (s.resume_from(), s.is_complete())
        };
        resumed.push(s);
    }
    let mut store = Store::open(dir.path()).unwrap();
    store.set_segment_rows(10_000);
    let r = ingest(&mut store, 7, CRASH_ROWS);
    let check = store.check().unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(
        check.rows, CRASH_ROWS,
        "every row stored exactly once (resume points {resumed:?}, last run {r:?})"
    );
    assert_eq!(
        store.graph(Chain::Generic).unwrap().events() as u64,
        CRASH_ROWS
    );
    assert!(
        resumed
            .iter()
            .any(|&(from, complete)| from > 0 && !complete),
        "at least one kill landed mid-ingest: {resumed:?}"
    );
}
