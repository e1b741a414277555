//! The API's answers, built from the index. Amounts are decimal strings (docs/serve.md).

use std::collections::BTreeSet;

use ashiato_model::{Address, Amount, Chain, Label};
use ashiato_trace::{Exit, Movement, Outcome, Summary};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::index::{IncidentEntry, Index, PolicyTrace, Reached, Screened};

fn amt(a: Amount) -> String {
    a.to_string()
}

#[derive(Serialize)]
pub struct LabelView {
    pub name: String,
    pub kind: String,
    pub source: String,
    pub confidence: u8,
}

impl From<&Label> for LabelView {
    fn from(l: &Label) -> Self {
        LabelView {
            name: l.name.clone(),
            kind: format!("{:?}", l.kind).to_ascii_lowercase(),
            source: l.source.clone(),
            confidence: l.confidence,
        }
    }
}

/// Borrowed from the index: a screening answer is serialised straight from the trace.
#[derive(Serialize)]
pub struct Hit<'a> {
    pub incident: &'a str,
    pub policy: &'static str,
    /// `holder` (followed: it received taint and may pass it on), `dust` (only movements
    /// below the dust threshold or caught by the spray rule) or `exit` (a labelled
    /// entity where the trace stopped: taint is what was deposited there).
    pub role: &'static str,
    pub asset: &'a str,
    pub taint: String,
    pub holding: Option<String>,
    pub dust: String,
    pub hop: Option<u32>,
    /// The transaction that first brought taint here (the last of `path`).
    pub first_tx: Option<&'a str>,
    pub path: &'a [String],
    pub path_len: usize,
}

#[derive(Serialize)]
pub struct ScreenResult<'a> {
    pub chain: Chain,
    pub address: String,
    pub tainted: bool,
    pub labels: Vec<LabelView>,
    pub hits: Vec<Hit<'a>>,
}

pub fn screen<'a>(index: &'a Index, chain: Chain, address: &Address) -> ScreenResult<'a> {
    let hits: Vec<Hit<'a>> = index
        .screen(chain, address)
        .into_iter()
        .map(|s: Screened<'a>| {
            let (role, asset, taint, holding, dust, hop, path) = match s.reached {
                Reached::Address(a) => (
                    if a.hop.is_some() { "holder" } else { "dust" },
                    a.asset.as_str(),
                    a.taint,
                    a.holding,
                    a.dust,
                    a.hop,
                    a.path.as_slice(),
                ),
                Reached::Exit(x, hop) => (
                    "exit",
                    x.asset.as_str(),
                    x.amount,
                    None,
                    0,
                    hop,
                    x.path.as_slice(),
                ),
            };
            Hit {
                incident: &s.incident.incident.name,
                policy: s.trace.params.policy.as_str(),
                role,
                asset,
                taint: amt(taint),
                holding: holding.map(amt),
                dust: amt(dust),
                hop,
                first_tx: path.last().map(String::as_str),
                path_len: path.len(),
                path,
            }
        })
        .collect();
    ScreenResult {
        chain,
        address: address.to_string(),
        tainted: hits.iter().any(|h| h.taint != "0" && h.role != "dust"),
        labels: index
            .labels(chain, address)
            .iter()
            .map(LabelView::from)
            .collect(),
        hits,
    }
}

/// Where the taint went (docs/tracing.md), as the API, the reports and the exports give it.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    pub entered: String,
    pub held: String,
    pub exited: String,
    pub dust: String,
    pub lost_to_fees: String,
    pub cut_by_hops: String,
    pub returned_to_seeds: String,
    pub left_data: String,
    pub events: u64,
    pub tainted_events: u64,
}

impl From<&Summary> for SummaryView {
    fn from(s: &Summary) -> Self {
        SummaryView {
            entered: amt(s.entered),
            held: amt(s.held),
            exited: amt(s.exited),
            dust: amt(s.dust),
            lost_to_fees: amt(s.lost_to_fees),
            cut_by_hops: amt(s.cut_by_hops),
            returned_to_seeds: amt(s.returned_to_seeds),
            left_data: amt(s.left_data),
            events: s.events,
            tainted_events: s.tainted_events,
        }
    }
}

