//! The watch end to end over a small hand-built account chain: the step's records, the
//! webhook (retries, refusals, a receiver that is down), the server-sent event stream
//! with the feed and watchlist beside it, a reorganisation and a granted appeal.
//!
//! The chain (asset COIN, incident "theft" seeded at S, exchange E), haircut policy:
//!
//! | block | tx  | from | to | amount | taint and what it says                      |
//! |-------|-----|------|----|--------|---------------------------------------------|
//! | 1     | tx1 | X    | S  | 1,000  | none: S is funded before it sends           |
//! | 2     | tx2 | S    | A  | 600    | 600, A is a new holder (hop 1)              |
//! | 3     | tx3 | S    | A  | 100    | 100, a movement to A (already listed)       |
//! | 4     | tx4 | A    | B  | 300    | 300 of A's 700 (all tainted): B new (hop 2) |
//! | 5     | tx5 | B    | E  | 200    | 200, an exit at the exchange (hop 3)        |
//! | 6     | tx6 | A    | C  | 250    | second batch: C new holder (hop 2)          |
//! | 7     | tx7 | A    | B  | 100    | second batch: a movement to B               |
//!
//! After the first batch the feed lists A (700) and B (300); the second adds C (250) and
//! updates B to 400.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ashiato_model::{Address, Asset, Chain, Incident, Label, LabelKind, Transfer, UtcTime};
use ashiato_net::Serving;
use ashiato_store::{SourceKey, Store};
use ashiato_trace::{Outcome, PolicyName};
use ashiato_watch::drain::DrainRules;
use ashiato_watch::engine::{self, records_after};
use ashiato_watch::feed::{self, Action, FeedKey, Notice};
use ashiato_watch::sink::{self, DeliverError, Hub, Sink, Webhook};
use ashiato_watch::{Event, Kind, Priority, Record, StepReport, WatchConfig, Watcher};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

const T0: i64 = 1_700_000_000;
const INCIDENT: &str = "theft";
const EXCHANGE: &str = "Example Exchange deposit";
const APPEAL: &str = "mailto:appeals@example.org";
const FIRST: [u8; 16] = [1; 16];
const SECOND: [u8; 16] = [2; 16];

fn addr(s: &str) -> Address {
    Address::parse(Chain::Generic, s).expect("test address")
}

fn time(block: u64) -> String {
    UtcTime(T0 + 60 * block as i64).to_rfc3339()
}

fn tr(block: u64, from: &str, to: &str, amount: u128) -> Transfer {
    Transfer {
        time: UtcTime(T0 + 60 * block as i64),
        block,
        tx: format!("tx{block}"),
        index: 0,
        from: addr(from),
        to: addr(to),
        asset: Asset::parse("COIN").expect("test asset"),
        amount,
    }
}

fn first_batch() -> Vec<Transfer> {
    vec![
        tr(1, "X", "S", 1_000),
        tr(2, "S", "A", 600),
        tr(3, "S", "A", 100),
        tr(4, "A", "B", 300),
        tr(5, "B", "E", 200),
    ]
}

fn second_batch() -> Vec<Transfer> {
    vec![tr(6, "A", "C", 250), tr(7, "A", "B", 100)]
}

/// Stores `transfers` as one source (what one sync commit of blocks does).
fn ingest(store: &mut Store, fingerprint: [u8; 16], transfers: &[Transfer]) {
    let key = SourceKey {
        kind: "test".into(),
        name: format!("batch {}", fingerprint[0]),
        fingerprint,
    };
    let mut s = store.begin_source(Chain::Generic, key).unwrap();
    for (row, t) in transfers.iter().enumerate() {
        s.push_transfer(row as u64, t).unwrap();
    }
    let r = s.finish().unwrap();
    assert_eq!(r.added, transfers.len() as u64, "{r:?}");
}

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    watcher: Watcher,
    key_hex: String,
}

