//! The worked examples of shared/docs/taint-policies.md, through the whole walker.

use ashiato_model::{
    Address, Amount, Asset, Chain, OutPoint, Transfer, TxIn, TxOut, UtcTime, UtxoTx,
};
use ashiato_trace::{trace, Graph, GraphBuilder, PolicyName, TraceSpec};

fn addr(s: &str) -> Address {
    Address::parse(Chain::Generic, s).unwrap()
}

fn transfer(t: i64, tx: &str, from: &str, to: &str, amount: Amount) -> Transfer {
    Transfer {
        time: UtcTime(t),
        block: t as u64,
        tx: tx.into(),
        index: 0,
        from: addr(from),
        to: addr(to),
        asset: Asset::parse("uXEM").unwrap(),
        amount,
    }
}

fn account_graph(ts: &[Transfer]) -> Graph {
    let mut b = GraphBuilder::new(Chain::Generic);
    for t in ts {
        b.add_transfer(t);
    }
    b.finish().unwrap()
}

/// A holds 2,000,000 clean, receives 3,000,000 stolen, then 5,000,000 clean, sends
/// 4,000,000 to B, then 4,000,000 to C.
fn a1() -> Graph {
    account_graph(&[
        transfer(1, "x", "X", "A", 2_000_000),
        transfer(2, "theft", "S", "A", 3_000_000),
        transfer(3, "y", "Y", "A", 5_000_000),
        transfer(4, "ab", "A", "B", 4_000_000),
        transfer(5, "ac", "A", "C", 4_000_000),
    ])
}

fn seeds(s: &[&str]) -> TraceSpec {
    TraceSpec {
        seeds: s.iter().map(|a| addr(a)).collect(),
        address_paths: true,
        ..TraceSpec::default()
    }
}

fn holding(r: &ashiato_trace::TraceResult, a: &str) -> Amount {
    r.addresses
        .iter()
        .find(|x| x.address == a)
        .and_then(|x| x.holding)
        .unwrap_or(0)
}

#[test]
fn a1_account_policies() {
    let g = a1();
    // (policy, B, C, A keeps)
    let expected: [(PolicyName, Amount, Amount, Amount); 6] = [
        (PolicyName::Haircut, 1_200_000, 1_200_000, 600_000),
        (PolicyName::Fifo, 2_000_000, 1_000_000, 0),
        (PolicyName::Lifo, 0, 3_000_000, 0),
        (PolicyName::DirtyFirst, 3_000_000, 0, 0),
        (PolicyName::CleanFirst, 0, 1_000_000, 2_000_000),
        // TIHO on an account chain is dirty-first: one recipient has no "highest output".
        (PolicyName::Tiho, 3_000_000, 0, 0),
    ];
    for (policy, b, c, a) in expected {
        let r = trace(&g, &seeds(&["S"]), policy).unwrap();
        assert_eq!(r.taint_of("B", "uXEM"), b, "{policy} B");
        assert_eq!(r.taint_of("C", "uXEM"), c, "{policy} C");
        assert_eq!(holding(&r, "A"), a, "{policy} A keeps");
        assert_eq!(r.taint_of("A", "uXEM"), 3_000_000, "{policy} A received");
        assert_eq!(r.summary.entered, 3_000_000);
        assert_eq!(
            r.summary.accounted(),
            r.summary.entered,
            "{policy} conserves"
        );
    }
}

#[test]
fn a1_poison_taints_everything_after_the_theft() {
    let r = trace(&a1(), &seeds(&["S"]), PolicyName::Poison).unwrap();
    assert_eq!(r.taint_of("A", "uXEM"), 3_000_000);
    assert_eq!(r.taint_of("B", "uXEM"), 4_000_000);
    assert_eq!(r.taint_of("C", "uXEM"), 4_000_000);
    assert_eq!(r.taint_of("X", "uXEM"), 0);
    let b = r.addresses.iter().find(|a| a.address == "B").unwrap();
    assert_eq!(b.hop, Some(2));
    assert_eq!(b.path, vec!["theft".to_string(), "ab".to_string()]);
}

#[test]
fn poison_respects_time() {
    // A pays B before the stolen funds arrive, and C after: only C is tainted.
    let g = account_graph(&[
        transfer(1, "early", "A", "B", 1_000),
        transfer(2, "theft", "S", "A", 5_000),
        transfer(3, "late", "A", "C", 1_000),
    ]);
    let r = trace(&g, &seeds(&["S"]), PolicyName::Poison).unwrap();
    assert_eq!(r.taint_of("B", "uXEM"), 0);
    assert_eq!(r.taint_of("C", "uXEM"), 1_000);
    assert!(r.addresses.iter().all(|a| a.address != "B"));
}

