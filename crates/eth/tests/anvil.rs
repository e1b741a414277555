//! Against a real Ethereum node: anvil (Foundry), started on 127.0.0.1 by the test and
//! installed from npm when missing.
//!
//! The LI.FI exploit case of the MFTracer data set (July–September 2024: 1 source, 135
//! edges, 93 addresses, 33 terminals) is REPLAYED on the node with its real addresses
//! and block times, as real ETH and ERC-20 transactions with test amounts: each edge's
//! USD value in cents becomes 10^13 wei (ETH) or 10^4 units of a 6-decimal test token.
//! Which edges are ETH and which are the token is our choice (the data gives USD only):
//! the source's out-edges alternate, and every other address forwards the asset it first
//! received. The case's two two-edge transactions are chains through a contract
//! (A → B → C); when they move ETH, B is given forwarding code (`anvil_setCode`) and A's
//! one call makes B pay C: an internal value transfer, seen only in the call trace. Gas money (1 ETH per sender, before the theft) and any shortfall of an address
//! (the real case's funds from outside the listed flow) come from a clean dev account,
//! token shortfalls from a clean mint. So the chain is real, the flow has the case's
//! shape, and the amounts are ours.
//!
//! What the node then holds is synced over JSON-RPC and checked three ways: the stored
//! transfers equal, row for row, the plan the test made from what it sent and the node's
//! receipts; every address's balance from those transfers equals the node's
//! `eth_getBalance`/`balanceOf`; and traces from the source reach every terminal, taint
//! nothing outside the flow under poison, and agree to the wei with the independent
//! Python reference tracer (tools/reference_trace.py) under haircut and FIFO.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use ashiato_eth::devnet::{
    erc20_mint, erc20_runtime, erc20_transfer, initcode, split, splitter_runtime, Anvil,
};
use ashiato_eth::json::{Receipt, H160, Q};
use ashiato_eth::rpc::{ClientOptions, EthClient, TraceMode};
use ashiato_eth::sync::{sync, SyncOptions};
use ashiato_model::{Address, Chain, Transfer};
use ashiato_store::Store;
use ashiato_trace::{PolicyName, TraceSpec};
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn h160(a: &Address) -> H160 {
    serde_json::from_value(json!(a.as_str())).unwrap()
}

/// A planned transfer row, in the order the converter must produce them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    block: u64,
    time: i64,
    tx: String,
    from: String,
    to: String,
    asset: String,
    amount: u128,
}

struct Replay {
    node: Anvil,
    rows: Vec<Row>,
    last_time: u64,
    token: H160,
    /// Accounts given forwarding code for the case's A → B → C transactions.
    forwarders: Vec<H160>,
    funder: H160,
}

const ZERO: &str = "0x0000000000000000000000000000000000000000";

impl Replay {
    fn next_time(&mut self, at_least: u64) {
        self.last_time = at_least.max(self.last_time + 1);
        self.node.set_next_time(self.last_time).unwrap();
    }

    /// Sends and records the rows the converter should make of it: `moves` (native value,
    /// internal transfers, token transfers, in that order), then the fee parts.
    fn send(
        &mut self,
        from: &H160,
        to: Option<&H160>,
        value: u128,
        data: &[u8],
        at: u64,
        moves: Vec<(String, String, String, u128)>,
    ) -> Receipt {
        self.next_time(at);
        let r = self.node.send(from, to, value, data).unwrap();
        let block = r.block_number.unwrap().0 as u64;
        let b: serde_json::Value = self
            .node
            .call(
                "eth_getBlockByNumber",
                json!([format!("{block:#x}"), false]),
            )
            .unwrap();
        let base: Q = serde_json::from_value(b["baseFeePerGas"].clone()).unwrap();
        let miner = b["miner"].as_str().unwrap().to_owned();
        let gas = r.gas_used.0;
        let price = r.effective_gas_price.unwrap().0;
        let tx = r.transaction_hash.to_string();
        let mut push = |from: String, to: String, asset: &str, amount: u128| {
            if amount > 0 {
                self.rows.push(Row {
                    block,
                    time: self.last_time as i64,
                    tx: tx.clone(),
                    from,
                    to,
                    asset: asset.to_owned(),
                    amount,
                });
            }
        };
        for (f, t, asset, v) in moves {
            push(f, t, &asset, v);
        }
        push(from.to_string(), miner, "ETH", gas * (price - base.0));
        push(from.to_string(), ZERO.into(), "ETH", gas * base.0);
        r
    }

