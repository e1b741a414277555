//! Evidence reports and exports of one incident traced under one policy.
//!
//! A report is a self-contained, printable HTML page (no scripts to run, no outside
//! resources) that says what was traced, how, from which chain data, and what came of it,
//! and carries a *seal*: a JSON block naming the tool, the SHA-256 of the chain data, the
//! trace's parameters and the SHA-256 of a canonical JSON of what the report asserts. Anyone
//! holding the same store can regenerate the report and [`check`] that the three hashes
//! agree. Exports give the same trace as JSON, CSV or GraphML. Rules: docs/reports.md.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use ashiato_model::{Address, Amount, Chain, Family, Label, UtcTime};
use ashiato_trace::{AddressTaint, Direction, Exit, Movement, Outcome, PolicyName};
use serde::{Deserialize, Serialize};

use crate::index::{sha256_hex, ChainData, IncidentEntry, Index, Params, PolicyTrace};
use crate::views::{ExitView, MovementView, SummaryView};

/// The program that wrote a report (recorded in its seal).
pub const TOOL: &str = concat!("ashiato ", env!("CARGO_PKG_VERSION"));
/// The version of the seal's shape.
pub const SEAL_FORMAT: &str = "ashiato-evidence-seal/1";
/// The version of the JSON export's shape.
pub const EXPORT_FORMAT: &str = "ashiato-export/1";
/// Holders listed in an incident report (the exports list them all).
pub const HOLDERS_SHOWN: usize = 200;
/// The `id` of the seal's `<script type="application/json">` element.
pub const SEAL_ID: &str = "ashiato-seal";

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("no seal in this document: not an Ashiato evidence report (no <script id=\"ashiato-seal\">)")]
    NoSeal,
    #[error("the report's seal is unreadable: {0}")]
    BadSeal(#[from] serde_json::Error),
}

/// One incident, traced under one policy, in an index: what every report and export of
/// it is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub index: &'a Index,
    pub entry: &'a IncidentEntry,
    pub trace: &'a PolicyTrace,
}

impl<'a> Evidence<'a> {
    /// `None` when the index has no such incident, or did not trace it under `policy`.
    pub fn new(index: &'a Index, incident: &str, policy: PolicyName) -> Option<Evidence<'a>> {
        let entry = index.incident(incident)?;
        let trace = entry.trace(policy)?;
        Some(Evidence {
            index,
            entry,
            trace,
        })
    }

    pub fn chain(&self) -> Chain {
        self.entry.incident.chain
    }

    /// The stored chain the trace was computed from.
    pub fn chain_data(&self) -> Option<&'a ChainData> {
        self.index.chains.get(&self.chain())
    }

    /// The exits (one per asset) at `address`, spelled as given or canonically.
    pub fn exits_at(&self, address: &str) -> Vec<&'a Exit> {
        let canonical = Address::parse(self.chain(), address)
            .map(|a| a.to_string())
            .unwrap_or_else(|_| address.to_owned());
        self.trace
            .result
            .exits
            .iter()
            .filter(|x| x.address == canonical || x.address == address)
            .collect()
    }

    /// Every label the store has for `address`.
    pub fn labels_of(&self, address: &str) -> &'a [Label] {
        match Address::parse(self.chain(), address) {
            Ok(a) => self.index.labels(self.chain(), &a),
            Err(_) => self
                .index
                .labels(self.chain(), &Address::from_canonical(address)),
        }
    }

    fn is_seed(&self, address: &str) -> bool {
        self.entry
            .incident
            .seeds
            .iter()
            .any(|s| s.as_str() == address)
    }
}

// ---------------------------------------------------------------------------------------
// Paths: from the victim to an exit, hop by hop, out of the movement list.

/// One transaction of an exit's path, with the movement that carried the taint on when
/// exactly one movement of the trace fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathHop {
    /// Position in the path: 1 is the seed's transaction.
    pub step: usize,
    pub tx: String,
    /// The movement of `tx` that delivered the taint the next step sent on.
    pub movement: Option<Movement>,
    /// Why no single movement could be named (set exactly when `movement` is `None`).
    pub unmatched: Option<String>,
}

/// The path of `exit` (its first tainted movement) as rows, seed side first.
///
/// Walks back from the exit movement: step `k`'s movement is the one of transaction
/// `path[k]` that delivered followed taint to the sender of step `k + 1`, in the same asset
/// (account chains), one hop earlier, with the path `path[..=k]`. A step no movement or
/// several movements fit is reported as unmatched, never guessed.
pub fn exit_path(e: &Evidence, exit: &Exit) -> Vec<PathHop> {
    let moves = &e.trace.result.movements;
    let mut by_tx: HashMap<&str, Vec<&Movement>> = HashMap::new();
    for m in moves {
        by_tx.entry(m.tx.as_str()).or_default().push(m);
    }
    exit_path_in(e, exit, &by_tx)
}

fn exit_path_in(e: &Evidence, exit: &Exit, by_tx: &HashMap<&str, Vec<&Movement>>) -> Vec<PathHop> {
    let path = &exit.path;
    let n = path.len();
    if n == 0 {
        return Vec::new();
    }
    let account = e.chain().family() == Family::Account;
    let none: Vec<&Movement> = Vec::new();
    let of = |tx: &str| by_tx.get(tx).unwrap_or(&none);
    let mut hops = Vec::with_capacity(n);
    // The exit's own movement: its first tainted delivery into the exit (walk order).
    let last = of(&path[n - 1]).iter().copied().find(|m| {
        m.outcome == Outcome::Exit
            && m.to == exit.address
            && m.asset == exit.asset
            && m.path == *path
    });
    hops.push(match last {
        Some(m) => PathHop {
            step: n,
            tx: path[n - 1].clone(),
            movement: Some(m.clone()),
            unmatched: None,
        },
        None => PathHop {
            step: n,
            tx: path[n - 1].clone(),
            movement: None,
            unmatched: Some(
                "the movement list has no delivery of this transaction into the exit".into(),
            ),
        },
    });
    let mut next = last;
    for k in (0..n - 1).rev() {
        let prefix = &path[..=k];
        let fits: Vec<&Movement> = of(&path[k])
            .iter()
            .copied()
            .filter(|m| {
                m.outcome == Outcome::Held
                    && m.path == prefix
                    && next.is_none_or(|nx| {
                        m.to == nx.from
                            && m.hop.checked_add(1) == Some(nx.hop)
                            && (!account || m.asset == nx.asset)
                    })
            })
            .collect();
        let hop = match fits.as_slice() {
            [m] => {
                next = Some(m);
                PathHop {
                    step: k + 1,
                    tx: path[k].clone(),
                    movement: Some((*m).clone()),
                    unmatched: None,
                }
            }
            [] => {
                let why = match next {
                    Some(nx) => format!(
                        "no movement of this transaction delivered followed taint to {} (the sender of the next step)",
                        nx.from
                    ),
                    None => "no movement of this transaction with this path delivered followed taint".into(),
                };
                next = None;
                PathHop {
                    step: k + 1,
                    tx: path[k].clone(),
                    movement: None,
                    unmatched: Some(why),
                }
            }
            many => {
                next = None;
                PathHop {
                    step: k + 1,
                    tx: path[k].clone(),
                    movement: None,
                    unmatched: Some(format!(
                        "{} movements of this transaction fit equally; the report does not choose one",
                        many.len()
                    )),
                }
            }
        };
        hops.push(hop);
    }
    hops.reverse();
    hops
}

