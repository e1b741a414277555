//! Where alerts go: JSON lines on a writer (stdout), a webhook, and a server-sent event
//! stream (with the signed feed and the watchlist beside it).
//!
//! Delivery is at least once, in `seq` order, from the durable log: each sink has a
//! cursor in the store, moved after what it delivered. A kill between delivering and
//! moving the cursor re-sends those records on restart with the same `seq` and `id`, so
//! a consumer keeps exactly one of each (a webhook gets the id as `Idempotency-Key`).
//! SSE clients resume with `Last-Event-ID`.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ashiato_net::{retrying, Attempt, Failure, Serving};
use ashiato_store::Store;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::alert::{Event, Record};
use crate::engine::{self, WatchError};
use crate::feed::Notice;

/// A destination for log records.
pub trait Sink {
    /// Names the sink's cursor in the store.
    fn name(&self) -> String;
    fn send(&mut self, r: &Record) -> Result<(), String>;
    /// Makes what was sent durable on the other side (flushes a writer).
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// JSON lines on a writer.
pub struct Lines<W: Write> {
    name: String,
    w: W,
}

impl<W: Write> Lines<W> {
    pub fn new(name: &str, w: W) -> Lines<W> {
        Lines {
            name: name.to_owned(),
            w,
        }
    }
}

impl<W: Write> Sink for Lines<W> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn send(&mut self, r: &Record) -> Result<(), String> {
        writeln!(self.w, "{}", r.line()).map_err(|e| format!("{}: {e}", self.name))
    }
    fn flush(&mut self) -> Result<(), String> {
        self.w.flush().map_err(|e| format!("{}: {e}", self.name))
    }
}

/// POSTs each record as JSON, retrying with exponential backoff.
pub struct Webhook {
    url: String,
    client: reqwest::blocking::Client,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl Webhook {
    pub fn new(
        url: &str,
        timeout: Duration,
        retries: u32,
        backoff: Duration,
    ) -> Result<Webhook, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("webhook {url}: {e}"))?;
        Ok(Webhook {
            url: url.to_owned(),
            client,
            timeout,
            retries,
            backoff,
        })
    }
}

impl Sink for Webhook {
    fn name(&self) -> String {
        format!("webhook {}", self.url)
    }

    fn send(&mut self, r: &Record) -> Result<(), String> {
        let body = r.line();
        let out = retrying(
            self.timeout,
            self.retries,
            self.backoff,
            || {
                self.client
                    .post(&self.url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", &r.id)
                    .header("x-ashiato-seq", r.seq.to_string())
                    .body(body.clone())
                    .send()
            },
            |resp| {
                let s = resp.status();
                if s.is_success() {
                    Attempt::Done(())
                } else if s.is_client_error() && s != 408 && s != 429 {
                    // The receiver refuses this record; retrying will not change that.
                    Attempt::Fatal(format!("HTTP {s}"))
                } else {
                    Attempt::Retry(format!("HTTP {s}"))
                }
            },
        );
        match out {
            Ok(()) => Ok(()),
            Err(Failure::Fatal(why)) => {
                Err(format!("webhook {}: record {}: {why}", self.url, r.seq))
            }
            Err(Failure::Exhausted { why, attempts }) => Err(format!(
                "webhook {}: record {}: gave up after {attempts} attempts: {why}",
                self.url, r.seq
            )),
        }
    }
}

/// Sends every record after the sink's cursor, then moves the cursor. On a failure the
/// cursor stays after the last record delivered, and the error is returned.
pub fn deliver(store: &mut Store, sink: &mut dyn Sink) -> Result<usize, DeliverError> {
    let name = sink.name();
    let from = engine::cursor(store, &name)?;
    let pending = engine::records_after(store, from)?;
    let mut last = from;
    let mut failed = None;
    for r in &pending {
        if let Err(e) = sink.send(r) {
            failed = Some(e);
            break;
        }
        last = r.seq;
    }
    if let Err(e) = sink.flush() {
        // Nothing is known to have arrived: keep the cursor.
        return Err(DeliverError::Sink(e));
    }
    if last > from {
        engine::set_cursor(store, &name, last)?;
    }
    match failed {
        Some(e) => Err(DeliverError::Sink(e)),
        None => Ok((last - from) as usize),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("{0}")]
    Sink(String),
}

/// What the HTTP side serves, updated by the watch after each step.
pub struct Hub {
    state: Mutex<HubState>,
    tip: tokio::sync::watch::Sender<(u64, bool)>,
}

#[derive(Default)]
struct HubState {
    records: Vec<Record>,
    feed: Vec<String>,
    watchlist: Vec<Notice>,
    key: String,
}

impl Hub {
    pub fn new(public_key: &str) -> Arc<Hub> {
        let (tip, _) = tokio::sync::watch::channel((0, false));
        Arc::new(Hub {
            state: Mutex::new(HubState {
                key: public_key.to_owned(),
                ..HubState::default()
            }),
            tip,
        })
    }

