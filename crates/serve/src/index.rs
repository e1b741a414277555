//! The screening index: every stored incident traced under every served policy once, and
//! every tainted address looked up in one hash probe.
//!
//! Built from the store when the service starts and rebuilt after anything writes (a new
//! incident or label, a block a watch synced). Requests only read an `Arc<Index>`, so a
//! rebuild never blocks a screening call: the new index replaces the old one whole.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;

use ashiato_model::{Address, Amount, Chain, Incident, Label, UtcTime};
use ashiato_store::{Store, StoreError};
use ashiato_trace::graph::Legs;
use ashiato_trace::{AddressTaint, Direction, Exit, Graph, PolicyName, TraceResult, TraceSpec};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("tracing incident {incident:?} under {policy}: {source}")]
    Trace {
        incident: String,
        policy: PolicyName,
        source: ashiato_trace::TraceError,
    },
    #[error("no incident named {0:?} in the store")]
    NoIncident(String),
}

/// The limits every served trace runs with (recorded in each report's parameters).
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Served policies; the first is the default of every request.
    pub policies: Vec<PolicyName>,
    /// Dust threshold (base units) for incidents not named in `dust_for`.
    pub dust: Amount,
    /// Per-incident dust thresholds: units differ per chain (micro-XEM, satoshi, wei).
    pub dust_for: BTreeMap<String, Amount>,
    pub spray_max: Amount,
    pub max_hops: Option<u32>,
    /// Only these incidents (empty: every stored incident).
    pub only: Vec<String>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            policies: PolicyName::ALL.to_vec(),
            dust: 0,
            dust_for: BTreeMap::new(),
            spray_max: 0,
            max_hops: None,
            only: Vec::new(),
        }
    }
}

/// Everything a trace's result depends on besides the chain data, so that a report can
/// be regenerated and checked. Amounts are decimal strings (they exceed 2^53).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub incident: String,
    pub chain: Chain,
    pub policy: PolicyName,
    pub direction: Direction,
    pub seeds: Vec<String>,
    pub seed_txs: Vec<String>,
    /// RFC 3339 UTC.
    pub since: Option<String>,
    pub dust: String,
    pub spray_max: String,
    pub max_hops: Option<u32>,
    /// Labelled addresses the trace stops at (exits), and a SHA-256 of the sorted
    /// `address label` lines, so a changed label set shows.
    pub stop_at: usize,
    pub stop_at_sha256: String,
}

impl Params {
    /// SHA-256 of the canonical JSON of these parameters.
    pub fn sha256(&self) -> String {
        sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// One policy's trace of one incident.
#[derive(Debug, Clone)]
pub struct PolicyTrace {
    pub params: Params,
    /// With the movement list and per-address paths.
    pub result: TraceResult,
    /// Per exit (same order as `result.exits`): the hop of the first movement into it,
    /// found once here so that screening an exchange is not a scan of every movement.
    pub exit_hops: Vec<Option<u32>>,
    /// The asset most taint entered in: what graphs and timelines show unless asked.
    pub main_asset: Option<String>,
    /// Answers that cost a pass over the trace, made on first request and shared by all
    /// later ones until the index is rebuilt.
    pub rendered: Rendered,
}

#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub report: OnceLock<Bytes>,
    pub csv: OnceLock<Bytes>,
    pub json: OnceLock<Bytes>,
    pub graphml: OnceLock<Bytes>,
    /// Rows of `result.addresses` that are holders (tainted, not exits), most held first.
    pub holders: OnceLock<Vec<u32>>,
}

#[derive(Debug, Clone)]
pub struct IncidentEntry {
    pub incident: Incident,
    /// One per served policy, in [`IndexOptions::policies`] order.
    pub traces: Vec<PolicyTrace>,
}

impl IncidentEntry {
    pub fn trace(&self, policy: PolicyName) -> Option<&PolicyTrace> {
        self.traces.iter().find(|t| t.params.policy == policy)
    }
}

/// One stored chain's data, as the traces saw it.
#[derive(Debug)]
pub struct ChainData {
    pub chain: Chain,
    /// SHA-256 over every stored movement in chain order ([`data_sha256`]).
    pub data_sha256: String,
    pub events: usize,
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    pub last_block: Option<u64>,
    /// Current balance per (address, asset), from the stored movements alone: value the
    /// address received minus what it sent (account chains; negative when its history
    /// starts before the data), or its unspent outputs (UTXO chains). `None` where the
    /// sum leaves i128 (spam tokens can claim any u128).
    balances: FxHashMap<(Box<str>, Box<str>), Option<i128>>,
}

impl ChainData {
    pub fn balance(&self, address: &str, asset: &str) -> Option<i128> {
        self.balances
            .get(&(address.into(), asset.into()))
            .copied()
            .flatten()
    }
}

/// Where a tainted address sits in the index: incident, policy, row of `addresses` (or
/// of `exits`).
#[derive(Debug, Clone, Copy)]
struct Hit {
    incident: u32,
    trace: u16,
    row: u32,
    exit: bool,
}

/// What reached the address.
#[derive(Debug, Clone, Copy)]
pub enum Reached<'a> {
    /// A traced address: a holder, or a recipient of dust only.
    Address(&'a AddressTaint),
    /// A labelled entity where the trace stopped (an exchange's deposit address), with
    /// the hop of the first tainted movement into it.
    Exit(&'a Exit, Option<u32>),
}

/// One incident/policy/asset an address is tainted by.
#[derive(Debug, Clone)]
pub struct Screened<'a> {
    pub incident: &'a IncidentEntry,
    pub trace: &'a PolicyTrace,
    pub reached: Reached<'a>,
}

#[derive(Debug)]
pub struct Index {
    pub built: UtcTime,
    pub policies: Vec<PolicyName>,
    pub chains: BTreeMap<Chain, ChainData>,
    pub incidents: Vec<IncidentEntry>,
    /// Per chain, so that a lookup borrows the address instead of allocating a key.
    labels: BTreeMap<Chain, FxHashMap<Box<str>, Vec<Label>>>,
    by_address: BTreeMap<Chain, FxHashMap<Box<str>, Vec<Hit>>>,
}

impl Index {
    /// An index of nothing (before the first build finishes).
    pub fn empty(policies: Vec<PolicyName>) -> Index {
        Index {
            built: UtcTime(0),
            policies,
            chains: BTreeMap::new(),
            incidents: Vec::new(),
            labels: BTreeMap::new(),
            by_address: BTreeMap::new(),
        }
    }