#[derive(Serialize)]
pub struct PolicySummary {
    pub policy: String,
    pub tainted_addresses: usize,
    pub exits: usize,
    pub movements: usize,
    pub summary: SummaryView,
}

#[derive(Serialize)]
pub struct IncidentSummary {
    pub name: String,
    pub chain: Chain,
    pub description: String,
    pub source: String,
    pub since: Option<String>,
    pub seeds: Vec<String>,
    pub seed_txs: Vec<String>,
    pub data_sha256: Option<String>,
    /// Assets the taint moved in (the unit of every amount: base units of these).
    pub assets: Vec<String>,
    pub policies: Vec<PolicySummary>,
}

pub fn incident_summary(index: &Index, e: &IncidentEntry) -> IncidentSummary {
    let i = &e.incident;
    IncidentSummary {
        name: i.name.clone(),
        chain: i.chain,
        description: i.description.clone(),
        source: i.source.clone(),
        since: i.since.map(|t| t.to_rfc3339()),
        seeds: i.seeds.iter().map(|a| a.to_string()).collect(),
        seed_txs: i.seed_txs.clone(),
        data_sha256: index.chains.get(&i.chain).map(|c| c.data_sha256.clone()),
        assets: e
            .traces
            .iter()
            .flat_map(|t| t.result.movements.iter().map(|m| m.asset.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        policies: e
            .traces
            .iter()
            .map(|t| PolicySummary {
                policy: t.params.policy.as_str().to_owned(),
                tainted_addresses: t.result.addresses.iter().filter(|a| a.taint > 0).count(),
                exits: t.result.exits.len(),
                movements: t.result.movements.len(),
                summary: SummaryView::from(&t.result.summary),
            })
            .collect(),
    }
}

#[derive(Serialize)]
pub struct Holder {
    pub address: String,
    pub asset: String,
    pub taint: String,
    pub holding: Option<String>,
    /// Current balance from the stored chain (may be negative when the address's history
    /// starts before the stored data).
    pub balance: Option<String>,
    pub hop: Option<u32>,
    pub label: Option<String>,
    pub first_tx: Option<String>,
}

#[derive(Serialize)]
pub struct Page<T: Serialize> {
    pub total: usize,
    pub offset: usize,
    #[serde(flatten)]
    pub items: T,
}

#[derive(Serialize)]
pub struct Holders {
    pub holders: Vec<Holder>,
}

/// Tainted addresses that are not exits, by what they still hold (else by taint), then
/// address; of one asset or all. The order is sorted once per index.
pub fn holders(
    index: &Index,
    e: &IncidentEntry,
    t: &PolicyTrace,
    asset: Option<&str>,
    offset: usize,
    limit: usize,
) -> Page<Holders> {
    let chain = e.incident.chain;
    let all = &t.result.addresses;
    let order = t.rendered.holders.get_or_init(|| {
        let exits: BTreeSet<&str> = t.result.exits.iter().map(|x| x.address.as_str()).collect();
        let mut rows: Vec<u32> = (0..all.len() as u32)
            .filter(|&r| {
                let a = &all[r as usize];
                a.taint > 0 && !exits.contains(a.address.as_str())
            })
            .collect();
        rows.sort_by(|&x, &y| {
            let (a, b) = (&all[x as usize], &all[y as usize]);
            (b.holding.unwrap_or(0), b.taint)
                .cmp(&(a.holding.unwrap_or(0), a.taint))
                .then_with(|| a.address.cmp(&b.address))
                .then_with(|| a.asset.cmp(&b.asset))
        });
        rows
    });
    let rows = order
        .iter()
        .map(|&r| &all[r as usize])
        .filter(|a| asset.is_none_or(|x| a.asset == x));
    let data = index.chains.get(&chain);
    let mut total = 0;
    let mut holders = Vec::new();
    for a in rows {
        if total >= offset && holders.len() < limit {
            holders.push(Holder {
                address: a.address.clone(),
                asset: a.asset.clone(),
                taint: amt(a.taint),
                holding: a.holding.map(amt),
                balance: data
                    .and_then(|d| d.balance(&a.address, &a.asset))
                    .map(|b| b.to_string()),
                hop: a.hop,
                label: index.exit_label(chain, &a.address).map(|l| l.name.clone()),
                first_tx: a.path.last().cloned(),
            });
        }
        total += 1;
    }
    Page {
        total,
        offset,
        items: Holders { holders },
    }
}

/// An exit as the API, the reports and the exports give it.
#[derive(Debug, Clone, Serialize)]
pub struct ExitView<'a> {
    pub address: &'a str,
    pub label: &'a str,
    pub asset: &'a str,
    pub amount: String,
    pub transfers: u32,
    pub path: &'a [String],
    /// The API's link to the exit's evidence report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl<'a> From<&'a Exit> for ExitView<'a> {
    fn from(x: &'a Exit) -> Self {
        ExitView {
            address: &x.address,
            label: &x.label,
            asset: &x.asset,
            amount: amt(x.amount),
            transfers: x.transfers,
            path: &x.path,
            report: None,
        }
    }
}

pub fn exits<'a>(e: &IncidentEntry, t: &'a PolicyTrace) -> Vec<ExitView<'a>> {
    t.result
        .exits
        .iter()
        .map(|x| ExitView {
            report: Some(format!(
                "/api/v1/incidents/{}/exits/{}/report.html?policy={}",
                url_segment(&e.incident.name),
                url_segment(&x.address),
                t.params.policy.as_str()
            )),
            ..ExitView::from(x)
        })
        .collect()
}

