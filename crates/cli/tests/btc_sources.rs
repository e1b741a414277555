//! Two independent real sources of the same Bitcoin history must trace the same: blocks
//! 0..4312 parsed from Bitcoin Core's blk00000.dat (ashiato-btc) and the same blocks of
//! BlockSci's 2009 export (TaintedTX CSVs).

use std::path::{Path, PathBuf};

use ashiato::{load, InputFormat};
use ashiato_model::{Address, Chain};
use ashiato_trace::{Direction, GraphBuilder, PolicyName, TraceSpec};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn blk_files_and_the_blocksci_export_trace_alike() {
    let blk = root().join("crates/btc/tests/data/blk00000_first1MB.dat");
    let from_blk = load::load_input(&blk, InputFormat::Auto, Chain::Bitcoin)
        .unwrap()
        .graph;
    let txs =
        ashiato_ingest::taintedtx::read_dir(&root().join("data/btc-2009-full-year-taintedtx"))
            .unwrap();
    let mut b = GraphBuilder::new(Chain::Bitcoin);
    let mut n = 0;
    for (i, tx) in txs.into_iter().enumerate() {
        if tx.block < 4_313 {
            b.add_utxo_tx(tx, i as u64);
            n += 1;
        }
    }
    assert_eq!(n, 4_371);
    let from_csv = b.finish().unwrap();
    // Satoshi's coins of block 9, spent to Hal Finney in block 170.
    let spec = TraceSpec {
        seeds: vec![Address::parse(Chain::Bitcoin, "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S").unwrap()],
        seed_txs: Vec::new(),
        since: None,
        until: None,
        max_hops: None,
        dust: 0,
        stop_at: Vec::new(),
        direction: Direction::Forward,
        address_paths: false,
        summary_only: false,
        spray_max: 0,
        movements: false,
    };
    for policy in [PolicyName::Poison, PolicyName::Haircut, PolicyName::Fifo] {
        let a = ashiato_trace::trace(&from_blk, &spec, policy).unwrap();
        let c = ashiato_trace::trace(&from_csv, &spec, policy).unwrap();
        let rows = |r: &ashiato_trace::TraceResult| {
            let mut v: Vec<(String, u128)> = r
                .addresses
                .iter()
                .map(|x| (x.address.clone(), x.taint))
                .collect();
            v.sort();
            v
        };
        assert_eq!(rows(&a), rows(&c), "{policy:?}");
        // Hal Finney received 10 BTC of it under every policy.
        assert_eq!(
            a.taint_of("1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3", "BTC"),
            1_000_000_000,
            "{policy:?}"
        );
    }
}