/// Every tainted movement into `address` that the trace ended as an exit, in walk order.
pub fn deposits<'e>(e: &Evidence<'e>, address: &str) -> Vec<&'e Movement> {
    e.trace
        .result
        .movements
        .iter()
        .filter(|m| m.outcome == Outcome::Exit && m.to == address)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Canonical views: amounts as decimal strings (they exceed 2^53), fixed field order.

#[derive(Debug, Clone, Serialize)]
struct AddressView<'a> {
    address: &'a str,
    asset: &'a str,
    taint: String,
    holding: Option<String>,
    hop: Option<u32>,
    path: &'a [String],
    dust: String,
    dust_transfers: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
}

impl<'a> AddressView<'a> {
    fn of(a: &'a AddressTaint, label: Option<&'a str>) -> Self {
        AddressView {
            address: &a.address,
            asset: &a.asset,
            taint: a.taint.to_string(),
            holding: a.holding.map(|h| h.to_string()),
            hop: a.hop,
            path: &a.path,
            dust: a.dust.to_string(),
            dust_transfers: a.dust_transfers,
            label,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct HopView<'a> {
    step: usize,
    tx: &'a str,
    movement: Option<MovementView<'a>>,
    unmatched: Option<&'a str>,
}

impl<'a> From<&'a PathHop> for HopView<'a> {
    fn from(h: &'a PathHop) -> Self {
        HopView {
            step: h.step,
            tx: &h.tx,
            movement: h.movement.as_ref().map(MovementView::from),
            unmatched: h.unmatched.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct IncidentView<'a> {
    name: &'a str,
    chain: Chain,
    description: &'a str,
    source: &'a str,
    seeds: Vec<&'a str>,
    seed_txs: &'a [String],
    since: Option<String>,
}

impl<'a> IncidentView<'a> {
    fn of(e: &Evidence<'a>) -> Self {
        let i = &e.entry.incident;
        IncidentView {
            name: &i.name,
            chain: i.chain,
            description: &i.description,
            source: &i.source,
            seeds: i.seeds.iter().map(|s| s.as_str()).collect(),
            seed_txs: &i.seed_txs,
            since: i.since.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct ChainDataView {
    chain: Chain,
    data_sha256: String,
    events: usize,
    first_time: Option<i64>,
    last_time: Option<i64>,
    last_block: Option<u64>,
}

impl ChainDataView {
    fn of(e: &Evidence) -> Self {
        match e.chain_data() {
            Some(c) => ChainDataView {
                chain: c.chain,
                data_sha256: c.data_sha256.clone(),
                events: c.events,
                first_time: c.first_time,
                last_time: c.last_time,
                last_block: c.last_block,
            },
            None => ChainDataView {
                chain: e.chain(),
                data_sha256: String::new(),
                events: 0,
                first_time: None,
                last_time: None,
                last_block: None,
            },
        }
    }
}

/// What an incident report asserts: the summary, every exit, every address.
#[derive(Serialize)]
struct IncidentAssertion<'a> {
    kind: &'static str,
    summary: SummaryView,
    exits: Vec<ExitView<'a>>,
    addresses: Vec<AddressView<'a>>,
}

/// What an exit report asserts: the exit (one entry per asset), its path hop by hop, and
/// every tainted deposit into it.
#[derive(Serialize)]
struct ExitAssertion<'a> {
    kind: &'static str,
    exits: Vec<ExitView<'a>>,
    paths: Vec<Vec<HopView<'a>>>,
    deposits: Vec<MovementView<'a>>,
}

fn incident_assertion<'a>(e: &Evidence<'a>) -> IncidentAssertion<'a> {
    let r = &e.trace.result;
    IncidentAssertion {
        kind: "incident",
        summary: SummaryView::from(&r.summary),
        exits: r.exits.iter().map(ExitView::from).collect(),
        addresses: r
            .addresses
            .iter()
            .map(|a| AddressView::of(a, None))
            .collect(),
    }
}

/// The data of an exit report, computed once for both the page and its seal.
struct ExitFacts<'a> {
    address: String,
    exits: Vec<&'a Exit>,
    paths: Vec<Vec<PathHop>>,
    deposits: Vec<&'a Movement>,
}

fn exit_facts<'a>(e: &Evidence<'a>, address: &str) -> Option<ExitFacts<'a>> {
    let exits = e.exits_at(address);
    let first = exits.first()?;
    let address = first.address.clone();
    let paths = exits.iter().map(|x| exit_path(e, x)).collect();
    let deposits = deposits(e, &address);
    Some(ExitFacts {
        address,
        exits,
        paths,
        deposits,
    })
}

fn exit_assertion_hash(f: &ExitFacts) -> String {
    let a = ExitAssertion {
        kind: "exit",
        exits: f.exits.iter().map(|x| ExitView::from(*x)).collect(),
        paths: f
            .paths
            .iter()
            .map(|p| p.iter().map(HopView::from).collect())
            .collect(),
        deposits: f.deposits.iter().map(|m| MovementView::from(*m)).collect(),
    };
    sha256_hex(&serde_json::to_vec(&a).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------
// The seal.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    Incident,
    Exit,
}

/// What a report carries so that it can be checked later against a store: the chain
/// data, the parameters and the result it was computed from, as SHA-256 digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// [`SEAL_FORMAT`].
    pub format: String,
    /// The program and version that wrote the report.
    pub tool: String,
    /// When the report was written (RFC 3339 UTC); not part of any hash.
    pub generated: String,
    pub kind: ReportKind,
    /// The exit address of an exit report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    pub chain: Chain,
    /// [`crate::index::data_sha256`] of the stored chain the trace read.
    pub data_sha256: String,
    pub events: usize,
    pub last_block: Option<u64>,
    pub last_time: Option<i64>,
    /// Everything besides the chain data that the result depends on.
    pub params: Params,
    /// `params.sha256()`.
    pub params_sha256: String,
    /// SHA-256 of the canonical JSON of what the report asserts (docs/reports.md).
    pub result_sha256: String,
    /// The headline figures behind `result_sha256`, so a mismatch can say what changed.
    pub figures: BTreeMap<String, String>,
    /// SHA-256 of the HTML document as written, with this seal's JSON text left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_sha256: Option<String>,
}

fn base_seal(e: &Evidence, kind: ReportKind, exit: Option<String>) -> Seal {
    let cd = ChainDataView::of(e);
    Seal {
        format: SEAL_FORMAT.into(),
        tool: TOOL.into(),
        generated: UtcTime(now_unix()).to_rfc3339(),
        kind,
        exit,
        chain: e.chain(),
        data_sha256: cd.data_sha256,
        events: cd.events,
        last_block: cd.last_block,
        last_time: cd.last_time,
        params: e.trace.params.clone(),
        params_sha256: e.trace.params.sha256(),
        result_sha256: String::new(),
        figures: BTreeMap::new(),
        document_sha256: None,
    }
}

