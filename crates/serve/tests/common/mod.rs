//! Test support for the service's integration tests: a store holding the Coincheck 2018
//! fixture chain (served by the NIS1 replay server and synced over REST, as
//! `ashiato demo --case coincheck` does) and a small Ethereum case read from a CSV, served
//! by a real `Service` on a loopback port with its backend running on a thread.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ashiato_ingest::csv::CsvReader;
use ashiato_model::{Address, Amount, Chain, Incident, Label, LabelKind, UtcTime};
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::coincheck::{self, Fixture};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, SyncOptions};
use ashiato_nem::tx::{address_of, Body, MAINNET, NEM_EPOCH_UNIX};
use ashiato_net::Serving;
use ashiato_serve::{keys, Backend, IndexOptions, ServeOptions, Service};
use ashiato_store::{SourceKey, Store};
use ashiato_trace::PolicyName;
use ashiato_watch::engine::{WatchConfig, Watcher};
use ashiato_watch::feed::FeedKey;
use ashiato_watch::sink::Hub;
use serde_json::Value;

pub const XEM: Amount = 1_000_000;
pub const ETH: Amount = 1_000_000_000_000_000_000;

pub const COINCHECK: &str = "coincheck-2018";
/// The demo's dust line for the Coincheck case (`ashiato::coincheck::DEFAULT_DUST`): the
/// 30 Jan spray (100 XEM) and every fee fall under it.
pub const COINCHECK_DUST: Amount = 1_000 * XEM;
pub const NEM_XEM: &str = "nem:xem";

/// The small Ethereum case: S is emptied into A and B; A mixes in clean funds from D and
/// passes some on to C, who pays E; B pays everything into the exchange X.
pub const ETH_CASE: &str = "eth-small";
pub const ETH_SINCE: &str = "2024-03-02T00:00:00Z";
pub const ETH_SINCE_UNIX: i64 = 1_709_337_600;
// Valid EIP-55 spellings (the test vectors of the EIP); the store keeps them lower-case.
pub const ETH_F: &str = "0x52908400098527886E0F7030069857D2E4169EE7";
pub const ETH_S: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
pub const ETH_A: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
pub const ETH_B: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";
pub const ETH_X: &str = "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb";
pub const ETH_C: &str = "0x8617E340B3D01FA5F11F306F4090FD50E238070D";
pub const ETH_D: &str = "0xde709f2102306220921060314715629080e2fb77";
pub const ETH_E: &str = "0x27b1fdb04752bbc536007a920d24acb045561c26";
pub const ETH_X_LABEL: &str = "Exchange X";

/// The canonical (stored) spelling of an Ethereum address.
pub fn eth(a: &str) -> String {
    a.to_ascii_lowercase()
}

/// The id of the Ethereum case's transaction `n` (1..=7).
pub fn eth_tx(n: u32) -> String {
    format!("0x{n:064x}")
}

/// The Ethereum case, one transfer per transaction and block.
pub fn eth_csv() -> String {
    let e = |n: u128| (n * ETH).to_string();
    let rows = [
        ("2024-03-01T00:00:00Z", 100, 1, ETH_F, ETH_S, e(10)),
        ("2024-03-02T00:00:00Z", 101, 2, ETH_S, ETH_A, e(6)),
        ("2024-03-02T00:10:00Z", 102, 3, ETH_S, ETH_B, e(3)),
        ("2024-03-02T01:00:00Z", 103, 4, ETH_D, ETH_A, e(2)),
        ("2024-03-02T02:00:00Z", 104, 5, ETH_A, ETH_C, e(4)),
        ("2024-03-02T03:00:00Z", 105, 6, ETH_B, ETH_X, e(3)),
        ("2024-03-02T04:00:00Z", 106, 7, ETH_C, ETH_E, e(1)),
    ];
    let mut s = String::from("time,block,tx,from,to,asset,amount\n");
    for (time, block, tx, from, to, amount) in rows {
        s.push_str(&format!(
            "{time},{block},{},{from},{to},ETH,{amount}\n",
            eth_tx(tx)
        ));
    }
    s
}

pub fn eth_incident() -> Incident {
    Incident {
        name: ETH_CASE.into(),
        chain: Chain::Ethereum,
        seeds: vec![Address::parse(Chain::Ethereum, ETH_S).unwrap()],
        seed_txs: Vec::new(),
        since: Some(UtcTime::parse(ETH_SINCE).unwrap()),
        description: "S emptied into A and B (test case)".into(),
        source: "crates/serve/tests/common".into(),
    }
}