/// One tainted movement as the API and the exports give it (borrowed: pages and exports
/// serialise straight from the trace).
#[derive(Debug, Clone, Serialize)]
pub struct MovementView<'a> {
    pub block: u64,
    pub time: i64,
    pub tx: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub asset: &'a str,
    pub value: String,
    pub taint: String,
    pub hop: u32,
    pub outcome: Outcome,
    pub label: Option<&'a str>,
    pub path: &'a [String],
}

impl<'a> From<&'a Movement> for MovementView<'a> {
    fn from(m: &'a Movement) -> Self {
        MovementView {
            block: m.block,
            time: m.time,
            tx: &m.tx,
            from: &m.from,
            to: &m.to,
            asset: &m.asset,
            value: amt(m.value),
            taint: amt(m.taint),
            hop: m.hop,
            outcome: m.outcome,
            label: m.label.as_deref(),
            path: &m.path,
        }
    }
}

#[derive(Serialize)]
pub struct Movements<'a> {
    pub movements: Vec<MovementView<'a>>,
}

pub fn movements(t: &PolicyTrace, offset: usize, limit: usize) -> Page<Movements<'_>> {
    Page {
        total: t.result.movements.len(),
        offset,
        items: Movements {
            movements: t
                .result
                .movements
                .iter()
                .skip(offset)
                .take(limit)
                .map(MovementView::from)
                .collect(),
        },
    }
}

#[derive(Serialize, Default)]
pub struct Bucket {
    pub start: i64,
    pub end: i64,
    pub movements: u64,
    pub taint: String,
    pub exited: String,
}

#[derive(Serialize)]
pub struct Timeline {
    pub asset: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub buckets: Vec<Bucket>,
}

/// Tainted movements of one asset (default: the trace's main asset) in at most `n` equal
/// time buckets covering exactly the first to the last movement. Movements of blocks
/// whose time the data does not know (TaintedTX exports) have no place on a time axis.
pub fn timeline(t: &PolicyTrace, n: usize, asset: Option<&str>) -> Timeline {
    let asset = asset.map(str::to_owned).or_else(|| t.main_asset.clone());
    let timed = || {
        t.result.movements.iter().filter(|m| {
            m.time != ashiato_trace::graph::NO_TIME && asset.as_deref().is_none_or(|a| m.asset == a)
        })
    };
    let (Some(start), Some(end)) = (timed().map(|m| m.time).min(), timed().map(|m| m.time).max())
    else {
        return Timeline {
            asset,
            start: None,
            end: None,
            buckets: Vec::new(),
        };
    };
    // i128: the span of two i64 times need not fit an i64.
    let span = end as i128 - start as i128 + 1;
    let n = (n.max(1) as i128).min(span);
    let width = (span + n - 1) / n;
    let n = ((span + width - 1) / width) as usize;
    let mut sums = vec![(0u64, 0 as Amount, 0 as Amount); n];
    for m in timed() {
        let b = (((m.time as i128 - start as i128) / width) as usize).min(n - 1);
        sums[b].0 += 1;
        sums[b].1 += m.taint;
        if m.outcome == Outcome::Exit {
            sums[b].2 += m.taint;
        }
    }
    let at = |k: i128| (start as i128 + k).clamp(i64::MIN as i128, end as i128) as i64;
    Timeline {
        asset,
        start: Some(start),
        end: Some(end),
        buckets: sums
            .into_iter()
            .enumerate()
            .map(|(i, (c, taint, exited))| Bucket {
                start: at(i as i128 * width),
                end: at((i as i128 + 1) * width - 1),
                movements: c,
                taint: amt(taint),
                exited: amt(exited),
            })
            .collect(),
    }
}