    fn pay_eth(&mut self, from: &H160, to: &H160, v: u128, at: u64) {
        let m = vec![(from.to_string(), to.to_string(), "ETH".into(), v)];
        self.send(from, Some(to), v, &[], at, m);
    }

    fn pay_token(&mut self, from: &H160, to: &H160, v: u128, at: u64) {
        let asset = format!("erc20:{}", self.token);
        let m = vec![(from.to_string(), to.to_string(), asset, v)];
        let token = self.token;
        self.send(from, Some(&token), 0, &erc20_transfer(to, v), at, m);
    }

    fn mint(&mut self, to: &H160, v: u128, at: u64) {
        let asset = format!("erc20:{}", self.token);
        let m = vec![(ZERO.into(), to.to_string(), asset, v)];
        let (token, funder) = (self.token, self.funder);
        self.send(&funder, Some(&token), 0, &erc20_mint(to, v), at, m);
    }
}

const WEI_PER_CENT: u128 = 10_000_000_000_000;
const UNITS_PER_CENT: u128 = 10_000;
const GAS_MONEY: u128 = 1_000_000_000_000_000_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Eth,
    Token,
}

/// (from, to, cents)
type Edge = (Address, Address, u128);

struct Case {
    source: Address,
    terminals: Vec<Address>,
    /// (time, edges of one transaction: (from, to, cents))
    txs: Vec<(u64, Vec<Edge>)>,
}

fn lifi() -> Case {
    let c =
        ashiato_ingest::mftracer::read_case(&repo().join("data/eth-mftracer-cases/LIFI")).unwrap();
    let mut t = c.transfers.clone();
    t.sort_by(|a, b| (a.time, a.block, &a.tx, a.index).cmp(&(b.time, b.block, &b.tx, b.index)));
    // The data set gives no order within a transaction: its two two-edge transactions
    // are chains through a contract (A → B → C), listed C-side first. Put each
    // payment into an account before that account's payment out.
    let mut ordered: Vec<Transfer> = Vec::with_capacity(t.len());
    for group in t.chunk_by(|a, b| a.tx == b.tx) {
        let mut g: Vec<Transfer> = group.to_vec();
        g.sort_by_key(|x| group.iter().any(|o| o.to == x.from));
        ordered.extend(g);
    }
    let t = ordered;
    let mut txs: Vec<(u64, Vec<Edge>)> = Vec::new();
    let mut last_tx = String::new();
    for x in &t {
        if x.tx == last_tx {
            txs.last_mut()
                .unwrap()
                .1
                .push((x.from.clone(), x.to.clone(), x.amount));
        } else {
            txs.push((
                x.time.0 as u64,
                vec![(x.from.clone(), x.to.clone(), x.amount)],
            ));
            last_tx = x.tx.clone();
        }
    }
    assert_eq!(t.len(), 135);
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.terminals.len(), 33);
    Case {
        source: c.sources[0].clone(),
        terminals: c.terminals.clone(),
        txs,
    }
}