#[test]
fn seed_sends_before_since_are_clean() {
    let g = account_graph(&[
        transfer(10, "before", "S", "A", 7),
        transfer(20, "after", "S", "B", 9),
    ]);
    let mut spec = seeds(&["S"]);
    spec.since = Some(15);
    let r = trace(&g, &spec, PolicyName::Haircut).unwrap();
    assert_eq!(r.taint_of("A", "uXEM"), 0);
    assert_eq!(r.taint_of("B", "uXEM"), 9);
    assert_eq!(r.summary.entered, 9);
}

/// Inputs in order [clean 200, stolen 300, clean 500], outputs [O1 300, O2 600], fee 100.
fn u1() -> Graph {
    let out = |a: &str, v: Amount| TxOut {
        address: Some(addr(a)),
        value: v,
    };
    let inp = |tx: &str, vout: u32, v: Amount| TxIn {
        prev: OutPoint {
            txid: tx.into(),
            vout,
        },
        address: None,
        value: v,
    };
    let tx =
        |txid: &str, block: u64, coinbase: bool, inputs: Vec<TxIn>, outputs: Vec<TxOut>| UtxoTx {
            txid: txid.into(),
            block,
            time: None,
            coinbase,
            inputs,
            outputs,
        };
    let mut b = GraphBuilder::new(Chain::Generic);
    b.add_utxo_tx(
        tx(
            "fund",
            1,
            true,
            vec![],
            vec![out("c1", 200), out("c2", 500)],
        ),
        0,
    );
    b.add_utxo_tx(tx("theft", 2, true, vec![], vec![out("h", 300)]), 1);
    b.add_utxo_tx(
        tx(
            "u1",
            3,
            false,
            vec![
                inp("fund", 0, 200),
                inp("theft", 0, 300),
                inp("fund", 1, 500),
            ],
            vec![out("o1", 300), out("o2", 600)],
        ),
        2,
    );
    b.finish().unwrap()
}

#[test]
fn u1_utxo_policies() {
    let g = u1();
    let spec = TraceSpec {
        seed_txs: vec!["theft".into()],
        address_paths: true,
        ..TraceSpec::default()
    };
    // (policy, O1, O2, fee)
    let expected: [(PolicyName, Amount, Amount, Amount); 7] = [
        (PolicyName::Poison, 300, 600, 100),
        (PolicyName::Haircut, 90, 180, 30),
        (PolicyName::Fifo, 100, 200, 0),
        (PolicyName::Lifo, 0, 300, 0),
        (PolicyName::Tiho, 0, 300, 0),
        (PolicyName::DirtyFirst, 300, 0, 0),
        (PolicyName::CleanFirst, 0, 200, 100),
    ];
    for (policy, o1, o2, fee) in expected {
        let r = trace(&g, &spec, policy).unwrap();
        assert_eq!(r.taint_of("o1", "UNIT"), o1, "{policy} O1");
        assert_eq!(r.taint_of("o2", "UNIT"), o2, "{policy} O2");
        assert_eq!(r.summary.lost_to_fees, fee, "{policy} fee");
        assert_eq!(r.summary.entered, 300);
        if policy.conserves() {
            assert_eq!(r.summary.accounted(), 300, "{policy} conserves");
        }
        if o2 > 0 {
            let a = r.addresses.iter().find(|a| a.address == "o2").unwrap();
            assert_eq!(a.path, vec!["theft".to_string(), "u1".to_string()]);
            assert_eq!(a.hop, Some(2));
        }
    }
}

/// A1 traced backward from C: where did the 4,000,000 C received come from?
/// Reversed, in reverse order: C→A 4M (taint), B→A 4M (clean), then A→Y 5M, A→S 3M,
/// A→X 2M. A's reversed holding is [4M tainted, 4M clean] (arrival order).
/// haircut: Y gets 5M·4/8 = 2.5M, then A holds 3M with 1.5M taint, S gets all 1.5M.
/// fifo: Y takes the oldest 5M (4M tainted + 1M clean), S the remaining 3M clean.
/// lifo: Y takes the newest 5M (4M clean + 1M tainted), S the remaining 3M tainted.
#[test]
fn a1_backward_from_c() {
    let g = a1();
    let mut spec = seeds(&["C"]);
    spec.direction = ashiato_trace::Direction::Backward;
    for (policy, y, s) in [
        (PolicyName::Haircut, 2_500_000, 1_500_000),
        (PolicyName::Fifo, 4_000_000, 0),
        (PolicyName::Lifo, 1_000_000, 3_000_000),
    ] {
        let r = trace(&g, &spec, policy).unwrap();
        assert_eq!(r.taint_of("Y", "uXEM"), y, "{policy} Y");
        assert_eq!(r.taint_of("S", "uXEM"), s, "{policy} S");
        assert_eq!(r.taint_of("X", "uXEM"), 0, "{policy} X");
        assert_eq!(r.taint_of("A", "uXEM"), 4_000_000, "{policy} A");
        assert_eq!(r.summary.entered, 4_000_000);
        assert_eq!(r.summary.accounted(), 4_000_000);
    }
    // Poison backward: every earlier sender into A is a possible origin.
    let r = trace(&g, &spec, PolicyName::Poison).unwrap();
    assert_eq!(r.taint_of("Y", "uXEM"), 5_000_000);
    assert_eq!(r.taint_of("S", "uXEM"), 3_000_000);
    assert_eq!(r.taint_of("X", "uXEM"), 2_000_000);
    assert_eq!(
        r.taint_of("B", "uXEM"),
        0,
        "B received from A after C did: not an origin"
    );
}

