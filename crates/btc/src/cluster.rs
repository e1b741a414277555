//! Address clustering for UTXO chains: addresses that spend together are one owner
//! (multi-input heuristic), optionally joined with the change output a selected heuristic
//! identifies; CoinJoins, where inputs belong to several owners, merge nothing. Every
//! merge is recorded with its transaction, so [`Clusters::explain`] can say which
//! transactions joined any two addresses: the evidence an analyst must be able to show.
//!
//! Rules (docs/bitcoin.md):
//! - CoinJoin: at least two distinct input addresses, and the most common output value is
//!   shared by `k ≥ 2` outputs with `k` not more than the number of distinct input
//!   addresses (each participant brings an input and takes an equal output).
//! - Change heuristics, each proposing at most one output of a non-coinbase, non-CoinJoin
//!   transaction with two or more outputs; when the selected heuristics propose different
//!   outputs, none is used.

use ashiato_model::{Address, UtxoTx};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::peel::is_peel_step;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeHeuristic {
    /// An output paying one of the inputs' addresses (self-change).
    AddressReuse,
    /// All inputs have one script type and exactly one output has it too.
    AddressType,
    /// Exactly one output is smaller than the smallest input: a payment that size would
    /// not have needed that input.
    OptimalChange,
    /// Exactly one output is not a multiple of 0.0001 BTC: payments are round.
    PowerOfTen,
    /// Exactly one output pays an address never seen before this transaction.
    FirstSeen,
    /// A peel step (one input, two outputs) of which exactly one output is spent by
    /// another peel step: the chain continues through the change ([`crate::peel`]).
    PeelChain,
}

impl ChangeHeuristic {
    pub const ALL: [ChangeHeuristic; 6] = [
        ChangeHeuristic::AddressReuse,
        ChangeHeuristic::AddressType,
        ChangeHeuristic::OptimalChange,
        ChangeHeuristic::PowerOfTen,
        ChangeHeuristic::FirstSeen,
        ChangeHeuristic::PeelChain,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ChangeHeuristic::AddressReuse => "address-reuse",
            ChangeHeuristic::AddressType => "address-type",
            ChangeHeuristic::OptimalChange => "optimal-change",
            ChangeHeuristic::PowerOfTen => "power-of-ten",
            ChangeHeuristic::FirstSeen => "first-seen",
            ChangeHeuristic::PeelChain => "peel-chain",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeHeuristic> {
        Self::ALL.into_iter().find(|h| h.name() == s)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub change: Vec<ChangeHeuristic>,
    /// Merge CoinJoin inputs anyway (to see what the rule prevents).
    pub ignore_coinjoins: bool,
}

/// Why two addresses were merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    MultiInput,
    Change(ChangeHeuristic),
}

/// One merge that joined two clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub a: Address,
    pub b: Address,
    pub txid: String,
    pub reason: Reason,
}

pub struct Clusters {
    names: Vec<Address>,
    ids: FxHashMap<Address, u32>,
    parent: Vec<u32>,
    /// The spanning forest of merges: per address, (other address, link index).
    edges: Vec<Vec<(u32, u32)>>,
    links: Vec<Link>,
    pub coinjoins: Vec<String>,
}

/// Whether a transaction looks like a CoinJoin (rule in the module docs).
pub fn is_coinjoin(tx: &UtxoTx) -> bool {
    if tx.coinbase {
        return false;
    }
    let inputs: FxHashSet<&str> = tx
        .inputs
        .iter()
        .filter_map(|i| i.address.as_ref().map(|a| a.as_str()))
        .collect();
    if inputs.len() < 2 {
        return false;
    }
    let mut by_value: FxHashMap<u128, usize> = FxHashMap::default();
    for o in &tx.outputs {
        *by_value.entry(o.value).or_default() += 1;
    }
    let k = by_value.values().copied().max().unwrap_or(0);
    k >= 2 && k <= inputs.len()
}

fn script_type(a: &Address) -> u8 {
    let s = a.as_str();
    match s.as_bytes().first() {
        Some(b'1') => 1,
        Some(b'3') => 3,
        _ if s.starts_with("bc1q") && s.len() == 42 => 4,
        _ if s.starts_with("bc1q") => 5,
        _ if s.starts_with("bc1p") => 6,
        _ => 0,
    }
}