    /// Traces every stored incident (or `opts.only`) under every policy of `opts`.
    pub fn build(store: &Store, opts: &IndexOptions) -> Result<Index, IndexError> {
        let mut incidents = store.incidents()?;
        if !opts.only.is_empty() {
            for name in &opts.only {
                if !incidents.iter().any(|i| &i.name == name) {
                    return Err(IndexError::NoIncident(name.clone()));
                }
            }
            incidents.retain(|i| opts.only.contains(&i.name));
        }
        for name in opts.dust_for.keys() {
            if !incidents.iter().any(|i| &i.name == name) {
                return Err(IndexError::NoIncident(name.clone()));
            }
        }
        let mut index = Index::empty(opts.policies.clone());
        index.built = UtcTime(now_unix());
        let mut chains: Vec<Chain> = incidents.iter().map(|i| i.chain).collect();
        chains.sort_by_key(|c| c.as_str());
        chains.dedup();
        // Labels of every chain (read once): screening names a labelled address even on
        // a chain without incidents, and the traces stop at the exit kinds.
        let labels: BTreeMap<Chain, Vec<Label>> = Chain::ALL
            .into_iter()
            .map(|c| Ok((c, store.labels(c)?)))
            .collect::<Result<_, StoreError>>()?;
        for (&chain, ls) in &labels {
            for l in ls {
                index
                    .labels
                    .entry(chain)
                    .or_default()
                    .entry(l.address.as_str().into())
                    .or_default()
                    .push(l.clone());
            }
        }
        for chain in chains {
            let labels = labels.get(&chain).map_or(&[][..], Vec::as_slice);
            let graph = store.graph(chain)?;
            for inc in incidents.iter().filter(|i| i.chain == chain) {
                let entry = trace_incident(&graph, inc, labels, opts)?;
                index.incidents.push(entry);
            }
            index.chains.insert(chain, ChainData::of(&graph));
        }
        index
            .incidents
            .sort_by(|a, b| a.incident.name.cmp(&b.incident.name));
        for (i, e) in index.incidents.iter().enumerate() {
            for (t, pt) in e.traces.iter().enumerate() {
                let rows = pt
                    .result
                    .addresses
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.taint > 0 || a.dust > 0)
                    .map(|(row, a)| (a.address.as_str(), row, false));
                let exits = pt
                    .result
                    .exits
                    .iter()
                    .enumerate()
                    .map(|(row, x)| (x.address.as_str(), row, true));
                for (address, row, exit) in rows.chain(exits) {
                    index
                        .by_address
                        .entry(e.incident.chain)
                        .or_default()
                        .entry(address.into())
                        .or_default()
                        .push(Hit {
                            incident: i as u32,
                            trace: t as u16,
                            row: row as u32,
                            exit,
                        });
                }
            }
        }
        Ok(index)
    }

