//! Deposit-address clustering for account chains (Victor, "Address clustering heuristics
//! for Ethereum", FC 2020). An exchange gives each customer a deposit address and sweeps
//! it into its hot wallet; so an address that
//!
//! 1. is not itself a labelled exchange address,
//! 2. sends at least `min_share_pct` % of what it sends of an asset to one exchange's
//!    addresses (fees aside, which go to the miner and the burn address), and
//! 3. received that asset from someone other than the exchange within `window` seconds
//!    before a sweep,
//!
//! is that exchange's deposit address for one customer, and every address that paid
//! into it within the window of a sweep is that customer. Customers sharing a deposit
//! address, or paying into several, are one cluster. A deposit address with more than
//! `max_depositors` payers is reported but not clustered (a shared or mislabelled one).
//!
//! Each finding keeps its evidence: the deposit and sweep transactions with amounts and
//! the delay, so an analyst can check it on a block explorer.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ashiato_model::{Address, Amount, Asset, Chain, Label, LabelKind, Transfer};

use crate::convert::BURN;

#[derive(Debug, Clone)]
pub struct DepositOptions {
    /// Seconds between a payment into the address and the sweep it is part of.
    pub window: i64,
    pub min_share_pct: u8,
    pub max_depositors: usize,
}

impl Default for DepositOptions {
    fn default() -> Self {
        DepositOptions {
            window: 86_400,
            min_share_pct: 90,
            max_depositors: 50,
        }
    }
}

/// One deposit into the address followed by a sweep to the exchange.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    pub depositor: Address,
    pub deposit_tx: String,
    pub deposited: Amount,
    pub sweep_tx: String,
    pub swept: Amount,
    pub asset: Asset,
    pub delay_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DepositAddress {
    pub address: Address,
    pub exchange: String,
    /// The exchange addresses it sweeps to.
    pub sweeps_to: Vec<Address>,
    pub depositors: Vec<Address>,
    /// More payers than `max_depositors`: not used for clustering.
    pub crowded: bool,
    pub evidence: Vec<Evidence>,
}

/// One exchange customer: the deposit addresses and the addresses that paid into them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Customer {
    pub exchange: String,
    pub deposit_addresses: Vec<Address>,
    pub depositors: Vec<Address>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Findings {
    pub deposits: Vec<DepositAddress>,
    pub customers: Vec<Customer>,
}

/// Finds deposit addresses of the `exchanges` (address → exchange name) in `transfers`
/// (chain order) and clusters their customers.
pub fn find(
    transfers: &[Transfer],
    exchanges: &HashMap<Address, String>,
    opts: &DepositOptions,
) -> Findings {
    let burn = Address::from_canonical(BURN);
    // (position in chain order, transfer)
    let mut out_of: HashMap<&Address, Vec<(usize, &Transfer)>> = HashMap::new();
    let mut into: HashMap<&Address, Vec<(usize, &Transfer)>> = HashMap::new();
    for (i, t) in transfers.iter().enumerate() {
        if t.amount > 0 && t.from != t.to {
            out_of.entry(&t.from).or_default().push((i, t));
            into.entry(&t.to).or_default().push((i, t));
        }
    }
    let mut deposits = Vec::new();
    let mut candidates: Vec<&&Address> = out_of.keys().collect();
    candidates.sort();
    for d in candidates {
        let d: &Address = d;
        if exchanges.contains_key(d) || *d == burn {
            continue;
        }
        let outs = &out_of[d];
        // Per (exchange, asset): value swept; per asset: value sent at all.
        let mut sent: HashMap<&Asset, Amount> = HashMap::new();
        let mut swept: BTreeMap<(&str, &Asset), Amount> = BTreeMap::new();
        for (_, t) in outs {
            *sent.entry(&t.asset).or_default() += t.amount;
            if let Some(x) = exchanges.get(&t.to) {
                *swept.entry((x.as_str(), &t.asset)).or_default() += t.amount;
            }
        }
        let share_ok = |(_, asset): &(&str, &Asset), v: &Amount| {
            *v * 100 >= sent[asset] * Amount::from(opts.min_share_pct)
        };
        // The exchange it sweeps most to, among those passing the share rule.
        let Some((exchange, _)) = swept
            .iter()
            .filter(|(k, v)| share_ok(k, v))
            .max_by_key(|(_, v)| **v)
            .map(|((x, _), v)| (x.to_string(), *v))
        else {
            continue;
        };
        let mut evidence = Vec::new();
        let mut sweeps_to = BTreeSet::new();
        for (si, s) in outs
            .iter()
            .filter(|(_, t)| exchanges.get(&t.to) == Some(&exchange))
        {
            if !share_ok(
                &(exchange.as_str(), &s.asset),
                &swept[&(exchange.as_str(), &s.asset)],
            ) {
                continue;
            }
            for (pi, p) in into.get(d).map(Vec::as_slice).unwrap_or_default() {
                let delay = s.time.0 - p.time.0;
                if p.asset == s.asset
                    && pi < si
                    && delay <= opts.window
                    && !exchanges.contains_key(&p.from)
                {
                    sweeps_to.insert(s.to.clone());
                    evidence.push(Evidence {
                        depositor: p.from.clone(),
                        deposit_tx: p.tx.clone(),
                        deposited: p.amount,
                        sweep_tx: s.tx.clone(),
                        swept: s.amount,
                        asset: s.asset.clone(),
                        delay_secs: delay,
                    });
                }
            }
        }
        if evidence.is_empty() {
            continue;
        }
        let depositors: BTreeSet<Address> = evidence.iter().map(|e| e.depositor.clone()).collect();
        deposits.push(DepositAddress {
            address: d.clone(),
            exchange,
            sweeps_to: sweeps_to.into_iter().collect(),
            crowded: depositors.len() > opts.max_depositors,
            depositors: depositors.into_iter().collect(),
            evidence,
        });
    }
    let customers = cluster(&deposits);
    Findings {
        deposits,
        customers,
    }
}

fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Union-find over (deposit address, depositor) pairs, per exchange.
fn cluster(deposits: &[DepositAddress]) -> Vec<Customer> {
    // Node i: (exchange, address, is a deposit address).
    let mut nodes: Vec<(&str, &Address, bool)> = Vec::new();
    let mut id: HashMap<(&str, &Address), usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    for d in deposits.iter().filter(|d| !d.crowded) {
        let x = d.exchange.as_str();
        let mut ids = Vec::with_capacity(d.depositors.len() + 1);
        for (a, dep) in
            std::iter::once((&d.address, true)).chain(d.depositors.iter().map(|u| (u, false)))
        {
            let i = *id.entry((x, a)).or_insert_with(|| {
                nodes.push((x, a, dep));
                parent.push(parent.len());
                parent.len() - 1
            });
            ids.push(i);
        }
        for &i in &ids[1..] {
            let (r1, r2) = (root(&mut parent, ids[0]), root(&mut parent, i));
            parent[r1] = r2;
        }
    }
    let mut groups: BTreeMap<usize, (String, BTreeSet<Address>, BTreeSet<Address>)> =
        BTreeMap::new();
    for (i, (x, a, dep)) in nodes.iter().enumerate() {
        let r = root(&mut parent, i);
        let g = groups
            .entry(r)
            .or_insert_with(|| (x.to_string(), BTreeSet::new(), BTreeSet::new()));
        if *dep {
            g.1.insert((*a).clone());
        } else {
            g.2.insert((*a).clone());
        }
    }
    let mut out: Vec<Customer> = groups
        .into_values()
        .map(|(exchange, d, u)| Customer {
            exchange,
            deposit_addresses: d.into_iter().collect(),
            depositors: u.into_iter().collect(),
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.exchange, &a.deposit_addresses).cmp(&(&b.exchange, &b.deposit_addresses))
    });
    out
}

