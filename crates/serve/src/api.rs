//! The REST API (docs/serve.md): routes, errors, API keys on writes, limits.
//!
//! Every failure a client can cause is a 4xx with `{"error": {status, code, message}}`;
//! the router's extractor rejections (bad path, query or JSON, oversize body) are turned
//! into that shape too, and a panic becomes a 500 of that shape instead of a dropped
//! connection.

use std::str::FromStr;
use std::sync::Arc;

use ashiato_model::{Address, Chain, Incident, Label, LabelKind, UtcTime};
use ashiato_trace::PolicyName;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use crate::evidence::{self, Evidence};
use crate::index::{IncidentEntry, Index, PolicyTrace};
use crate::service::{Command, Shared, WriteError};
use crate::views;

/// Addresses one batch screening request may ask about.
pub const MAX_BATCH: usize = 1000;
/// Labels one write may store.
pub const MAX_LABELS: usize = 10_000;
/// Largest page of holders or movements.
pub const MAX_PAGE: usize = 1000;
/// Largest flow graph served.
pub const MAX_GRAPH_NODES: usize = 20_000;
/// Whole-trace answers (graphs, timelines, reports, exports) computed at once.
pub const HEAVY_AT_ONCE: usize = 2;
/// How long such a request waits for its turn before a 503.
const HEAVY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn rate_limited(wait_secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(wait_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this address; retry in {wait_secs} s"),
            )
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    status: u16,
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInner {
                status: self.status.as_u16(),
                code: self.code,
                message: &self.message,
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::NOT_FOUND => "not_found",
        _ => "bad_request",
    };
    // Axum's 422 for a body that parses but has the wrong shape is still the client's
    // bad request; one status for every malformed body is simpler to handle.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, code, text)
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}
impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}
impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

/// `axum`'s extractors with rejections in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct P<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct Q<T>(T);

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct J<T>(T);

type St = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let opts = &shared.opts;
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/screen/{chain}/{address}", get(screen_one))
        .route("/screen", post(screen_many))
        .route("/incidents", get(incidents).post(add_incident))
        .route("/incidents/{name}", get(incident))
        .route("/incidents/{name}/graph", get(graph))
        .route("/incidents/{name}/holders", get(holders))
        .route("/incidents/{name}/exits", get(exits))
        .route("/incidents/{name}/movements", get(movements))
        .route("/incidents/{name}/timeline", get(timeline))
        .route("/incidents/{name}/report.html", get(incident_report))
        .route(
            "/incidents/{name}/exits/{address}/report.html",
            get(exit_report),
        )
        .route("/incidents/{name}/export.csv", get(export_csv))
        .route("/incidents/{name}/export.json", get(export_json))
        .route("/incidents/{name}/export.graphml", get(export_graphml))
        .route("/labels", post(add_labels))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            opts.timeout,
        ))
        .with_state(shared.clone());
    // Event streams live as long as the client listens: no request timeout there.
    let streams = ashiato_watch::sink::router(shared.hub.clone());
    Router::new()
        .nest(
            "/api/v1",
            api.merge(streams)
                .fallback(|| async {
                    ApiError::not_found("no such API endpoint (see /api/v1/openapi.json)")
                })
                .layer(axum::middleware::map_response(json_errors)),
        )
        .fallback_service(crate::site::router())
        .layer(DefaultBodyLimit::max(opts.max_body))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server failed on this request (a bug: please report it)",
            )
            .into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            shared.limiter.clone(),
            crate::limit::middleware,
        ))
}

/// Errors axum or a layer made (a 405, a timeout's 408, the alert routes' plain-text
/// query errors) get the API's JSON error shape too, keeping their status and headers.
async fn json_errors(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let status = r.status();
    let json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json || !(status.is_client_error() || status.is_server_error()) {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not take that method",
        ),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        s if s.is_server_error() => ("internal", "the server failed on this request"),
        _ => ("bad_request", "bad request"),
    };
    let message = if text.is_empty() {
        fallback.to_owned()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for h in [
        header::ALLOW,
        header::RETRY_AFTER,
        header::X_CONTENT_TYPE_OPTIONS,
    ] {
        if let Some(v) = parts.headers.get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

fn parse_chain(s: &str) -> Result<Chain, ApiError> {
    Chain::from_str(s)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_chain", e.to_string()))
}

fn parse_address(chain: Chain, s: &str) -> Result<Address, ApiError> {
    if s.len() > 200 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_address",
            format!("not a {chain} address: {} characters long", s.len()),
        ));
    }
    Address::parse(chain, s).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_address",
            format!("not a {chain} address: {e}"),
        )
    })
}