#[derive(Serialize)]
pub struct Node {
    pub id: String,
    pub address: String,
    pub kind: &'static str,
    pub label: Option<String>,
    pub taint: String,
    pub holding: Option<String>,
    pub hop: Option<u32>,
    pub x: f64,
    pub y: f64,
    /// Display size from log10 of the taint (a picture, not money).
    pub size: f64,
}

#[derive(Serialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    pub taint: String,
    pub value: String,
    pub count: u32,
    pub txs: Vec<String>,
    pub first_time: i64,
    pub outcome: Outcome,
}

#[derive(Serialize)]
pub struct FlowGraph {
    pub incident: String,
    pub policy: String,
    /// The asset drawn: amounts of different assets are never added together.
    pub asset: Option<String>,
    pub total_nodes: usize,
    pub truncated: bool,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

struct NodeAcc {
    kind: &'static str,
    taint: Amount,
    holding: Option<Amount>,
    hop: Option<u32>,
    label: Option<String>,
}

/// The flow of one asset (default: the trace's main asset) as a layered graph of at most
/// `limit` nodes: seeds and exits first, then the most tainted addresses. Edges join
/// (from, to) pairs of the movement list; x is the hop at which taint first reached a
/// node, y its rank by taint there.
pub fn flow_graph(
    index: &Index,
    e: &IncidentEntry,
    t: &PolicyTrace,
    limit: usize,
    asset: Option<&str>,
) -> FlowGraph {
    let chain = e.incident.chain;
    let asset = asset.or(t.main_asset.as_deref());
    let of_asset = |a: &str| asset.is_none_or(|x| a == x);
    let movements: Vec<&Movement> = t
        .result
        .movements
        .iter()
        .filter(|m| of_asset(&m.asset))
        .collect();
    let mut nodes: FxHashMap<&str, NodeAcc> = FxHashMap::default();
    // Seed addresses, and the senders of first hops (incidents seeded by transactions).
    let seeds = t.params.seeds.iter().map(String::as_str).chain(
        movements
            .iter()
            .filter(|m| m.hop == 1)
            .map(|m| m.from.as_str()),
    );
    for s in seeds {
        nodes.insert(
            s,
            NodeAcc {
                kind: "seed",
                taint: 0,
                holding: None,
                hop: Some(0),
                label: None,
            },
        );
    }
    for a in t.result.addresses.iter().filter(|a| of_asset(&a.asset)) {
        let acc = nodes.entry(a.address.as_str()).or_insert(NodeAcc {
            kind: if a.hop.is_some() { "holder" } else { "dust" },
            taint: 0,
            holding: None,
            hop: a.hop,
            label: None,
        });
        acc.taint += a.taint;
        acc.holding = match (acc.holding, a.holding) {
            (Some(x), Some(y)) => Some(x + y),
            (x, y) => x.or(y),
        };
    }
    for x in t.result.exits.iter().filter(|x| of_asset(&x.asset)) {
        let acc = nodes.entry(x.address.as_str()).or_insert(NodeAcc {
            kind: "exit",
            taint: 0,
            holding: None,
            hop: None,
            label: None,
        });
        acc.kind = "exit";
        acc.label = Some(x.label.clone());
    }
    // Movements give exits and dust recipients their hop, and seeds what they emitted.
    for m in movements.iter().copied() {
        if m.hop == 1 {
            if let Some(acc) = nodes.get_mut(m.from.as_str()).filter(|a| a.kind == "seed") {
                acc.taint += m.taint;
            }
        }
        if let Some(acc) = nodes.get_mut(m.to.as_str()) {
            if acc.hop.is_none() || (acc.kind == "exit" && acc.hop > Some(m.hop)) {
                acc.hop = Some(m.hop);
            }
            if acc.kind == "exit" {
                acc.taint += m.taint;
            }
        }
    }
    let total = nodes.len();
    let mut order: Vec<(&str, &NodeAcc)> = nodes.iter().map(|(k, v)| (*k, v)).collect();
    // Seeds and exits first, then by taint, then by address for a stable picture.
    order.sort_by(|a, b| {
        let rank = |n: &NodeAcc| u8::from(!matches!(n.kind, "seed" | "exit"));
        rank(a.1)
            .cmp(&rank(b.1))
            .then(b.1.taint.cmp(&a.1.taint))
            .then(a.0.cmp(b.0))
    });
    order.truncate(limit.max(1));
    let kept: FxHashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, (a, _))| (*a, i))
        .collect();
    // Layers: rank inside each hop column by taint.
    let mut per_hop: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    for (i, (_, n)) in order.iter().enumerate() {
        per_hop
            .entry(n.hop.unwrap_or(u32::MAX))
            .or_default()
            .push(i);
    }
    let max_hop = per_hop
        .keys()
        .copied()
        .filter(|&h| h != u32::MAX)
        .max()
        .unwrap_or(0);
    let mut pos = vec![(0.0f64, 0.0f64); order.len()];
    for (hop, idx) in &per_hop {
        let col = if *hop == u32::MAX { max_hop + 1 } else { *hop };
        let n = idx.len() as f64;
        for (r, &i) in idx.iter().enumerate() {
            // Centre each column on y = 0; the page scales to fit.
            pos[i] = (col as f64 * 10.0, (r as f64 - (n - 1.0) / 2.0) * 1.0);
        }
    }
    let nodes_out: Vec<Node> = order
        .iter()
        .enumerate()
        .map(|(i, (a, n))| Node {
            id: (*a).to_owned(),
            address: (*a).to_owned(),
            kind: n.kind,
            label: n
                .label
                .clone()
                .or_else(|| index.exit_label(chain, a).map(|l| l.name.clone())),
            taint: amt(n.taint),
            holding: n.holding.map(amt),
            hop: n.hop,
            x: pos[i].0,
            y: pos[i].1,
            size: 2.0 + (n.taint.max(1) as f64).log10(),
        })
        .collect();
    struct EdgeAcc {
        taint: Amount,
        value: Amount,
        count: u32,
        txs: Vec<String>,
        first_time: i64,
        outcome: Outcome,
    }
    let mut edges: FxHashMap<(usize, usize), EdgeAcc> = FxHashMap::default();
    for m in movements.iter().copied() {
        let (Some(&s), Some(&d)) = (kept.get(m.from.as_str()), kept.get(m.to.as_str())) else {
            continue;
        };
        let acc = edges.entry((s, d)).or_insert(EdgeAcc {
            taint: 0,
            value: 0,
            count: 0,
            txs: Vec::new(),
            first_time: m.time,
            outcome: m.outcome,
        });
        acc.taint += m.taint;
        acc.value += m.value;
        acc.count += 1;
        if acc.txs.len() < 10 && !acc.txs.contains(&m.tx) {
            acc.txs.push(m.tx.clone());
        }
    }
    let mut edges: Vec<_> = edges.into_iter().collect();
    edges.sort_by_key(|((s, d), _)| (*s, *d));
    FlowGraph {
        incident: e.incident.name.clone(),
        policy: t.params.policy.as_str().to_owned(),
        asset: asset.map(str::to_owned),
        total_nodes: total,
        truncated: total > order.len(),
        edges: edges
            .into_iter()
            .map(|((s, d), a)| Edge {
                id: format!("e{s}-{d}"),
                source: order[s].0.to_owned(),
                target: order[d].0.to_owned(),
                taint: amt(a.taint),
                value: amt(a.value),
                count: a.count,
                txs: a.txs,
                first_time: a.first_time,
                outcome: a.outcome,
            })
            .collect(),
        nodes: nodes_out,
    }
}

