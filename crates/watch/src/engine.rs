//! The watch's judgement: what the stored chain implies now (alerts, the watchlist, the
//! feed listing), and the durable step that turns the difference from what was already
//! said into log records and feed notices.
//!
//! Everything is derived from the store, never from what a node said last: a watch killed
//! at any point re-derives on restart exactly what it had not yet written, and a
//! reorganisation (the sync loop dropped blocks) shows up as alerts that no longer hold.
//! One step writes its records, the active set, the feed notices and the counters in one
//! durable batch, so no alert is lost or issued twice.

use std::collections::{BTreeMap, BTreeSet};

use ashiato_model::{Address, Amount, Chain, Incident, UtcTime};
use ashiato_store::{Store, StoreError};
use ashiato_trace::{Outcome, PolicyName, TraceError, TraceSpec};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Event, Kind, Priority, Record};
use crate::drain::{self, DrainRules};
use crate::feed::{self, Action, FeedKey, FeedWriter, Notice};

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("incident {incident}: {source}")]
    Trace {
        incident: String,
        source: TraceError,
    },
    #[error("watch state {key} is corrupt: {why}")]
    Corrupt { key: String, why: String },
    #[error(transparent)]
    Feed(#[from] feed::FeedError),
}

/// What to watch and by which rules.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub chain: Chain,
    pub incidents: Vec<Incident>,
    pub policy: PolicyName,
    /// Tainted movements below this are dust (reported, not followed).
    pub dust: Amount,
    /// The dust-spray rule's limit (0: off; see `TraceSpec::spray_max`).
    pub spray_max: Amount,
    pub max_hops: Option<u32>,
    /// Custody wallets watched for a drain (account chains).
    pub custody: Vec<Address>,
    pub drain: DrainRules,
    /// How an innocent recipient appeals a listing; copied into every feed notice.
    pub appeal: String,
}

impl WatchConfig {
    /// Watches `incidents` under `policy` with every limit off, no custody wallets and the
    /// default drain rules; set the rest with struct update syntax.
    pub fn new(chain: Chain, incidents: Vec<Incident>, policy: PolicyName) -> WatchConfig {
        WatchConfig {
            chain,
            incidents,
            policy,
            dust: 0,
            spray_max: 0,
            max_hops: None,
            custody: Vec::new(),
            drain: DrainRules::default(),
            appeal: String::new(),
        }
    }
}

/// An address listed in the feed: it holds taint of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// Total followed taint received.
    #[serde(with = "crate::alert::decimal")]
    pub taint: Amount,
    /// The latest movement that brought taint.
    pub block: u64,
    pub tx: String,
    pub time: String,
    /// How taint first reached it.
    pub path: Vec<String>,
}

/// (address, asset, incident).
pub type ListKey = (String, String, String);

/// What the stored chain implies now.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// In chain order.
    pub alerts: Vec<Alert>,
    pub listing: BTreeMap<ListKey, Listed>,
}