#[derive(Deserialize, Default, Clone)]
struct Opts {
    policy: Option<String>,
    /// Graph, timeline and holders of one asset (default: the incident's main asset for
    /// graph and timeline, every asset for holders).
    asset: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    buckets: Option<usize>,
}

/// The incident and the trace of the asked (or default) policy.
fn pick<'a>(
    index: &'a Index,
    name: &str,
    policy: Option<&str>,
) -> Result<(&'a IncidentEntry, &'a PolicyTrace), ApiError> {
    let e = index
        .incident(name)
        .ok_or_else(|| ApiError::not_found(format!("no incident named {name:?}")))?;
    let served = || {
        index
            .policies
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = match policy {
        None => e.traces.first(),
        Some(p) => {
            let p = PolicyName::from_str(p).map_err(|err| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_policy",
                    format!("{err}; served here: {}", served()),
                )
            })?;
            e.trace(p)
        }
    };
    let t = t.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown_policy",
            format!("that policy is not served here; served: {}", served()),
        )
    })?;
    Ok((e, t))
}

#[derive(Serialize)]
struct ChainView {
    chain: Chain,
    events: usize,
    data_sha256: String,
    last_block: Option<u64>,
    last_time: Option<i64>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    built: String,
    incidents: usize,
    tainted_addresses: usize,
    policies: Vec<&'static str>,
    /// The seq of the last alert in the log (0: none): `GET /alerts?since=` this to
    /// follow only what comes next.
    alerts_last_seq: u64,
    chains: Vec<ChainView>,
}

async fn health(State(s): St) -> Json<Health> {
    let i = s.index();
    Json(Health {
        status: "ok",
        built: i.built.to_rfc3339(),
        incidents: i.incidents.len(),
        tainted_addresses: i.tainted_addresses(),
        policies: i.policies.iter().map(|p| p.as_str()).collect(),
        alerts_last_seq: s.hub.last_seq(),
        chains: i
            .chains
            .values()
            .map(|c| ChainView {
                chain: c.chain,
                events: c.events,
                data_sha256: c.data_sha256.clone(),
                last_block: c.last_block,
                last_time: c.last_time,
            })
            .collect(),
    })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn screen_one(
    State(s): St,
    P((chain, address)): P<(String, String)>,
) -> Result<Response, ApiError> {
    let chain = parse_chain(&chain)?;
    let address = parse_address(chain, &address)?;
    let index = s.index();
    // Serialised here, while the answer still borrows the index.
    Ok(Json(views::screen(&index, chain, &address)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    chain: String,
    addresses: Vec<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BatchItem<'a> {
    Ok(views::ScreenResult<'a>),
    Err { address: String, error: String },
}

#[derive(Serialize)]
struct BatchResult<'a> {
    results: Vec<BatchItem<'a>>,
}

async fn screen_many(State(s): St, J(b): J<Batch>) -> Result<Response, ApiError> {
    let chain = parse_chain(&b.chain)?;
    if b.addresses.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{} addresses in one request; at most {MAX_BATCH}",
                b.addresses.len()
            ),
        ));
    }
    let index = s.index();
    let results = b
        .addresses
        .into_iter()
        .map(|a| match parse_address(chain, &a) {
            Ok(addr) => BatchItem::Ok(views::screen(&index, chain, &addr)),
            Err(e) => BatchItem::Err {
                address: a,
                error: e.message,
            },
        })
        .collect();
    Ok(Json(BatchResult { results }).into_response())
}

async fn incidents(State(s): St) -> Json<Vec<views::IncidentSummary>> {
    let i = s.index();
    Json(
        i.incidents
            .iter()
            .map(|e| views::incident_summary(&i, e))
            .collect(),
    )
}