/// Labels for the deposit addresses found: the exchange's name, so that a trace stops
/// there and reports the exit. A heuristic, hence the low confidence.
pub fn labels(chain: Chain, f: &Findings, window: i64) -> Vec<Label> {
    f.deposits
        .iter()
        .map(|d| Label {
            chain,
            address: d.address.clone(),
            name: format!("{} (deposit address)", d.exchange),
            kind: LabelKind::Exchange,
            source: format!(
                "heuristic:deposit-address (sweeps to {} within {window} s; {} deposits)",
                d.sweeps_to
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                d.evidence.len()
            ),
            confidence: 40,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ashiato_model::UtcTime;

    fn a(n: u8) -> Address {
        Address::from_canonical(&format!("0x{}", hex::encode([n; 20])))
    }

    fn t(time: i64, tx: &str, from: u8, to: u8, amount: u128) -> Transfer {
        Transfer {
            time: UtcTime(time),
            block: time as u64,
            tx: tx.into(),
            index: 0,
            from: a(from),
            to: a(to),
            asset: Asset::parse("ETH").unwrap(),
            amount,
        }
    }

    const HOT: u8 = 0xee;
    const HOT2: u8 = 0xef;
    const DAY: i64 = 86_400;

    #[test]
    fn deposit_addresses_and_their_customers_by_hand() {
        let (u1, u2, u3, u4, d1, d2, d3, p, q) = (1, 2, 3, 4, 0xd1, 0xd2, 0xd3, 0x50, 0x51);
        let ts = vec![
            // D1: u1 pays 100, swept 10 min later; u2 pays 50, swept; the sweep fee
            // (tip to the miner) is 0.1 % of what D1 sends: the share rule still holds.
            t(0, "a", u1, d1, 100),
            t(600, "b", d1, HOT, 100),
            t(601, "b", d1, 0x00, 0),
            t(1_000, "c", u2, d1, 50),
            t(1_200, "d", d1, HOT2, 49),
            t(1_200, "d", d1, 0x99, 1),
            // D2: the sweep comes 10 days later, outside the window.
            t(0, "e", u3, d2, 10),
            t(10 * DAY, "f", d2, HOT, 10),
            // P: sends only 30 % of its value to the exchange: not a deposit address.
            t(0, "g", u4, p, 100),
            t(60, "h", p, HOT, 30),
            t(61, "i", p, q, 70),
            // D3: u1 again, with another deposit address: joins u1's cluster.
            t(2_000, "j", u1, d3, 5),
            t(2_100, "k", d3, HOT, 5),
            // A withdrawal from the exchange into D3 is not a deposit.
            t(2_050, "l", HOT, d3, 7),
        ];
        let ex: HashMap<Address, String> = [
            (a(HOT), "Binance".to_owned()),
            (a(HOT2), "Binance".to_owned()),
        ]
        .into();
        let f = find(&ts, &ex, &DepositOptions::default());
        let found: Vec<(&Address, Vec<&Address>, usize)> = f
            .deposits
            .iter()
            .map(|d| (&d.address, d.depositors.iter().collect(), d.evidence.len()))
            .collect();
        // D1: 100 + 49 of 150 sent = 99.3 % to Binance; D3: 5 of 5 swept (the 7 it got
        // from the exchange is not sent on).
        assert_eq!(
            found,
            vec![(&a(d1), vec![&a(u1), &a(u2)], 3), (&a(d3), vec![&a(u1)], 1)]
        );
        let d1e = &f.deposits[0].evidence;
        // u1's 100 precedes both sweeps of D1; u2's 50 only the second.
        assert_eq!(
            d1e.iter()
                .map(|e| (e.deposit_tx.as_str(), e.sweep_tx.as_str(), e.delay_secs))
                .collect::<Vec<_>>(),
            vec![("a", "b", 600), ("a", "d", 1_200), ("c", "d", 200)]
        );
        assert_eq!(f.deposits[0].sweeps_to, vec![a(HOT), a(HOT2)]);
        assert_eq!(
            f.customers,
            vec![Customer {
                exchange: "Binance".into(),
                deposit_addresses: vec![a(d1), a(d3)],
                depositors: vec![a(u1), a(u2)],
            }]
        );
        let l = labels(Chain::Ethereum, &f, DAY);
        assert_eq!(l[0].name, "Binance (deposit address)");
        assert_eq!(l[0].kind, LabelKind::Exchange);

        // A crowded deposit address is reported and not clustered.
        let opts = DepositOptions {
            max_depositors: 1,
            ..DepositOptions::default()
        };
        let f = find(&ts, &ex, &opts);
        assert!(f.deposits[0].crowded);
        assert_eq!(f.customers.len(), 1);
        assert_eq!(f.customers[0].deposit_addresses, vec![a(d3)]);
    }
}