/// Traces every incident over the stored chain and runs the drain rules.
pub fn evaluate(store: &Store, cfg: &WatchConfig) -> Result<Desired, WatchError> {
    let mut out = Desired::default();
    let chain = cfg.chain.as_str().to_owned();
    let labels = store.labels(cfg.chain)?;
    let incidents: Vec<&Incident> = cfg
        .incidents
        .iter()
        .filter(|i| i.chain == cfg.chain)
        .collect();
    if !incidents.is_empty() {
        let graph = store.graph(cfg.chain)?;
        for inc in incidents {
            // The theft may not have happened yet: seeds absent from the chain so far
            // simply have nothing to say.
            let spec = TraceSpec {
                dust: cfg.dust,
                spray_max: cfg.spray_max,
                max_hops: cfg.max_hops,
                movements: true,
                summary_only: true,
                ..TraceSpec::for_incident(inc, &labels, &graph)
            };
            if spec.has_no_seeds() {
                continue;
            }
            let r = ashiato_trace::trace(&graph, &spec, cfg.policy).map_err(|source| {
                WatchError::Trace {
                    incident: inc.name.clone(),
                    source,
                }
            })?;
            let mut holders: BTreeSet<(String, String)> = BTreeSet::new();
            for m in r.movements {
                let time = UtcTime(m.time).to_rfc3339();
                let (kind, priority, detail) = match m.outcome {
                    Outcome::Held => {
                        let key = (m.to.clone(), m.asset.clone());
                        let entry = out
                            .listing
                            .entry((m.to.clone(), m.asset.clone(), inc.name.clone()))
                            .or_insert_with(|| Listed {
                                taint: 0,
                                block: m.block,
                                tx: m.tx.clone(),
                                time: time.clone(),
                                path: m.path.clone(),
                            });
                        entry.taint += m.taint;
                        entry.block = m.block;
                        entry.tx = m.tx.clone();
                        entry.time = time.clone();
                        if holders.insert(key) {
                            (
                                Kind::NewHolder,
                                Priority::Normal,
                                format!(
                                    "{} {} of {} tainted moved to {}, a new holder: added to the watchlist",
                                    m.taint, m.asset, inc.name, m.to
                                ),
                            )
                        } else {
                            (
                                Kind::Movement,
                                Priority::Normal,
                                format!(
                                    "{} {} more of {} tainted moved to {} (on the watchlist)",
                                    m.taint, m.asset, inc.name, m.to
                                ),
                            )
                        }
                    }
                    Outcome::Exit => (
                        Kind::Exit,
                        Priority::High,
                        format!(
                            "{} {} of {} tainted reached {} ({}): ask the service who its customer is",
                            m.taint,
                            m.asset,
                            inc.name,
                            m.label.as_deref().unwrap_or("a labelled entity"),
                            m.to
                        ),
                    ),
                    Outcome::Spray => (
                        Kind::Dust,
                        Priority::Low,
                        format!(
                            "{} {} of {} tainted sprayed onto {}, an address with its own history: a bystander, not a holder",
                            m.taint, m.asset, inc.name, m.to
                        ),
                    ),
                    Outcome::Dust => (
                        Kind::Dust,
                        Priority::Low,
                        format!(
                            "{} {} of {} tainted to {}: below the dust threshold, not followed",
                            m.taint, m.asset, inc.name, m.to
                        ),
                    ),
                    Outcome::BeyondHops | Outcome::ReturnedToSeed | Outcome::LeftData => (
                        Kind::Movement,
                        Priority::Low,
                        format!(
                            "{} {} of {} tainted moved to {} ({:?}): not followed",
                            m.taint, m.asset, inc.name, m.to, m.outcome
                        ),
                    ),
                };
                out.alerts.push(Alert {
                    kind,
                    priority,
                    chain: chain.clone(),
                    incident: inc.name.clone(),
                    policy: cfg.policy.as_str().to_owned(),
                    block: m.block,
                    time,
                    tx: m.tx,
                    from: m.from,
                    to: m.to,
                    asset: m.asset,
                    amount: m.taint,
                    value: m.value,
                    hop: Some(m.hop),
                    outcome: Some(m.outcome),
                    path: m.path,
                    label: m.label,
                    detail,
                    repeat: 0,
                });
            }
        }
    }
    if !cfg.custody.is_empty() {
        let transfers = store.transfers(cfg.chain)?;
        for d in drain::detect(&transfers, &cfg.custody, &cfg.drain) {
            out.alerts.push(Alert {
                kind: Kind::Drain,
                priority: Priority::High,
                chain: chain.clone(),
                incident: String::new(),
                policy: String::new(),
                block: d.block,
                time: d.time.to_rfc3339(),
                tx: d.tx.clone(),
                from: d.wallet.clone(),
                to: d.to.clone(),
                asset: d.asset.clone(),
                amount: d.amount,
                value: d.amount,
                hop: None,
                outcome: None,
                path: vec![d.tx.clone()],
                label: None,
                detail: d.detail.clone(),
                repeat: 0,
            });
        }
    }
    // Chain order across incidents and drains; ties keep their order.
    out.alerts.sort_by_key(|a| a.block);
    // Identical movements of one transaction (two equal transfers, two equal outputs to
    // one address) are distinct alerts: number the repeats so their ids differ.
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for a in &mut out.alerts {
        let n = seen.entry(a.id()).or_default();
        a.repeat = *n;
        *n += 1;
    }
    Ok(out)
}

/// What one step wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    pub issued: usize,
    pub retracted: usize,
    pub notices: usize,
    /// The log's last sequence number after the step.
    pub last_seq: u64,
}

impl StepReport {
    /// Did the step write anything?
    pub fn wrote(&self) -> bool {
        self.issued + self.retracted + self.notices > 0
    }
}

const NEXT_SEQ: &str = "next-seq";

fn log_key(seq: u64) -> String {
    format!("log/{seq:020}")
}

fn feed_key(seq: u64) -> String {
    format!("feed/{seq:020}")
}

fn listed_key(k: &ListKey) -> String {
    format!("listed/{}\0{}\0{}", k.0, k.1, k.2)
}

fn suppressed_key(k: &ListKey) -> String {
    format!("suppressed/{}\0{}\0{}", k.0, k.1, k.2)
}

