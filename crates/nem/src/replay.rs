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

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::client::{JAccountTx, JTxMeta};
use crate::json::{self, HashData, JBlockEntry, JData};
use crate::tx::{address_of, Body, NemBlock, MAINNET};

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
    addr: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        })));
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/chain/height", get(height))
            .route("/block/at/public", post(block_at))
            .route("/local/chain/blocks-after", post(blocks_after))
            .route("/account/transfers/incoming", get(incoming))
            .route("/account/transfers/outgoing", get(outgoing))
            .route("/account/transfers/all", get(all))
            .with_state(shared.clone());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Ok(ReplayServer {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

    pub fn requests(&self) -> u64 {
        self.shared.lock().requests
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
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
    let (fault, body) = {
        let mut s = shared.lock();
        s.requests += 1;
        let fault = s.faults.pop_front();
        (fault, build(&s))
    };
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
    // Ids number the transactions of the served chain from 1, in chain order.
    let mut found: Vec<JAccountTx> = Vec::new();
    let mut id = 0u64;
    for b in i.blocks.iter().take(i.tip as usize) {
        for t in &b.txs {
            id += 1;
            let (sender, inner) = match &t.body {
                Body::Multisig { inner } => (address_of(&inner.signer, MAINNET), inner.as_ref()),
                _ => (address_of(&t.signer, MAINNET), t),
            };
            let to_me =
                matches!(&inner.body, Body::Transfer { recipient, .. } if *recipient == addr);
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