/// What the tests know of the Coincheck fixture, read from the fixture itself.
pub struct Facts {
    pub fixture: Fixture,
    pub hot: String,
    /// The 11 hacker accounts' stand-ins; `hackers[0]` is NC4.
    pub hackers: Vec<String>,
    pub spray: Vec<String>,
    /// The six laundering intermediaries, in the order hackers 1..=6 pay them.
    pub mids: Vec<String>,
    pub harvester: String,
}

/// One transfer of the fixture chain.
pub struct FixtureTx {
    pub height: u64,
    pub time: i64,
    pub hash: String,
    pub from: String,
    pub to: String,
    pub micro: u64,
}

impl Facts {
    pub fn of(fixture: Fixture) -> Facts {
        let hot = fixture.hot_wallet.to_string();
        let hackers: Vec<String> = fixture.hackers.iter().map(|a| a.to_string()).collect();
        let spray = fixture
            .spray_recipients
            .iter()
            .map(|a| a.to_string())
            .collect();
        let harvester = address_of(&fixture.blocks[0].signer, MAINNET).to_string();
        let mut f = Facts {
            fixture,
            hot,
            hackers,
            spray,
            mids: Vec::new(),
            harvester,
        };
        // The laundering plan: hacker h (1..=6) pays intermediary h-1 this many XEM.
        let plan = [
            9_000_000u64,
            6_000_000,
            5_000_000,
            4_500_000,
            3_000_000,
            2_000_000,
        ];
        f.mids = plan
            .iter()
            .enumerate()
            .map(|(i, &xem)| {
                let from = f.hackers[i + 1].clone();
                f.transfers()
                    .into_iter()
                    .find(|t| t.from == from && t.micro == xem * 1_000_000)
                    .expect("the plan's transfer")
                    .to
            })
            .collect();
        f
    }

    /// Every transfer transaction of the fixture, in chain order.
    pub fn transfers(&self) -> Vec<FixtureTx> {
        let mut out = Vec::new();
        for b in &self.fixture.blocks {
            for tx in &b.txs {
                if let Body::Transfer {
                    recipient, amount, ..
                } = &tx.body
                {
                    out.push(FixtureTx {
                        height: b.height,
                        time: NEM_EPOCH_UNIX + i64::from(tx.timestamp),
                        hash: hex::encode(tx.hash.expect("fixture transactions are hashed")),
                        from: address_of(&tx.signer, MAINNET).to_string(),
                        to: recipient.to_string(),
                        micro: *amount,
                    });
                }
            }
        }
        out
    }

    /// The first transfer (in chain order) from `from` to `to` of `xem` whole XEM.
    pub fn tx(&self, from: &str, to: &str, xem: u64) -> FixtureTx {
        self.transfers()
            .into_iter()
            .find(|t| t.from == from && t.to == to && t.micro == xem * 1_000_000)
            .unwrap_or_else(|| panic!("no transfer of {xem} XEM from {from} to {to}"))
    }
}

/// What becomes of the service's backend (the side that owns the store and writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendMode {
    /// Runs on a thread: writes are applied.
    Run,
    /// Kept but never run: writes wait forever (until the request times out).
    Hold,
    /// Dropped: the store takes no writes.
    Drop,
}

/// What to build and how to serve it.
pub struct Setup {
    pub coincheck: bool,
    pub eth: bool,
    /// Make an API key (writes are refused without one).
    pub key: bool,
    /// Run one watch round over the Ethereum case (alerts, feed and watchlist to serve).
    pub watch: bool,
    pub rate: u32,
    pub burst: u32,
    pub policies: Vec<PolicyName>,
    pub timeout: Duration,
    /// Serve only these incidents (`ashiato serve --incident`).
    pub only: Vec<String>,
    /// Anything else to put in the store before the service starts.
    pub extra: Option<fn(&mut Store)>,
    pub backend: BackendMode,
    /// The store's directory is named after this and the process id, and kept if the
    /// server is never dropped (a `static`): [`sweep`] removes those of finished runs.
    pub shared_dir: Option<&'static str>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            coincheck: true,
            eth: true,
            key: false,
            watch: false,
            rate: 0,
            burst: 0,
            policies: PolicyName::ALL.to_vec(),
            timeout: Duration::from_secs(30),
            only: Vec::new(),
            extra: None,
            backend: BackendMode::Run,
            shared_dir: None,
        }
    }
}