/// Percent-encodes what a path segment cannot hold as is.
pub fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{IncidentEntry, Params, PolicyTrace};
    use ashiato_model::{Address, Incident};
    use ashiato_trace::{AddressTaint, Direction, Exit, PolicyName, TraceResult};

    fn mv(
        time: i64,
        tx: &str,
        from: &str,
        to: &str,
        taint: Amount,
        hop: u32,
        o: Outcome,
    ) -> Movement {
        Movement {
            block: time as u64,
            time,
            tx: tx.into(),
            from: from.into(),
            to: to.into(),
            asset: "X".into(),
            value: taint + 1,
            taint,
            hop,
            outcome: o,
            label: (o == Outcome::Exit).then(|| "Ex".to_owned()),
            path: vec![tx.into()],
        }
    }

    fn held(a: &str, taint: Amount, hop: u32) -> AddressTaint {
        AddressTaint {
            address: a.into(),
            asset: "X".into(),
            taint,
            holding: Some(taint),
            hop: Some(hop),
            path: vec![format!("t-{a}")],
            dust: 0,
            dust_transfers: 0,
        }
    }

    /// S sends 100 to A (hop 1), A sends 60 to B (hop 2) and 40 to exchange E.
    fn fixture() -> (Index, IncidentEntry) {
        let g = Chain::Generic;
        let p = |s: &str| Address::parse(g, s).unwrap();
        let incident = Incident {
            name: "i".into(),
            chain: g,
            seeds: vec![p("S")],
            seed_txs: vec![],
            since: None,
            description: String::new(),
            source: String::new(),
        };
        let result = TraceResult {
            policy: PolicyName::Haircut,
            direction: Direction::Forward,
            addresses: vec![held("A", 100, 1), held("B", 60, 2)],
            exits: vec![Exit {
                address: "E".into(),
                label: "Ex".into(),
                asset: "X".into(),
                amount: 40,
                transfers: 1,
                path: vec!["t1".into(), "t3".into()],
            }],
            summary: Default::default(),
            movements: vec![
                mv(0, "t1", "S", "A", 100, 1, Outcome::Held),
                mv(5, "t2", "A", "B", 60, 2, Outcome::Held),
                mv(10, "t3", "A", "E", 40, 2, Outcome::Exit),
            ],
        };
        let params = Params {
            incident: "i".into(),
            chain: g,
            policy: PolicyName::Haircut,
            direction: Direction::Forward,
            seeds: vec!["S".into()],
            seed_txs: vec![],
            since: None,
            dust: "0".into(),
            spray_max: "0".into(),
            max_hops: None,
            stop_at: 1,
            stop_at_sha256: String::new(),
        };
        let e = IncidentEntry {
            incident,
            traces: vec![PolicyTrace {
                params,
                result,
                exit_hops: vec![Some(2)],
                main_asset: Some("X".into()),
                rendered: Default::default(),
            }],
        };
        (Index::empty(vec![PolicyName::Haircut]), e)
    }

    #[test]
    fn timeline_buckets_split_time_evenly_and_sum_exactly() {
        let (_, e) = fixture();
        let t = timeline(&e.traces[0], 2, None);
        // 11 seconds in 2 buckets of 6: [0, 5] holds t1 and t2, [6, 10] the exit.
        assert_eq!((t.start, t.end), (Some(0), Some(10)));
        let b: Vec<_> = t
            .buckets
            .iter()
            .map(|b| {
                (
                    b.start,
                    b.end,
                    b.movements,
                    b.taint.as_str(),
                    b.exited.as_str(),
                )
            })
            .collect();
        assert_eq!(b, vec![(0, 5, 2, "160", "0"), (6, 10, 1, "40", "40")]);
        // More buckets than seconds: one a second, none past the end.
        assert_eq!(timeline(&e.traces[0], 500, None).buckets.len(), 11);
    }

    #[test]
    fn a_timeline_over_all_of_i64_does_not_overflow() {
        let (_, mut e) = fixture();
        let m = &mut e.traces[0].result.movements;
        m[0].time = i64::MIN + 1;
        m[2].time = i64::MAX;
        let t = timeline(&e.traces[0], 2, None);
        let b: Vec<_> = t
            .buckets
            .iter()
            .map(|b| (b.start, b.end, b.movements))
            .collect();
        assert_eq!(
            b,
            vec![(i64::MIN + 1, 0, 1), (1, i64::MAX, 2)],
            "2^64 - 1 seconds in two buckets of 2^63: t2 at time 5 falls in the second"
        );
    }

    #[test]
    fn graphs_and_timelines_never_add_two_assets() {
        let (index, mut e) = fixture();
        let mut y = mv(3, "t4", "S", "A", 7, 1, Outcome::Held);
        y.asset = "Y".into();
        e.traces[0].result.movements.push(y);
        let mut ay = held("A", 7, 1);
        ay.asset = "Y".into();
        e.traces[0].result.addresses.push(ay);
        // Default: the main asset X only.
        let g = flow_graph(&index, &e, &e.traces[0], 10, None);
        assert_eq!(g.asset.as_deref(), Some("X"));
        let sa = g.edges.iter().find(|x| x.source == "S").unwrap();
        assert_eq!((sa.taint.as_str(), sa.count), ("100", 1));
        let g = flow_graph(&index, &e, &e.traces[0], 10, Some("Y"));
        let sa = g.edges.iter().find(|x| x.source == "S").unwrap();
        assert_eq!((sa.taint.as_str(), sa.count), ("7", 1));
        assert_eq!(g.nodes.iter().find(|n| n.id == "S").unwrap().taint, "7");
        let t = timeline(&e.traces[0], 1, Some("Y"));
        assert_eq!(
            (t.buckets[0].movements, t.buckets[0].taint.as_str()),
            (1, "7")
        );
        assert_eq!(timeline(&e.traces[0], 1, None).buckets[0].taint, "200");
    }

    #[test]
    fn an_incident_seeded_by_transactions_has_its_senders_as_seeds() {
        let (index, mut e) = fixture();
        e.traces[0].params.seeds.clear();
        let g = flow_graph(&index, &e, &e.traces[0], 10, None);
        let s = g.nodes.iter().find(|n| n.id == "S").unwrap();
        assert_eq!((s.kind, s.taint.as_str()), ("seed", "100"));
        assert_eq!(g.edges.len(), 3);
    }

    #[test]
    fn flow_graph_layers_by_hop_and_keeps_seeds_and_exits_first() {
        let (index, e) = fixture();
        let g = flow_graph(&index, &e, &e.traces[0], 10, None);
        let nodes: Vec<_> = g
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.kind, n.hop, n.x, n.taint.as_str()))
            .collect();
        // Seed S (emitted 100) and exit E (40 in) first, by taint, then A and B;
        // x = 10 × hop.
        assert_eq!(
            nodes,
            vec![
                ("S", "seed", Some(0), 0.0, "100"),
                ("E", "exit", Some(2), 20.0, "40"),
                ("A", "holder", Some(1), 10.0, "100"),
                ("B", "holder", Some(2), 20.0, "60"),
            ]
        );
        let edges: Vec<_> = g
            .edges
            .iter()
            .map(|x| {
                (
                    x.source.as_str(),
                    x.target.as_str(),
                    x.taint.as_str(),
                    x.count,
                )
            })
            .collect();
        assert_eq!(
            edges,
            vec![
                ("S", "A", "100", 1),
                ("A", "E", "40", 1),
                ("A", "B", "60", 1)
            ]
        );
        assert!(!g.truncated && g.total_nodes == 4);
        // Two columns share hop 2: E above B, centred on 0.
        assert_eq!((g.nodes[1].y, g.nodes[3].y), (-0.5, 0.5));
        let small = flow_graph(&index, &e, &e.traces[0], 2, None);
        assert!(small.truncated);
        assert_eq!(small.nodes.len(), 2);
        assert!(small.edges.is_empty());
    }

    #[test]
    fn holders_leave_out_exits_and_page() {
        let (index, e) = fixture();
        let h = holders(&index, &e, &e.traces[0], None, 1, 5);
        assert_eq!(h.total, 2);
        assert_eq!(h.items.holders.len(), 1);
        assert_eq!(h.items.holders[0].address, "B");
        assert_eq!(h.items.holders[0].first_tx.as_deref(), Some("t-B"));
    }

    #[test]
    fn url_segments_are_escaped() {
        assert_eq!(url_segment("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(url_segment("0xAbC-_.~"), "0xAbC-_.~");
    }
}
