//! Invariants on random graphs: every conserving policy accounts for every unit of taint
//! exactly, and no policy gives an address more taint than the value it received.

use std::collections::HashMap;

use ashiato_model::{
    Address, Amount, Asset, Chain, OutPoint, Transfer, TxIn, TxOut, UtcTime, UtxoTx,
};
use ashiato_trace::{trace, GraphBuilder, Outcome, PolicyName, TraceSpec};
use proptest::prelude::*;

fn addr(i: u8) -> Address {
    Address::parse(Chain::Generic, &format!("a{i}")).unwrap()
}

/// (from, to, amount, asset) with accounts 0..6; account 0 is the seed.
fn transfers() -> impl Strategy<Value = Vec<(u8, u8, u64, bool)>> {
    prop::collection::vec(
        (0u8..6, 0u8..6, 1u64..1_000_000_000_000, any::<bool>()),
        1..40,
    )
}

fn limits() -> impl Strategy<Value = (Option<u32>, Amount, bool, Amount)> {
    (
        prop::option::of(1u32..4),
        prop_oneof![Just(0u128), 1u128..10_000_000_000],
        any::<bool>(),
        // The dust-spray rule off, or on with a limit.
        prop_oneof![Just(0u128), 1u128..50_000_000_000],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn account_taint_is_conserved_and_bounded(ts in transfers(), (max_hops, dust, exit, spray_max) in limits()) {
        let mut b = GraphBuilder::new(Chain::Generic);
        let mut received: HashMap<(String, String), Amount> = HashMap::new();
        for (i, &(f, t, amount, second_asset)) in ts.iter().enumerate() {
            let asset = if second_asset { "B" } else { "A" };
            b.add_transfer(&Transfer {
                time: UtcTime(i as i64),
                block: i as u64,
                tx: format!("t{i}"),
                index: 0,
                from: addr(f),
                to: addr(t),
                asset: Asset::parse(asset).unwrap(),
                amount: amount as Amount,
            });
            *received.entry((format!("a{t}"), asset.into())).or_default() += amount as Amount;
        }
        let g = b.finish().unwrap();
        prop_assume!(g.address_id(&addr(0)).is_some());
        let spec = TraceSpec {
            seeds: vec![addr(0)],
            max_hops,
            dust,
            spray_max,
            movements: true,
            stop_at: if exit { vec![(addr(5), "exchange".into())] } else { vec![] },
            ..TraceSpec::default()
        };
        for p in PolicyName::ALL {
            let r = trace(&g, &spec, p).unwrap();
            let s = &r.summary;
            // The movement list accounts for the summary: what went to exits and to dust.
            let moved = |o: &[Outcome]| r.movements.iter().filter(|m| o.contains(&m.outcome)).map(|m| m.taint).sum::<Amount>();
            prop_assert_eq!(moved(&[Outcome::Exit]), s.exited, "{} exits", p);
            prop_assert_eq!(moved(&[Outcome::Dust, Outcome::Spray]), s.dust, "{} dust", p);
            prop_assert_eq!(moved(&[Outcome::BeyondHops]), s.cut_by_hops, "{} hops", p);
            if p.conserves() {
                prop_assert_eq!(s.accounted(), s.entered, "{} loses or creates taint: {:?}", p, s);
            }
            for a in &r.addresses {
                let got = received[&(a.address.clone(), a.asset.clone())];
                prop_assert!(a.taint + a.dust <= got, "{} gives {} more taint than it received", p, a.address);
                if let Some(h) = a.holding {
                    prop_assert!(h <= a.taint, "{} holds more taint than it received", a.address);
                }
            }
            for e in &r.exits {
                prop_assert!(e.amount <= received[&(e.address.clone(), e.asset.clone())]);
            }
        }
    }

    #[test]
    fn utxo_taint_is_conserved(
        txs in prop::collection::vec(
            (prop::collection::vec(0usize..1000, 0..4), prop::collection::vec(1u64..5_000_000_000, 1..4), 0u64..1000, 0u8..5),
            1..25),
        (max_hops, dust, exit, spray_max) in limits(),
    ) {
        // Coins are spent at most once: pick inputs from the unspent outputs so far.
        let mut unspent: Vec<(String, u32, Amount)> = Vec::new();
        let mut b = GraphBuilder::new(Chain::Generic);
        let mut received: HashMap<String, Amount> = HashMap::new();
        for (i, (picks, outs, fee, owner)) in txs.iter().enumerate() {
            let mut inputs = Vec::new();
            for &p in picks {
                if unspent.is_empty() { break; }
                let (txid, vout, value) = unspent.swap_remove(p % unspent.len());
                inputs.push(TxIn { prev: OutPoint { txid, vout }, address: None, value });
            }
            let coinbase = inputs.is_empty();
            let in_sum: Amount = inputs.iter().map(|i| i.value).sum();
            // Outputs scaled to fit the inputs minus a fee (coinbases create value).
            let want: Amount = outs.iter().map(|&o| o as Amount).sum::<Amount>() + *fee as Amount;
            let outputs: Vec<TxOut> = outs.iter().enumerate().map(|(j, &o)| {
                let v = if coinbase { o as Amount } else { (o as Amount) * in_sum / want };
                let a = addr((*owner + j as u8) % 6);
                *received.entry(a.to_string()).or_default() += v;
                TxOut { address: Some(a), value: v }
            }).collect();
            let txid = format!("t{i}");
            for (j, o) in outputs.iter().enumerate() {
                unspent.push((txid.clone(), j as u32, o.value));
            }
            b.add_utxo_tx(UtxoTx { txid, block: i as u64, time: None, coinbase, inputs, outputs }, i as u64);
        }
        let g = b.finish().unwrap();
        prop_assume!(g.address_id(&addr(0)).is_some());
        let spec = TraceSpec {
            seeds: vec![addr(0)],
            max_hops,
            dust,
            spray_max,
            movements: true,
            stop_at: if exit { vec![(addr(5), "exchange".into())] } else { vec![] },
            ..TraceSpec::default()
        };
        for p in PolicyName::ALL {
            let r = trace(&g, &spec, p).unwrap();
            let s = &r.summary;
            // The movement list accounts for the summary: what went to exits and to dust.
            let moved = |o: &[Outcome]| r.movements.iter().filter(|m| o.contains(&m.outcome)).map(|m| m.taint).sum::<Amount>();
            prop_assert_eq!(moved(&[Outcome::Exit]), s.exited, "{} exits", p);
            prop_assert_eq!(moved(&[Outcome::Dust, Outcome::Spray]), s.dust, "{} dust", p);
            prop_assert_eq!(moved(&[Outcome::BeyondHops]), s.cut_by_hops, "{} hops", p);
            if p.conserves() {
                prop_assert_eq!(s.accounted(), s.entered, "{} loses or creates taint: {:?}", p, s);
            }
            for a in &r.addresses {
                prop_assert!(a.taint + a.dust <= received[&a.address], "{} over-taints {}", p, a.address);
            }
        }
    }

    /// Backward traces obey the same accounting on the reversed graph.
    #[test]
    fn backward_account_conserves(ts in transfers()) {
        let mut b = GraphBuilder::new(Chain::Generic);
        for (i, &(f, t, amount, _)) in ts.iter().enumerate() {
            b.add_transfer(&Transfer {
                time: UtcTime(i as i64), block: i as u64, tx: format!("t{i}"), index: 0,
                from: addr(f), to: addr(t), asset: Asset::parse("A").unwrap(), amount: amount as Amount,
            });
        }
        let g = b.finish().unwrap();
        prop_assume!(g.address_id(&addr(0)).is_some());
        let spec = TraceSpec { seeds: vec![addr(0)], direction: ashiato_trace::Direction::Backward, ..TraceSpec::default() };
        for p in [PolicyName::Haircut, PolicyName::Fifo, PolicyName::Lifo] {
            let r = trace(&g, &spec, p).unwrap();
            prop_assert_eq!(r.summary.accounted(), r.summary.entered);
        }
    }
}

/// (from, to, amount, asset, block step) over twelve accounts: some never meet the seed.
fn wider_transfers() -> impl Strategy<Value = Vec<(u8, u8, u64, bool, bool)>> {
    prop::collection::vec(
        (
            0u8..12,
            0u8..12,
            1u64..1_000_000_000_000,
            any::<bool>(),
            any::<bool>(),
        ),
        1..80,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// A walk over the holder index visits only what taint reaches, replaying clean
    /// histories on demand; it must give exactly the full pass's result, field for field.
    #[test]
    fn sparse_walk_equals_full_pass(
        ts in wider_transfers(),
        (max_hops, dust, exit, _) in limits(),
        two_seeds in any::<bool>(),
        since in prop::option::of(0i64..40),
        every in 1usize..5,
    ) {
        let mut b = GraphBuilder::new(Chain::Generic);
        let mut block = 0u64;
        for (i, &(f, t, amount, second_asset, next_block)) in ts.iter().enumerate() {
            block += next_block as u64;
            b.add_transfer(&Transfer {
                time: UtcTime(i as i64),
                block,
                tx: format!("t{}", block * 100 + i as u64),
                index: 0,
                from: addr(f),
                to: addr(t),
                asset: Asset::parse(if second_asset { "B" } else { "A" }).unwrap(),
                amount: amount as Amount,
            });
        }
        let full = b.finish().unwrap();
        prop_assume!(full.address_id(&addr(0)).is_some());
        let indexed = full.clone();
        prop_assert!(indexed.build_holder_index_every(every).is_some());
        let mut seeds = vec![addr(0)];
        if two_seeds && full.address_id(&addr(1)).is_some() {
            seeds.push(addr(1));
        }
        let spec = TraceSpec {
            seeds,
            since,
            max_hops,
            dust,
            movements: true,
            address_paths: true,
            stop_at: if exit { vec![(addr(5), "exchange".into()), (addr(0), "seed too".into())] } else { vec![] },
            ..TraceSpec::default()
        };
        for p in PolicyName::ALL {
            let a = serde_json::to_value(trace(&full, &spec, p).unwrap()).unwrap();
            let b = serde_json::to_value(trace(&indexed, &spec, p).unwrap()).unwrap();
            prop_assert_eq!(a, b, "{}", p);
        }
    }
}