/// A service on a loopback port over its own store, the backend on a thread.
pub struct TestServer {
    pub url: String,
    pub addr: SocketAddr,
    pub key: Option<String>,
    pub feed_key: String,
    pub facts: Option<Facts>,
    pub client: reqwest::blocking::Client,
    stop: Arc<AtomicBool>,
    backend: Option<JoinHandle<()>>,
    held: std::sync::Mutex<Option<(Backend, Store)>>,
    serving: Option<Serving>,
    _dir: tempfile::TempDir,
}

/// Syncs the Coincheck fixture into `store` and puts its labels and incident, as
/// `ashiato::coincheck::run_case` does.
pub fn load_coincheck(store: &mut Store) -> Facts {
    let fixture = coincheck::build(coincheck::SEED);
    let server = ReplayServer::start(fixture.blocks.clone()).expect("replay server");
    let client = Nis1Client::new(&server.url(), ClientOptions::default()).expect("client");
    sync(store, &client, &SyncOptions::default()).expect("sync");
    drop(server);
    store.put_labels(&fixture.labels).unwrap();
    store.put_incident(&fixture.incident).unwrap();
    Facts::of(fixture)
}

/// Ingests the Ethereum case's CSV and puts its incident and the exchange's label.
pub fn load_eth(store: &mut Store) {
    let csv = eth_csv();
    let key = SourceKey {
        kind: "csv".into(),
        name: "eth-small.csv".into(),
        fingerprint: *b"eth-small-case-1",
    };
    let reader = CsvReader::from_reader("eth-small.csv", csv.as_bytes(), Chain::Ethereum).unwrap();
    let mut s = store.begin_source(Chain::Ethereum, key).unwrap();
    let rows = reader
        .for_each(0, |row, t| {
            s.push_transfer(row, &t).unwrap();
            Ok(())
        })
        .unwrap();
    assert_eq!(rows, 7);
    let r = s.finish().unwrap();
    assert_eq!(r.added, 7, "{r:?}");
    store
        .put_labels(&[Label {
            chain: Chain::Ethereum,
            address: Address::parse(Chain::Ethereum, ETH_X).unwrap(),
            name: ETH_X_LABEL.into(),
            kind: LabelKind::Exchange,
            source: "test".into(),
            confidence: 90,
        }])
        .unwrap();
    store.put_incident(&eth_incident()).unwrap();
}

impl TestServer {
    pub fn start(setup: Setup) -> TestServer {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = match setup.shared_dir {
            Some(name) => {
                sweep(name);
                tempfile::Builder::new()
                    .prefix(&format!("{name}-{}-", std::process::id()))
                    .tempdir_in(base)
                    .unwrap()
            }
            None => tempfile::tempdir_in(base).unwrap(),
        };
        let store_dir = dir.path().join("store");
        let mut store = Store::open(&store_dir).unwrap();
        let facts = setup.coincheck.then(|| load_coincheck(&mut store));
        if setup.eth {
            load_eth(&mut store);
        }
        if let Some(extra) = setup.extra {
            extra(&mut store);
        }
        let mut feed_key = String::new();
        if setup.watch {
            let (k, _) = FeedKey::load_or_create(&dir.path().join("feed.key")).unwrap();
            feed_key = k.public_hex();
            let cfg = WatchConfig {
                appeal: "mailto:appeals@example.org".into(),
                ..WatchConfig::new(Chain::Ethereum, vec![eth_incident()], PolicyName::Poison)
            };
            Watcher::new(cfg, k).step(&mut store, None).unwrap();
        }
        let key = setup
            .key
            .then(|| keys::add(&mut store, "tester", 1_700_000_000).unwrap());
        let mut dust_for = BTreeMap::new();
        if setup.coincheck {
            dust_for.insert(COINCHECK.to_owned(), COINCHECK_DUST);
        }
        let opts = ServeOptions {
            index: IndexOptions {
                policies: setup.policies.clone(),
                dust_for,
                only: setup.only.clone(),
                ..IndexOptions::default()
            },
            rate: setup.rate,
            burst: setup.burst,
            timeout: setup.timeout,
            ..ServeOptions::default()
        };
        let hub = Hub::new(&feed_key);
        hub.refresh(&store).unwrap();
        let (service, backend) = Service::new(&store, opts, hub).unwrap();
        let serving = Serving::start("127.0.0.1:0".parse().unwrap(), service.router()).unwrap();
        let url = serving.url();
        let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut held = None;
        let backend = match setup.backend {
            BackendMode::Run => {
                let stop = stop.clone();
                Some(std::thread::spawn(move || {
                    backend.run(&mut store, &stop).expect("the backend failed");
                }))
            }
            BackendMode::Hold => {
                held = Some((backend, store));
                None
            }
            BackendMode::Drop => None,
        };
        TestServer {
            url,
            addr,
            key,
            feed_key,
            facts,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            stop,
            backend,
            held: std::sync::Mutex::new(held),
            serving: Some(serving),
            _dir: dir,
        }
    }