    pub fn incident(&self, name: &str) -> Option<&IncidentEntry> {
        self.incidents.iter().find(|e| e.incident.name == name)
    }

    pub fn labels(&self, chain: Chain, address: &Address) -> &[Label] {
        self.labels
            .get(&chain)
            .and_then(|m| m.get(address.as_str()))
            .map_or(&[], Vec::as_slice)
    }

    /// The first exit label of an address, if any (what a graph node is named).
    pub fn exit_label(&self, chain: Chain, address: &str) -> Option<&Label> {
        self.labels
            .get(&chain)
            .and_then(|m| m.get(address))
            .and_then(|ls| ls.iter().find(|l| l.kind.is_exit()).or(ls.first()))
    }

    /// Every incident, policy and asset that tainted `address`.
    pub fn screen(&self, chain: Chain, address: &Address) -> Vec<Screened<'_>> {
        let Some(hits) = self
            .by_address
            .get(&chain)
            .and_then(|m| m.get(address.as_str()))
        else {
            return Vec::new();
        };
        hits.iter()
            .map(|h| {
                let incident = &self.incidents[h.incident as usize];
                let trace = &incident.traces[h.trace as usize];
                let row = h.row as usize;
                Screened {
                    incident,
                    trace,
                    reached: if h.exit {
                        Reached::Exit(&trace.result.exits[row], trace.exit_hops[row])
                    } else {
                        Reached::Address(&trace.result.addresses[row])
                    },
                }
            })
            .collect()
    }

    /// Distinct tainted addresses over all incidents and policies.
    pub fn tainted_addresses(&self) -> usize {
        self.by_address.values().map(|m| m.len()).sum()
    }
}

/// Traces one incident under every policy of `opts` over `graph`.
pub fn trace_incident(
    graph: &Graph,
    inc: &Incident,
    labels: &[Label],
    opts: &IndexOptions,
) -> Result<IncidentEntry, IndexError> {
    let dust = opts.dust_for.get(&inc.name).copied().unwrap_or(opts.dust);
    let spec = TraceSpec {
        dust,
        spray_max: opts.spray_max,
        max_hops: opts.max_hops,
        address_paths: true,
        movements: true,
        ..TraceSpec::for_incident(inc, labels, graph)
    };
    let mut stop: Vec<String> = spec
        .stop_at
        .iter()
        .map(|(a, l)| format!("{a} {l}"))
        .collect();
    stop.sort();
    let stop_at_sha256 = sha256_hex(stop.join("\n").as_bytes());
    let mut traces = Vec::with_capacity(opts.policies.len());
    for &policy in &opts.policies {
        let params = Params {
            incident: inc.name.clone(),
            chain: inc.chain,
            policy,
            direction: spec.direction,
            seeds: inc.seeds.iter().map(|a| a.to_string()).collect(),
            seed_txs: inc.seed_txs.clone(),
            since: inc.since.map(|t| t.to_rfc3339()),
            dust: dust.to_string(),
            spray_max: opts.spray_max.to_string(),
            max_hops: opts.max_hops,
            stop_at: spec.stop_at.len(),
            stop_at_sha256: stop_at_sha256.clone(),
        };
        let result = if spec.has_no_seeds() {
            // The theft is not on the stored chain (yet): nothing is tainted.
            TraceResult {
                policy,
                direction: spec.direction,
                addresses: Vec::new(),
                exits: Vec::new(),
                summary: Default::default(),
                movements: Vec::new(),
            }
        } else {
            ashiato_trace::trace(graph, &spec, policy).map_err(|source| IndexError::Trace {
                incident: inc.name.clone(),
                policy,
                source,
            })?
        };
        let exit_hops = exit_hops(&result);
        let main_asset = main_asset(&result);
        traces.push(PolicyTrace {
            params,
            result,
            exit_hops,
            main_asset,
            rendered: Rendered::default(),
        });
    }
    Ok(IncidentEntry {
        incident: inc.clone(),
        traces,
    })
}

/// The asset with the most taint leaving the seeds (first hop).
fn main_asset(r: &TraceResult) -> Option<String> {
    let mut by: BTreeMap<&str, Amount> = BTreeMap::new();
    for m in r.movements.iter().filter(|m| m.hop == 1) {
        *by.entry(m.asset.as_str()).or_default() += m.taint;
    }
    by.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(a, _)| a.to_owned())
}