/// A1 under haircut, listing movements: each tainted movement with the exact taint it
/// carried (hand-worked above: 3/10 of each 4,000,000), its hop and its path.
#[test]
fn a1_movements_are_listed_with_taint_hop_and_path() {
    use ashiato_trace::Outcome;
    let spec = TraceSpec {
        movements: true,
        ..seeds(&["S"])
    };
    let r = trace(&a1(), &spec, PolicyName::Haircut).unwrap();
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Amount,
        Amount,
        u32,
        Outcome,
        Vec<&'a str>,
    );
    let got: Vec<Row> = r
        .movements
        .iter()
        .map(|m| {
            (
                m.tx.as_str(),
                m.from.as_str(),
                m.to.as_str(),
                m.value,
                m.taint,
                m.hop,
                m.outcome,
                m.path.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "theft",
                "S",
                "A",
                3_000_000,
                3_000_000,
                1,
                Outcome::Held,
                vec!["theft"]
            ),
            (
                "ab",
                "A",
                "B",
                4_000_000,
                1_200_000,
                2,
                Outcome::Held,
                vec!["theft", "ab"]
            ),
            (
                "ac",
                "A",
                "C",
                4_000_000,
                1_200_000,
                2,
                Outcome::Held,
                vec!["theft", "ac"]
            ),
        ]
    );
    assert_eq!(r.movements[1].block, 4);
    assert_eq!(r.movements[1].time, 4);
    // Off by default: full-graph traces pay nothing for it.
    assert!(trace(&a1(), &seeds(&["S"]), PolicyName::Haircut)
        .unwrap()
        .movements
        .is_empty());
}

/// The dust-spray rule: T (the thief, holding taint) sends 100 to P, an address with
/// history of its own, and 100 to F, a fresh address; then 900 more to P in two pieces.
/// P is a bystander for the first 100 (spray), and again for the next 400 (500 in total,
/// the limit), but the third piece would take it over the limit and makes it a holder.
/// F has no history: it is a holder. P's later payment to Q carries no taint while P is
/// only sprayed upon.
#[test]
fn spray_onto_accounts_with_history_is_dust_not_a_new_holder() {
    use ashiato_trace::Outcome;
    let g = account_graph(&[
        transfer(1, "own", "X", "P", 10_000),
        transfer(2, "theft", "S", "T", 1_000_000),
        transfer(3, "s1", "T", "P", 100),
        transfer(4, "s2", "T", "F", 100),
        transfer(5, "p1", "P", "Q", 5_000),
        transfer(6, "s3", "T", "P", 400),
        transfer(7, "s4", "T", "P", 500),
    ]);
    let spec = TraceSpec {
        movements: true,
        spray_max: 500,
        ..seeds(&["S"])
    };
    for policy in [PolicyName::Poison, PolicyName::Haircut, PolicyName::Fifo] {
        let r = trace(&g, &spec, policy).unwrap();
        let outcomes: Vec<(&str, Outcome)> = r
            .movements
            .iter()
            .map(|m| (m.tx.as_str(), m.outcome))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("theft", Outcome::Held),
                ("s1", Outcome::Spray),
                ("s2", Outcome::Held),
                ("s3", Outcome::Spray),
                ("s4", Outcome::Held),
            ],
            "{policy}"
        );
        assert_eq!(
            r.taint_of("Q", "uXEM"),
            0,
            "{policy}: a sprayed bystander's payment is clean"
        );
        assert_eq!(
            r.taint_of("P", "uXEM"),
            500,
            "{policy}: P a holder from s4 on"
        );
        let p = r.addresses.iter().find(|a| a.address == "P").unwrap();
        assert_eq!((p.dust, p.dust_transfers), (500, 2), "{policy}");
        assert_eq!(r.summary.dust, 500, "{policy}");
    }
    // Without the rule every piece makes a holder, and P's payment to Q carries taint.
    let r = trace(&g, &seeds(&["S"]), PolicyName::Poison).unwrap();
    assert_eq!(r.taint_of("Q", "uXEM"), 5_000);
}