fn incident_seal(e: &Evidence) -> Seal {
    let r = &e.trace.result;
    let mut s = base_seal(e, ReportKind::Incident, None);
    s.result_sha256 = sha256_hex(&serde_json::to_vec(&incident_assertion(e)).unwrap_or_default());
    let sm = &r.summary;
    for (k, v) in [
        ("entered", sm.entered),
        ("held", sm.held),
        ("exited", sm.exited),
        ("dust", sm.dust),
        ("lost_to_fees", sm.lost_to_fees),
        ("cut_by_hops", sm.cut_by_hops),
        ("returned_to_seeds", sm.returned_to_seeds),
        ("left_data", sm.left_data),
    ] {
        s.figures.insert(k.into(), v.to_string());
    }
    s.figures.insert("exits".into(), r.exits.len().to_string());
    s.figures
        .insert("addresses".into(), r.addresses.len().to_string());
    s.figures
        .insert("movements".into(), r.movements.len().to_string());
    s.figures.insert("events".into(), sm.events.to_string());
    s.figures
        .insert("tainted_events".into(), sm.tainted_events.to_string());
    s
}

fn exit_seal(e: &Evidence, f: &ExitFacts) -> Seal {
    let mut s = base_seal(e, ReportKind::Exit, Some(f.address.clone()));
    s.result_sha256 = exit_assertion_hash(f);
    for x in &f.exits {
        s.figures
            .insert(format!("amount {}", x.asset), x.amount.to_string());
        s.figures
            .insert(format!("transfers {}", x.asset), x.transfers.to_string());
        s.figures
            .insert(format!("path {}", x.asset), x.path.join(" "));
    }
    s.figures
        .insert("deposits".into(), f.deposits.len().to_string());
    s
}

/// Reads the seal out of a report: an HTML report's `<script id="ashiato-seal">`, or a
/// bare seal JSON (what `ashiato report --format pdf` writes beside the PDF).
pub fn seal_of(html: &str) -> Result<Seal, EvidenceError> {
    if html.trim_start().starts_with('{') {
        return Ok(serde_json::from_str(html)?);
    }
    let (start, end) = seal_span(html).ok_or(EvidenceError::NoSeal)?;
    Ok(serde_json::from_str(&html[start..end])?)
}

/// The byte range of the seal's JSON text inside `html`.
fn seal_span(html: &str) -> Option<(usize, usize)> {
    let marker = format!("id=\"{SEAL_ID}\"");
    let at = html.find(&marker)?;
    let open_end = at + html[at..].find('>')? + 1;
    let close = open_end + html[open_end..].find("</script>")?;
    Some((open_end, close))
}

/// Checks an HTML report against the `document_sha256` its seal carries: empty when the
/// file is as it was written; else what is wrong. (This only says the file was not edited
/// after it was written; [`check`] says whether the store still gives what it asserts.)
pub fn check_document(html: &str) -> Result<Vec<String>, EvidenceError> {
    let seal = seal_of(html)?;
    let Some((start, end)) = seal_span(html) else {
        return Ok(Vec::new()); // a bare seal file: no document to check
    };
    let Some(want) = seal.document_sha256 else {
        return Ok(vec!["the seal carries no document hash".into()]);
    };
    let mut doc = String::with_capacity(html.len());
    doc.push_str(&html[..start]);
    doc.push_str(&html[end..]);
    let got = sha256_hex(doc.as_bytes());
    if got == want {
        Ok(Vec::new())
    } else {
        Ok(vec![format!(
            "the document was changed after it was written: its text hashes to {got}, the seal says {want}"
        )])
    }
}

/// Compares a report's seal with the same report regenerated (from a store, with the
/// seal's incident, policy and limits). Empty when data, parameters and result all match;
/// else one human-readable line per mismatch.
pub fn check(seal: &Seal, regenerated: &Evidence) -> Vec<String> {
    let mut out = Vec::new();
    if seal.format != SEAL_FORMAT {
        out.push(format!(
            "the seal's format is {:?}; this program reads {SEAL_FORMAT:?}",
            seal.format
        ));
    }
    if seal.params.sha256() != seal.params_sha256 {
        out.push(format!(
            "the seal is inconsistent: its parameters hash to {}, it says {} (the seal was edited)",
            seal.params.sha256(),
            seal.params_sha256
        ));
    }
    let now = match (seal.kind, &seal.exit) {
        (ReportKind::Incident, _) => Some(incident_seal(regenerated)),
        (ReportKind::Exit, Some(addr)) => match exit_facts(regenerated, addr) {
            Some(f) => Some(exit_seal(regenerated, &f)),
            None => {
                out.push(format!(
                    "{addr} is no longer an exit of incident {} under {}: the store's trace does not reach it",
                    seal.params.incident, seal.params.policy
                ));
                None
            }
        },
        (ReportKind::Exit, None) => {
            out.push("the seal is an exit report's but names no exit".into());
            None
        }
    };
    let cur = now.unwrap_or_else(|| base_seal(regenerated, seal.kind, seal.exit.clone()));
    if seal.chain != cur.chain || seal.data_sha256 != cur.data_sha256 {
        out.push(format!(
            "chain data differs: the report was computed from {} {} events up to block {} (data_sha256 {}); the store now holds {} {} events up to block {} (data_sha256 {})",
            seal.events,
            seal.chain,
            opt(seal.last_block),
            seal.data_sha256,
            cur.events,
            cur.chain,
            opt(cur.last_block),
            cur.data_sha256
        ));
    }
    let was = serde_json::to_value(&seal.params).unwrap_or_default();
    let is = serde_json::to_value(&cur.params).unwrap_or_default();
    if was != is {
        let (w, i) = (was.as_object(), is.as_object());
        let mut keys: Vec<&String> = w.into_iter().chain(i).flat_map(|m| m.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let a = w.and_then(|m| m.get(k));
            let b = i.and_then(|m| m.get(k));
            if a != b {
                out.push(format!(
                    "parameter {k} differs: the report says {}, the store now gives {}",
                    json_or_none(a),
                    json_or_none(b)
                ));
            }
        }
    }
    if !cur.result_sha256.is_empty() && seal.result_sha256 != cur.result_sha256 {
        let mut what: Vec<String> = Vec::new();
        let keys: std::collections::BTreeSet<&String> =
            seal.figures.keys().chain(cur.figures.keys()).collect();
        for k in keys {
            let a = seal.figures.get(k);
            let b = cur.figures.get(k);
            if a != b {
                what.push(format!(
                    "{k} {} → {}",
                    a.map_or("(none)".into(), |v| group_if_number(v)),
                    b.map_or("(none)".into(), |v| group_if_number(v))
                ));
            }
        }
        out.push(format!(
            "result differs: the report asserts result_sha256 {}, regenerating gives {}{}",
            seal.result_sha256,
            cur.result_sha256,
            if what.is_empty() {
                String::new()
            } else {
                format!(" ({})", what.join("; "))
            }
        ));
    }
    out
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "—".into(), |v| v.to_string())
}

fn json_or_none(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "(nothing)".into(), |v| v.to_string())
}

fn group_if_number(v: &str) -> String {
    match v.parse::<u128>() {
        Ok(n) => group(n),
        Err(_) => v.to_owned(),
    }
}

/// Puts `seal` into the page: the seal's JSON inside the `<script>` that `page` holds
/// empty, after hashing the page without it.
fn sealed(page: String, mut seal: Seal) -> String {
    let (start, end) = seal_span(&page).expect("the page holds the seal element");
    debug_assert_eq!(start, end);
    seal.document_sha256 = Some(sha256_hex(page.as_bytes()));
    let json = serde_json::to_string_pretty(&seal).unwrap_or_default();
    // `<` only ever occurs inside JSON strings, where \u003c means the same: no text of
    // the seal can close the script element.
    let json = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let mut out = String::with_capacity(page.len() + json.len() + 2);
    out.push_str(&page[..start]);
    out.push('\n');
    out.push_str(&json);
    out.push('\n');
    out.push_str(&page[start..]);
    out
}