/// The hop of the first exit movement into each exit.
fn exit_hops(r: &TraceResult) -> Vec<Option<u32>> {
    let mut first: FxHashMap<&str, u32> = FxHashMap::default();
    for m in &r.movements {
        if m.outcome == ashiato_trace::Outcome::Exit {
            first.entry(m.to.as_str()).or_insert(m.hop);
        }
    }
    r.exits
        .iter()
        .map(|x| first.get(x.address.as_str()).copied())
        .collect()
}

impl ChainData {
    pub fn of(graph: &Graph) -> ChainData {
        let mut balances: FxHashMap<(Box<str>, Box<str>), Option<i128>> = FxHashMap::default();
        let mut add = |addr: u32, asset: u16, v: Option<i128>| {
            if addr == ashiato_trace::graph::NONE {
                return;
            }
            let key = (
                graph.addresses[addr as usize].as_str().into(),
                graph.assets[asset as usize].as_str().into(),
            );
            let b = balances.entry(key).or_insert(Some(0));
            *b = b.zip(v).and_then(|(b, v)| b.checked_add(v));
        };
        match &graph.legs {
            Legs::Account(a) => {
                for e in 0..a.from.len() {
                    let (fa, fs) = graph.holders[a.from[e] as usize];
                    let (ta, ts) = graph.holders[a.to[e] as usize];
                    let v = i128::try_from(a.amount[e]).ok();
                    add(fa, fs, v.map(|v| -v));
                    add(ta, ts, v);
                }
            }
            Legs::Utxo(u) => {
                let mut spent = vec![false; u.out_addr.len()];
                for &c in &u.in_coin {
                    if c != ashiato_trace::graph::NONE {
                        spent[c as usize] = true;
                    }
                }
                for (c, &owner) in u.out_addr.iter().enumerate() {
                    if !spent[c] {
                        add(owner, 0, i128::try_from(u.out_value[c]).ok());
                    }
                }
            }
        }
        ChainData {
            chain: graph.chain,
            data_sha256: data_sha256(graph),
            events: graph.events(),
            first_time: graph
                .time
                .iter()
                .copied()
                .find(|&t| t != ashiato_trace::graph::NO_TIME),
            last_time: graph
                .time
                .iter()
                .rev()
                .copied()
                .find(|&t| t != ashiato_trace::graph::NO_TIME),
            last_block: graph.block.last().copied(),
            balances,
        }
    }
}

/// SHA-256 over every movement of `graph` in chain order, one line each
/// (`block time tx from to asset amount` for accounts; `block time tx` then
/// `in owner value` / `out owner value` lines for UTXO transactions). The same stored
/// chain always gives the same digest, so a report names exactly what it was computed from.
pub fn data_sha256(graph: &Graph) -> String {
    let mut h = Sha256::new();
    let addr = |a: u32| {
        if a == ashiato_trace::graph::NONE {
            "-"
        } else {
            graph.addresses[a as usize].as_str()
        }
    };
    h.update(graph.chain.as_str().as_bytes());
    h.update(b"\n");
    match &graph.legs {
        Legs::Account(a) => {
            for e in 0..a.from.len() {
                let (fa, fs) = graph.holders[a.from[e] as usize];
                let (ta, _) = graph.holders[a.to[e] as usize];
                let line = format!(
                    "{} {} {} {} {} {} {}\n",
                    graph.block[e],
                    graph.time[e],
                    graph.tx_names.get(graph.tx[e]),
                    addr(fa),
                    addr(ta),
                    graph.assets[fs as usize].as_str(),
                    a.amount[e]
                );
                h.update(line.as_bytes());
            }
        }
        Legs::Utxo(u) => {
            for e in 0..graph.events() {
                let line = format!(
                    "{} {} {}\n",
                    graph.block[e],
                    graph.time[e],
                    graph.tx_names.get(graph.tx[e])
                );
                h.update(line.as_bytes());
                let ins = u.in_start[e] as usize..u.in_start[e + 1] as usize;
                for i in ins {
                    h.update(format!("in {} {}\n", addr(u.in_addr[i]), u.in_value[i]).as_bytes());
                }
                let outs = u.out_start[e] as usize..u.out_start[e + 1] as usize;
                for o in outs {
                    h.update(
                        format!("out {} {}\n", addr(u.out_addr[o]), u.out_value[o]).as_bytes(),
                    );
                }
            }
        }
    }
    hex::encode(h.finalize())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