    /// Loads everything the store has after `seq` (all of it at start) and wakes streams.
    pub fn refresh(&self, store: &Store) -> Result<(), WatchError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let have = st.records.last().map_or(0, |r| r.seq);
        st.records.extend(engine::records_after(store, have)?);
        st.feed = engine::feed_lines(store)?;
        st.watchlist = engine::watchlist(store)?;
        let tip = st.records.last().map_or(0, |r| r.seq);
        drop(st);
        // Keep the closed flag: a refresh after `close` must not reopen streams.
        self.tip.send_modify(|t| t.0 = tip);
        Ok(())
    }

    /// Ends every open stream (after it has sent what there is).
    pub fn close(&self) {
        let tip = self.tip.borrow().0;
        self.tip.send_replace((tip, true));
    }

    /// The seq of the last record loaded (0: none), so a client can follow only new ones.
    pub fn last_seq(&self) -> u64 {
        self.tip.borrow().0
    }

    fn after(&self, seq: u64) -> Vec<Record> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let i = st.records.partition_point(|r| r.seq <= seq);
        st.records[i..].to_vec()
    }
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

/// Serves the hub on `addr`:
/// - `GET /alerts`: server-sent events, one per record (`id:` is the seq, `event:` is
///   `alert` or `retract`); resumes after `Last-Event-ID` or `?since=N`.
/// - `GET /alerts.jsonl?since=N`: the same records as JSON lines.
/// - `GET /feed`: the signed taint feed, JSON lines; `GET /feed/key`: its public key.
/// - `GET /watchlist`: what the feed lists now, JSON.
pub fn serve(addr: SocketAddr, hub: Arc<Hub>) -> std::io::Result<Serving> {
    Serving::start(addr, router(hub))
}

/// The routes of [`serve`], to mount inside a larger service.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/alerts", get(alerts_sse))
        .route("/alerts.jsonl", get(alerts_lines))
        .route("/feed", get(feed))
        .route("/feed/key", get(feed_key))
        .route("/watchlist", get(watchlist))
        .with_state(hub)
}

async fn alerts_sse(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<Since>,
) -> impl IntoResponse {
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or(q.since)
        .unwrap_or(0);
    let rx = hub.tip.subscribe();
    let stream = futures_util::stream::unfold(
        (hub, rx, since, Vec::<Record>::new()),
        |(hub, mut rx, mut since, mut queue)| async move {
            loop {
                if let Some(r) = queue.pop() {
                    since = r.seq;
                    let ev = SseEvent::default()
                        .id(r.seq.to_string())
                        .event(match r.event {
                            Event::Alert => "alert",
                            Event::Retract => "retract",
                        })
                        .data(r.line());
                    return Some((Ok::<_, Infallible>(ev), (hub, rx, since, queue)));
                }
                // Mark the signal seen before looking: a refresh landing in between
                // then wakes `changed` instead of being lost.
                let (_, closed) = *rx.borrow_and_update();
                queue = hub.after(since);
                queue.reverse();
                if !queue.is_empty() {
                    continue;
                }
                if closed || rx.changed().await.is_err() {
                    // Closed: send what arrived meanwhile, then end.
                    queue = hub.after(since);
                    if queue.is_empty() {
                        return None;
                    }
                    queue.reverse();
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn alerts_lines(State(hub): State<Arc<Hub>>, Query(q): Query<Since>) -> impl IntoResponse {
    let mut body = String::new();
    for r in hub.after(q.since.unwrap_or(0)) {
        body.push_str(&r.line());
        body.push('\n');
    }
    ([("content-type", "application/x-ndjson")], body)
}

async fn feed(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    let st = hub.state.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = String::new();
    for l in &st.feed {
        body.push_str(l);
        body.push('\n');
    }
    ([("content-type", "application/x-ndjson")], body)
}

async fn feed_key(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    let st = hub.state.lock().unwrap_or_else(|e| e.into_inner());
    (StatusCode::OK, format!("{}\n", st.key))
}

async fn watchlist(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    let st = hub.state.lock().unwrap_or_else(|e| e.into_inner());
    axum::Json(st.watchlist.clone())
}