    /// Starts the backend a [`BackendMode::Hold`] server was holding.
    pub fn release(&mut self) {
        let (backend, mut store) = self.held.lock().unwrap().take().expect("a held backend");
        let stop = self.stop.clone();
        self.backend = Some(std::thread::spawn(move || {
            backend.run(&mut store, &stop).expect("the backend failed");
        }));
    }

    pub fn facts(&self) -> &Facts {
        self.facts
            .as_ref()
            .expect("a server with the Coincheck case")
    }

    pub fn get(&self, path: &str) -> Answer {
        Answer::of(
            self.client
                .get(format!("{}{path}", self.url))
                .send()
                .unwrap(),
        )
    }

    /// POSTs `body` as JSON, with `Authorization: Bearer KEY` when `key` is given.
    pub fn post(&self, path: &str, body: &str, key: Option<&str>) -> Answer {
        let mut r = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(k) = key {
            r = r.header("authorization", format!("Bearer {k}"));
        }
        Answer::of(r.send().unwrap())
    }

    pub fn post_json(&self, path: &str, body: &Value, key: Option<&str>) -> Answer {
        self.post(path, &body.to_string(), key)
    }

    pub fn send(&self, r: reqwest::blocking::RequestBuilder) -> Answer {
        Answer::of(r.send().unwrap())
    }

    /// Sends a request whose body the server may refuse before reading it all (too large,
    /// or unauthorised). HTTP/1.1 servers then close the connection with the body unread,
    /// and the client can see the reset before the answer: retry until an answer arrives.
    pub fn send_refused(&self, make: impl Fn() -> reqwest::blocking::RequestBuilder) -> Answer {
        let mut last = None;
        for _ in 0..10 {
            match make().send() {
                Ok(r) => return Answer::of(r),
                Err(e) => last = Some(e),
            }
        }
        panic!("no answer in 10 tries: {last:?}")
    }

    /// Sends `GET target` exactly as written (no normalisation of `..` or escapes), on a
    /// fresh connection.
    pub fn raw_get(&self, target: &str) -> Answer {
        raw_request(
            self.addr,
            &format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        )
    }
}

/// Removes the directories of servers named `name` whose test process has ended.
fn sweep(name: &str) {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&format!("{name}-")) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.serving.take();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(b) = self.backend.take() {
            let _ = b.join();
        }
    }
}

/// A whole answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn of(r: reqwest::blocking::Response) -> Answer {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let body = r.bytes().unwrap().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} {}", self.status, self.text()))
    }

    /// The JSON body of a 2xx answer of `status`.
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(
            self.content_type().starts_with("application/json"),
            "{:?}",
            self.headers
        );
        self.json()
    }
}

/// Checks that `a` is the documented error: `status`, JSON
/// `{"error": {"status", "code", "message"}}` and nothing else; returns the message.
#[track_caller]
pub fn assert_error(a: &Answer, status: u16, code: &str) -> String {
    assert_eq!(a.status, status, "{}", a.text());
    assert!(
        a.content_type().starts_with("application/json"),
        "status {status}: content type {:?}, body {:?}",
        a.content_type(),
        a.text()
    );
    let v = a.json();
    let obj = v.as_object().expect("an object");
    assert_eq!(obj.len(), 1, "{v}");
    let e = v["error"].as_object().expect("error object");
    assert_eq!(e.len(), 3, "{v}");
    assert_eq!(e["status"], status, "{v}");
    assert_eq!(e["code"], code, "{v}");
    let m = e["message"].as_str().expect("message string");
    assert!(!m.is_empty(), "{v}");
    m.to_owned()
}

/// Any documented error (a 4xx or 503 in the error shape); returns its code.
#[track_caller]
pub fn assert_error_shape(a: &Answer) -> String {
    let code = a.json()["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not the error shape: {} {}", a.status, a.text()))
        .to_owned();
    assert_error(a, a.status, &code);
    code
}

/// Sends `request` as is over a fresh TCP connection and reads the whole answer.
pub fn raw_request(addr: SocketAddr, request: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    // A server may reset a connection it refuses; what arrived before counts.
    let _ = s.read_to_end(&mut buf);
    parse_raw(&buf)
}

fn parse_raw(buf: &[u8]) -> Answer {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
}

/// The workspace root (for files a traversal must never reach).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}