// ---------------------------------------------------------------------------------------
// Formatting.

/// HTML-escapes text from outside data (addresses, labels, descriptions), dropping
/// control characters that have no place in a document.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if c.is_control() => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// An exact integer with thousands separators: 29499994000000 → 29,499,994,000,000.
pub fn group(n: Amount) -> String {
    ashiato_model::group_digits(n)
}

/// The base unit of an asset: its name, and how many decimals make one whole coin.
fn unit_of(asset: &str) -> (String, Option<(u32, &'static str)>) {
    match asset.to_ascii_lowercase().as_str() {
        "nem:xem" | "xem" => ("micro-XEM".into(), Some((6, "XEM"))),
        "btc" => ("satoshi".into(), Some((8, "BTC"))),
        "eth" => ("wei".into(), Some((18, "ETH"))),
        "usd" => ("US cents".into(), Some((2, "USD"))),
        _ => (format!("base units of {asset}"), None),
    }
}

/// The whole-coin reading of a base-unit amount (exact, trailing zeros dropped).
fn whole(n: Amount, decimals: u32, symbol: &str) -> String {
    let scale = 10u128.pow(decimals);
    let (int, frac) = (n / scale, n % scale);
    let mut s = group(int);
    if frac > 0 {
        let f = format!("{frac:0width$}", width = decimals as usize);
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    format!("{s} {symbol}")
}

/// An amount cell: the exact base units, and the whole-coin reading under it when the
/// asset is known.
fn amount_cell(n: Amount, asset: &str) -> String {
    match unit_of(asset).1 {
        Some((d, sym)) => format!(
            "<td class=\"n\">{}<br><span class=\"w\">{}</span></td>",
            group_html(n),
            esc(&whole(n, d, sym))
        ),
        None => format!("<td class=\"n\">{}</td>", group_html(n)),
    }
}

/// [`group`] with a line-break opportunity after each separator, so that a long amount
/// in a narrow column wraps between digit groups.
fn group_html(n: Amount) -> String {
    group(n).replace(',', ",<wbr>")
}

fn time_utc(t: i64) -> String {
    UtcTime(t).to_rfc3339()
}

fn mono(s: &str) -> String {
    format!("<span class=\"m\">{}</span>", esc(s))
}

fn policy_rule(p: PolicyName) -> &'static str {
    match p {
        PolicyName::Poison => "every movement out of an address that ever received followed taint is tainted whole (the 2018 tagging rule; totals are not conserved)",
        PolicyName::Haircut => "a movement of x from a balance B holding taint T carries floor(x·T/B): taint is diluted pro rata",
        PolicyName::Fifo => "the oldest units of a balance leave first",
        PolicyName::Lifo => "the newest units of a balance leave first",
        PolicyName::Tiho => "tainted units leave first (account transfers); a UTXO transaction pours its taint into the largest outputs first",
        PolicyName::DirtyFirst => "tainted units leave first",
        PolicyName::CleanFirst => "clean units leave first; taint moves only once the clean part is spent",
    }
}

const CSS: &str = r#"
@page { size: A4; margin: 14mm 12mm 16mm; }
* { box-sizing: border-box; }
body { font: 9.5pt/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 0 auto; max-width: 186mm; padding: 6mm 0; }
h1 { font-size: 16pt; margin: 0 0 2pt; }
h2 { font-size: 12pt; border-bottom: 1.2pt solid #333; margin: 14pt 0 4pt; padding-bottom: 1pt; break-after: avoid; page-break-after: avoid; }
h3 { font-size: 10.5pt; margin: 10pt 0 3pt; break-after: avoid; page-break-after: avoid; }
p { margin: 3pt 0; }
table { border-collapse: collapse; width: 100%; margin: 3pt 0 8pt; font-size: 8pt; }
table.fixed { table-layout: fixed; }
th, td { border: 0.6pt solid #999; padding: 1.5pt 3pt; vertical-align: top; text-align: left; overflow-wrap: anywhere; }
th { background: #e8e8e8; font-weight: bold; }
table.kv th { width: 42mm; background: #f3f3f3; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.w { color: #555; font-size: 7pt; }
.m { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 7pt; word-break: break-all; overflow-wrap: anywhere; }
table.kv { font-size: 9pt; }
.note { color: #444; font-size: 8.5pt; }
.warn { color: #8a0000; font-weight: bold; }
.sub { color: #333; margin: 0 0 6pt; }
ol.path { margin: 2pt 0 6pt 16pt; padding: 0; }
section.exit { margin-top: 8pt; }
a { color: inherit; }
@media print { body { padding: 0; max-width: none; } a { text-decoration: none; } }
"#;

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"generator\" content=\"{}\">\n<title>{}</title>\n<style>{CSS}</style>\n<script type=\"application/json\" id=\"{SEAL_ID}\"></script>\n</head>\n<body>\n",
        esc(TOOL),
        esc(title)
    );
}

fn kv(out: &mut String, k: &str, v_html: &str) {
    let _ = writeln!(out, "<tr><th>{}</th><td>{v_html}</td></tr>", esc(k));
}

/// The sections every report shares: the incident, the method, the chain data.
fn common_sections(out: &mut String, e: &Evidence, generated: &str) {
    let inc = &e.entry.incident;
    let p = &e.trace.params;
    out.push_str("<h2>Incident</h2>\n<table class=\"kv\">\n");
    kv(out, "name", &esc(&inc.name));
    kv(out, "chain", &esc(inc.chain.as_str()));
    kv(out, "description", &esc(&inc.description));
    kv(out, "source", &esc(&inc.source));
    let seeds: Vec<String> = inc
        .seeds
        .iter()
        .map(|s| {
            let mut cell = mono(s.as_str());
            if let Some(l) = e.index.exit_label(inc.chain, s.as_str()) {
                let _ = write!(cell, " — {}", esc(&l.name));
            }
            cell
        })
        .collect();
    kv(
        out,
        &format!("seed addresses ({})", inc.seeds.len()),
        &if seeds.is_empty() {
            "none".into()
        } else {
            seeds.join("<br>")
        },
    );
    if !inc.seed_txs.is_empty() {
        let txs: Vec<String> = inc.seed_txs.iter().map(|t| mono(t)).collect();
        kv(
            out,
            &format!("seed transactions ({})", inc.seed_txs.len()),
            &txs.join("<br>"),
        );
    }
    kv(
        out,
        "since",
        &inc.since
            .map_or_else(|| "the start of the data".into(), |t| esc(&t.to_rfc3339())),
    );
    out.push_str("</table>\n");

    out.push_str("<h2>Method and parameters</h2>\n<table class=\"kv\">\n");
    kv(
        out,
        "policy",
        &format!(
            "<b>{}</b>: {}",
            esc(p.policy.as_str()),
            esc(policy_rule(p.policy))
        ),
    );
    kv(
        out,
        "direction",
        match p.direction {
            Direction::Forward => "forward, in chain order, from the seeds",
            Direction::Backward => "backward, in reverse chain order",
        },
    );
    let dust = p.dust.parse::<u128>().unwrap_or(0);
    kv(
        out,
        "dust threshold",
        &format!(
            "{} base units: tainted movements carrying less are reported as dust and not followed",
            group(dust)
        ),
    );
    let spray = p.spray_max.parse::<u128>().unwrap_or(0);
    kv(
        out,
        "dust-spray rule",
        &if spray == 0 {
            "off".to_string()
        } else {
            format!(
                "on: up to {} base units onto an address with its own history count as dust",
                group(spray)
            )
        },
    );
    kv(
        out,
        "hop limit",
        &p.max_hops
            .map_or_else(|| "none".into(), |h| format!("{h} hops")),
    );
    kv(
        out,
        "exits (stop labels)",
        &format!(
            "{} labelled addresses of an exit kind (exchange, mixer, bridge, service, terminal); SHA-256 of their sorted <i>address label</i> lines: {}",
            p.stop_at,
            mono(&p.stop_at_sha256)
        ),
    );
    kv(out, "parameters SHA-256", &mono(&p.sha256()));
    out.push_str("</table>\n<p class=\"note\">Rules: taint moves in chain order (block, time, position); an address's missing history is taken as clean and older; the limits apply in the order seed, hop limit, dust, exit, spray (docs/tracing.md).</p>\n");

    out.push_str("<h2>Chain data</h2>\n<table class=\"kv\">\n");
    match e.chain_data() {
        Some(c) => {
            kv(out, "chain", &esc(c.chain.as_str()));
            kv(out, "stored movements (events)", &group(c.events as u128));
            kv(out, "last block", &opt(c.last_block));
            kv(
                out,
                "first time",
                &c.first_time.map_or_else(|| "—".into(), time_utc),
            );
            kv(
                out,
                "last time",
                &c.last_time.map_or_else(|| "—".into(), time_utc),
            );
            kv(out, "data SHA-256", &mono(&c.data_sha256));
        }
        None => kv(out, "chain", "no stored data for this chain"),
    }
    kv(out, "report generated", &esc(generated));
    kv(out, "by", &esc(TOOL));
    out.push_str("</table>\n");
}

fn seal_section(out: &mut String, seal: &Seal) {
    out.push_str("<h2>Seal</h2>\n<table class=\"kv\">\n");
    kv(out, "data SHA-256", &mono(&seal.data_sha256));
    kv(out, "parameters SHA-256", &mono(&seal.params_sha256));
    kv(out, "result SHA-256", &mono(&seal.result_sha256));
    out.push_str("</table>\n<p class=\"note\">The page embeds these digests with the parameters in a machine-readable seal. To check that a store still gives exactly this report, run <span class=\"m\">ashiato report verify FILE --store DIR</span>: it re-runs the trace with the sealed incident, policy and limits and compares the chain data, the parameters and the result. The result digest covers ");
    out.push_str(match seal.kind {
        ReportKind::Incident => {
            "the summary, every exit and every address with its taint (docs/reports.md)."
        }
        ReportKind::Exit => {
            "the exit, its path hop by hop and every deposit into it (docs/reports.md)."
        }
    });
    out.push_str("</p>\n");
}

fn summary_section(out: &mut String, e: &Evidence) {
    let r = &e.trace.result;
    let s = &r.summary;
    let mut assets: Vec<&str> = r
        .exits
        .iter()
        .map(|x| x.asset.as_str())
        .chain(r.addresses.iter().map(|a| a.asset.as_str()))
        .collect();
    assets.sort_unstable();
    assets.dedup();
    let unit_asset = if assets.len() == 1 {
        Some(assets[0])
    } else {
        None
    };
    let units = assets
        .iter()
        .map(|a| format!("{} ({})", esc(&unit_of(a).0), esc(a)))
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str("<h2>Summary</h2>\n");
    let _ = writeln!(
        out,
        "<p>Amounts are exact integers in base units of the asset: {}.</p>",
        if units.is_empty() {
            "none traced".into()
        } else {
            units
        }
    );
    out.push_str(
        "<table>\n<thead><tr><th>where the taint went</th><th>amount</th></tr></thead>\n<tbody>\n",
    );
    for (k, what, v) in [
        ("entered", "sent by the seeds inside the window", s.entered),
        ("held", "still held by traced addresses", s.held),
        ("exited", "delivered to labelled exits", s.exited),
        (
            "dust",
            "below the dust threshold or sprayed, not followed",
            s.dust,
        ),
        ("lost_to_fees", "paid to miners as fees", s.lost_to_fees),
        ("cut_by_hops", "arrived beyond the hop limit", s.cut_by_hops),
        (
            "returned_to_seeds",
            "sent back to a seed",
            s.returned_to_seeds,
        ),
        ("left_data", "left the data (backward traces)", s.left_data),
    ] {
        let cell = match unit_asset {
            Some(a) => amount_cell(v, a),
            None => format!("<td class=\"n\">{}</td>", group(v)),
        };
        let _ = writeln!(
            out,
            "<tr id=\"summary-{k}\"><td><b>{k}</b> — {what}</td>{cell}</tr>"
        );
    }
    out.push_str("</tbody></table>\n");
    let tainted = r.addresses.iter().filter(|a| a.taint > 0).count();
    let _ = writeln!(
        out,
        "<p>{} of {} stored events carried taint; {} addresses hold or held followed taint; {} exits; {} tainted movements.</p>",
        group(s.tainted_events as u128),
        group(s.events as u128),
        group(tainted as u128),
        group(r.exits.len() as u128),
        group(r.movements.len() as u128)
    );
    if e.trace.params.policy.conserves() {
        let ok = s.accounted() == s.entered;
        let _ = writeln!(
            out,
            "<p class=\"{}\">Conservation: entered = held + exited + dust + lost_to_fees + cut_by_hops + returned_to_seeds + left_data {}.</p>",
            if ok { "note" } else { "warn" },
            if ok { "holds exactly" } else { "DOES NOT HOLD" }
        );
    } else {
        out.push_str("<p class=\"note\">Poison counts every tainted movement whole, so its totals are not conserved: they say how much value touched the theft, not how much of the theft moved.</p>\n");
    }
}

fn addr_cell(e: &Evidence, address: &str) -> String {
    if address.is_empty() {
        return "<i>no address</i>".into();
    }
    let mut s = mono(address);
    if e.is_seed(address) {
        s.push_str(" <b>(seed)</b>");
    }
    if let Some(l) = e.index.exit_label(e.chain(), address) {
        let _ = write!(s, "<br>{}", esc(&l.name));
    }
    s
}

fn path_table(out: &mut String, e: &Evidence, hops: &[PathHop]) {
    out.push_str("<table class=\"path fixed\">\n<colgroup><col style=\"width:5%\"><col style=\"width:21%\"><col style=\"width:21%\"><col style=\"width:21%\"><col style=\"width:16%\"><col style=\"width:16%\"></colgroup>\n<thead><tr><th>hop</th><th>transaction, block, time (UTC)</th><th>from</th><th>to</th><th>value moved</th><th>tainted part</th></tr></thead>\n<tbody>\n");
    for h in hops {
        match &h.movement {
            Some(m) => {
                let _ = writeln!(
                    out,
                    "<tr class=\"hop\"><td class=\"n\">{}</td><td>{}<br>block {}<br>{}</td><td>{}</td><td>{}</td>{}{}</tr>",
                    m.hop,
                    mono(&m.tx),
                    m.block,
                    esc(&time_utc(m.time)),
                    addr_cell(e, &m.from),
                    addr_cell(e, &m.to),
                    amount_cell(m.value, &m.asset),
                    amount_cell(m.taint, &m.asset)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<tr class=\"hop unmatched\"><td class=\"n\">step {}</td><td>{}</td><td colspan=\"4\" class=\"warn\">not matched exactly: {}</td></tr>",
                    h.step,
                    mono(&h.tx),
                    esc(h.unmatched.as_deref().unwrap_or(""))
                );
            }
        }
    }
    out.push_str("</tbody></table>\n");
}

// ---------------------------------------------------------------------------------------
// Reports.

/// The printable evidence report of an incident under the evidence's policy.
pub fn incident_report_html(e: &Evidence) -> String {
    let r = &e.trace.result;
    let inc = &e.entry.incident;
    let seal = incident_seal(e);
    let title = format!(
        "Evidence report: incident {} ({}, {})",
        inc.name, inc.chain, e.trace.params.policy
    );
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, &title);
    let _ = writeln!(
        out,
        "<h1>Evidence report: incident {}</h1>\n<p class=\"sub\">{} · policy <b>{}</b> · generated {} by {}</p>",
        esc(&inc.name),
        esc(inc.chain.as_str()),
        esc(e.trace.params.policy.as_str()),
        esc(&seal.generated),
        esc(TOOL)
    );
    common_sections(&mut out, e, &seal.generated);
    summary_section(&mut out, e);

    // Exits.
    let mut by_tx: HashMap<&str, Vec<&Movement>> = HashMap::new();
    for m in &r.movements {
        by_tx.entry(m.tx.as_str()).or_default().push(m);
    }
    let _ = writeln!(out, "<h2>Exits ({})</h2>", r.exits.len());
    if r.exits.is_empty() {
        out.push_str("<p>The taint reached no labelled exit.</p>\n");
    } else {
        out.push_str("<table class=\"exits fixed\">\n<colgroup><col style=\"width:4%\"><col style=\"width:24%\"><col style=\"width:16%\"><col style=\"width:16%\"><col style=\"width:8%\"><col style=\"width:32%\"></colgroup>\n<thead><tr><th>#</th><th>exit</th><th>label</th><th>amount</th><th>tainted movements</th><th>path of the first (transactions, seed side first)</th></tr></thead>\n<tbody>\n");
        for (i, x) in r.exits.iter().enumerate() {
            let path: Vec<String> = x
                .path
                .iter()
                .map(|t| format!("<li>{}</li>", mono(t)))
                .collect();
            let _ = writeln!(
                out,
                "<tr class=\"exit\"><td class=\"n\"><a href=\"#exit-{n}\">{n}</a></td><td>{}</td><td>{}</td>{}<td class=\"n\">{}</td><td><ol class=\"path\">{}</ol></td></tr>",
                mono(&x.address),
                esc(&x.label),
                amount_cell(x.amount, &x.asset),
                x.transfers,
                path.join(""),
                n = i + 1
            );
        }
        out.push_str("</tbody></table>\n");
        for (i, x) in r.exits.iter().enumerate() {
            let _ = writeln!(
                out,
                "<section class=\"exit\" id=\"exit-{}\">\n<h3>Exit {}: {} — {}</h3>",
                i + 1,
                i + 1,
                esc(&x.label),
                mono(&x.address)
            );
            let _ = writeln!(
                out,
                "<p>{} base units of {} in {} tainted movements; the first one's path:</p>",
                group(x.amount),
                esc(&x.asset),
                x.transfers
            );
            let hops = exit_path_in(e, x, &by_tx);
            path_table(&mut out, e, &hops);
            out.push_str("</section>\n");
        }
    }

    // Holders.
    let holders: Vec<&AddressTaint> = r.addresses.iter().filter(|a| a.taint > 0).collect();
    let dust_only = r.addresses.len() - holders.len();
    let _ = writeln!(out, "<h2>Holders ({})</h2>", holders.len());
    let _ = writeln!(
        out,
        "<p>Addresses that received followed taint, most tainted first{}. {} more received only dust. The exports list every address.</p>",
        if holders.len() > HOLDERS_SHOWN {
            format!(": the first {HOLDERS_SHOWN} of {}", group(holders.len() as u128))
        } else {
            String::new()
        },
        group(dust_only as u128)
    );
    if !holders.is_empty() {
        out.push_str("<table class=\"holders fixed\">\n<colgroup><col style=\"width:4%\"><col style=\"width:30%\"><col style=\"width:16%\"><col style=\"width:16%\"><col style=\"width:5%\"><col style=\"width:9%\"><col style=\"width:20%\"></colgroup>\n<thead><tr><th>#</th><th>address</th><th>taint received</th><th>still held</th><th>hop</th><th>dust</th><th>first reached by</th></tr></thead>\n<tbody>\n");
        for (i, a) in holders.iter().take(HOLDERS_SHOWN).enumerate() {
            let _ = writeln!(
                out,
                "<tr class=\"holder\"><td class=\"n\">{}</td><td>{}</td>{}{}<td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                i + 1,
                addr_cell(e, &a.address),
                amount_cell(a.taint, &a.asset),
                match a.holding {
                    Some(h) => amount_cell(h, &a.asset),
                    None => "<td class=\"n\">—</td>".into(),
                },
                opt(a.hop),
                group(a.dust),
                a.path.last().map_or_else(|| "—".into(), |t| mono(t))
            );
        }
        out.push_str("</tbody></table>\n");
    }
    seal_section(&mut out, &seal);
    out.push_str("</body>\n</html>\n");
    sealed(out, seal)
}

/// The printable evidence report of one exit: the path from the victim to it, every
/// deposit, and the label's provenance. `None` when `exit_address` is not an exit of the
/// incident under this policy.
pub fn exit_report_html(e: &Evidence, exit_address: &str) -> Option<String> {
    let f = exit_facts(e, exit_address)?;
    let inc = &e.entry.incident;
    let seal = exit_seal(e, &f);
    let label = f.exits[0].label.as_str();
    let title = format!(
        "Evidence report: exit {} ({}) of incident {} ({})",
        f.address, label, inc.name, e.trace.params.policy
    );
    let mut out = String::with_capacity(32 * 1024);
    head(&mut out, &title);
    let _ = writeln!(
        out,
        "<h1>Evidence report: exit {}</h1>\n<p class=\"sub\">{} · incident <b>{}</b> · {} · policy <b>{}</b> · generated {} by {}</p>",
        esc(label),
        mono(&f.address),
        esc(&inc.name),
        esc(inc.chain.as_str()),
        esc(e.trace.params.policy.as_str()),
        esc(&seal.generated),
        esc(TOOL)
    );

    out.push_str("<h2>The exit</h2>\n<table class=\"kv\">\n");
    kv(&mut out, "address", &mono(&f.address));
    kv(&mut out, "label the trace stopped at", &esc(label));
    for x in &f.exits {
        kv(
            &mut out,
            &format!("tainted value received ({})", x.asset),
            &format!(
                "{} base units ({}){} in {} tainted movements",
                group(x.amount),
                esc(&unit_of(&x.asset).0),
                unit_of(&x.asset)
                    .1
                    .map_or_else(String::new, |(d, s)| format!(
                        " = {}",
                        esc(&whole(x.amount, d, s))
                    )),
                x.transfers
            ),
        );
    }
    out.push_str("</table>\n");
    let labels = e.labels_of(&f.address);
    out.push_str("<h3>What the address is: labels and their provenance</h3>\n");
    if labels.is_empty() {
        out.push_str("<p>The store holds no label for this address now.</p>\n");
    } else {
        out.push_str("<table class=\"labels\">\n<thead><tr><th>name</th><th>kind</th><th>source</th><th>confidence</th></tr></thead>\n<tbody>\n");
        for l in labels {
            let _ = writeln!(
                out,
                "<tr class=\"label\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{} / 100</td></tr>",
                esc(&l.name),
                esc(l.kind.as_str()),
                esc(&l.source),
                l.confidence
            );
        }
        out.push_str("</tbody></table>\n<p class=\"note\">Confidence: 100 = confirmed by the entity or a court, 50 = a public tagging, lower = a guess.</p>\n");
    }

    for (x, hops) in f.exits.iter().zip(&f.paths) {
        let _ = writeln!(
            out,
            "<h2>Path from the victim to the exit{}</h2>",
            if f.exits.len() > 1 {
                format!(" ({})", esc(&x.asset))
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "<p>The first tainted movement into the exit, traced back transaction by transaction to the seed: {} steps. Each row is the movement that carried the taint one hop further; value is the whole amount moved, the tainted part is what the policy attributes to the theft.</p>",
            x.path.len()
        );
        path_table(&mut out, e, hops);
        let unmatched = hops.iter().filter(|h| h.movement.is_none()).count();
        if unmatched > 0 {
            let _ = writeln!(
                out,
                "<p class=\"warn\">{unmatched} step(s) of this path could not be matched to exactly one movement; they are named by transaction only.</p>"
            );
        }
    }

    let _ = writeln!(
        out,
        "<h2>Every tainted deposit into the exit ({})</h2>",
        f.deposits.len()
    );
    out.push_str("<table class=\"deposits fixed\">\n<colgroup><col style=\"width:5%\"><col style=\"width:29%\"><col style=\"width:27%\"><col style=\"width:5%\"><col style=\"width:17%\"><col style=\"width:17%\"></colgroup>\n<thead><tr><th>#</th><th>transaction, block, time (UTC)</th><th>from</th><th>hop</th><th>value moved</th><th>tainted part</th></tr></thead>\n<tbody>\n");
    for (i, m) in f.deposits.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr class=\"deposit\"><td class=\"n\">{}</td><td>{}<br>block {}<br>{}</td><td>{}</td><td class=\"n\">{}</td>{}{}</tr>",
            i + 1,
            mono(&m.tx),
            m.block,
            esc(&time_utc(m.time)),
            addr_cell(e, &m.from),
            m.hop,
            amount_cell(m.value, &m.asset),
            amount_cell(m.taint, &m.asset)
        );
    }
    out.push_str("</tbody></table>\n");

    common_sections(&mut out, e, &seal.generated);
    seal_section(&mut out, &seal);
    out.push_str("</body>\n</html>\n");
    Some(sealed(out, seal))
}

// ---------------------------------------------------------------------------------------
// Exports.

#[derive(Serialize)]
struct ResultView<'a> {
    policy: PolicyName,
    direction: Direction,
    summary: SummaryView,
    addresses: Vec<AddressView<'a>>,
    exits: Vec<ExitView<'a>>,
    movements: Vec<MovementView<'a>>,
}

#[derive(Serialize)]
struct ExportDoc<'a> {
    format: &'static str,
    tool: &'static str,
    incident: IncidentView<'a>,
    params: &'a Params,
    params_sha256: String,
    chain_data: ChainDataView,
    result: ResultView<'a>,
}

fn label_name<'e>(e: &Evidence<'e>, address: &str) -> Option<&'e str> {
    e.index
        .exit_label(e.chain(), address)
        .map(|l| l.name.as_str())
}