/// The one output index for which `pred` holds, if exactly one does.
fn only(tx: &UtxoTx, pred: impl Fn(usize) -> bool) -> Option<usize> {
    let mut hit = None;
    for i in 0..tx.outputs.len() {
        if pred(i) {
            if hit.is_some() {
                return None;
            }
            hit = Some(i);
        }
    }
    hit
}

struct Context<'a> {
    seen: &'a FxHashSet<&'a str>,
    /// (txid, vout) of outputs spent by a one-input, two-output transaction.
    peel_spent: &'a FxHashSet<(&'a str, u32)>,
}

fn propose(h: ChangeHeuristic, tx: &UtxoTx, cx: &Context) -> Option<usize> {
    let out_addr = |i: usize| tx.outputs[i].address.as_ref();
    match h {
        ChangeHeuristic::AddressReuse => {
            let ins: FxHashSet<&str> = tx
                .inputs
                .iter()
                .filter_map(|i| i.address.as_ref().map(|a| a.as_str()))
                .collect();
            only(tx, |i| {
                out_addr(i).is_some_and(|a| ins.contains(a.as_str()))
            })
        }
        ChangeHeuristic::AddressType => {
            let mut types = tx
                .inputs
                .iter()
                .map(|i| i.address.as_ref().map(script_type));
            let first = types.next()??;
            if !types.all(|t| t == Some(first)) {
                return None;
            }
            only(tx, |i| out_addr(i).map(script_type) == Some(first))
        }
        ChangeHeuristic::OptimalChange => {
            let min_in = tx.inputs.iter().map(|i| i.value).min()?;
            only(tx, |i| tx.outputs[i].value < min_in)
        }
        ChangeHeuristic::PowerOfTen => only(tx, |i| !tx.outputs[i].value.is_multiple_of(10_000)),
        ChangeHeuristic::FirstSeen => only(tx, |i| {
            out_addr(i).is_some_and(|a| !cx.seen.contains(a.as_str()))
        }),
        ChangeHeuristic::PeelChain => {
            if !is_peel_step(tx) {
                return None;
            }
            only(tx, |i| {
                cx.peel_spent.contains(&(tx.txid.as_str(), i as u32))
            })
        }
    }
}

impl Clusters {
    /// Clusters the addresses of `txs`, given in chain order.
    pub fn build(txs: &[UtxoTx], opts: &ClusterOptions) -> Clusters {
        let mut c = Clusters {
            names: Vec::new(),
            ids: FxHashMap::default(),
            parent: Vec::new(),
            edges: Vec::new(),
            links: Vec::new(),
            coinjoins: Vec::new(),
        };
        let peel_spent: FxHashSet<(&str, u32)> = txs
            .iter()
            .filter(|t| is_peel_step(t))
            .map(|t| (t.inputs[0].prev.txid.as_str(), t.inputs[0].prev.vout))
            .collect();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        for tx in txs {
            for a in tx.inputs.iter().filter_map(|i| i.address.as_ref()) {
                c.id(a);
            }
            for a in tx.outputs.iter().filter_map(|o| o.address.as_ref()) {
                c.id(a);
            }
            if tx.coinbase {
                seen.extend(
                    tx.outputs
                        .iter()
                        .filter_map(|o| o.address.as_ref().map(|a| a.as_str())),
                );
                continue;
            }
            let coinjoin = is_coinjoin(tx);
            if coinjoin {
                c.coinjoins.push(tx.txid.clone());
            }
            if !coinjoin || opts.ignore_coinjoins {
                let mut ins = tx.inputs.iter().filter_map(|i| i.address.as_ref());
                if let Some(first) = ins.next() {
                    for a in ins {
                        c.union(first, a, &tx.txid, Reason::MultiInput);
                    }
                }
                if !coinjoin && tx.outputs.len() >= 2 && !opts.change.is_empty() {
                    let cx = Context {
                        seen: &seen,
                        peel_spent: &peel_spent,
                    };
                    let mut pick: Option<(usize, ChangeHeuristic)> = None;
                    let mut conflict = false;
                    for h in &opts.change {
                        if let Some(i) = propose(*h, tx, &cx) {
                            match pick {
                                Some((j, _)) if j != i => conflict = true,
                                Some(_) => {}
                                None => pick = Some((i, *h)),
                            }
                        }
                    }
                    if let (Some((i, h)), false) = (pick, conflict) {
                        let first = tx.inputs.iter().find_map(|x| x.address.as_ref());
                        if let (Some(inp), Some(change)) = (first, tx.outputs[i].address.as_ref()) {
                            c.union(inp, change, &tx.txid, Reason::Change(h));
                        }
                    }
                }
            }
            for a in tx.inputs.iter().filter_map(|i| i.address.as_ref()) {
                seen.insert(a.as_str());
            }
            seen.extend(
                tx.outputs
                    .iter()
                    .filter_map(|o| o.address.as_ref().map(|a| a.as_str())),
            );
        }
        c
    }