async fn incident(
    State(s): St,
    P(name): P<String>,
) -> Result<Json<views::IncidentSummary>, ApiError> {
    let i = s.index();
    let e = i
        .incident(&name)
        .ok_or_else(|| ApiError::not_found(format!("no incident named {name:?}")))?;
    Ok(Json(views::incident_summary(&i, e)))
}

/// Answers from the incident's trace under the asked (or default) policy, on the calling
/// worker: for answers that cost a page, not a pass over the trace.
fn on_trace<T>(
    s: &Shared,
    name: &str,
    o: &Opts,
    f: impl FnOnce(&Index, &IncidentEntry, &PolicyTrace) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let i = s.index();
    let (e, t) = pick(&i, name, o.policy.as_deref())?;
    f(&i, e, t)
}

/// Like [`on_trace`] for answers that walk the whole trace (graphs, timelines, reports,
/// exports): run on a blocking thread, at most [`HEAVY_AT_ONCE`] at a time, so that a
/// client asking for many of them slows itself, not screening. A request that waits too
/// long for its turn is told to come back (503).
async fn heavy<T: Send + 'static>(
    s: &Arc<Shared>,
    name: String,
    o: Opts,
    f: impl FnOnce(&Index, &IncidentEntry, &PolicyTrace) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let busy = || ApiError {
        retry_after: Some(2),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is busy with other large answers (graphs, reports, exports); retry shortly",
        )
    };
    let permit = tokio::time::timeout(HEAVY_WAIT, s.heavy.clone().acquire_owned())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let index = s.index();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (e, t) = pick(&index, &name, o.policy.as_deref())?;
        f(&index, e, t)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed on this request (a bug: please report it)",
        )
    })?
}

fn evidence_of<'a>(
    index: &'a Index,
    entry: &'a IncidentEntry,
    trace: &'a PolicyTrace,
) -> Evidence<'a> {
    Evidence {
        index,
        entry,
        trace,
    }
}

async fn graph(
    State(s): St,
    P(name): P<String>,
    Q(o): Q<Opts>,
) -> Result<Json<views::FlowGraph>, ApiError> {
    let limit = o.limit.unwrap_or(2000).clamp(1, MAX_GRAPH_NODES);
    let asset = o.asset.clone();
    heavy(&s, name, o, move |i, e, t| {
        Ok(Json(views::flow_graph(i, e, t, limit, asset.as_deref())))
    })
    .await
}

async fn holders(
    State(s): St,
    P(name): P<String>,
    Q(o): Q<Opts>,
) -> Result<Json<views::Page<views::Holders>>, ApiError> {
    let (offset, limit) = (
        o.offset.unwrap_or(0),
        o.limit.unwrap_or(100).clamp(1, MAX_PAGE),
    );
    // The order is sorted once per index (a pass over the trace), then pages are cheap.
    let asset = o.asset.clone();
    heavy(&s, name, o, move |i, e, t| {
        Ok(Json(views::holders(
            i,
            e,
            t,
            asset.as_deref(),
            offset,
            limit,
        )))
    })
    .await
}

async fn exits(State(s): St, P(name): P<String>, Q(o): Q<Opts>) -> Result<Response, ApiError> {
    on_trace(&s, &name, &o, |_, e, t| {
        Ok(Json(views::exits(e, t)).into_response())
    })
}

async fn movements(State(s): St, P(name): P<String>, Q(o): Q<Opts>) -> Result<Response, ApiError> {
    let (offset, limit) = (
        o.offset.unwrap_or(0),
        o.limit.unwrap_or(100).clamp(1, MAX_PAGE),
    );
    // Serialised here, while the page still borrows the trace.
    on_trace(&s, &name, &o, |_, _, t| {
        Ok(Json(views::movements(t, offset, limit)).into_response())
    })
}

async fn timeline(
    State(s): St,
    P(name): P<String>,
    Q(o): Q<Opts>,
) -> Result<Json<views::Timeline>, ApiError> {
    let buckets = o.buckets.unwrap_or(60).clamp(1, 500);
    let asset = o.asset.clone();
    heavy(&s, name, o, move |_, _, t| {
        Ok(Json(views::timeline(t, buckets, asset.as_deref())))
    })
    .await
}