/// Replays the case; returns the replay (node, plan rows) and the edge kinds.
fn replay(case: &Case) -> Replay {
    let first = case.txs[0].0;
    let node = Anvil::start(first - 86_400).unwrap();
    let (funder, victim) = (node.accounts[0], node.accounts[1]);
    let mut r = Replay {
        node,
        rows: Vec::new(),
        last_time: first - 86_400,
        token: funder,
        forwarders: Vec::new(),
        funder,
    };
    let at = r.last_time;
    let rc = r.send(&funder, None, 0, &initcode(&erc20_runtime()), at, vec![]);
    r.token = rc.contract_address.unwrap();

    // Asset of each edge: the source's out-edges alternate; others forward what they
    // first received.
    let src = case.source.clone();
    let mut kind_of: HashMap<Address, Kind> = HashMap::new();
    let mut kinds: Vec<Kind> = Vec::new();
    let mut n_src = 0;
    for (_, edges) in &case.txs {
        let from = &edges[0].0;
        let k = if *from == src {
            n_src += 1;
            if n_src % 2 == 1 {
                Kind::Eth
            } else {
                Kind::Token
            }
        } else {
            *kind_of.get(from).unwrap_or(&Kind::Eth)
        };
        for (_, to, _) in edges {
            kind_of.entry(to.clone()).or_insert(k);
        }
        kinds.push(k);
    }
    // Gas money for every sender but the source, before the theft.
    let senders: BTreeSet<Address> = case
        .txs
        .iter()
        .flat_map(|(_, e)| e.iter().map(|x| x.0.clone()))
        .filter(|a| *a != src)
        .collect();
    for s in &senders {
        r.pay_eth(&funder, &h160(s), GAS_MONEY, at);
    }
    // The theft: what the source sends of each asset, plus its gas.
    let (mut eth_out, mut tok_out) = (0u128, 0u128);
    for ((_, edges), k) in case.txs.iter().zip(&kinds) {
        if edges[0].0 == src {
            let c: u128 = edges.iter().filter(|e| e.0 == src).map(|e| e.2).sum();
            match k {
                Kind::Eth => eth_out += c * WEI_PER_CENT,
                Kind::Token => tok_out += c * UNITS_PER_CENT,
            }
        }
    }
    let s = h160(&src);
    r.mint(&victim, tok_out, at);
    r.pay_eth(&victim, &s, eth_out + GAS_MONEY, first - 3_600);
    r.pay_token(&victim, &s, tok_out, first - 3_600);

    for ((time, edges), k) in case.txs.iter().zip(&kinds) {
        let from = h160(&edges[0].0);
        match k {
            Kind::Eth => {
                let need = edges[0].2 * WEI_PER_CENT + GAS_MONEY / 10;
                let have = r.node.balance(&from).unwrap();
                if have < need {
                    r.pay_eth(&funder, &from, need - have, *time - 1);
                }
                let first = edges[0].2 * WEI_PER_CENT;
                if edges.len() == 1 {
                    r.pay_eth(&from, &h160(&edges[0].1), first, *time);
                } else {
                    // A → B → C in one transaction: B becomes a forwarding contract (the
                    // splitter's code) and A's call makes it pay C: an internal transfer.
                    let via = h160(&edges[0].1);
                    assert!(edges[1..].iter().all(|e| e.0 == edges[0].1));
                    r.node
                        .call_null(
                            "anvil_setCode",
                            json!([
                                via.to_string(),
                                format!("0x{}", hex::encode(splitter_runtime()))
                            ]),
                        )
                        .unwrap();
                    let pays: Vec<(H160, u128)> = edges[1..]
                        .iter()
                        .map(|e| (h160(&e.1), e.2 * WEI_PER_CENT))
                        .collect();
                    r.forwarders.push(via);
                    let mut moves =
                        vec![(from.to_string(), via.to_string(), "ETH".to_owned(), first)];
                    for (to, v) in &pays {
                        moves.push((via.to_string(), to.to_string(), "ETH".into(), *v));
                    }
                    r.send(&from, Some(&via), first, &split(&pays), *time, moves);
                }
            }
            Kind::Token => {
                let token = r.token;
                // A chain of token payments becomes one transaction per hop.
                for e in edges {
                    let (from, v) = (h160(&e.0), e.2 * UNITS_PER_CENT);
                    let have = r.node.token_balance(&token, &from).unwrap();
                    if have < v {
                        r.mint(&from, v - have, *time - 1);
                    }
                    r.pay_token(&from, &h160(&e.1), v, *time);
                }
            }
        }
    }
    r
}

fn to_rows(ts: &[Transfer]) -> Vec<Row> {
    ts.iter()
        .map(|t| Row {
            block: t.block,
            time: t.time.0,
            tx: t.tx.clone(),
            from: t.from.to_string(),
            to: t.to.to_string(),
            asset: t.asset.to_string(),
            amount: t.amount,
        })
        .collect()
}

fn reference(plan_csv: &Path, seed: &str, policy: &str) -> BTreeMap<(String, String), u128> {
    let out = std::process::Command::new("python3")
        .arg(repo().join("tools/reference_trace.py"))
        .args(["csv"])
        .arg(plan_csv)
        .args(["--seed", seed, "--policy", policy])
        .output()
        .expect("python3 runs the reference tracer");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Amounts above u64 must be read from the number's text, not through a float.
    #[derive(serde::Deserialize)]
    struct Row<'a> {
        address: String,
        asset: String,
        #[serde(borrow)]
        taint: &'a serde_json::value::RawValue,
    }
    #[derive(serde::Deserialize)]
    struct Out<'a> {
        #[serde(borrow)]
        addresses: Vec<Row<'a>>,
    }
    let v: Out = serde_json::from_slice(&out.stdout).unwrap();
    v.addresses
        .iter()
        .map(|a| {
            (
                (a.address.clone(), a.asset.clone()),
                a.taint.get().parse::<u128>().unwrap(),
            )
        })
        .filter(|(_, t)| *t > 0)
        .collect()
}