impl Fixture {
    /// The first batch stored, the incident and the exchange label put; nothing judged yet.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("store")).unwrap();
        ingest(&mut store, FIRST, &first_batch());
        let incident = Incident {
            name: INCIDENT.into(),
            chain: Chain::Generic,
            seeds: vec![addr("S")],
            seed_txs: vec![],
            since: None,
            description: "S was emptied by a thief".into(),
            source: "test".into(),
        };
        store.put_incident(&incident).unwrap();
        store
            .put_labels(&[Label {
                chain: Chain::Generic,
                address: addr("E"),
                name: EXCHANGE.into(),
                kind: LabelKind::Exchange,
                source: "test".into(),
                confidence: 90,
            }])
            .unwrap();
        let cfg = WatchConfig {
            chain: Chain::Generic,
            incidents: vec![store.incident(INCIDENT).unwrap().expect("stored")],
            policy: PolicyName::Haircut,
            dust: 0,
            spray_max: 0,
            max_hops: None,
            custody: vec![],
            drain: DrainRules::default(),
            appeal: APPEAL.into(),
        };
        let (key, created) = FeedKey::load_or_create(&key_path(dir.path())).unwrap();
        assert!(created);
        let key_hex = key.public_hex();
        let watcher = Watcher::new(cfg, key);
        assert_eq!(watcher.public_key(), key_hex);
        Fixture {
            dir,
            store,
            watcher,
            key_hex,
        }
    }

    /// The fixture after the first step (records 1..=4, notices 1..=2).
    fn stepped() -> Fixture {
        let mut f = Fixture::new();
        let r = f.watcher.step(&mut f.store, None).unwrap();
        assert_eq!(r, report(4, 0, 2, 4));
        f
    }

    /// Stores the second batch and judges it: records 5 and 6, notices update B, add C.
    fn second(&mut self) {
        ingest(&mut self.store, SECOND, &second_batch());
        let r = self.watcher.step(&mut self.store, None).unwrap();
        assert_eq!(r, report(2, 0, 2, 6));
    }

    /// The same key as the watcher's, read from its file.
    fn key(&self) -> FeedKey {
        let (key, created) = FeedKey::load_or_create(&key_path(self.dir.path())).unwrap();
        assert!(!created);
        key
    }

    fn feed_text(&self) -> String {
        let mut text = String::new();
        for l in engine::feed_lines(&self.store).unwrap() {
            text.push_str(&l);
            text.push('\n');
        }
        text
    }

    /// The feed verified against the public key, folded to (address, taint) pairs.
    fn listing(&self) -> Vec<(String, String)> {
        listing_of(&self.feed_text(), &self.key_hex)
    }

    fn notices(&self) -> Vec<Notice> {
        engine::feed_lines(&self.store)
            .unwrap()
            .iter()
            .map(|l| feed::verify_line(l, &self.key_hex).unwrap().notice)
            .collect()
    }
}

/// What a step is expected to report.
fn report(issued: usize, retracted: usize, notices: usize, last_seq: u64) -> StepReport {
    StepReport {
        issued,
        retracted,
        notices,
        last_seq,
    }
}

fn key_path(dir: &Path) -> std::path::PathBuf {
    dir.join("feed.key")
}

