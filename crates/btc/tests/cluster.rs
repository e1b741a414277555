//! Clustering on all of 2009 (checked against an independent union-find over the BlockSci
//! export's CSVs, in Python), a CoinJoin that must not merge two owners, change
//! heuristics on hand-made transactions, and the explanation of a merge.

use std::path::Path;

use ashiato_btc::cluster::{is_coinjoin, ChangeHeuristic, ClusterOptions, Clusters, Reason};
use ashiato_model::{Address, Chain, OutPoint, TxIn, TxOut, UtxoTx};

fn addr(s: &str) -> Address {
    Address::parse(Chain::Bitcoin, s).unwrap()
}

#[test]
fn multi_input_clusters_of_2009_match_an_independent_count() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/btc-2009-full-year-taintedtx");
    let txs = ashiato_ingest::taintedtx::read_dir(&dir).unwrap();
    let c = Clusters::build(
        &txs,
        &ClusterOptions {
            ignore_coinjoins: true,
            ..ClusterOptions::default()
        },
    );
    // tools/cluster_2009.py (union-find over tx_input.csv/adr_hash.csv) gives these.
    let sizes = c.sizes();
    assert_eq!(c.addresses(), 32_611);
    assert_eq!(sizes.len(), 29_969);
    assert_eq!(&sizes[..5], &[320, 276, 237, 218, 90]);
    assert_eq!(sizes.iter().filter(|s| **s > 1).count(), 121);
}

fn tx(id: &str, ins: &[(&str, u128)], outs: &[(&str, u128)]) -> UtxoTx {
    UtxoTx {
        txid: id.into(),
        block: 1,
        time: None,
        coinbase: false,
        inputs: ins
            .iter()
            .enumerate()
            .map(|(i, (a, v))| TxIn {
                prev: OutPoint {
                    txid: format!("prev-{id}-{i}"),
                    vout: 0,
                },
                address: Some(addr(a)),
                value: *v,
            })
            .collect(),
        outputs: outs
            .iter()
            .map(|(a, v)| TxOut {
                address: Some(addr(a)),
                value: *v,
            })
            .collect(),
    }
}

// Real 2009 addresses used as names only.
const A1: &str = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
const A2: &str = "12c6DSiU4Rq3P4ZxziKxzrL5LmMBrzjrJX";
const B1: &str = "1HLoD9E4SDFFPDiYfNYnkBLQ85Y51J3Zb1";
const B2: &str = "1FvzCLoTPGANNjWoUo6jUGuAG3wg1w4YjR";
const MIX1: &str = "15ubicBBWFnvoZLT7GiU2qxjRaKJPdkDMG";
const MIX2: &str = "1JfbZRwdDHKZmuiZgYArJZhcuuzuw2HuMu";
const SHOP: &str = "1GkQmKAmHtNfnD3LHhTkewJxKHVSta4m2a";

#[test]
fn a_coinjoin_does_not_merge_two_owners_and_the_merge_it_would_make_is_explained() {
    let alice = tx("alice", &[(A1, 50), (A2, 50)], &[(SHOP, 100)]);
    let bob = tx("bob", &[(B1, 30), (B2, 80)], &[(SHOP, 110)]);
    // Two participants, two equal 40-unit outputs, two change outputs.
    let join = tx(
        "join",
        &[(A1, 60), (B1, 70)],
        &[(MIX1, 40), (MIX2, 40), (A2, 20), (B2, 30)],
    );
    assert!(is_coinjoin(&join));
    assert!(!is_coinjoin(&alice));
    let txs = vec![alice, bob, join];
    let c = Clusters::build(&txs, &ClusterOptions::default());
    assert!(c.same(&addr(A1), &addr(A2)));
    assert!(c.same(&addr(B1), &addr(B2)));
    assert!(!c.same(&addr(A2), &addr(B2)));
    assert_eq!(c.coinjoins, ["join"]);
    assert_eq!(c.explain(&addr(A2), &addr(B2)), None);

    // With the rule switched off, the join merges them; the explanation names it.
    let merged = Clusters::build(
        &txs,
        &ClusterOptions {
            ignore_coinjoins: true,
            ..ClusterOptions::default()
        },
    );
    let path = merged.explain(&addr(A2), &addr(B2)).unwrap();
    let hops: Vec<(&str, &str, &str)> = path
        .iter()
        .map(|l| (l.a.as_str(), l.b.as_str(), l.txid.as_str()))
        .collect();
    assert_eq!(hops, [(A1, A2, "alice"), (A1, B1, "join"), (B1, B2, "bob")]);
    assert!(path.iter().all(|l| l.reason == Reason::MultiInput));
}