#[test]
fn the_lifi_case_replayed_on_anvil_is_synced_checked_and_traced() {
    let case = lifi();
    let r = replay(&case);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let client = EthClient::new(r.node.url(), ClientOptions::default()).unwrap();
    let rep = sync(
        &mut store,
        &client,
        &SyncOptions {
            batch_blocks: 40,
            ..SyncOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        rep.traces,
        Some(TraceMode::Geth),
        "anvil offers geth's call tracer"
    );
    let tip = r.node.call::<Q>("eth_blockNumber", json!([])).unwrap().0 as u64;
    assert_eq!(rep.run.to_height, tip);

    // 1. Row for row what was sent.
    let stored = to_rows(&store.transfers(Chain::Ethereum).unwrap());
    assert_eq!(stored.len(), r.rows.len());
    assert_eq!(stored, r.rows);
    // The internal transfers are the forwarders' payments, seen only in the traces.
    let fwd: Vec<String> = r.forwarders.iter().map(|a| a.to_string()).collect();
    let internal = r.rows.iter().filter(|x| fwd.contains(&x.from)).count();
    assert!(internal >= 1);
    assert_eq!(rep.tally.internal, internal as u64);

    // 2. Balances from the stored transfers equal the node's.
    let all = store.transfers(Chain::Ethereum).unwrap();
    let mut bal: HashMap<(String, String), i128> = HashMap::new();
    for t in &all {
        *bal.entry((t.from.to_string(), t.asset.to_string()))
            .or_default() -= t.amount as i128;
        *bal.entry((t.to.to_string(), t.asset.to_string()))
            .or_default() += t.amount as i128;
    }
    let genesis = 100_000_000i128 * 10i128.pow(18);
    let token_asset = format!("erc20:{}", r.token);
    let mut checked = 0;
    for ((a, asset), v) in &bal {
        if a == ZERO {
            continue; // burnt fees and the mint source
        }
        let h: H160 = serde_json::from_value(json!(a)).unwrap();
        let start = if r.node.accounts.contains(&h) && asset == "ETH" {
            genesis
        } else {
            0
        };
        let node = if asset == "ETH" {
            r.node.balance(&h).unwrap()
        } else {
            assert_eq!(asset, &token_asset);
            r.node.token_balance(&r.token, &h).unwrap()
        };
        assert_eq!(start + v, node as i128, "{a} {asset}");
        checked += 1;
    }
    assert!(checked > 90, "{checked}");

    // 3. Traces from the source.
    let graph = store.graph(Chain::Ethereum).unwrap();
    let spec = TraceSpec {
        seeds: vec![case.source.clone()],
        ..TraceSpec::default()
    };
    let taint = |p| {
        let res = ashiato_trace::trace(&graph, &spec, p).unwrap();
        res.addresses
            .iter()
            .filter(|a| a.taint > 0)
            .map(|a| ((a.address.clone(), a.asset.clone()), a.taint))
            .collect::<BTreeMap<_, _>>()
    };
    let poison = taint(PolicyName::Poison);
    let poisoned: BTreeSet<&str> = poison.keys().map(|(a, _)| a.as_str()).collect();
    for t in &case.terminals {
        assert!(poisoned.contains(t.as_str()), "terminal {t} not reached");
    }
    // By hand: the source's first payment, $335.65 in ETH to the terminal 0x0606a235…
    // (an address that receives nothing else), is 33,565 cents × 10^13 wei, all of it
    // stolen under every policy (a seed's sends are wholly tainted).
    let first = (
        "0x0606a235a4e4f230d1e8968083d1b61b335ff878".to_owned(),
        "ETH".to_owned(),
    );
    assert_eq!(poison.get(&first), Some(&335_650_000_000_000_000));
    // Nothing outside the flow: the tainted addresses are exactly those a time-ordered
    // walk of the plan reaches from the source (its recipients, theirs, ..., the
    // forwarders and the fee sink), and not the funder, the victim or the token contract.
    let mut reach: BTreeSet<String> = BTreeSet::from([case.source.to_string()]);
    let mut reached: BTreeSet<String> = BTreeSet::new();
    for x in &r.rows {
        if reach.contains(&x.from) {
            reach.insert(x.to.clone());
            reached.insert(x.to.clone());
        }
    }
    assert_eq!(poisoned, reached.iter().map(String::as_str).collect());
    for outside in [
        r.funder.to_string(),
        r.node.accounts[1].to_string(),
        r.token.to_string(),
    ] {
        assert!(!poisoned.contains(outside.as_str()));
    }

    // Haircut and FIFO equal the independent Python reference on the plan, to the wei.
    let plan = dir.path().join("plan.csv");
    let mut w = csv::Writer::from_path(&plan).unwrap();
    w.write_record(["time", "block", "tx", "from", "to", "asset", "amount"])
        .unwrap();
    for x in &r.rows {
        w.write_record([
            x.time.to_string(),
            x.block.to_string(),
            x.tx.clone(),
            x.from.clone(),
            x.to.clone(),
            x.asset.clone(),
            x.amount.to_string(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
    for (p, name) in [(PolicyName::Haircut, "haircut"), (PolicyName::Fifo, "fifo")] {
        let ours = taint(p);
        let theirs = reference(&plan, case.source.as_str(), name);
        assert_eq!(ours, theirs, "{name}");
        assert_eq!(ours.get(&first), Some(&335_650_000_000_000_000), "{name}");
        let reached = case
            .terminals
            .iter()
            .filter(|t| ours.keys().any(|(a, _)| a == t.as_str()))
            .count();
        eprintln!(
            "{name}: {reached} of 33 terminals reached, {} tainted (address, asset)",
            ours.len()
        );
    }
}

/// A reorganisation on a real node: blocks 7.. are thrown away (`evm_revert`) and
/// others mined at the same heights; the next sync drops the stored batches above the
/// fork and stores the new chain.
#[test]
fn a_reorganisation_on_anvil_is_rolled_back_and_replaced() {
    let node = Anvil::start(1_700_000_000).unwrap();
    let (a, b) = (node.accounts[0], node.accounts[1]);
    let to = |n: u8| -> H160 { ashiato_eth::json::Fixed([n; 20]) };
    for i in 0..6u8 {
        node.send(&a, Some(&to(0x10 + i)), 1_000 + u128::from(i), &[])
            .unwrap();
    }
    let snap = node.snapshot().unwrap();
    for i in 0..4u8 {
        node.send(&b, Some(&to(0xc0 + i)), 5_000, &[]).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let client = EthClient::new(node.url(), ClientOptions::default()).unwrap();
    let opts = SyncOptions {
        batch_blocks: 3,
        ..SyncOptions::default()
    };
    let r = sync(&mut store, &client, &opts).unwrap();
    assert_eq!((r.run.to_height, r.run.rolled_back_to), (10, None));
    let paid = |store: &Store, n: u8| {
        store
            .transfers(Chain::Ethereum)
            .unwrap()
            .iter()
            .filter(|t| t.to.as_str() == to(n).to_string() && t.asset.as_str() == "ETH")
            .map(|t| t.amount)
            .sum::<u128>()
    };
    assert_eq!(paid(&store, 0xc0), 5_000);

    node.revert(&snap).unwrap();
    for i in 0..3u8 {
        node.send(&b, Some(&to(0xd0 + i)), 7_000, &[]).unwrap();
    }
    let r = sync(&mut store, &client, &opts).unwrap();
    // Batches (from genesis) are 0-2, 3-5, 6-8, 9-10: the fork is at 7, so the
    // batches holding 7 and above go, and the sync resumes after 5.
    assert_eq!(r.run.rolled_back_to, Some(5));
    assert_eq!(r.run.to_height, 9);
    assert_eq!(paid(&store, 0xc0), 0);
    assert_eq!(paid(&store, 0xd2), 7_000);
    assert_eq!(paid(&store, 0x15), 1_005);
    // Every transfer stored is one the node's current chain holds: one payment and its
    // fee (tip and burn) per block.
    let ts = store.transfers(Chain::Ethereum).unwrap();
    assert_eq!(ts.iter().filter(|t| t.index == 0).count(), 9);
    for t in &ts {
        let h: serde_json::Value = node
            .call("eth_getTransactionByHash", json!([t.tx]))
            .unwrap();
        assert_eq!(
            h["blockNumber"]
                .as_str()
                .map(|s| u64::from_str_radix(&s[2..], 16).unwrap()),
            Some(t.block)
        );
    }
    assert!(store.check().unwrap().problems.is_empty());
}

/// A node that stops answering mid-sync: a clear error naming the node and the call,
/// and the batches already committed stay.
#[test]
fn a_node_that_goes_away_mid_sync_keeps_what_was_committed() {
    let node = Anvil::start(1_700_000_000).unwrap();
    let a = node.accounts[0];
    for i in 0..5u8 {
        node.send(&a, Some(&ashiato_eth::json::Fixed([0x20 + i; 20])), 1, &[])
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let opts = ClientOptions {
        timeout: std::time::Duration::from_secs(2),
        retries: 1,
        backoff: std::time::Duration::from_millis(10),
        ..ClientOptions::default()
    };
    let client = EthClient::new(node.url(), opts).unwrap();
    let r = sync(
        &mut store,
        &client,
        &SyncOptions {
            batch_blocks: 2,
            until: Some(4),
            ..SyncOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r.run.to_height, 4);
    let url = node.url().to_owned();
    drop(node);
    let e = sync(&mut store, &client, &SyncOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&url) && msg.contains("eth_blockNumber"),
        "{msg}"
    );
    assert_eq!(
        ashiato_eth::sync::load_state(&store).unwrap().height,
        4,
        "committed batches stay"
    );
    assert_eq!(
        store
            .transfers(Chain::Ethereum)
            .unwrap()
            .iter()
            .filter(|t| t.index == 0)
            .count(),
        4
    );
}

/// Deposit addresses on a real node: a customer's deposit address, paid by a thief's
/// mule and by a clean address, swept to the exchange's hot wallet (which paid its
/// gas). Fees ride along on every transaction; the heuristic finds the deposit address
/// and its two payers, and a trace stopping at the new label reports the exit.
#[test]
fn deposit_addresses_are_found_on_anvil_and_stop_a_trace() {
    let node = Anvil::start(1_700_000_000).unwrap();
    let (funder, hot) = (node.accounts[0], node.accounts[1]);
    let at = |n: u8| -> H160 { ashiato_eth::json::Fixed([n; 20]) };
    let (thief, mule, clean, dep) = (at(0x77), at(0xaa), at(0xab), at(0xdd));
    let eth = 1_000_000_000_000_000_000u128;
    for a in [thief, mule, clean] {
        node.send(&funder, Some(&a), eth / 10, &[]).unwrap();
    }
    node.send(&hot, Some(&dep), eth / 100, &[]).unwrap(); // gas for sweeps
    node.send(&funder, Some(&thief), 5 * eth, &[]).unwrap(); // the theft
    node.send(&thief, Some(&mule), 3 * eth, &[]).unwrap();
    node.send(&mule, Some(&dep), 2 * eth, &[]).unwrap();
    node.send(&dep, Some(&hot), 2 * eth, &[]).unwrap();
    node.send(&clean, Some(&dep), eth / 20, &[]).unwrap();
    node.send(&dep, Some(&hot), eth / 20, &[]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let client = EthClient::new(node.url(), ClientOptions::default()).unwrap();
    sync(&mut store, &client, &SyncOptions::default()).unwrap();
    let ts = store.transfers(Chain::Ethereum).unwrap();
    let ex: HashMap<Address, String> = [(hot.address(), "Kraken".to_owned())].into();
    let f = ashiato_eth::deposit::find(&ts, &ex, &Default::default());
    assert_eq!(f.deposits.len(), 1);
    let d = &f.deposits[0];
    assert_eq!(d.address, dep.address());
    assert_eq!(d.depositors, vec![mule.address(), clean.address()]);
    // mule's 2 ETH precedes both sweeps, clean's 0.05 ETH the second.
    assert_eq!(
        d.evidence
            .iter()
            .map(|e| (e.deposited, e.swept))
            .collect::<Vec<_>>(),
        vec![
            (2 * eth, 2 * eth),
            (2 * eth, eth / 20),
            (eth / 20, eth / 20)
        ]
    );
    assert_eq!(f.customers.len(), 1);

    let labels = ashiato_eth::deposit::labels(Chain::Ethereum, &f, 86_400);
    let graph = store.graph(Chain::Ethereum).unwrap();
    let spec = TraceSpec {
        seeds: vec![thief.address()],
        stop_at: labels
            .iter()
            .map(|l| (l.address.clone(), l.name.clone()))
            .collect(),
        ..TraceSpec::default()
    };
    let res = ashiato_trace::trace(&graph, &spec, PolicyName::Poison).unwrap();
    let exit = res
        .exits
        .iter()
        .find(|e| e.asset == "ETH" && e.address == dep.to_string())
        .unwrap();
    assert_eq!(exit.label, "Kraken (deposit address)");
    assert_eq!(exit.amount, 2 * eth);
    assert_eq!(exit.path.len(), 2, "thief → mule → deposit address");
}