    fn id(&mut self, a: &Address) -> u32 {
        if let Some(&i) = self.ids.get(a) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(a.clone());
        self.ids.insert(a.clone(), i);
        self.parent.push(i);
        self.edges.push(Vec::new());
        i
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn root(&self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            x = self.parent[x as usize];
        }
        x
    }

    fn union(&mut self, a: &Address, b: &Address, txid: &str, reason: Reason) {
        let (ia, ib) = (self.id(a), self.id(b));
        let (ra, rb) = (self.find(ia), self.find(ib));
        if ra == rb {
            return;
        }
        self.parent[ra.max(rb) as usize] = ra.min(rb);
        let l = self.links.len() as u32;
        self.links.push(Link {
            a: a.clone(),
            b: b.clone(),
            txid: txid.to_owned(),
            reason,
        });
        self.edges[ia as usize].push((ib, l));
        self.edges[ib as usize].push((ia, l));
    }

    pub fn addresses(&self) -> usize {
        self.names.len()
    }

    /// Cluster sizes, largest first.
    pub fn sizes(&self) -> Vec<usize> {
        let mut n: FxHashMap<u32, usize> = FxHashMap::default();
        for i in 0..self.names.len() as u32 {
            *n.entry(self.root(i)).or_default() += 1;
        }
        let mut v: Vec<usize> = n.into_values().collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }

    pub fn same(&self, a: &Address, b: &Address) -> bool {
        match (self.ids.get(a), self.ids.get(b)) {
            (Some(&x), Some(&y)) => self.root(x) == self.root(y),
            _ => false,
        }
    }

    /// The members of `a`'s cluster.
    pub fn members(&self, a: &Address) -> Vec<Address> {
        let Some(&x) = self.ids.get(a) else {
            return Vec::new();
        };
        let r = self.root(x);
        (0..self.names.len() as u32)
            .filter(|i| self.root(*i) == r)
            .map(|i| self.names[i as usize].clone())
            .collect()
    }

    /// The chain of merges that put `a` and `b` in one cluster, from `a` to `b` (empty
    /// when `a == b`), or `None` when they are not in one cluster.
    pub fn explain(&self, a: &Address, b: &Address) -> Option<Vec<Link>> {
        let (&x, &y) = (self.ids.get(a)?, self.ids.get(b)?);
        // The merge edges form a forest: the path between two nodes is unique.
        let mut back: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
        let mut queue = std::collections::VecDeque::from([x]);
        back.insert(x, (x, u32::MAX));
        while let Some(n) = queue.pop_front() {
            if n == y {
                break;
            }
            for &(m, l) in &self.edges[n as usize] {
                if let std::collections::hash_map::Entry::Vacant(e) = back.entry(m) {
                    e.insert((n, l));
                    queue.push_back(m);
                }
            }
        }
        back.get(&y)?;
        let mut path = Vec::new();
        let mut n = y;
        while n != x {
            let (p, l) = back[&n];
            path.push(self.links[l as usize].clone());
            n = p;
        }
        path.reverse();
        Some(path)
    }
}