fn listing_of(text: &str, key_hex: &str) -> Vec<(String, String)> {
    let listing = feed::verify_feed(text.as_bytes(), key_hex).unwrap();
    listing
        .entries
        .iter()
        .map(|((chain, address, asset, incident), n)| {
            assert_eq!(
                (chain.as_str(), asset.as_str(), incident.as_str()),
                ("generic", "COIN", INCIDENT)
            );
            assert_eq!(n.address, *address);
            (address.clone(), n.taint.clone())
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect()
}

/// The fields of an alert record that say what moved.
#[derive(Debug, PartialEq)]
struct Said {
    seq: u64,
    event: Event,
    kind: Kind,
    priority: Priority,
    block: u64,
    tx: String,
    from: String,
    to: String,
    amount: u128,
    value: u128,
    hop: Option<u32>,
    outcome: Option<Outcome>,
    path: Vec<String>,
}

fn said(r: &Record) -> Said {
    let a = &r.alert;
    Said {
        seq: r.seq,
        event: r.event,
        kind: a.kind,
        priority: a.priority,
        block: a.block,
        tx: a.tx.clone(),
        from: a.from.clone(),
        to: a.to.clone(),
        amount: a.amount,
        value: a.value,
        hop: a.hop,
        outcome: a.outcome,
        path: a.path.clone(),
    }
}

/// An alert moving `amount` (all of the movement's value) in `tx{block}`.
#[allow(clippy::too_many_arguments)]
fn want(
    seq: u64,
    kind: Kind,
    priority: Priority,
    block: u64,
    from: &str,
    to: &str,
    amount: u128,
    hop: u32,
    outcome: Outcome,
    path: &[&str],
) -> Said {
    Said {
        seq,
        event: Event::Alert,
        kind,
        priority,
        block,
        tx: format!("tx{block}"),
        from: from.into(),
        to: to.into(),
        amount,
        value: amount,
        hop: Some(hop),
        outcome: Some(outcome),
        path: path.iter().map(|s| s.to_string()).collect(),
    }
}

fn first_records() -> Vec<Said> {
    use Kind::{Movement, NewHolder};
    use Outcome::Held;
    use Priority::{High, Normal};
    vec![
        want(1, NewHolder, Normal, 2, "S", "A", 600, 1, Held, &["tx2"]),
        want(2, Movement, Normal, 3, "S", "A", 100, 1, Held, &["tx3"]),
        want(
            3,
            NewHolder,
            Normal,
            4,
            "A",
            "B",
            300,
            2,
            Held,
            &["tx2", "tx4"],
        ),
        want(
            4,
            Kind::Exit,
            High,
            5,
            "B",
            "E",
            200,
            3,
            Outcome::Exit,
            &["tx2", "tx4", "tx5"],
        ),
    ]
}

fn second_records() -> Vec<Said> {
    use Kind::{Movement, NewHolder};
    use Outcome::Held;
    use Priority::Normal;
    vec![
        want(
            5,
            NewHolder,
            Normal,
            6,
            "A",
            "C",
            250,
            2,
            Held,
            &["tx2", "tx6"],
        ),
        want(
            6,
            Movement,
            Normal,
            7,
            "A",
            "B",
            100,
            2,
            Held,
            &["tx2", "tx7"],
        ),
    ]
}

#[test]
fn step_issues_each_alert_once_in_seq_order() {
    let mut f = Fixture::new();
    // Nothing said before the first step.
    assert!(records_after(&f.store, 0).unwrap().is_empty());
    let r = f.watcher.step(&mut f.store, None).unwrap();
    assert_eq!(r, report(4, 0, 2, 4));
    let records = records_after(&f.store, 0).unwrap();
    assert_eq!(
        records.iter().map(said).collect::<Vec<_>>(),
        first_records()
    );
    for r in &records {
        assert_eq!(
            r.id,
            r.alert.id(),
            "record {} carries its alert's id",
            r.seq
        );
        assert_eq!(r.reason, None);
        assert_eq!(
            (r.alert.chain.as_str(), r.alert.incident.as_str()),
            ("generic", INCIDENT)
        );
        assert_eq!(
            (r.alert.policy.as_str(), r.alert.asset.as_str()),
            ("haircut", "COIN")
        );
        assert_eq!(r.alert.time, time(r.alert.block));
    }
    let exit = &records[3].alert;
    assert_eq!(exit.label.as_deref(), Some(EXCHANGE));
    assert_eq!(
        exit.detail,
        format!(
            "200 COIN of theft tainted reached {EXCHANGE} (E): ask the service who its customer is"
        )
    );
    assert_eq!(
        records[0].alert.detail,
        "600 COIN of theft tainted moved to A, a new holder: added to the watchlist"
    );
    assert_eq!(
        records[1].alert.detail,
        "100 COIN more of theft tainted moved to A (on the watchlist)"
    );
    assert!(records[..3].iter().all(|r| r.alert.label.is_none()));
    let ids: std::collections::BTreeSet<_> = records.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 4, "distinct movements have distinct ids");
    assert_eq!(records_after(&f.store, 2).unwrap(), records[2..].to_vec());

    // The feed lists the two holders (not the seed, not the exchange).
    assert_eq!(f.listing(), pairs(&[("A", "700"), ("B", "300")]));
    let notices = f.notices();
    assert_eq!(notices.len(), 2);
    assert_eq!(
        (notices[0].action, notices[0].address.as_str()),
        (Action::Add, "A")
    );
    assert_eq!(
        notices[0].reason,
        "received 700 tainted COIN of incident theft"
    );
    assert_eq!(notices[0].appeal, APPEAL);
    // Its latest movement, and the path that first reached it.
    assert_eq!((notices[0].block, notices[0].tx.as_str()), (3, "tx3"));
    assert_eq!(notices[0].path, vec!["tx2"]);
    assert_eq!(
        (notices[1].action, notices[1].address.as_str()),
        (Action::Add, "B")
    );
    assert_eq!(notices[1].path, vec!["tx2", "tx4"]);
    let watchlist: Vec<(String, String)> = engine::watchlist(&f.store)
        .unwrap()
        .into_iter()
        .map(|n| (n.address, n.taint))
        .collect();
    assert_eq!(watchlist, pairs(&[("A", "700"), ("B", "300")]));

    // Judging the same chain again says nothing: ids are content hashes.
    let again = f.watcher.step(&mut f.store, None).unwrap();
    assert_eq!(again, report(0, 0, 0, 4));
    assert_eq!(records_after(&f.store, 0).unwrap(), records);
    assert_eq!(f.notices().len(), 2);

    // A restart (store reopened, a new watcher with the same key) says nothing either.
    let Fixture {
        dir,
        store,
        watcher,
        key_hex,
    } = f;
    drop(store);
    let mut store = Store::open(&dir.path().join("store")).unwrap();
    let (key, created) = FeedKey::load_or_create(&key_path(dir.path())).unwrap();
    assert!(!created);
    let watcher = Watcher::new(watcher.cfg.clone(), key);
    assert_eq!(watcher.public_key(), key_hex);
    assert_eq!(watcher.step(&mut store, None).unwrap().issued, 0);
    assert_eq!(records_after(&store, 0).unwrap(), records);

    // New blocks: only what they add, numbered on from 5.
    ingest(&mut store, SECOND, &second_batch());
    let r = watcher.step(&mut store, None).unwrap();
    assert_eq!(r, report(2, 0, 2, 6));
    let all = records_after(&store, 0).unwrap();
    assert_eq!(&all[..4], &records[..]);
    assert_eq!(
        all[4..].iter().map(said).collect::<Vec<_>>(),
        second_records()
    );
}

// ---------------------------------------------------------------------------------------
// Webhook

/// One POST as the receiver saw it.
#[derive(Debug, Clone)]
struct Post {
    seq: String,
    key: String,
    body: String,
    status: u16,
}

#[derive(Default)]
struct Receiver {
    posts: Vec<Post>,
    /// Answer 503 to this many POSTs first.
    unavailable: usize,
    /// Answer 400 to the record with this seq.
    refuse: Option<String>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(State(rx): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut rx = rx.lock().unwrap();
    let seq = header("x-ashiato-seq");
    let status = if rx.unavailable > 0 {
        rx.unavailable -= 1;
        StatusCode::SERVICE_UNAVAILABLE
    } else if rx.refuse.as_deref() == Some(seq.as_str()) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    rx.posts.push(Post {
        seq,
        key: header("idempotency-key"),
        body,
        status: status.as_u16(),
    });
    status
}

fn receiver(r: Receiver) -> (Serving, Shared, String) {
    let shared = Arc::new(Mutex::new(r));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(shared.clone());
    let serving = Serving::start("127.0.0.1:0".parse().unwrap(), app).unwrap();
    let url = format!("{}/hook", serving.url());
    (serving, shared, url)
}

fn posts(rx: &Shared) -> Vec<Post> {
    rx.lock().unwrap().posts.clone()
}

fn webhook(url: &str, retries: u32) -> Webhook {
    Webhook::new(
        url,
        Duration::from_secs(2),
        retries,
        Duration::from_millis(5),
    )
    .unwrap()
}

/// The accepted POSTs are exactly `records`, in order, each with its id and seq headers
/// and its JSON line as the body.
fn assert_delivered(accepted: &[Post], records: &[Record]) {
    assert_eq!(
        accepted.iter().map(|p| p.seq.clone()).collect::<Vec<_>>(),
        records
            .iter()
            .map(|r| r.seq.to_string())
            .collect::<Vec<_>>()
    );
    for (p, r) in accepted.iter().zip(records) {
        assert_eq!(p.key, r.id, "idempotency-key of record {}", r.seq);
        assert_eq!(p.body, r.line());
        let back: Record = serde_json::from_str(&p.body).unwrap();
        assert_eq!(back, *r);
    }
}

#[test]
fn webhook_retries_then_delivers_every_record_once_in_order() {
    let mut f = Fixture::stepped();
    let (_serving, rx, url) = receiver(Receiver {
        unavailable: 2,
        ..Receiver::default()
    });
    let mut hook = webhook(&url, 3);
    assert_eq!(hook.name(), format!("webhook {url}"));
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 0);

    assert_eq!(sink::deliver(&mut f.store, &mut hook).unwrap(), 4);
    let seen = posts(&rx);
    // Record 1 three times (503, 503, 200), then 2, 3, 4 once each.
    assert_eq!(
        seen.iter()
            .map(|p| (p.seq.as_str(), p.status))
            .collect::<Vec<_>>(),
        vec![
            ("1", 503),
            ("1", 503),
            ("1", 200),
            ("2", 200),
            ("3", 200),
            ("4", 200)
        ]
    );
    // The retries are the same record: same key, same body.
    assert!(seen[..3]
        .iter()
        .all(|p| p.key == seen[2].key && p.body == seen[2].body));
    let records = records_after(&f.store, 0).unwrap();
    let accepted: Vec<Post> = seen.into_iter().filter(|p| p.status == 200).collect();
    assert_delivered(&accepted, &records);
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 4);

    // Nothing new: nothing sent.
    assert_eq!(sink::deliver(&mut f.store, &mut hook).unwrap(), 0);
    assert_eq!(posts(&rx).len(), 6);

    // New records: only those, after the cursor (a fresh sink for the same URL resumes).
    f.second();
    let mut hook = webhook(&url, 3);
    assert_eq!(sink::deliver(&mut f.store, &mut hook).unwrap(), 2);
    let seen = posts(&rx);
    assert_eq!(seen.len(), 8);
    assert_delivered(&seen[6..], &records_after(&f.store, 4).unwrap());
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 6);
}