async fn incident_report(
    State(s): St,
    P(name): P<String>,
    Q(o): Q<Opts>,
) -> Result<Response, ApiError> {
    heavy(&s, name, o, |i, e, t| {
        let body = t
            .rendered
            .report
            .get_or_init(|| evidence::incident_report_html(&evidence_of(i, e, t)).into())
            .clone();
        Ok(html(body))
    })
    .await
}

async fn exit_report(
    State(s): St,
    P((name, address)): P<(String, String)>,
    Q(o): Q<Opts>,
) -> Result<Response, ApiError> {
    heavy(&s, name.clone(), o, move |i, e, t| {
        let r = evidence::exit_report_html(&evidence_of(i, e, t), &address).ok_or_else(|| {
            ApiError::not_found(format!(
                "{address} is not an exit of {name:?} under {}",
                t.params.policy
            ))
        })?;
        Ok(html(r.into()))
    })
    .await
}

/// Reports are pages of outside data: they may run no script and load nothing.
fn html(body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

#[derive(Clone, Copy)]
enum Export {
    Csv,
    Json,
    GraphMl,
}

/// Exports are rendered once per index and shared by every download of them.
async fn export(s: Arc<Shared>, name: String, o: Opts, f: Export) -> Result<Response, ApiError> {
    heavy(&s, name.clone(), o, move |i, e, t| {
        let ev = evidence_of(i, e, t);
        let r = &t.rendered;
        let (body, ctype, ext) = match f {
            Export::Csv => (
                r.csv.get_or_init(|| evidence::export_csv(&ev).into()),
                "text/csv; charset=utf-8",
                "csv",
            ),
            Export::Json => (
                r.json.get_or_init(|| evidence::export_json(&ev).into()),
                "application/json",
                "json",
            ),
            Export::GraphMl => (
                r.graphml
                    .get_or_init(|| evidence::export_graphml(&ev).into()),
                "application/graphml+xml",
                "graphml",
            ),
        };
        let file: String = format!("{name}-{}.{ext}", t.params.policy)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut resp = ([(header::CONTENT_TYPE, ctype)], body.clone()).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
            resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
        }
        Ok(resp)
    })
    .await
}

async fn export_csv(State(s): St, P(n): P<String>, Q(o): Q<Opts>) -> Result<Response, ApiError> {
    export(s, n, o, Export::Csv).await
}
async fn export_json(State(s): St, P(n): P<String>, Q(o): Q<Opts>) -> Result<Response, ApiError> {
    export(s, n, o, Export::Json).await
}
async fn export_graphml(
    State(s): St,
    P(n): P<String>,
    Q(o): Q<Opts>,
) -> Result<Response, ApiError> {
    export(s, n, o, Export::GraphMl).await
}

/// Proof that the request carries a valid API key (`Authorization: Bearer KEY` or
/// `X-Api-Key: KEY`). Checked from the headers before the body is read, so an
/// unauthorised client learns nothing about the body's validation.
struct Authorized;

impl FromRequestParts<Arc<Shared>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &Arc<Shared>,
    ) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        if s.keys.is_empty() {
            return Err(unauthorized(
                "writes are disabled: this service has no API keys (ashiato apikey add NAME)",
            ));
        }
        let h = &parts.headers;
        let presented = h
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // RFC 9110 §11.1: the scheme is a case-insensitive token.
                let (scheme, key) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(key)
            })
            .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()));
        match presented {
            None => Err(unauthorized(
                "this endpoint writes: send an API key as 'Authorization: Bearer KEY'",
            )),
            Some(k) if s.keys.check(k).is_some() => Ok(Authorized),
            Some(_) => Err(unauthorized("that API key is not valid here")),
        }
    }
}