/// The trace as JSON: parameters, chain data digest, and the whole result (addresses,
/// exits, summary, movements), amounts as decimal strings.
pub fn export_json(e: &Evidence) -> Vec<u8> {
    let r = &e.trace.result;
    let doc = ExportDoc {
        format: EXPORT_FORMAT,
        tool: TOOL,
        incident: IncidentView::of(e),
        params: &e.trace.params,
        params_sha256: e.trace.params.sha256(),
        chain_data: ChainDataView::of(e),
        result: ResultView {
            policy: r.policy,
            direction: r.direction,
            summary: SummaryView::from(&r.summary),
            addresses: r
                .addresses
                .iter()
                .map(|a| AddressView::of(a, label_name(e, &a.address)))
                .collect(),
            exits: r.exits.iter().map(ExitView::from).collect(),
            movements: r.movements.iter().map(MovementView::from).collect(),
        },
    };
    let mut v = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    v.push(b'\n');
    v
}

/// The CSV export's columns (docs/reports.md).
pub const CSV_COLUMNS: [&str; 17] = [
    "kind",
    "block",
    "time",
    "tx",
    "from",
    "to",
    "asset",
    "value",
    "taint",
    "hop",
    "outcome",
    "label",
    "path",
    "holding",
    "dust",
    "dust_transfers",
    "transfers",
];