#[test]
fn webhook_refusal_stops_the_cursor_before_the_refused_record() {
    let mut f = Fixture::stepped();
    let (_serving, rx, url) = receiver(Receiver {
        refuse: Some("3".into()),
        ..Receiver::default()
    });
    let mut hook = webhook(&url, 3);
    let err = sink::deliver(&mut f.store, &mut hook).unwrap_err();
    let DeliverError::Sink(why) = &err else {
        panic!("not a sink error: {err:?}");
    };
    assert_eq!(
        why,
        &format!("webhook {url}: record 3: HTTP 400 Bad Request")
    );
    // A 400 is not retried; record 4 is never tried past the refusal.
    let seen = posts(&rx);
    assert_eq!(
        seen.iter()
            .map(|p| (p.seq.as_str(), p.status))
            .collect::<Vec<_>>(),
        vec![("1", 200), ("2", 200), ("3", 400)]
    );
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 2);

    // Trying again starts at the refused record, not before it.
    assert!(sink::deliver(&mut f.store, &mut hook).is_err());
    let seen = posts(&rx);
    assert_eq!(seen.len(), 4);
    assert_eq!((seen[3].seq.as_str(), seen[3].status), ("3", 400));
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 2);

    // Once the receiver takes it, the rest follows and each record arrived once.
    rx.lock().unwrap().refuse = None;
    assert_eq!(sink::deliver(&mut f.store, &mut hook).unwrap(), 2);
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 4);
    let accepted: Vec<Post> = posts(&rx).into_iter().filter(|p| p.status == 200).collect();
    assert_delivered(&accepted, &records_after(&f.store, 0).unwrap());
}