fn corrupt(key: &str, why: impl ToString) -> WatchError {
    WatchError::Corrupt {
        key: key.to_owned(),
        why: why.to_string(),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(key: &str, v: &[u8]) -> Result<T, WatchError> {
    serde_json::from_slice(v).map_err(|e| corrupt(key, e))
}

/// Where the feed goes on: after its last stored line.
fn feed_writer(store: &Store) -> Result<FeedWriter, WatchError> {
    let last = store.state_scan("feed/")?.pop();
    let line = last.map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()));
    match &line {
        None => Ok(FeedWriter::new()),
        Some((k, l)) => FeedWriter::after(Some(l)).map_err(|why| corrupt(k, why)),
    }
}

/// A watch over one store: the config and the feed key.
pub struct Watcher {
    pub cfg: WatchConfig,
    key: FeedKey,
}

impl Watcher {
    pub fn new(cfg: WatchConfig, key: FeedKey) -> Watcher {
        Watcher { cfg, key }
    }

    pub fn public_key(&self) -> String {
        self.key.public_hex()
    }

    /// Derives what the store implies, compares it with what was already said, and writes
    /// the difference (new alerts, retractions, feed notices) in one durable batch.
    /// `rolled_back_to`: the sync just cut the chain back to this height (named in
    /// retractions).
    pub fn step(
        &self,
        store: &mut Store,
        rolled_back_to: Option<u64>,
    ) -> Result<StepReport, WatchError> {
        let desired = evaluate(store, &self.cfg)?;
        let mut next_seq: u64 = match store.state_get(NEXT_SEQ)? {
            Some(v) => read_json(NEXT_SEQ, &v)?,
            None => 1,
        };
        let mut changes: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut report = StepReport::default();

        // Alerts: the active set is id → seq of the record that issued it.
        let mut active: BTreeMap<String, u64> = BTreeMap::new();
        for (k, v) in store.state_scan("active/")? {
            active.insert(k["active/".len()..].to_owned(), read_json(&k, &v)?);
        }
        let wanted: BTreeSet<String> = desired.alerts.iter().map(Alert::id).collect();
        // Retractions first (newest first), so a consumer replaying the log never sees
        // the replacement of an alert before the alert is taken back.
        let mut gone: Vec<(u64, String)> = active
            .iter()
            .filter(|(id, _)| !wanted.contains(*id))
            .map(|(id, seq)| (*seq, id.clone()))
            .collect();
        gone.sort_unstable_by(|a, b| b.cmp(a));
        for (seq, id) in gone {
            let k = log_key(seq);
            let v = store
                .state_get(&k)?
                .ok_or_else(|| corrupt(&k, "an active alert's record is missing"))?;
            let issued: Record = read_json(&k, &v)?;
            let reason = match rolled_back_to {
                Some(h) if issued.alert.block > h => format!(
                    "block {} left the chain (reorganisation back to height {h})",
                    issued.alert.block
                ),
                _ => "no longer implied by the stored chain, labels or watch rules".to_owned(),
            };
            let r = Record {
                seq: next_seq,
                event: Event::Retract,
                id: id.clone(),
                reason: Some(reason),
                alert: issued.alert,
            };
            changes.push((log_key(next_seq), Some(r.line().into_bytes())));
            changes.push((format!("active/{id}"), None));
            next_seq += 1;
            report.retracted += 1;
        }
        let mut seen = BTreeSet::new();
        for a in &desired.alerts {
            let id = a.id();
            if active.contains_key(&id) || !seen.insert(id.clone()) {
                continue;
            }
            let r = Record {
                seq: next_seq,
                event: Event::Alert,
                id: id.clone(),
                reason: None,
                alert: a.clone(),
            };
            changes.push((log_key(next_seq), Some(r.line().into_bytes())));
            changes.push((
                format!("active/{id}"),
                Some(next_seq.to_string().into_bytes()),
            ));
            next_seq += 1;
            report.issued += 1;
        }
        changes.push((NEXT_SEQ.into(), Some(next_seq.to_string().into_bytes())));
        report.last_seq = next_seq - 1;

        // The feed: listed now vs listed by the notices so far.
        let mut writer = feed_writer(store)?;
        let mut listed: BTreeMap<ListKey, Notice> = BTreeMap::new();
        for (k, v) in store.state_scan("listed/")? {
            let n: Notice = read_json(&k, &v)?;
            listed.insert((n.address.clone(), n.asset.clone(), n.incident.clone()), n);
        }
        let mut suppressed: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in store.state_scan("suppressed/")? {
            suppressed.insert(k, String::from_utf8_lossy(&v).into_owned());
        }
        let mut notices: Vec<(ListKey, Notice)> = Vec::new();
        for (k, l) in &desired.listing {
            if suppressed.contains_key(&suppressed_key(k)) {
                continue;
            }
            let action = match listed.get(k) {
                None => Action::Add,
                Some(n) if n.taint != l.taint.to_string() => Action::Update,
                Some(_) => continue,
            };
            let reason = match action {
                Action::Add => format!("received {} tainted {} of incident {}", l.taint, k.1, k.2),
                _ => format!(
                    "has now received {} tainted {} of incident {}",
                    l.taint, k.1, k.2
                ),
            };
            notices.push((k.clone(), self.notice(action, k, l, reason)));
        }
        for (k, n) in &listed {
            let reason = if let Some(why) = suppressed.get(&suppressed_key(k)) {
                why.clone()
            } else if desired.listing.contains_key(k) {
                continue;
            } else {
                match rolled_back_to {
                    Some(h) => format!("the movements that brought taint here left the chain (reorganisation back to height {h})"),
                    None => "no longer reached by the trace (labels or watch rules changed)".to_owned(),
                }
            };
            let mut revoke = n.clone();
            revoke.action = Action::Revoke;
            revoke.reason = reason;
            notices.push((k.clone(), revoke));
        }
        for (k, n) in notices {
            append_notice(&mut changes, &mut writer, &self.key, &k, n);
            report.notices += 1;
        }
        if report.wrote() {
            store.state_write(&changes)?;
        }
        Ok(report)
    }