/// The trace as one CSV: a row per tainted movement (`kind` = `movement`), then a row per
/// address (`address`: the address in `to`) and per exit (`exit`).
pub fn export_csv(e: &Evidence) -> Vec<u8> {
    let r = &e.trace.result;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows: Vec<[String; 17]> =
        Vec::with_capacity(r.movements.len() + r.addresses.len() + r.exits.len());
    for m in &r.movements {
        rows.push([
            "movement".into(),
            m.block.to_string(),
            time_utc(m.time),
            m.tx.clone(),
            m.from.clone(),
            m.to.clone(),
            m.asset.clone(),
            m.value.to_string(),
            m.taint.to_string(),
            m.hop.to_string(),
            outcome_str(m.outcome).into(),
            m.label.clone().unwrap_or_default(),
            m.path.join(" "),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for a in &r.addresses {
        rows.push([
            "address".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            a.address.clone(),
            a.asset.clone(),
            String::new(),
            a.taint.to_string(),
            a.hop.map(|h| h.to_string()).unwrap_or_default(),
            String::new(),
            label_name(e, &a.address).unwrap_or_default().to_owned(),
            a.path.join(" "),
            a.holding.map(|h| h.to_string()).unwrap_or_default(),
            a.dust.to_string(),
            a.dust_transfers.to_string(),
            String::new(),
        ]);
    }
    for x in &r.exits {
        rows.push([
            "exit".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            x.address.clone(),
            x.asset.clone(),
            String::new(),
            x.amount.to_string(),
            String::new(),
            String::new(),
            x.label.clone(),
            x.path.join(" "),
            String::new(),
            String::new(),
            String::new(),
            x.transfers.to_string(),
        ]);
    }
    let _ = w.write_record(CSV_COLUMNS);
    for row in &rows {
        let _ = w.write_record(row.iter().map(|c| spreadsheet_safe(c).into_owned()));
    }
    w.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first: labels
/// and generic-chain addresses come from outside data) gets a leading `'`, which
/// spreadsheets show as text. No number, time or hash of ours starts that way.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Held => "held",
        Outcome::Dust => "dust",
        Outcome::Spray => "spray",
        Outcome::Exit => "exit",
        Outcome::BeyondHops => "beyond-hops",
        Outcome::ReturnedToSeed => "returned-to-seed",
        Outcome::LeftData => "left-data",
    }
}

/// XML-escapes text for element content and attribute values; characters XML 1.0 cannot
/// carry become U+FFFD.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// One graph node: an address with what the trace says of it.
#[derive(Default)]
struct Node {
    kind: &'static str,
    label: Option<String>,
    assets: Vec<String>,
    taint: Vec<Amount>,
    holding: Vec<Option<Amount>>,
    dust: Vec<Amount>,
    hop: Option<u32>,
}

/// The trace as GraphML: nodes are addresses (kind seed, holder, exit, dust, or `other`
/// for a recipient cut by the hop limit or outside the data), edges are tainted movements.
/// Amounts are strings: GraphML's `long` is 64-bit.
pub fn export_graphml(e: &Evidence) -> Vec<u8> {
    let r = &e.trace.result;
    let inc = &e.entry.incident;
    // Nodes in order of first appearance: seeds, then movements' senders and recipients.
    let mut names: Vec<&str> = Vec::new();
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for s in &inc.seeds {
        if !index_of.contains_key(s.as_str()) {
            index_of.insert(s.as_str(), names.len());
            names.push(s.as_str());
        }
    }
    for m in &r.movements {
        for a in [m.from.as_str(), m.to.as_str()] {
            if !index_of.contains_key(a) {
                index_of.insert(a, names.len());
                names.push(a);
            }
        }
    }
    let mut nodes: Vec<Node> = names.iter().map(|_| Node::default()).collect();
    for a in &r.addresses {
        if let Some(&i) = index_of.get(a.address.as_str()) {
            let n = &mut nodes[i];
            n.assets.push(a.asset.clone());
            n.taint.push(a.taint);
            n.holding.push(a.holding);
            n.dust.push(a.dust);
            n.hop = match (n.hop, a.hop) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
    }
    let exits: HashMap<&str, &Exit> = r.exits.iter().map(|x| (x.address.as_str(), x)).collect();
    for (i, name) in names.iter().enumerate() {
        let n = &mut nodes[i];
        n.kind = if e.is_seed(name) {
            n.hop = Some(0);
            "seed"
        } else if exits.contains_key(name) {
            "exit"
        } else if n.taint.iter().any(|&t| t > 0) {
            "holder"
        } else if n.dust.iter().any(|&d| d > 0) {
            "dust"
        } else {
            "other"
        };
        n.label = match exits.get(name) {
            Some(x) => Some(x.label.clone()),
            None => label_name(e, name).map(str::to_owned),
        };
    }
    if names.iter().any(|n| exits.contains_key(n)) {
        // Exits carry their totals as taint.
        for x in &r.exits {
            if let Some(&i) = index_of.get(x.address.as_str()) {
                let n = &mut nodes[i];
                if !n.assets.contains(&x.asset) {
                    n.assets.push(x.asset.clone());
                    n.taint.push(x.amount);
                    n.holding.push(None);
                    n.dust.push(0);
                }
            }
        }
    }

    let mut o = String::with_capacity(256 + names.len() * 300 + r.movements.len() * 400);
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n");
    for (id, for_, name, ty) in [
        ("g_incident", "graph", "incident", "string"),
        ("g_chain", "graph", "chain", "string"),
        ("g_policy", "graph", "policy", "string"),
        ("g_data_sha256", "graph", "data_sha256", "string"),
        ("g_params_sha256", "graph", "params_sha256", "string"),
        ("g_tool", "graph", "tool", "string"),
        ("n_address", "node", "address", "string"),
        ("n_kind", "node", "kind", "string"),
        ("n_label", "node", "label", "string"),
        ("n_asset", "node", "asset", "string"),
        ("n_taint", "node", "taint", "string"),
        ("n_holding", "node", "holding", "string"),
        ("n_dust", "node", "dust", "string"),
        ("n_hop", "node", "hop", "int"),
        ("e_tx", "edge", "tx", "string"),
        ("e_block", "edge", "block", "long"),
        ("e_time", "edge", "time", "long"),
        ("e_time_utc", "edge", "time_utc", "string"),
        ("e_asset", "edge", "asset", "string"),
        ("e_value", "edge", "value", "string"),
        ("e_taint", "edge", "taint", "string"),
        ("e_hop", "edge", "hop", "int"),
        ("e_outcome", "edge", "outcome", "string"),
        ("e_label", "edge", "label", "string"),
    ] {
        let _ = writeln!(
            o,
            "  <key id=\"{id}\" for=\"{for_}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>"
        );
    }
    let _ = writeln!(
        o,
        "  <graph id=\"{}\" edgedefault=\"directed\">",
        xml(&format!("{} {}", inc.name, e.trace.params.policy))
    );
    let data = |o: &mut String, key: &str, v: &str| {
        let _ = writeln!(o, "      <data key=\"{key}\">{}</data>", xml(v));
    };
    let cd = ChainDataView::of(e);
    for (k, v) in [
        ("g_incident", inc.name.clone()),
        ("g_chain", inc.chain.as_str().to_owned()),
        ("g_policy", e.trace.params.policy.as_str().to_owned()),
        ("g_data_sha256", cd.data_sha256.clone()),
        ("g_params_sha256", e.trace.params.sha256()),
        ("g_tool", TOOL.to_owned()),
    ] {
        let _ = writeln!(o, "    <data key=\"{k}\">{}</data>", xml(&v));
    }
    let join = |v: Vec<String>| v.join(";");
    for (i, (name, n)) in names.iter().zip(&nodes).enumerate() {
        let _ = writeln!(o, "    <node id=\"n{i}\">");
        data(&mut o, "n_address", name);
        data(&mut o, "n_kind", n.kind);
        if let Some(l) = &n.label {
            data(&mut o, "n_label", l);
        }
        if !n.assets.is_empty() {
            data(&mut o, "n_asset", &n.assets.join(";"));
            data(
                &mut o,
                "n_taint",
                &join(n.taint.iter().map(|t| t.to_string()).collect()),
            );
            if n.holding.iter().any(Option::is_some) {
                data(
                    &mut o,
                    "n_holding",
                    &join(
                        n.holding
                            .iter()
                            .map(|h| h.map(|h| h.to_string()).unwrap_or_default())
                            .collect(),
                    ),
                );
            }
            data(
                &mut o,
                "n_dust",
                &join(n.dust.iter().map(|t| t.to_string()).collect()),
            );
        }
        if let Some(h) = n.hop {
            data(&mut o, "n_hop", &h.to_string());
        }
        o.push_str("    </node>\n");
    }
    for (k, m) in r.movements.iter().enumerate() {
        let _ = writeln!(
            o,
            "    <edge id=\"e{k}\" source=\"n{}\" target=\"n{}\">",
            index_of[m.from.as_str()],
            index_of[m.to.as_str()]
        );
        data(&mut o, "e_tx", &m.tx);
        data(&mut o, "e_block", &m.block.to_string());
        data(&mut o, "e_time", &m.time.to_string());
        data(&mut o, "e_time_utc", &time_utc(m.time));
        data(&mut o, "e_asset", &m.asset);
        data(&mut o, "e_value", &m.value.to_string());
        data(&mut o, "e_taint", &m.taint.to_string());
        data(&mut o, "e_hop", &m.hop.to_string());
        data(&mut o, "e_outcome", outcome_str(m.outcome));
        if let Some(l) = &m.label {
            data(&mut o, "e_label", l);
        }
        o.push_str("    </edge>\n");
    }
    o.push_str("  </graph>\n</graphml>\n");
    o.into_bytes()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