#[test]
fn webhook_down_is_an_error_naming_the_url_and_keeps_the_cursor() {
    let mut f = Fixture::stepped();
    // A port nothing listens on any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let mut hook = Webhook::new(
        &url,
        Duration::from_millis(500),
        1,
        Duration::from_millis(5),
    )
    .unwrap();
    let err = sink::deliver(&mut f.store, &mut hook).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "webhook {url}: record 1: gave up after 2 attempts: "
        )),
        "{msg}"
    );
    assert!(matches!(err, DeliverError::Sink(_)));
    assert_eq!(engine::cursor(&f.store, &hook.name()).unwrap(), 0);
    assert_eq!(records_after(&f.store, 0).unwrap().len(), 4);
}

// ---------------------------------------------------------------------------------------
// Server-sent events and the HTTP side

#[derive(Debug, Default, PartialEq)]
struct SseEvent {
    id: String,
    event: String,
    data: String,
}

/// Reads the next event (skipping comments and keep-alives); `None` at the end of the
/// stream.
fn next_event(r: &mut impl BufRead) -> Option<SseEvent> {
    let mut ev = SseEvent::default();
    let mut any = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).expect("stream read") == 0 {
            assert!(!any, "stream ended inside an event: {ev:?}");
            return None;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            if any {
                return Some(ev);
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => ev.id = value.into(),
            "event" => ev.event = value.into(),
            "data" => {
                if !ev.data.is_empty() {
                    ev.data.push('\n');
                }
                ev.data.push_str(value);
            }
            other => panic!("unexpected field {other:?}"),
        }
        any = true;
    }
}

