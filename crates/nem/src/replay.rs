//! A NIS1-compatible replay server: serves a chain held in fixture files over the same REST
//! paths a node offers, with fault injection (delays past a client's timeout, 5xx,
//! truncated or garbage bodies, missing blocks, a lying height, a reorganisation). Test
//! support, and the node `ashiato demo --case coincheck` syncs from.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ashiato_net::Serving;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::client::{
    JAccount, JAccountInfo, JAccountMeta, JAccountTx, JDefinitionEntry, JId, JTxMeta,
};
use crate::json::{self, HashData, JBlockEntry, JData};
use crate::tx::{address_of, block_transfers, Body, MosaicBook, NemBlock, NemTx, Tally, MAINNET};

/// What the next request gets instead of (or before) a faithful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer only after this long (past the client's timeout, it is a timeout).
    Delay(Duration),
    /// An HTTP error status with a short body.
    Status(u16),
    /// The right answer cut in half.
    Truncate,
    /// An HTML error page instead of JSON.
    Garbage,
}

struct Inner {
    blocks: Vec<NemBlock>,
    /// Highest height served.
    tip: u64,
    /// `/chain/height` answers this instead of the tip (a lying or lagging node).
    reported_height: Option<u64>,
    faults: VecDeque<Fault>,
    requests: u64,
    /// Added to every answer: the round trip to a node across the Internet.
    latency: Duration,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking handler cannot leave the chain half-edited: every edit is one
        // assignment, so the poisoned value is still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct ReplayServer {
    shared: Shared,
    serving: Serving,
}

/// Reads a chain written by [`write_chain`]: one `blocks-after` entry (JSON) per line.
pub fn read_chain(path: &Path) -> Result<Vec<NemBlock>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let e: JBlockEntry = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        out.push(
            json::entry_from_json(&e).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?,
        );
    }
    Ok(out)
}

pub fn write_chain(path: &Path, blocks: &[NemBlock]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for b in blocks {
        serde_json::to_writer(&mut w, &json::entry_to_json(b))?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

impl ReplayServer {
    /// Serves `blocks` (heights 1..) on an ephemeral loopback port.
    pub fn start(blocks: Vec<NemBlock>) -> std::io::Result<ReplayServer> {
        Self::start_on("127.0.0.1:0".parse().expect("static address"), blocks)
    }

    pub fn start_on(addr: SocketAddr, blocks: Vec<NemBlock>) -> std::io::Result<ReplayServer> {
        let tip = blocks.last().map_or(0, |b| b.height);
        let shared = Shared(Arc::new(Mutex::new(Inner {
            blocks,
            tip,
            reported_height: None,
            faults: VecDeque::new(),
            requests: 0,
            latency: Duration::ZERO,
        })));
        let app = Router::new()
            .route("/chain/height", get(height))
            .route("/block/at/public", post(block_at))
            .route("/local/chain/blocks-after", post(blocks_after))
            .route("/account/transfers/incoming", get(incoming))
            .route("/account/transfers/outgoing", get(outgoing))
            .route("/account/transfers/all", get(all))
            .route("/account/get", get(account_get))
            .route("/namespace/mosaic/definition/page", get(definitions))
            .with_state(shared.clone());
        let serving = Serving::start(addr, app)?;
        Ok(ReplayServer { shared, serving })
    }

    pub fn url(&self) -> String {
        self.serving.url()
    }

    /// The next request gets `f`; several queue up in order.
    pub fn push_fault(&self, f: Fault) {
        self.shared.lock().faults.push_back(f);
    }

    /// Serve blocks only up to `height` (the chain "grows" as a test raises it).
    pub fn set_tip(&self, height: u64) {
        let mut s = self.shared.lock();
        s.tip = height.min(s.blocks.len() as u64);
    }

    /// `/chain/height` reports this instead of the tip.
    pub fn set_reported_height(&self, height: Option<u64>) {
        self.shared.lock().reported_height = height;
    }

    /// A reorganisation: blocks from `replacement[0].height` on are replaced.
    pub fn reorg(&self, replacement: Vec<NemBlock>) {
        let mut s = self.shared.lock();
        if let Some(first) = replacement.first() {
            let keep = (first.height as usize)
                .saturating_sub(1)
                .min(s.blocks.len());
            s.blocks.truncate(keep);
            s.blocks.extend(replacement);
            s.tip = s.blocks.len() as u64;
        }
    }

    /// Every answer waits this long first (a remote node's round trip).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    pub fn requests(&self) -> u64 {
        self.shared.lock().requests
    }
}

fn nis_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({
            "timeStamp": 0, "error": status.canonical_reason().unwrap_or(""),
            "message": message, "status": status.as_u16()
        })),
    )
        .into_response()
}