    fn notice(&self, action: Action, k: &ListKey, l: &Listed, reason: String) -> Notice {
        Notice {
            seq: 0,
            action,
            chain: self.cfg.chain.as_str().to_owned(),
            address: k.0.clone(),
            asset: k.1.clone(),
            incident: k.2.clone(),
            policy: self.cfg.policy.as_str().to_owned(),
            taint: l.taint.to_string(),
            block: l.block,
            tx: l.tx.clone(),
            time: l.time.clone(),
            path: l.path.clone(),
            reason,
            appeal: self.cfg.appeal.clone(),
            prev: String::new(),
        }
    }
}

/// Signs `n` as the feed's next notice and queues it, with the listing change it makes.
fn append_notice(
    changes: &mut Vec<(String, Option<Vec<u8>>)>,
    writer: &mut FeedWriter,
    key: &FeedKey,
    k: &ListKey,
    mut n: Notice,
) -> u64 {
    (n.seq, n.prev) = writer.next();
    let line = feed::line(&key.sign(n.clone()));
    writer.push(&line);
    changes.push((feed_key(n.seq), Some(line.into_bytes())));
    let lk = listed_key(k);
    if n.action == Action::Revoke {
        changes.push((lk, None));
    } else {
        changes.push((lk, Some(serde_json::to_vec(&n).expect("notices serialise"))));
    }
    n.seq
}

/// Takes an address off the feed for good (an appeal was granted): a signed revoke
/// notice with `reason` now, and never listed again for this incident. Returns the
/// notice's seq, or `None` when the address was not listed (it is still kept off).
pub fn revoke(
    store: &mut Store,
    key: &FeedKey,
    address: &str,
    asset: &str,
    incident: &str,
    reason: &str,
) -> Result<Option<u64>, WatchError> {
    let k = (address.to_owned(), asset.to_owned(), incident.to_owned());
    let mut changes = vec![(suppressed_key(&k), Some(reason.as_bytes().to_vec()))];
    let lk = listed_key(&k);
    let mut seq = None;
    if let Some(v) = store.state_get(&lk)? {
        let mut n: Notice = read_json(&lk, &v)?;
        n.action = Action::Revoke;
        n.reason = reason.to_owned();
        let mut writer = feed_writer(store)?;
        seq = Some(append_notice(&mut changes, &mut writer, key, &k, n));
    }
    store.state_write(&changes)?;
    Ok(seq)
}

/// The log records after `seq`, in order.
pub fn records_after(store: &Store, seq: u64) -> Result<Vec<Record>, WatchError> {
    store
        .state_scan_from("log/", &log_key(seq + 1))?
        .into_iter()
        .map(|(k, v)| read_json(&k, &v))
        .collect()
}

/// The feed's signed lines, in order.
pub fn feed_lines(store: &Store) -> Result<Vec<String>, WatchError> {
    Ok(store
        .state_scan("feed/")?
        .into_iter()
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .collect())
}

/// The watchlist: every (address, asset, incident) the feed lists now.
pub fn watchlist(store: &Store) -> Result<Vec<Notice>, WatchError> {
    store
        .state_scan("listed/")?
        .into_iter()
        .map(|(k, v)| read_json(&k, &v))
        .collect()
}

/// How far a sink has delivered.
pub fn cursor(store: &Store, sink: &str) -> Result<u64, WatchError> {
    let k = format!("cursor/{sink}");
    match store.state_get(&k)? {
        Some(v) => read_json(&k, &v),
        None => Ok(0),
    }
}

pub fn set_cursor(store: &mut Store, sink: &str, seq: u64) -> Result<(), WatchError> {
    store.state_write(&[(format!("cursor/{sink}"), Some(seq.to_string().into_bytes()))])?;
    Ok(())
}