/// The event, checked against the record it must carry.
fn assert_event(ev: &SseEvent, r: &Record) {
    assert_eq!(ev.id, r.seq.to_string());
    let name = match r.event {
        Event::Alert => "alert",
        Event::Retract => "retract",
    };
    assert_eq!(ev.event, name, "record {}", r.seq);
    let back: Record = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(back, *r);
}

fn get(client: &reqwest::blocking::Client, url: &str) -> String {
    let resp = client.get(url).send().unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.text().unwrap()
}

#[test]
fn sse_resumes_after_last_event_id_streams_live_and_ends_on_close() {
    let mut f = Fixture::stepped();
    let hub = Hub::new(&f.key_hex);
    hub.refresh(&f.store).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let serving = sink::serve(addr, hub.clone()).unwrap();
    let base = serving.url();
    // The timeout bounds every read of the open stream: a missing event fails, not hangs.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let resp = client
        .get(format!("{base}/alerts"))
        .header("Last-Event-ID", "1")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let mut stream = BufReader::new(resp);

    let records = records_after(&f.store, 0).unwrap();
    for r in &records[1..] {
        let ev = next_event(&mut stream).expect("an event per record after 1");
        assert_event(&ev, r);
    }

    // A new block while the stream is open: its records arrive live.
    f.second();
    hub.refresh(&f.store).unwrap();
    let all = records_after(&f.store, 0).unwrap();
    assert_eq!(
        all[4..].iter().map(said).collect::<Vec<_>>(),
        second_records()
    );
    for r in &all[4..] {
        let ev = next_event(&mut stream).expect("the live records");
        assert_event(&ev, r);
    }

    // The rest of the HTTP side, with the stream still open.
    let lines = get(&client, &format!("{base}/alerts.jsonl?since=0"));
    let want: String = all.iter().map(|r| r.line() + "\n").collect();
    assert_eq!(lines, want);
    let lines = get(&client, &format!("{base}/alerts.jsonl?since=4"));
    let want: String = all[4..].iter().map(|r| r.line() + "\n").collect();
    assert_eq!(lines, want);

    let feed_text = get(&client, &format!("{base}/feed"));
    assert_eq!(feed_text, f.feed_text());
    assert_eq!(feed_text.lines().count(), 4);
    assert_eq!(
        listing_of(&feed_text, &f.key_hex),
        pairs(&[("A", "700"), ("B", "400"), ("C", "250")])
    );
    assert_eq!(
        get(&client, &format!("{base}/feed/key")),
        format!("{}\n", f.key_hex)
    );
    let watchlist: Vec<Notice> =
        serde_json::from_str(&get(&client, &format!("{base}/watchlist"))).unwrap();
    assert_eq!(watchlist, engine::watchlist(&f.store).unwrap());
    assert_eq!(
        watchlist
            .iter()
            .map(|n| n.address.as_str())
            .collect::<Vec<_>>(),
        vec!["A", "B", "C"]
    );

    // Closing ends the open stream.
    hub.close();
    assert_eq!(next_event(&mut stream), None);
    drop(stream);

    // After close, a stream sends what there is after `?since=` and ends.
    let resp = client.get(format!("{base}/alerts?since=5")).send().unwrap();
    let mut stream = BufReader::new(resp);
    assert_event(&next_event(&mut stream).unwrap(), &all[5]);
    assert_eq!(next_event(&mut stream), None);
    drop(stream);
    drop(client);
    drop(serving);
}