/// An error answer a node gives on its own (not an injected fault).
type Refusal = (StatusCode, &'static str);

/// Applies the next queued fault, if any, around a faithful answer.
async fn answer(
    shared: &Shared,
    build: impl FnOnce(&Inner) -> Result<serde_json::Value, Refusal>,
) -> Response {
    let (fault, body, latency) = {
        let mut s = shared.lock();
        s.requests += 1;
        let fault = s.faults.pop_front();
        (fault, build(&s), s.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let body = match body {
        Ok(v) => v,
        Err((code, why)) => return nis_error(code, why),
    };
    let text = body.to_string();
    match fault {
        None => ([("content-type", "application/json")], text).into_response(),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            ([("content-type", "application/json")], text).into_response()
        }
        Some(Fault::Status(code)) => nis_error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "injected fault",
        ),
        Some(Fault::Truncate) => {
            let cut = text.len() / 2;
            (
                [("content-type", "application/json")],
                text[..cut].to_owned(),
            )
                .into_response()
        }
        Some(Fault::Garbage) => (
            [("content-type", "text/html")],
            "<html><body>502 Bad Gateway</body></html>",
        )
            .into_response(),
    }
}

async fn height(State(s): State<Shared>) -> Response {
    answer(&s, |i| {
        Ok(serde_json::json!({ "height": i.reported_height.unwrap_or(i.tip) }))
    })
    .await
}

#[derive(serde::Deserialize)]
struct HeightBody {
    height: u64,
}

fn block(i: &Inner, h: u64) -> Option<&NemBlock> {
    if h == 0 || h > i.tip {
        return None;
    }
    i.blocks.get(h as usize - 1)
}

async fn block_at(State(s): State<Shared>, Json(b): Json<HeightBody>) -> Response {
    answer(&s, |i| match block(i, b.height) {
        Some(bl) => Ok(serde_json::to_value(json::block_to_json(bl)).expect("json")),
        None => Err((StatusCode::NOT_FOUND, "invalid block height")),
    })
    .await
}

async fn blocks_after(State(s): State<Shared>, Json(b): Json<HeightBody>) -> Response {
    answer(&s, |i| {
        let data: Vec<JBlockEntry> = (b.height + 1..=b.height + 10)
            .map_while(|h| block(i, h))
            .map(json::entry_to_json)
            .collect();
        Ok(serde_json::to_value(JData { data }).expect("json"))
    })
    .await
}

#[derive(serde::Deserialize)]
struct TransfersQuery {
    address: String,
    id: Option<u64>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

fn transfers(
    i: &Inner,
    q: &TransfersQuery,
    incoming: bool,
    outgoing: bool,
) -> Result<serde_json::Value, Refusal> {
    let Ok(addr) = crate::tx::parse_address(&q.address) else {
        return Err((StatusCode::BAD_REQUEST, "invalid address"));
    };
    let page = q.page_size.unwrap_or(25).clamp(5, 100);
    let mut found: Vec<JAccountTx> = Vec::new();
    for (id, b, t, inner) in numbered(i) {
        let sender = address_of(&inner.signer, MAINNET);
        let to_me = matches!(&inner.body, Body::Transfer { recipient, .. } if *recipient == addr);
        if (outgoing && sender == addr) || (incoming && to_me) {
            found.push(JAccountTx {
                meta: JTxMeta {
                    id,
                    height: b.height,
                    hash: HashData {
                        data: hex::encode(t.hash.unwrap_or_default()),
                    },
                    inner_hash: match &t.body {
                        Body::Multisig { inner } => serde_json::json!({
                            "data": hex::encode(inner.hash.unwrap_or_default())
                        }),
                        _ => serde_json::json!({}),
                    },
                },
                transaction: json::tx_to_json(t),
            });
        }
    }
    let data: Vec<JAccountTx> = found
        .into_iter()
        .rev()
        .filter(|t| q.id.is_none_or(|max| t.meta.id < max))
        .take(page)
        .collect();
    Ok(serde_json::to_value(JData { data }).expect("json"))
}

async fn incoming(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    account(s, q, true, false).await
}
async fn outgoing(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    account(s, q, false, true).await
}
async fn all(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    account(s, q, true, true).await
}

async fn account(s: Shared, q: HashMap<String, String>, inc: bool, out: bool) -> Response {
    let q = TransfersQuery {
        address: q.get("address").cloned().unwrap_or_default(),
        id: q.get("id").and_then(|v| v.parse().ok()),
        page_size: q.get("pageSize").and_then(|v| v.parse().ok()),
    };
    answer(&s, |i| transfers(i, &q, inc, out)).await
}

/// The chain's transactions up to the tip, numbered from 1 in chain order (the ids pages
/// are cut by), with the transaction that does the work (a multisig's inner one).
fn numbered(i: &Inner) -> impl Iterator<Item = (u64, &NemBlock, &NemTx, &NemTx)> {
    i.blocks
        .iter()
        .take(i.tip as usize)
        .flat_map(|b| b.txs.iter().map(move |t| (b, t)))
        .enumerate()
        .map(|(n, (b, t))| {
            let inner = match &t.body {
                Body::Multisig { inner } => inner.as_ref(),
                _ => t,
            };
            (n as u64 + 1, b, t, inner)
        })
}

fn definitions_page(i: &Inner, q: &HashMap<String, String>) -> Result<serde_json::Value, Refusal> {
    let Some(ns) = q.get("namespace") else {
        return Err((StatusCode::BAD_REQUEST, "namespace is required"));
    };
    let before = q.get("id").and_then(|v| v.parse::<u64>().ok());
    let page = q
        .get("pageSize")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(5, 100);
    // The latest definition of each mosaic, newest first.
    let mut latest: HashMap<String, JDefinitionEntry> = HashMap::new();
    for (id, _, _, inner) in numbered(i) {
        if let Body::MosaicDefinition(d) = &inner.body {
            if d.id.in_namespace(ns) {
                let entry = JDefinitionEntry {
                    meta: JId { id },
                    mosaic: json::definition_to_json(d),
                };
                latest.insert(d.id.asset_name(), entry);
            }
        }
    }
    let mut data: Vec<JDefinitionEntry> = latest.into_values().collect();
    data.sort_by_key(|e| std::cmp::Reverse(e.meta.id));
    let data: Vec<_> = data
        .into_iter()
        .filter(|e| before.is_none_or(|b| e.meta.id < b))
        .take(page)
        .collect();
    Ok(serde_json::to_value(JData { data }).expect("json"))
}

async fn definitions(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    answer(&s, |i| definitions_page(i, &q)).await
}

/// Balance from the served chain's movements (fees and levies included), public key
/// once the account has signed something.
fn account_info(i: &Inner, address: &str) -> Result<serde_json::Value, Refusal> {
    let Ok(addr) = crate::tx::parse_address(address) else {
        return Err((StatusCode::BAD_REQUEST, "invalid address"));
    };
    let mut book = MosaicBook::default();
    let mut tally = Tally::default();
    let mut balance: i128 = 0;
    let mut key = None;
    let mut harvested = 0u64;
    for b in i.blocks.iter().take(i.tip as usize) {
        if address_of(&b.signer, MAINNET) == addr {
            harvested += 1;
        }
        for t in &b.txs {
            if address_of(&t.signer, MAINNET) == addr {
                key = Some(t.signer);
            }
        }
        let moved = block_transfers(b, &mut book, MAINNET, &mut tally)
            .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "served chain is invalid"))?;
        for t in moved.iter().filter(|t| t.asset.as_str() == crate::tx::XEM) {
            if t.to == addr {
                balance += t.amount as i128;
            }
            if t.from == addr {
                balance -= t.amount as i128;
            }
        }
    }
    // The fixture's funding account has no nemesis allocation; a node never goes below 0.
    let balance = balance.max(0) as u64;
    let info = JAccountInfo {
        account: JAccount {
            address: addr.to_string(),
            balance,
            vested_balance: balance,
            importance: 0.0,
            public_key: key.map(hex::encode),
            label: None,
            harvested_blocks: harvested,
        },
        meta: JAccountMeta {
            cosignatory_of: Vec::new(),
            cosignatories: Vec::new(),
            status: "LOCKED".into(),
            remote_status: "INACTIVE".into(),
        },
    };
    Ok(serde_json::to_value(info).expect("json"))
}

async fn account_get(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let address = q.get("address").cloned().unwrap_or_default();
    answer(&s, |i| account_info(i, &address)).await
}
