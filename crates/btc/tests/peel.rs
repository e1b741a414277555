//! Peel chains: detection over all of 2009 (checked against tools/peel_2009.py, written
//! from the rule over the BlockSci export's CSVs), and following a hand-made chain.

use std::path::Path;

use ashiato_btc::peel::{End, PeelIndex};
use ashiato_model::{Address, Chain, OutPoint, TxIn, TxOut, UtxoTx};

#[test]
fn peel_chains_of_2009_match_an_independent_count() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/btc-2009-full-year-taintedtx");
    let txs = ashiato_ingest::taintedtx::read_dir(&dir).unwrap();
    let idx = PeelIndex::new(&txs);
    let chains = idx.detect(2);
    // tools/peel_2009.py: 8 chains of >= 2 steps, 5 of >= 3; the three longest:
    // (9, 131f6826…, 1,607,000,000 sat peeled, spent), (6, 1043eb5c…, 600,000,000,000,
    // spent), (6, 4c5e40e3…, 4,200,000,000, unspent).
    assert_eq!(chains.len(), 8);
    assert_eq!(chains.iter().filter(|c| c.steps.len() >= 3).count(), 5);
    let top: Vec<(usize, &str, u128, bool)> = chains[..3]
        .iter()
        .map(|c| {
            (
                c.steps.len(),
                &c.steps[0].txid[..8],
                c.peeled(),
                c.end == End::Unspent,
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            (9, "131f6826", 1_607_000_000, false),
            (6, "1043eb5c", 600_000_000_000, false),
            (6, "4c5e40e3", 4_200_000_000, true),
        ]
    );
    // Every step spends the previous step's change.
    for c in &chains {
        for w in c.steps.windows(2) {
            let next = txs.iter().find(|t| t.txid == w[1].txid).unwrap();
            assert_eq!(next.inputs[0].prev.txid, w[0].txid);
            assert_eq!(next.inputs[0].prev.vout, 1 - w[0].peel_vout);
            assert_eq!(next.inputs[0].value, w[0].change);
        }
    }
    // Following from the middle of the longest chain gives its tail.
    let longest = &chains[0];
    let tail = idx.follow(&longest.steps[4].txid, usize::MAX).unwrap();
    assert_eq!(tail.steps, longest.steps[4..]);
    assert_eq!(
        idx.follow(&longest.steps[0].txid, 3).unwrap().end,
        End::Limit
    );
}

fn a(s: &str) -> Option<Address> {
    Some(Address::parse(Chain::Bitcoin, s).unwrap())
}

const K: [&str; 6] = [
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "12c6DSiU4Rq3P4ZxziKxzrL5LmMBrzjrJX",
    "1HLoD9E4SDFFPDiYfNYnkBLQ85Y51J3Zb1",
    "1FvzCLoTPGANNjWoUo6jUGuAG3wg1w4YjR",
    "15ubicBBWFnvoZLT7GiU2qxjRaKJPdkDMG",
    "1JfbZRwdDHKZmuiZgYArJZhcuuzuw2HuMu",
];

fn tx(id: &str, prev: (&str, u32), value: u128, outs: &[(usize, u128)]) -> UtxoTx {
    UtxoTx {
        txid: id.into(),
        block: 1,
        time: None,
        coinbase: false,
        inputs: vec![TxIn {
            prev: OutPoint {
                txid: prev.0.into(),
                vout: prev.1,
            },
            address: a(K[0]),
            value,
        }],
        outputs: outs
            .iter()
            .map(|&(k, value)| TxOut {
                address: a(K[k]),
                value,
            })
            .collect(),
    }
}

#[test]
fn a_hand_made_chain_is_followed_to_its_end() {
    // s1 peels 5 to K1 and keeps 94 (fee 1); s2 spends the change at vout 0 this time,
    // peels 4 to K2 and keeps 90; s3 peels 10 to K3, keeping 80, which a two-output
    // consolidation `c` spends with another coin: the chain ends "spent by c".
    let txs = vec![
        tx("s1", ("fund", 0), 100, &[(1, 5), (4, 94)]),
        tx("s2", ("s1", 1), 94, &[(5, 90), (2, 4)]),
        tx("s3", ("s2", 0), 90, &[(3, 10), (4, 80)]),
        UtxoTx {
            inputs: vec![
                tx("", ("s3", 1), 80, &[]).inputs[0].clone(),
                tx("", ("other", 0), 20, &[]).inputs[0].clone(),
            ],
            ..tx("c", ("x", 0), 0, &[(5, 99), (1, 1)])
        },
    ];
    let idx = PeelIndex::new(&txs);
    let chain = idx.follow("s1", usize::MAX).unwrap();
    let got: Vec<(&str, u32, u128, u128, u128)> = chain
        .steps
        .iter()
        .map(|s| (s.txid.as_str(), s.peel_vout, s.peel, s.change, s.fee))
        .collect();
    assert_eq!(
        got,
        [
            ("s1", 0, 5, 94, 1),
            ("s2", 1, 4, 90, 0),
            ("s3", 0, 10, 80, 0)
        ]
    );
    assert_eq!(chain.steps[1].peel_to, a(K[2]));
    assert_eq!(chain.end, End::SpentBy("c".into()));
    assert_eq!(chain.peeled(), 19);
    // Not a peel step, or unknown: nothing to follow.
    assert!(idx.follow("c", 10).is_none() && idx.follow("zz", 10).is_none());
    // One maximal chain; s2 and s3 are inside it.
    let d = idx.detect(1);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0], chain);

    // Both outputs of s1 spent by peel steps: the follower does not guess.
    let mut fork = txs.clone();
    fork.push(tx("s2b", ("s1", 0), 5, &[(1, 3), (2, 2)]));
    let c = PeelIndex::new(&fork).follow("s1", usize::MAX).unwrap();
    assert_eq!((c.steps.len(), c.end), (1, End::Ambiguous));
}