// ---------------------------------------------------------------------------------------
// Reorganisation and appeal

#[test]
fn reorg_retracts_exactly_the_dropped_alerts_and_revokes_their_holder() {
    let mut f = Fixture::stepped();
    f.second();
    let before = records_after(&f.store, 0).unwrap();
    assert_eq!(
        f.listing(),
        pairs(&[("A", "700"), ("B", "400"), ("C", "250")])
    );

    // The blocks of the second batch left the chain: the sync drops their source.
    assert_eq!(
        f.store
            .drop_sources(&[SECOND], ("test-sync", b"{}"))
            .unwrap(),
        1
    );
    let r = f.watcher.step(&mut f.store, Some(5)).unwrap();
    assert_eq!(r, report(0, 2, 2, 8));
    let after = records_after(&f.store, 6).unwrap();
    assert_eq!(after.len(), 2);
    // Newest first: the movement to B (record 6), then the new holder C (record 5).
    for (r, (seq, taken_back)) in after.iter().zip([(7, &before[5]), (8, &before[4])]) {
        assert_eq!(r.seq, seq);
        assert_eq!(r.event, Event::Retract);
        assert_eq!(r.id, taken_back.id);
        assert_eq!(r.alert, taken_back.alert);
        assert_eq!(
            r.reason.as_deref(),
            Some(
                format!(
                    "block {} left the chain (reorganisation back to height 5)",
                    taken_back.alert.block
                )
                .as_str()
            )
        );
    }
    // The first batch's records are untouched.
    assert_eq!(records_after(&f.store, 0).unwrap()[..6], before[..]);

    // The feed: B back to 300 (an update), C revoked, both signed and chained.
    let notices = f.notices();
    assert_eq!(notices.len(), 6);
    let b = &notices[4];
    assert_eq!(
        (b.seq, b.action, b.address.as_str(), b.taint.as_str()),
        (5, Action::Update, "B", "300")
    );
    assert_eq!(
        b.reason,
        "has now received 300 tainted COIN of incident theft"
    );
    let c = &notices[5];
    assert_eq!(
        (c.seq, c.action, c.address.as_str()),
        (6, Action::Revoke, "C")
    );
    assert_eq!(
        c.reason,
        "the movements that brought taint here left the chain (reorganisation back to height 5)"
    );
    assert_eq!(f.listing(), pairs(&[("A", "700"), ("B", "300")]));
    assert_eq!(
        engine::watchlist(&f.store)
            .unwrap()
            .iter()
            .map(|n| n.address.as_str())
            .collect::<Vec<_>>(),
        vec!["A", "B"]
    );

    // Settled: nothing more to say.
    assert_eq!(f.watcher.step(&mut f.store, None).unwrap().last_seq, 8);
    assert_eq!(f.notices().len(), 6);

    // The same movements mined again: the same alerts (same ids), issued anew.
    ingest(&mut f.store, [3; 16], &second_batch());
    let r = f.watcher.step(&mut f.store, None).unwrap();
    assert_eq!((r.issued, r.retracted, r.last_seq), (2, 0, 10));
    let again = records_after(&f.store, 8).unwrap();
    assert_eq!(
        again.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![before[4].id.clone(), before[5].id.clone()]
    );
    assert_eq!(
        f.listing(),
        pairs(&[("A", "700"), ("B", "400"), ("C", "250")])
    );
}