#[test]
fn change_heuristics_on_hand_made_transactions() {
    let opts = |h: ChangeHeuristic| ClusterOptions {
        change: vec![h],
        ..ClusterOptions::default()
    };
    // Pays SHOP a round 0.5 BTC from 2 × 0.4 BTC; 0.29987654 back to fresh B1 (fee
    // 12,346 sat). Not round, smaller than either input, first seen: change.
    let t = tx(
        "pay",
        &[(A1, 40_000_000), (A2, 40_000_000)],
        &[(SHOP, 50_000_000), (B1, 29_987_654)],
    );
    // SHOP was seen before (it received earlier), B1 was not.
    let earlier = tx("earlier", &[(MIX2, 10_000)], &[(SHOP, 10_000)]);
    let txs = vec![earlier, t];
    for h in [
        ChangeHeuristic::PowerOfTen,
        ChangeHeuristic::FirstSeen,
        ChangeHeuristic::OptimalChange,
    ] {
        let c = Clusters::build(&txs, &opts(h));
        assert!(c.same(&addr(A1), &addr(B1)), "{h:?}");
        assert!(!c.same(&addr(A1), &addr(SHOP)), "{h:?}");
        let why = c.explain(&addr(A2), &addr(B1)).unwrap();
        let reasons: Vec<_> = why
            .iter()
            .map(|l| (l.txid.as_str(), l.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            [("pay", Reason::MultiInput), ("pay", Reason::Change(h))]
        );
    }
    // Both outputs are P2PKH like the input: address type cannot tell.
    let c = Clusters::build(&txs, &opts(ChangeHeuristic::AddressType));
    assert!(!c.same(&addr(A1), &addr(B1)));
    // Self-change to the input's own address.
    let selfie = tx("self", &[(A1, 100)], &[(SHOP, 60), (A1, 39)]);
    let c = Clusters::build(&[selfie], &opts(ChangeHeuristic::AddressReuse));
    assert_eq!(c.sizes()[0], 1);
    // Two heuristics that disagree: no change is taken. Optimal change says the 40,000
    // output (below the 50,000 input); power of ten says the 1,951,234 one (not round).
    let split = tx(
        "split",
        &[(A1, 50_000), (A2, 2_000_000)],
        &[(SHOP, 40_000), (B1, 1_951_234)],
    );
    let c = Clusters::build(
        &[split],
        &ClusterOptions {
            change: vec![ChangeHeuristic::OptimalChange, ChangeHeuristic::PowerOfTen],
            ..ClusterOptions::default()
        },
    );
    assert!(c.same(&addr(A1), &addr(A2)));
    assert!(!c.same(&addr(A1), &addr(SHOP)) && !c.same(&addr(A1), &addr(B1)));
}

#[test]
fn a_peel_chain_is_followed_through_its_change() {
    // A1 peels 1 unit to SHOP, the rest to B1; B1 peels again to MIX1, the rest to B2.
    let mut p1 = tx("p1", &[(A1, 100)], &[(SHOP, 1), (B1, 98)]);
    let mut p2 = tx("p2", &[(B1, 98)], &[(MIX1, 1), (B2, 96)]);
    p1.inputs[0].prev.txid = "funding".into();
    p2.inputs[0].prev = OutPoint {
        txid: "p1".into(),
        vout: 1,
    };
    let c = Clusters::build(
        &[p1, p2],
        &ClusterOptions {
            change: vec![ChangeHeuristic::PeelChain],
            ..ClusterOptions::default()
        },
    );
    assert!(c.same(&addr(A1), &addr(B1)));
    assert!(!c.same(&addr(A1), &addr(SHOP)));
    // p2's change is not spent by a peel step in the data: the chain ends there.
    assert!(!c.same(&addr(B1), &addr(B2)));
}