/// Hands a write to the backend and waits for it to be stored and indexed.
async fn write<T>(
    s: &Shared,
    make: impl FnOnce(oneshot::Sender<Result<T, WriteError>>) -> Command,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    let sent = s
        .commands
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(make(tx));
    let unavailable =
        |m: &str| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m.to_owned());
    if sent.is_err() {
        return Err(unavailable("the store is not accepting writes now"));
    }
    // Answer before the request timeout does, so that the client hears which it was.
    let wait = s
        .opts
        .timeout
        .saturating_sub(std::time::Duration::from_secs(1));
    match tokio::time::timeout(wait.max(std::time::Duration::from_millis(500)), rx).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(WriteError::Conflict(m)))) => {
            Err(ApiError::new(StatusCode::CONFLICT, "conflict", m))
        }
        Ok(Ok(Err(WriteError::Failed(m)))) => Err(unavailable(&format!(
            "the write failed: {m}; nothing was written, try again"
        ))),
        Ok(Ok(Err(WriteError::Stored(m)))) => Err(unavailable(&m)),
        Ok(Err(_)) => Err(unavailable("the store stopped before answering")),
        Err(_) => Err(unavailable(
            "the store is busy (a rebuild or a sync is running): the write may still land; \
             look before you retry",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewIncident {
    name: String,
    chain: String,
    #[serde(default)]
    seeds: Vec<String>,
    #[serde(default)]
    seed_txs: Vec<String>,
    since: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    source: String,
}

async fn add_incident(
    State(s): St,
    _: Authorized,
    J(n): J<NewIncident>,
) -> Result<(StatusCode, Json<views::IncidentSummary>), ApiError> {
    // A name is a URL path segment: `.` and `..` would be resolved away by every client.
    let name_ok = !n.name.is_empty()
        && n.name.len() <= 100
        && n.name.trim() == n.name
        && !n.name.chars().all(|c| c == '.')
        && n.name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if !name_ok {
        return Err(ApiError::bad_request(
            "an incident name is 1 to 100 letters, digits, spaces, '-', '_' or '.', \
             not only dots, without spaces around",
        ));
    }
    let chain = parse_chain(&n.chain)?;
    if n.seeds.is_empty() && n.seed_txs.is_empty() {
        return Err(ApiError::bad_request(
            "an incident needs at least one seed address or seed transaction",
        ));
    }
    let seeds = n
        .seeds
        .iter()
        .enumerate()
        .map(|(k, a)| {
            parse_address(chain, a).map_err(|e| ApiError {
                message: format!("seeds[{k}]: {}", e.message),
                ..e
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let since = n
        .since
        .as_deref()
        .map(UtcTime::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("since: {e}")))?;
    let incident = Incident {
        name: n.name.clone(),
        chain,
        seeds,
        seed_txs: n.seed_txs,
        since,
        description: n.description,
        source: n.source,
    };
    write(&s, |tx| Command::AddIncident(incident, tx)).await?;
    let i = s.index();
    let e = i
        .incident(&n.name)
        .ok_or_else(|| ApiError::not_found("the incident was stored but is not indexed"))?;
    Ok((StatusCode::CREATED, Json(views::incident_summary(&i, e))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLabel {
    address: String,
    name: String,
    kind: String,
    #[serde(default)]
    source: String,
    #[serde(default = "default_confidence")]
    confidence: u8,
}

fn default_confidence() -> u8 {
    50
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLabels {
    chain: String,
    labels: Vec<NewLabel>,
}

#[derive(Serialize)]
struct Stored {
    stored: usize,
}

async fn add_labels(
    State(s): St,
    _: Authorized,
    J(n): J<NewLabels>,
) -> Result<(StatusCode, Json<Stored>), ApiError> {
    let chain = parse_chain(&n.chain)?;
    if n.labels.len() > MAX_LABELS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{} labels in one request; at most {MAX_LABELS}",
                n.labels.len()
            ),
        ));
    }
    let labels = n
        .labels
        .into_iter()
        .enumerate()
        .map(|(k, l)| {
            let at = |m: String| ApiError::bad_request(format!("labels[{k}]: {m}"));
            let address = parse_address(chain, &l.address).map_err(|e| at(e.message))?;
            let kind = LabelKind::from_str(&l.kind).map_err(|e| at(e.to_string()))?;
            if l.name.trim().is_empty() || l.name.len() > 200 {
                return Err(at("a label name is 1 to 200 characters".into()));
            }
            if l.confidence > 100 {
                return Err(at(format!("confidence {} is above 100", l.confidence)));
            }
            Ok(Label {
                chain,
                address,
                name: l.name,
                kind,
                source: l.source,
                confidence: l.confidence,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if labels.is_empty() {
        return Ok((StatusCode::CREATED, Json(Stored { stored: 0 })));
    }
    let stored = write(&s, |tx| Command::AddLabels(labels, tx)).await?;
    Ok((StatusCode::CREATED, Json(Stored { stored })))
}