#[test]
fn granted_appeal_revokes_and_keeps_the_address_off_the_feed() {
    let mut f = Fixture::stepped();
    let key = f.key();
    let why = "appeal granted: B is a shop that was paid for goods";
    let seq = engine::revoke(&mut f.store, &key, "B", "COIN", INCIDENT, why).unwrap();
    assert_eq!(seq, Some(3));
    let notices = f.notices();
    assert_eq!(notices.len(), 3);
    let n = &notices[2];
    assert_eq!(
        (n.seq, n.action, n.address.as_str(), n.taint.as_str()),
        (3, Action::Revoke, "B", "300")
    );
    assert_eq!(n.reason, why);
    assert_eq!(f.listing(), pairs(&[("A", "700")]));
    // An address never listed: kept off, no notice.
    assert_eq!(
        engine::revoke(
            &mut f.store,
            &key,
            "D",
            "COIN",
            INCIDENT,
            "appeal granted: D"
        )
        .unwrap(),
        None
    );
    assert_eq!(f.notices().len(), 3);

    // The next step does not list B again.
    let r = f.watcher.step(&mut f.store, None).unwrap();
    assert_eq!((r.issued, r.notices), (0, 0));

    // More taint reaches B: the movement is still an alert, but the feed adds only C.
    ingest(&mut f.store, SECOND, &second_batch());
    let r = f.watcher.step(&mut f.store, None).unwrap();
    assert_eq!(r, report(2, 0, 1, 6));
    assert_eq!(
        records_after(&f.store, 4)
            .unwrap()
            .iter()
            .map(said)
            .collect::<Vec<_>>(),
        second_records()
    );
    let notices = f.notices();
    assert_eq!(notices.len(), 4);
    assert_eq!(
        (notices[3].action, notices[3].address.as_str()),
        (Action::Add, "C")
    );
    assert_eq!(f.listing(), pairs(&[("A", "700"), ("C", "250")]));
    assert!(engine::watchlist(&f.store)
        .unwrap()
        .iter()
        .all(|n| n.address != "B"));
}

/// Two equal transfers in one transaction (A→E 50 twice) are two exits, not one: the
/// second carries `repeat: 1` and its own id, and both are issued once.
#[test]
fn identical_movements_of_one_transaction_are_distinct_alerts() {
    let mut f = Fixture::stepped();
    let mut a = tr(6, "A", "E", 50);
    let mut b = a.clone();
    a.index = 0;
    b.index = 1;
    ingest(&mut f.store, SECOND, &[a, b]);
    let r = f.watcher.step(&mut f.store, None).unwrap();
    assert_eq!((r.issued, r.retracted), (2, 0));
    let new = engine::records_after(&f.store, 4).unwrap();
    let got: Vec<(Kind, u128, u32, &str)> = new
        .iter()
        .map(|r| {
            (
                r.alert.kind,
                r.alert.amount,
                r.alert.repeat,
                r.alert.tx.as_str(),
            )
        })
        .collect();
    // Haircut: everything A holds came from S, so each 50 is wholly tainted.
    assert_eq!(
        got,
        [(Kind::Exit, 50, 0, "tx6"), (Kind::Exit, 50, 1, "tx6")]
    );
    assert_ne!(new[0].id, new[1].id);
    assert!(new[1].line().contains(r#""repeat":1"#));
    assert!(!new[0].line().contains("repeat"));
    assert_eq!(f.watcher.step(&mut f.store, None).unwrap().issued, 0);
}
