//! The REST API (docs/serve.md) against a real server on loopback: every endpoint, the
//! OpenAPI document, bad input, API keys, writes and rate limits.
//!
//! The store holds the Coincheck 2018 fixture chain (synced over NIS1 REST from the replay
//! server) and a seven-transfer Ethereum case (tests/common). Every expected value below is
//! derived from the fixture's facts (crates/nem/src/coincheck.rs, data/nem-coincheck) and the
//! rules of docs/tracing.md, never copied from what the server answered; the comments say
//! how. Amounts are micro-XEM and wei.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use ashiato_model::Amount;
use ashiato_serve::api::OPENAPI;
use ashiato_trace::PolicyName;
use common::*;
use serde_json::{json, Value};

/// Read-only: both cases, a watch round over the Ethereum case, no API keys, no rate limit.
fn read() -> &'static TestServer {
    static READ: OnceLock<TestServer> = OnceLock::new();
    READ.get_or_init(|| {
        TestServer::start(Setup {
            watch: true,
            shared_dir: Some("api-read"),
            ..Setup::default()
        })
    })
}

/// A fresh server with an API key, for tests that write.
fn writable(coincheck: bool) -> TestServer {
    TestServer::start(Setup {
        coincheck,
        key: true,
        ..Setup::default()
    })
}

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

fn s(n: Amount) -> String {
    n.to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// A small JSON Schema checker for the document's schemas: it knows every keyword the
// document uses and refuses any other, so a live answer is checked field by field (with
// `additionalProperties: false` and every property required, a field the schema does not
// declare, or one it declares that is missing, fails).

fn resolve<'a>(doc: &'a Value, r: &str) -> &'a Value {
    let path = r
        .strip_prefix("#/")
        .unwrap_or_else(|| panic!("non-local $ref {r}"));
    path.split('/').fold(doc, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("$ref {r} does not resolve"))
    })
}

fn pattern_matches(p: &str, s: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let hex64 =
        |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match p {
        "^[0-9]+$" => digits(s),
        "^-?[0-9]+$" => digits(s.strip_prefix('-').unwrap_or(s)),
        "^[0-9a-f]{64}$" => hex64(s),
        "^([0-9a-f]{64})?\\n$" => s
            .strip_suffix('\n')
            .is_some_and(|k| k.is_empty() || hex64(k)),
        _ => panic!("the test's schema checker does not know the pattern {p:?}"),
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => panic!("unknown type {t}"),
    }
}

fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let sch = schema
        .as_object()
        .unwrap_or_else(|| panic!("schema at {at} is not an object"));
    for (k, x) in sch {
        match k.as_str() {
            "$ref" => validate(doc, resolve(doc, x.as_str().unwrap()), v, at, errs),
            "type" => {
                let ok = match x {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
                    _ => panic!("bad type keyword at {at}"),
                };
                if !ok {
                    errs.push(format!("{at}: {v} is not of type {x}"));
                }
            }
            "const" => {
                if v != x {
                    errs.push(format!("{at}: {v} is not {x}"));
                }
            }
            "enum" => {
                if !x.as_array().unwrap().contains(v) {
                    errs.push(format!("{at}: {v} not in {x}"));
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (name, ps) in x.as_object().unwrap() {
                        if let Some(pv) = o.get(name) {
                            validate(doc, ps, pv, &format!("{at}.{name}"), errs);
                        }
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for name in x.as_array().unwrap() {
                        if !o.contains_key(name.as_str().unwrap()) {
                            errs.push(format!("{at}: missing {name}"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let props = sch.get("properties").and_then(Value::as_object);
                    for (name, pv) in o {
                        if props.is_some_and(|p| p.contains_key(name)) {
                            continue;
                        }
                        match x {
                            Value::Bool(false) => {
                                errs.push(format!("{at}: undeclared field {name}"))
                            }
                            Value::Bool(true) => {}
                            s => validate(doc, s, pv, &format!("{at}.{name}"), errs),
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, item) in a.iter().enumerate() {
                        validate(doc, x, item, &format!("{at}[{i}]"), errs);
                    }
                }
            }
            "maxItems" | "minItems" => {
                if let Some(a) = v.as_array() {
                    let n = x.as_u64().unwrap() as usize;
                    if (k == "maxItems" && a.len() > n) || (k == "minItems" && a.len() < n) {
                        errs.push(format!("{at}: {} items breaks {k} {n}", a.len()));
                    }
                }
            }
            "minimum" | "maximum" => {
                if let Some(n) = v.as_f64() {
                    let b = x.as_f64().unwrap();
                    if (k == "minimum" && n < b) || (k == "maximum" && n > b) {
                        errs.push(format!("{at}: {n} breaks {k} {b}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(s) = v.as_str() {
                    let n = x.as_u64().unwrap() as usize;
                    let len = s.chars().count();
                    if (k == "maxLength" && len > n) || (k == "minLength" && len < n) {
                        errs.push(format!("{at}: length {len} breaks {k} {n}"));
                    }
                }
            }
            "pattern" => {
                if let Some(s) = v.as_str() {
                    if !pattern_matches(x.as_str().unwrap(), s) {
                        errs.push(format!("{at}: {s:?} does not match {x}"));
                    }
                }
            }
            "oneOf" | "anyOf" => {
                let passing = x
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| {
                        let mut e = Vec::new();
                        validate(doc, s, v, at, &mut e);
                        e.is_empty()
                    })
                    .count();
                if (k == "oneOf" && passing != 1) || (k == "anyOf" && passing == 0) {
                    errs.push(format!("{at}: {passing} of the {k} schemas match {v}"));
                }
            }
            "description" | "examples" | "default" | "title" | "example" => {}
            other => panic!("the test's schema checker does not know keyword {other:?} (at {at})"),
        }
    }
}

/// Checks `v` against `#/components/schemas/{name}`.
#[track_caller]
fn conforms(name: &str, v: &Value) {
    let d = doc();
    let mut errs = Vec::new();
    validate(
        &d,
        &json!({ "$ref": format!("#/components/schemas/{name}") }),
        v,
        name,
        &mut errs,
    );
    assert!(errs.is_empty(), "{name}: {errs:#?}\n{v:#}");
}

/// The property names a schema declares.
fn declared(name: &str) -> BTreeSet<String> {
    doc()["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has no properties"))
        .keys()
        .cloned()
        .collect()
}

#[track_caller]
fn fields_exactly(name: &str, v: &Value) {
    let got: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(got, declared(name), "{name}: {v}");
    conforms(name, v);
}

// ---------------------------------------------------------------------------------------
// The routes, read from the router's source.

const API_SRC: &str = include_str!("../src/api.rs");
const SINK_SRC: &str = include_str!("../../watch/src/sink.rs");

/// `(METHOD, path)` of every `.route("path", get(..).post(..))` in `src`.
fn routes_in(src: &str, prefix: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find(".route(") {
        rest = &rest[i + ".route(".len()..];
        let q = rest.find('"').expect("a path literal");
        let lit = &rest[q + 1..];
        let e = lit.find('"').unwrap();
        let path = &lit[..e];
        let after = &lit[e + 1..];
        let mut depth = 1;
        let mut end = after.len();
        for (k, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handler = &after[..end];
        for m in ["get", "post", "put", "patch", "delete"] {
            let pat = format!("{m}(");
            let found = handler.match_indices(&pat).any(|(k, _)| {
                k == 0
                    || !handler.as_bytes()[k - 1].is_ascii_alphanumeric()
                        && handler.as_bytes()[k - 1] != b'_'
            });
            if found {
                out.insert((m.to_uppercase(), format!("{prefix}{path}")));
            }
        }
        rest = after;
    }
    out
}

fn source_routes() -> BTreeSet<(String, String)> {
    assert!(
        API_SRC.contains(".nest(\n            \"/api/v1\"")
            || API_SRC.contains(".nest(\"/api/v1\"")
    );
    let router = API_SRC
        .split("pub(crate) fn router")
        .nth(1)
        .expect("api::router");
    let mut routes = routes_in(router.split("\n}\n").next().unwrap(), "/api/v1");
    let sink = SINK_SRC
        .split("pub fn router")
        .nth(1)
        .expect("sink::router")
        .split("\n}\n")
        .next()
        .unwrap();
    let streams = routes_in(sink, "/api/v1");
    assert_eq!(streams.len(), 5, "{streams:?}");
    routes.extend(streams);
    routes
}

fn documented_routes() -> BTreeSet<(String, String)> {
    let d = doc();
    let mut out = BTreeSet::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&m.as_str()) {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_openapi_document_is_served_and_lists_exactly_the_routes() {
    let srv = read();
    let a = srv.get("/api/v1/openapi.json");
    let served = a.ok(200);
    assert_eq!(served, doc());
    assert_eq!(served["openapi"], "3.1.0");

    let routes = source_routes();
    assert_eq!(routes.len(), 23, "{routes:#?}");
    assert_eq!(documented_routes(), routes);

    // Every $ref resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_owned());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let d = doc();
    let mut all = Vec::new();
    refs(&d, &mut all);
    assert!(all.len() > 50);
    for r in &all {
        resolve(&d, r);
    }
    // Every schema is one the checker understands (it panics on an unknown keyword).
    for (name, _) in d["components"]["schemas"].as_object().unwrap() {
        let mut e = Vec::new();
        validate(
            &d,
            &json!({ "$ref": format!("#/components/schemas/{name}") }),
            &json!(null),
            name,
            &mut e,
        );
    }

    let error_ref = json!({ "$ref": "#/components/schemas/Error" });
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // Everything is rate-limited: 429 with Retry-After and the error shape.
            assert_eq!(
                responses["429"]["$ref"], "#/components/responses/RateLimited",
                "{method} {path}"
            );
            let writes = method == "post" && path != "/api/v1/screen";
            assert_eq!(op.get("security").is_some(), writes, "{method} {path}");
            assert_eq!(responses.contains_key("401"), writes, "{method} {path}");
            if method == "post" {
                assert!(responses.contains_key("413"), "{method} {path}");
                assert!(responses.contains_key("400"), "{method} {path}");
            }
            if path.contains("{name}") {
                assert!(responses.contains_key("404"), "{method} {path}");
            }
            // Every request but an event stream is subject to the request timeout.
            let stream = [
                "/alerts",
                "/alerts.jsonl",
                "/feed",
                "/feed/key",
                "/watchlist",
            ]
            .iter()
            .any(|p| path == &format!("/api/v1{p}"));
            assert_eq!(responses.contains_key("408"), !stream, "{method} {path}");
            for (code, r) in responses {
                let r = match r.get("$ref") {
                    Some(x) => resolve(&d, x.as_str().unwrap()),
                    None => r,
                };
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"], error_ref,
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
    let limited = &d["components"]["responses"]["RateLimited"]["headers"]["Retry-After"];
    assert_eq!(
        resolve(&d, limited["$ref"].as_str().unwrap())["required"],
        true
    );
    let schemes = &d["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    // The write bodies refuse unknown fields, as the server does (deny_unknown_fields).
    for name in ["ScreenBatch", "NewIncident", "NewLabels", "NewLabel"] {
        assert_eq!(
            d["components"]["schemas"][name]["additionalProperties"], false,
            "{name}"
        );
    }
}

/// Fills a documented path's parameters with values the read server knows.
fn concrete(path: &str, srv: &TestServer) -> String {
    let f = srv.facts();
    path.replace("{chain}", "nem")
        .replace("{name}", COINCHECK)
        .replace(
            "/exits/{address}/",
            &format!("/exits/{}/", ashiato_nem::coincheck::EXCHANGES[0].0),
        )
        .replace("{address}", &f.hackers[1])
}

#[test]
fn every_documented_route_answers_and_none_is_the_api_fallback() {
    let srv = read();
    let d = doc();
    for (method, path) in documented_routes() {
        let url = format!("{}{}", srv.url, concrete(&path, srv));
        let a = match method.as_str() {
            "GET" if path.ends_with("/alerts") => {
                // An event stream never ends: the head is enough.
                let r = srv.client.get(&url).send().unwrap();
                assert_eq!(r.status(), 200);
                assert!(r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/event-stream"));
                continue;
            }
            "GET" => srv.send(srv.client.get(&url)),
            "POST" => srv.send(
                srv.client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(json!({"chain": "nem", "addresses": []}).to_string()),
            ),
            m => panic!("{m}"),
        };
        let fallback = a.status == 404
            && a.json()["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no such API endpoint"));
        assert!(!fallback, "{method} {path}: {}", a.text());
        assert_ne!(a.status, 500, "{method} {path}");
        // The documented success status, or (writes on a server without keys) 401.
        let op = &d["paths"][&path][method.to_lowercase()];
        if op.get("security").is_some() {
            assert_error(&a, 401, "unauthorized");
        } else {
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .find(|c| c.starts_with('2'))
                .unwrap();
            assert_eq!(a.status.to_string(), *ok, "{method} {path}: {}", a.text());
            let types = op["responses"][ok]["content"].as_object().unwrap();
            let ct = a
                .content_type()
                .split(';')
                .next()
                .unwrap()
                .trim()
                .to_owned();
            assert!(
                types.contains_key(&ct),
                "{method} {path}: {ct} not in {types:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Health.

/// SHA-256 over the chain name and every movement, `block time tx from to asset amount`
/// per line in chain order (the definition in index.rs), computed here from the inputs.
fn digest(chain: &str, lines: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("{chain}\n").as_bytes());
    for l in lines {
        h.update(format!("{l}\n").as_bytes());
    }
    hex::encode(h.finalize())
}

fn eth_digest() -> String {
    let lines: Vec<String> = eth_csv()
        .lines()
        .skip(1)
        .map(|row| {
            let c: Vec<&str> = row.split(',').collect();
            let t = ashiato_model::UtcTime::parse(c[0]).unwrap().unix();
            format!(
                "{} {t} {} {} {} {} {}",
                c[1],
                c[2],
                eth(c[3]),
                eth(c[4]),
                c[5],
                c[6]
            )
        })
        .collect();
    digest("ethereum", &lines)
}

fn nem_digest(f: &Facts) -> String {
    let mut book = ashiato_nem::MosaicBook::default();
    let mut tally = ashiato_nem::Tally::default();
    let mut lines = Vec::new();
    for b in &f.fixture.blocks {
        for t in
            ashiato_nem::block_transfers(b, &mut book, ashiato_nem::MAINNET, &mut tally).unwrap()
        {
            lines.push(format!(
                "{} {} {} {} {} {} {}",
                t.block,
                t.time.unix(),
                t.tx,
                t.from,
                t.to,
                t.asset,
                t.amount
            ));
        }
    }
    digest("nem", &lines)
}

#[test]
fn health_says_what_the_index_holds() {
    let srv = read();
    let h = srv.get("/api/v1/health").ok(200);
    fields_exactly("Health", &h);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["incidents"], 2);
    assert_eq!(
        strings(&h["policies"]),
        [
            "poison",
            "haircut",
            "fifo",
            "lifo",
            "tiho",
            "dirty-first",
            "clean-first"
        ]
    );
    // Distinct addresses reached: Coincheck's NC4 and the 10 other hacker accounts, the 6
    // intermediaries, the harvester (fee dust), the 9 spray recipients and the 4 exchanges
    // (31); the Ethereum case's A, B, C, E and the exchange X (5).
    assert_eq!(h["tainted_addresses"], 36);
    // The watch round wrote one alert per tainted movement of the Ethereum case.
    assert_eq!(h["alerts_last_seq"], 5);
    let built = h["built"].as_str().unwrap();
    assert!(built.ends_with('Z') && built.starts_with("20"), "{built}");
    let f = srv.facts();
    // The fixture has 96 transfer transactions, one per block; each moves its amount and
    // its fee, but the three 0 XEM sprays move only the fee: 2 × 96 − 3 movements. The last
    // block is the spray recipient's payment, 5,400 s after YoBit's 2018-02-08 00:00 UTC.
    assert_eq!(f.transfers().len(), 96);
    let chains = h["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 2);
    assert_eq!(
        chains[0],
        json!({"chain": "ethereum", "events": 7, "data_sha256": eth_digest(),
               "last_block": 106, "last_time": ETH_SINCE_UNIX + 4 * 3600})
    );
    assert_eq!(
        chains[1],
        json!({"chain": "nem", "events": 2 * 96 - 3, "data_sha256": nem_digest(f),
               "last_block": 96, "last_time": 1_518_048_000 + 5_400})
    );
}

// ---------------------------------------------------------------------------------------
// Screening.

fn label_of(f: &Facts, address: &str) -> Value {
    let l = f
        .fixture
        .labels
        .iter()
        .find(|l| l.address.as_str() == address)
        .unwrap();
    json!({"name": l.name, "kind": l.kind.as_str(), "source": l.source, "confidence": l.confidence})
}

/// The Coincheck case under haircut, recomputed from docs/tracing.md: NC4 holds
/// 526,300,019 XEM (9 × 1 XEM of clean messages, the 11 theft transfers) of which
/// 526,300,000 are taint (the 10 XEM transfer is dust and arrives clean). It pays the 10
/// hacker accounts `floor(x·T/B)` each, every payment followed by its 0.05 XEM fee to the
/// harvester (`floor(50,000·T/B)`, dust). Returns the taint each hacker account receives.
fn haircut_hackers() -> Vec<Amount> {
    let (mut b, mut t) = ((9 + 526_300_010) * XEM, 526_300_000 * XEM);
    let mut out = Vec::new();
    for m in [50, 40, 30, 30, 25, 20, 20, 15, 10, 5] {
        let x = m * 1_000_000 * XEM;
        let tau = x * t / b;
        t -= tau;
        b -= x;
        let fee = 50_000 * t / b;
        t -= fee;
        b -= 50_000;
        out.push(tau);
    }
    out
}

/// Haircut taint that reaches an exchange straight from hacker account `h` (which holds
/// only what NC4 paid it: `millions` M XEM with taint `tau`): `floor(x·tau/B)`.
fn haircut_direct(tau: Amount, millions: Amount, xem: Amount) -> Amount {
    xem * XEM * tau / (millions * 1_000_000 * XEM)
}

/// Haircut taint reaching Zaif from hacker account `h` through its intermediary: the
/// hacker pays `plan` XEM (then a fee), the intermediary pays Zaif 60 % and then the rest
/// less 1 XEM, each followed by a 0.05 XEM fee.
fn haircut_via_mid(tau: Amount, millions: Amount, plan: Amount) -> Amount {
    let to_mid = plan * XEM * tau / (millions * 1_000_000 * XEM);
    let (mut b, mut t) = (plan * XEM, to_mid);
    let first = plan * 6 / 10;
    let mut sum = 0;
    for y in [first, plan - first - 1] {
        let tau = y * XEM * t / b;
        sum += tau;
        t -= tau;
        b -= y * XEM;
        let fee = 50_000 * t / b;
        t -= fee;
        b -= 50_000;
    }
    sum
}

#[test]
fn the_haircut_derivation_gives_the_expected_numbers() {
    // Pinned so that a change of the derivation above shows.
    assert_eq!(
        haircut_hackers(),
        [
            49_999_998_194_945,
            39_999_998_555_956,
            29_999_998_916_967,
            29_999_998_916_967,
            24_999_999_097_473,
            19_999_999_277_978,
            19_999_999_277_978,
            14_999_999_458_484,
            9_999_999_638_989,
            4_999_999_819_494
        ]
    );
}

#[test]
fn screening_a_hacker_account_gives_its_taint_hop_and_first_transaction() {
    let srv = read();
    let f = srv.facts();
    let h1 = &f.hackers[1];
    let theft1 = f.tx(&f.hot, &f.hackers[0], 100_000_000);
    let move1 = f.tx(&f.hackers[0], h1, 50_000_000);
    let r = srv.get(&format!("/api/v1/screen/nem/{h1}")).ok(200);
    fields_exactly("ScreenResult", &r);
    assert_eq!(r["chain"], "nem");
    assert_eq!(r["address"], *h1);
    assert_eq!(r["tainted"], true);
    assert_eq!(r["labels"], json!([label_of(f, h1)]));
    let hits = r["hits"].as_array().unwrap();
    // One hit per served policy, in served order.
    let policies: Vec<&str> = hits.iter().map(|h| h["policy"].as_str().unwrap()).collect();
    assert_eq!(
        policies,
        [
            "poison",
            "haircut",
            "fifo",
            "lifo",
            "tiho",
            "dirty-first",
            "clean-first"
        ]
    );
    for h in hits {
        fields_exactly("Hit", h);
        assert_eq!(h["incident"], COINCHECK);
        assert_eq!(h["role"], "holder");
        assert_eq!(h["asset"], NEM_XEM);
        // Hot wallet (seed, hop 0) → NC4 (hop 1) → this account (hop 2); NC4 was first
        // tainted by the first theft transfer, this account by NC4's 50 M XEM payment.
        assert_eq!(h["hop"], 2);
        assert_eq!(h["first_tx"], move1.hash.as_str());
        assert_eq!(h["path"], json!([theft1.hash, move1.hash]));
        assert_eq!(h["path_len"], 2);
        assert_eq!(h["dust"], "0");
    }
    // Poison: the whole 50,000,000 XEM; no holding.
    assert_eq!(hits[0]["taint"], s(50_000_000 * XEM));
    assert_eq!(hits[0]["holding"], Value::Null);
    // Haircut: floor(50 M XEM × 526,300,000 / 526,300,019); it then pays its intermediary
    // 9 M XEM and a 0.05 XEM fee, each taking its share.
    let tau = haircut_hackers()[0];
    assert_eq!(tau, 49_999_998_194_945);
    assert_eq!(hits[1]["taint"], s(tau));
    let x = 9_000_000 * XEM;
    let t = tau - x * tau / (50_000_000 * XEM);
    let b = 50_000_000 * XEM - x;
    let holding = t - 50_000 * t / b;
    assert_eq!(holding, 40_999_998_469_856);
    assert_eq!(hits[1]["holding"], s(holding));

    // The same account spelled in lower case with dashes is the same account.
    let spelled: String = h1
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(6)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-");
    let again = srv.get(&format!("/api/v1/screen/nem/{spelled}")).ok(200);
    assert_eq!(again, r);
    // Chain aliases.
    assert_eq!(srv.get(&format!("/api/v1/screen/XEM/{h1}")).ok(200), r);

    // The last hacker account only receives (5 M XEM): under haircut it holds all it got.
    let h10 = srv
        .get(&format!("/api/v1/screen/nem/{}", f.hackers[10]))
        .ok(200);
    let hc = &h10["hits"][1];
    assert_eq!(hc["policy"], "haircut");
    assert_eq!(hc["taint"], s(haircut_hackers()[9]));
    assert_eq!(hc["holding"], s(haircut_hackers()[9]));
    assert_eq!(h10["hits"][0]["taint"], s(5_000_000 * XEM));
}

#[test]
fn screening_dust_seeds_exchanges_and_clean_accounts() {
    let srv = read();
    let f = srv.facts();
    // Spray recipients: NC4 sent 11 × 100 XEM round-robin over the 9 (the first two got
    // two); all below the 1,000 XEM dust line: dust, never taint, no hop.
    for (i, a) in f.spray.iter().enumerate() {
        let r = srv.get(&format!("/api/v1/screen/nem/{a}")).ok(200);
        fields_exactly("ScreenResult", &r);
        assert_eq!(r["tainted"], false, "{a}");
        assert_eq!(r["labels"], json!([]));
        let poison = &r["hits"][0];
        assert_eq!(poison["policy"], "poison");
        assert_eq!(poison["role"], "dust");
        let want = if i < 2 { 200 } else { 100 };
        assert_eq!(poison["dust"], s(want * XEM), "{a}");
        assert_eq!(poison["taint"], "0");
        assert_eq!(poison["hop"], Value::Null);
        assert_eq!(poison["first_tx"], Value::Null);
        assert_eq!(poison["path"], json!([]));
        assert_eq!(poison["path_len"], 0);
        assert_eq!(r["hits"].as_array().unwrap().len(), 7);
    }
    // The hot wallet is the seed: it sends taint, it is not tainted.
    let hot = srv.get(&format!("/api/v1/screen/nem/{}", f.hot)).ok(200);
    assert_eq!(hot["tainted"], false);
    assert_eq!(hot["hits"], json!([]));
    assert_eq!(hot["labels"], json!([label_of(f, &f.hot)]));
    assert_eq!(hot["labels"][0]["kind"], "victim");
    // An exchange is an exit: labelled, with what each policy deposited there and the
    // path of the first deposit (hacker 1 → intermediary 0 → Zaif, 5.4 M XEM).
    let zaif = ashiato_nem::coincheck::EXCHANGES[0].0;
    let z = srv.get(&format!("/api/v1/screen/nem/{zaif}")).ok(200);
    fields_exactly("ScreenResult", &z);
    assert_eq!(
        z["labels"],
        json!([{"name": "Zaif", "kind": "exchange",
                "source": "symbol/product explorer known-accounts.json", "confidence": 80}])
    );
    assert_eq!(z["tainted"], true);
    let path = [
        f.tx(&f.hot, &f.hackers[0], 100_000_000).hash,
        f.tx(&f.hackers[0], &f.hackers[1], 50_000_000).hash,
        f.tx(&f.hackers[1], &f.mids[0], 9_000_000).hash,
        f.tx(&f.mids[0], zaif, 5_400_000).hash,
    ];
    let want: Vec<Value> = zaif_deposits()
        .into_iter()
        .map(|(policy, amount)| {
            json!({"incident": COINCHECK, "policy": policy, "role": "exit", "asset": NEM_XEM,
                   "taint": s(amount), "holding": null, "dust": "0", "hop": 4,
                   "first_tx": path[3], "path": path, "path_len": 4})
        })
        .collect();
    assert_eq!(z["hits"], Value::Array(want));
    // A customer of the exchange, paid before the theft and later by a spray recipient
    // (whose own funds are clean), is clean.
    let customer = f
        .transfers()
        .into_iter()
        .find(|t| t.from == f.spray[0] && t.micro == 2_000 * 1_000_000)
        .unwrap()
        .to;
    let c = srv.get(&format!("/api/v1/screen/nem/{customer}")).ok(200);
    assert_eq!(
        c,
        json!({"chain": "nem", "address": customer, "tainted": false, "labels": [], "hits": []})
    );
    // A chain with no stored data answers too: nothing is tainted there.
    let b = srv
        .get("/api/v1/screen/bitcoin/1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
        .ok(200);
    assert_eq!(
        b,
        json!({"chain": "bitcoin", "address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
               "tainted": false, "labels": [], "hits": []})
    );
    // Ethereum: any case spelling is the lower-case address.
    for spelled in [
        ETH_E.to_owned(),
        ETH_E.to_ascii_uppercase().replace("0X", "0x"),
    ] {
        let e = srv.get(&format!("/api/v1/screen/eth/{spelled}")).ok(200);
        assert_eq!(e["address"], eth(ETH_E));
        assert_eq!(e["chain"], "ethereum");
        assert_eq!(e["hits"][0]["incident"], ETH_CASE);
        assert_eq!(e["hits"][0]["taint"], s(ETH), "poison: C paid E 1 ETH");
    }
}

#[test]
fn batch_screening_answers_each_address_in_order() {
    let srv = read();
    let f = srv.facts();
    let body = json!({"chain": "nem", "addresses": [f.hackers[1], "NOT-AN-ADDRESS", f.hot]});
    let r = srv.post_json("/api/v1/screen", &body, None).ok(200);
    conforms("ScreenBatchResult", &r);
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let one = srv
        .get(&format!("/api/v1/screen/nem/{}", f.hackers[1]))
        .ok(200);
    assert_eq!(results[0], one);
    fields_exactly("ScreenError", &results[1]);
    assert_eq!(results[1]["address"], "NOT-AN-ADDRESS");
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("not a nem address"));
    assert_eq!(results[2]["address"], f.hot.as_str());
    assert_eq!(results[2]["tainted"], false);

    // Exactly 1,000 is allowed.
    let many = vec![f.hackers[2].clone(); 1000];
    let r = srv
        .post_json(
            "/api/v1/screen",
            &json!({"chain": "nem", "addresses": many}),
            None,
        )
        .ok(200);
    assert_eq!(r["results"].as_array().unwrap().len(), 1000);
    assert_eq!(r["results"][999]["hits"][0]["taint"], s(40_000_000 * XEM));
    // Empty is an empty answer.
    let r = srv
        .post_json(
            "/api/v1/screen",
            &json!({"chain": "eth", "addresses": []}),
            None,
        )
        .ok(200);
    assert_eq!(r, json!({"results": []}));
}

// ---------------------------------------------------------------------------------------
// Incidents.

const ZERO_REST: [&str; 4] = [
    "lost_to_fees",
    "cut_by_hops",
    "returned_to_seeds",
    "left_data",
];

#[test]
fn incidents_are_listed_with_each_policys_totals() {
    let srv = read();
    let f = srv.facts();
    let list = srv.get("/api/v1/incidents").ok(200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for i in list {
        fields_exactly("IncidentSummary", i);
        for p in i["policies"].as_array().unwrap() {
            fields_exactly("PolicySummary", p);
            fields_exactly("TraceSummary", &p["summary"]);
        }
    }
    let health = srv.get("/api/v1/health").ok(200);
    let c = &list[0];
    assert_eq!(
        c,
        &srv.get(&format!("/api/v1/incidents/{COINCHECK}")).ok(200)
    );
    let inc = &f.fixture.incident;
    assert_eq!(c["name"], COINCHECK);
    assert_eq!(c["chain"], "nem");
    assert_eq!(c["description"], inc.description.as_str());
    assert_eq!(c["source"], inc.source.as_str());
    assert_eq!(c["since"], "2018-01-25T15:02:00Z");
    assert_eq!(c["seeds"], json!([f.hot]));
    assert_eq!(c["seed_txs"], json!([]));
    assert_eq!(c["data_sha256"], health["chains"][1]["data_sha256"]);
    assert_eq!(c["assets"], json!([NEM_XEM]));
    let pols = c["policies"].as_array().unwrap();
    assert_eq!(pols.len(), 7);
    // Every policy: the hot wallet emits its 11 theft transfers (526,300,010 XEM) and
    // their 11 fees of 0.05 XEM. Tainted deliveries (poison and haircut alike, every
    // tainted sender's share being non-zero): 22 from the hot wallet; from NC4 10
    // payments, 11 sprays of 100 XEM and 24 fees (the 3 × 0 XEM sprays move only their
    // 0.1 XEM fee); 6 payments to intermediaries and 6 fees; 12 Zaif deposits and 12 fees;
    // 3 payments to Binance, Kuna, YoBit and 3 fees: 109.
    for p in &pols[..2] {
        assert_eq!(
            p["summary"]["entered"],
            s(526_300_010 * XEM + 11 * 50_000),
            "{p}"
        );
        assert_eq!(
            p["tainted_addresses"], 17,
            "NC4, 10 hacker accounts, 6 intermediaries"
        );
        assert_eq!(p["exits"], 4);
        assert_eq!(p["movements"], 109);
        for k in ZERO_REST {
            assert_eq!(p["summary"][k], "0", "{k}");
        }
    }
    // Poison: Zaif 29,499,994 XEM (each of the 6 plans reaches it less 1 XEM), Binance
    // 800,000, Kuna 500,000, YoBit 300,000. Dust: the 11 + 10 + 11 + 6 + 12 + 3 fees of
    // 0.05 XEM, the 3 fees of 0.1 XEM, the 10 XEM theft transfer, the 11 × 100 XEM spray.
    let poison = &pols[0];
    assert_eq!(poison["policy"], "poison");
    assert_eq!(poison["summary"]["exited"], s(31_099_994 * XEM));
    assert_eq!(
        poison["summary"]["dust"],
        s(53 * 50_000 + 3 * 100_000 + 10 * XEM + 1_100 * XEM)
    );
    // Haircut conserves: entered = held + exited + dust.
    let hc = &pols[1];
    assert_eq!(hc["policy"], "haircut");
    let hh = haircut_hackers();
    let exited = haircut_exits().iter().map(|(_, _, a, _)| a).sum::<Amount>();
    assert_eq!(exited, 31_099_992_877_258);
    assert_eq!(hc["summary"]["exited"], s(exited));
    let n = |k: &str| {
        hc["summary"][k]
            .as_str()
            .unwrap()
            .parse::<Amount>()
            .unwrap()
    };
    assert_eq!(n("held") + n("exited") + n("dust"), n("entered"));
    assert!(hh.iter().sum::<Amount>() < n("held") + n("exited"));
    // Every policy: Zaif's deposits and the 1.6 M XEM of Binance, Kuna and YoBit (the
    // hacker accounts 7, 8 and 9 got nothing clean from NC4).
    for ((p, name), (zp, zaif)) in pols.iter().zip(PolicyName::ALL).zip(zaif_deposits()) {
        assert_eq!(p["policy"], name.as_str());
        assert_eq!(zp, name.as_str());
        if name != PolicyName::Haircut {
            assert_eq!(p["summary"]["exited"], s(zaif + 1_600_000 * XEM), "{name}");
        }
        if name.conserves() {
            let n = |k: &str| p["summary"][k].as_str().unwrap().parse::<Amount>().unwrap();
            let accounted: Amount = ["held", "exited", "dust"]
                .iter()
                .chain(ZERO_REST.iter())
                .map(|k| n(k))
                .sum();
            assert_eq!(accounted, n("entered"), "{name}");
        }
    }

    // The Ethereum case: S sends 6 + 3 ETH after `since`; B pays all 3 into X.
    let e = &list[1];
    assert_eq!(
        e,
        &srv.get(&format!("/api/v1/incidents/{ETH_CASE}")).ok(200)
    );
    assert_eq!(e["name"], ETH_CASE);
    assert_eq!(e["chain"], "ethereum");
    assert_eq!(e["since"], ETH_SINCE);
    assert_eq!(e["seeds"], json!([eth(ETH_S)]));
    assert_eq!(e["data_sha256"], eth_digest());
    assert_eq!(e["assets"], json!(["ETH"]));
    let p = &e["policies"][1];
    assert_eq!(p["policy"], "haircut");
    // A: 6 of 8 ETH tainted, pays C 4 → 3 taint; C pays E 1 of 4 → 0.75; B pays X all 3.
    // Held: A 3, C 2.25, E 0.75.
    assert_eq!(
        p["summary"],
        json!({"entered": s(9 * ETH), "held": s(6 * ETH), "exited": s(3 * ETH), "dust": "0",
               "lost_to_fees": "0", "cut_by_hops": "0", "returned_to_seeds": "0", "left_data": "0",
               // All 7 transfers walked; 5 carried taint (S→A, S→B, A→C, B→X, C→E; D→A is
               // clean, F→S came before `since`).
               "events": 7, "tainted_events": 5})
    );
    assert_eq!(p["tainted_addresses"], 4);
    assert_eq!(p["exits"], 1);
    assert_eq!(p["movements"], 5);
}

/// The Coincheck exits under haircut: (label, exchange address, amount, transfers).
fn haircut_exits() -> Vec<(&'static str, &'static str, Amount, u32)> {
    let hh = haircut_hackers();
    let plan = [
        (50, 9_000_000),
        (40, 6_000_000),
        (30, 5_000_000),
        (30, 4_500_000),
        (25, 3_000_000),
        (20, 2_000_000),
    ];
    let zaif: Amount = plan
        .iter()
        .enumerate()
        .map(|(i, &(m, p))| haircut_via_mid(hh[i], m, p))
        .sum();
    let ex = ashiato_nem::coincheck::EXCHANGES;
    vec![
        ("Zaif", ex[0].0, zaif, 12),
        ("Binance", ex[2].0, haircut_direct(hh[6], 20, 800_000), 1),
        ("Kuna", ex[3].0, haircut_direct(hh[7], 15, 500_000), 1),
        ("YoBit", ex[4].0, haircut_direct(hh[8], 10, 300_000), 1),
    ]
}

/// What reaches Zaif under each policy (XEM base units). NC4 held 9 clean XEM (the
/// messages, oldest), the theft (tainted) and 10 clean XEM (the dust theft transfer,
/// newest) when it paid hacker 1 its 50 M XEM, who paid intermediary 0 9 M XEM, who paid
/// Zaif 5.4 M and 3,599,999 XEM. Poison, TIHO and dirty-first carry everything tainted:
/// 29,499,994 XEM over the six plans. FIFO sends NC4's 9 oldest clean XEM down that line,
/// LIFO its 10 newest, clean-first all 19: each reaches Zaif in the first deposit. Haircut:
/// [`haircut_exits`].
fn zaif_deposits() -> Vec<(&'static str, Amount)> {
    let all = 29_499_994 * XEM;
    vec![
        ("poison", all),
        ("haircut", haircut_exits()[0].2),
        ("fifo", all - 9 * XEM),
        ("lifo", all - 10 * XEM),
        ("tiho", all),
        ("dirty-first", all),
        ("clean-first", all - 19 * XEM),
    ]
}

#[test]
fn exits_of_coincheck_under_poison_and_haircut() {
    let srv = read();
    let f = srv.facts();
    let ex = ashiato_nem::coincheck::EXCHANGES;
    let theft1 = f.tx(&f.hot, &f.hackers[0], 100_000_000).hash;
    let path = |h: usize, millions: u64, rest: Vec<String>| {
        let mut p = vec![
            theft1.clone(),
            f.tx(&f.hackers[0], &f.hackers[h], millions * 1_000_000)
                .hash,
        ];
        p.extend(rest);
        p
    };
    // Zaif's first deposit: hacker 1 → intermediary 0 (9 M XEM) → Zaif 60 % (5.4 M).
    let zaif_path = path(
        1,
        50,
        vec![
            f.tx(&f.hackers[1], &f.mids[0], 9_000_000).hash,
            f.tx(&f.mids[0], ex[0].0, 5_400_000).hash,
        ],
    );
    let direct = |h: usize, millions: u64, to: &str, xem: u64| {
        path(h, millions, vec![f.tx(&f.hackers[h], to, xem).hash])
    };
    let report = |addr: &str, p: &str| {
        format!("/api/v1/incidents/{COINCHECK}/exits/{addr}/report.html?policy={p}")
    };
    let paths = [
        zaif_path,
        direct(7, 20, ex[2].0, 800_000),
        direct(8, 15, ex[3].0, 500_000),
        direct(9, 10, ex[4].0, 300_000),
    ];
    // Poison counts each deposit whole; most first.
    let poison = [
        ("Zaif", ex[0].0, 29_499_994 * XEM, 12),
        ("Binance", ex[2].0, 800_000 * XEM, 1),
        ("Kuna", ex[3].0, 500_000 * XEM, 1),
        ("YoBit", ex[4].0, 300_000 * XEM, 1),
    ];
    for (policy, want) in [("poison", poison.to_vec()), ("haircut", haircut_exits())] {
        let got = srv
            .get(&format!(
                "/api/v1/incidents/{COINCHECK}/exits?policy={policy}"
            ))
            .ok(200);
        let want: Vec<Value> = want
            .iter()
            .zip(&paths)
            .map(|((label, addr, amount, n), p)| {
                json!({"address": addr, "label": label, "asset": NEM_XEM, "amount": s(*amount),
                       "transfers": n, "path": p, "report": report(addr, policy)})
            })
            .collect();
        for x in got.as_array().unwrap() {
            fields_exactly("ExitView", x);
        }
        assert_eq!(got, Value::Array(want), "{policy}");
    }
    // Poison is the default policy (the first served).
    assert_eq!(
        srv.get(&format!("/api/v1/incidents/{COINCHECK}/exits"))
            .ok(200),
        srv.get(&format!(
            "/api/v1/incidents/{COINCHECK}/exits?policy=poison"
        ))
        .ok(200)
    );
    // The Ethereum case: B → X, 3 ETH.
    let e = srv
        .get(&format!("/api/v1/incidents/{ETH_CASE}/exits"))
        .ok(200);
    assert_eq!(
        e,
        json!([{"address": eth(ETH_X), "label": ETH_X_LABEL, "asset": "ETH", "amount": s(3 * ETH),
                "transfers": 1, "path": [eth_tx(3), eth_tx(6)],
                "report": format!("/api/v1/incidents/{ETH_CASE}/exits/{}/report.html?policy=poison", eth(ETH_X))}])
    );
}

#[test]
fn holders_are_counted_ordered_and_paged() {
    let srv = read();
    let f = srv.facts();
    let all = srv
        .get(&format!(
            "/api/v1/incidents/{COINCHECK}/holders?policy=poison&limit=1000"
        ))
        .ok(200);
    fields_exactly("HolderPage", &all);
    assert_eq!(all["total"], 17);
    assert_eq!(all["offset"], 0);
    let holders = all["holders"].as_array().unwrap();
    for h in holders {
        fields_exactly("Holder", h);
    }
    // Poison holds nothing (no holding): by taint received, ties by address.
    let mut want: Vec<(Amount, String)> = vec![(526_300_000 * XEM, f.hackers[0].clone())];
    for (i, m) in [50, 40, 30, 30, 25, 20, 20, 15, 10, 5].iter().enumerate() {
        want.push((m * 1_000_000 * XEM, f.hackers[i + 1].clone()));
    }
    for (i, p) in [
        9_000_000, 6_000_000, 5_000_000, 4_500_000, 3_000_000, 2_000_000,
    ]
    .iter()
    .enumerate()
    {
        want.push((p * XEM, f.mids[i].clone()));
    }
    want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let got: Vec<(Amount, String)> = holders
        .iter()
        .map(|h| {
            (
                h["taint"].as_str().unwrap().parse().unwrap(),
                h["address"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // NC4: 526,300,019 XEM in; out 245 M XEM to the hacker accounts, 1,100 XEM of spray,
    // 21 fees of 0.05 XEM and 3 of 0.1 XEM.
    let nc4 = &holders[0];
    let theft1 = f.tx(&f.hot, &f.hackers[0], 100_000_000).hash;
    assert_eq!(
        nc4,
        &json!({"address": f.hackers[0], "asset": NEM_XEM, "taint": s(526_300_000 * XEM),
                "holding": null,
                "balance": s(526_300_019 * XEM - 245_000_000 * XEM - 1_100 * XEM - 21 * 50_000 - 3 * 100_000),
                "hop": 1, "label": label_of(f, &f.hackers[0])["name"], "first_tx": theft1})
    );
    // An intermediary: no label; it keeps 1 XEM less two fees.
    let mid0 = holders
        .iter()
        .find(|h| h["address"] == f.mids[0].as_str())
        .unwrap();
    assert_eq!(mid0["balance"], s(XEM - 2 * 50_000));
    assert_eq!(mid0["label"], Value::Null);
    assert_eq!(mid0["hop"], 3);
    assert_eq!(
        mid0["first_tx"],
        f.tx(&f.hackers[1], &f.mids[0], 9_000_000).hash.as_str()
    );

    // Paging.
    let page = srv
        .get(&format!(
            "/api/v1/incidents/{COINCHECK}/holders?policy=poison&limit=5&offset=3"
        ))
        .ok(200);
    assert_eq!(page["total"], 17);
    assert_eq!(page["offset"], 3);
    assert_eq!(page["holders"], Value::Array(holders[3..8].to_vec()));
    let tail = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/holders?offset=15"))
        .ok(200);
    assert_eq!(tail["holders"], Value::Array(holders[15..].to_vec()));
    let past = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/holders?offset=100"))
        .ok(200);
    assert_eq!(past, json!({"total": 17, "offset": 100, "holders": []}));
    // Default page: 100 rows.
    let d = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/holders"))
        .ok(200);
    assert_eq!(d, all);

    // The Ethereum case under haircut, by what each still holds: A 3, C 2.25, E 0.75,
    // B 0 ETH. Balances from the stored transfers: A 6 + 2 − 4, C 4 − 1, E 1, B 3 − 3.
    let e = srv
        .get(&format!(
            "/api/v1/incidents/{ETH_CASE}/holders?policy=haircut"
        ))
        .ok(200);
    let q = ETH / 4;
    assert_eq!(
        e,
        json!({"total": 4, "offset": 0, "holders": [
            {"address": eth(ETH_A), "asset": "ETH", "taint": s(6 * ETH), "holding": s(3 * ETH),
             "balance": s(4 * ETH), "hop": 1, "label": null, "first_tx": eth_tx(2)},
            {"address": eth(ETH_C), "asset": "ETH", "taint": s(3 * ETH), "holding": s(9 * q),
             "balance": s(3 * ETH), "hop": 2, "label": null, "first_tx": eth_tx(5)},
            {"address": eth(ETH_E), "asset": "ETH", "taint": s(3 * q), "holding": s(3 * q),
             "balance": s(ETH), "hop": 3, "label": null, "first_tx": eth_tx(7)},
            {"address": eth(ETH_B), "asset": "ETH", "taint": s(3 * ETH), "holding": "0",
             "balance": "0", "hop": 1, "label": null, "first_tx": eth_tx(3)}
        ]})
    );
}

#[test]
fn movements_are_in_chain_order_and_paged() {
    let srv = read();
    let f = srv.facts();
    let all = srv
        .get(&format!(
            "/api/v1/incidents/{COINCHECK}/movements?limit=1000"
        ))
        .ok(200);
    fields_exactly("MovementPage", &all);
    assert_eq!(all["total"], 109);
    let ms = all["movements"].as_array().unwrap();
    assert_eq!(ms.len(), 109);
    for m in ms {
        fields_exactly("Movement", m);
    }
    // Chain order: blocks never go back.
    let blocks: Vec<u64> = ms.iter().map(|m| m["block"].as_u64().unwrap()).collect();
    assert!(blocks.windows(2).all(|w| w[0] <= w[1]));
    // The first theft transfer and its fee, both from the seed (hop 1).
    let t1 = f.tx(&f.hot, &f.hackers[0], 100_000_000);
    assert_eq!(
        ms[0],
        json!({"block": t1.height, "time": 1_516_892_533, "tx": t1.hash, "from": f.hot,
               "to": f.hackers[0], "asset": NEM_XEM, "value": s(100_000_000 * XEM),
               "taint": s(100_000_000 * XEM), "hop": 1, "outcome": "held", "label": null,
               "path": [t1.hash]})
    );
    assert_eq!(
        ms[1],
        json!({"block": t1.height, "time": 1_516_892_533, "tx": t1.hash, "from": f.hot,
               "to": f.harvester, "asset": NEM_XEM, "value": "50000", "taint": "50000",
               "hop": 1, "outcome": "dust", "label": null, "path": [t1.hash]})
    );
    // Outcomes: 15 deposits at exchanges; dust: the 53 fees of 0.05 XEM and 3 of 0.1 XEM,
    // the 10 XEM theft transfer and the 11 sprays of 100 XEM; held: the other 10 theft
    // transfers, NC4's 10 payments and the 6 payments to intermediaries.
    let count = |o: &str| ms.iter().filter(|m| m["outcome"] == o).count();
    assert_eq!(count("exit"), 15);
    assert_eq!(count("dust"), 11 + 1 + 10 + 11 + 3 + 11 + 6 + 12 + 3);
    assert_eq!(count("held"), 10 + 10 + 6);
    for m in ms.iter().filter(|m| m["outcome"] == "exit") {
        assert!(m["label"].is_string(), "{m}");
    }
    // Paging.
    let page = srv
        .get(&format!(
            "/api/v1/incidents/{COINCHECK}/movements?limit=10&offset=100"
        ))
        .ok(200);
    assert_eq!(page["total"], 109);
    assert_eq!(page["offset"], 100);
    assert_eq!(page["movements"], Value::Array(ms[100..].to_vec()));
    let first = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/movements"))
        .ok(200);
    assert_eq!(first["movements"], Value::Array(ms[..100].to_vec()));

    // The Ethereum case, every movement, under haircut.
    let e = srv
        .get(&format!(
            "/api/v1/incidents/{ETH_CASE}/movements?policy=haircut"
        ))
        .ok(200);
    let m = |block: u64,
             hours_min: (i64, i64),
             tx: u32,
             from: &str,
             to: &str,
             value: Amount,
             taint: Amount,
             hop: u32,
             outcome: &str,
             label: Value,
             path: Vec<u32>| {
        json!({"block": block, "time": ETH_SINCE_UNIX + hours_min.0 * 3600 + hours_min.1 * 60,
               "tx": eth_tx(tx), "from": eth(from), "to": eth(to), "asset": "ETH",
               "value": s(value), "taint": s(taint), "hop": hop, "outcome": outcome,
               "label": label, "path": path.into_iter().map(eth_tx).collect::<Vec<_>>()})
    };
    assert_eq!(
        e,
        json!({"total": 5, "offset": 0, "movements": [
            m(101, (0, 0), 2, ETH_S, ETH_A, 6 * ETH, 6 * ETH, 1, "held", Value::Null, vec![2]),
            m(102, (0, 10), 3, ETH_S, ETH_B, 3 * ETH, 3 * ETH, 1, "held", Value::Null, vec![3]),
            m(104, (2, 0), 5, ETH_A, ETH_C, 4 * ETH, 3 * ETH, 2, "held", Value::Null, vec![2, 5]),
            m(105, (3, 0), 6, ETH_B, ETH_X, 3 * ETH, 3 * ETH, 2, "exit", json!(ETH_X_LABEL), vec![3, 6]),
            m(106, (4, 0), 7, ETH_C, ETH_E, ETH, 3 * ETH / 4, 3, "held", Value::Null, vec![2, 5, 7]),
        ]})
    );
}

#[test]
fn timeline_buckets_add_up_to_the_movements() {
    let srv = read();
    for policy in ["poison", "haircut", "fifo"] {
        let ms = srv
            .get(&format!(
                "/api/v1/incidents/{COINCHECK}/movements?policy={policy}&limit=1000"
            ))
            .ok(200);
        let ms = ms["movements"].as_array().unwrap();
        let tl = srv
            .get(&format!(
                "/api/v1/incidents/{COINCHECK}/timeline?policy={policy}"
            ))
            .ok(200);
        fields_exactly("Timeline", &tl);
        // The first theft transfer (2018-01-25 15:02:13 UTC) to YoBit's deposit
        // (2018-02-08 00:00:00 UTC), the last tainted movement.
        assert_eq!(tl["start"], 1_516_892_533);
        assert_eq!(tl["end"], 1_518_048_000);
        let buckets = tl["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 60, "the default");
        let amount = |v: &Value| v.as_str().unwrap().parse::<Amount>().unwrap();
        let mut sums = (0u64, 0, 0);
        let mut prev_end = 1_516_892_533 - 1;
        for b in buckets {
            fields_exactly("TimelineBucket", b);
            assert_eq!(b["start"].as_i64().unwrap(), prev_end + 1, "contiguous");
            prev_end = b["end"].as_i64().unwrap();
            sums.0 += b["movements"].as_u64().unwrap();
            sums.1 += amount(&b["taint"]);
            sums.2 += amount(&b["exited"]);
        }
        assert!(prev_end >= 1_518_048_000);
        let taint: Amount = ms.iter().map(|m| amount(&m["taint"])).sum();
        let exited: Amount = ms
            .iter()
            .filter(|m| m["outcome"] == "exit")
            .map(|m| amount(&m["taint"]))
            .sum();
        assert_eq!(sums, (ms.len() as u64, taint, exited), "{policy}");
        let summary = srv.get(&format!("/api/v1/incidents/{COINCHECK}")).ok(200);
        let p = summary["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["policy"] == policy)
            .unwrap()
            .clone();
        assert_eq!(s(exited), p["summary"]["exited"].as_str().unwrap());
    }
    // The Ethereum case: 4 h + 1 s in 4 buckets of ⌈14,401 / 4⌉ = 3,601 s, the last one
    // ending at the last movement; movements at +0 and +10 min, +2 h, +3 h (the exit),
    // +4 h.
    let w = 3_601;
    let t0 = ETH_SINCE_UNIX;
    let tl = srv
        .get(&format!("/api/v1/incidents/{ETH_CASE}/timeline?buckets=4"))
        .ok(200);
    let b = |i: i64, n: u32, taint: Amount, exited: Amount| {
        json!({"start": t0 + i * w, "end": (t0 + (i + 1) * w - 1).min(t0 + 4 * 3600),
               "movements": n, "taint": s(taint), "exited": s(exited)})
    };
    assert_eq!(
        tl,
        json!({"asset": "ETH", "start": t0, "end": t0 + 4 * 3600, "buckets": [
            b(0, 2, 9 * ETH, 0), b(1, 1, 4 * ETH, 0), b(2, 1, 3 * ETH, 3 * ETH), b(3, 1, ETH, 0)
        ]})
    );
    // Clamped to 1..=500.
    let one = srv
        .get(&format!("/api/v1/incidents/{ETH_CASE}/timeline?buckets=0"))
        .ok(200);
    assert_eq!(one["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(one["buckets"][0]["movements"], 5);
    assert_eq!(one["buckets"][0]["taint"], s(17 * ETH));
    let many = srv
        .get(&format!(
            "/api/v1/incidents/{ETH_CASE}/timeline?buckets=100000"
        ))
        .ok(200);
    // At most 500, and never more than one a second: 14,401 s in 500 buckets of 29 s.
    assert_eq!(many["buckets"].as_array().unwrap().len(), 497);
}

#[test]
fn the_flow_graph_is_consistent_and_limited() {
    let srv = read();
    let f = srv.facts();
    let ex = ashiato_nem::coincheck::EXCHANGES;
    let g = srv
        .get(&format!(
            "/api/v1/incidents/{COINCHECK}/graph?policy=poison"
        ))
        .ok(200);
    fields_exactly("FlowGraph", &g);
    for n in g["nodes"].as_array().unwrap() {
        fields_exactly("FlowNode", n);
    }
    for e in g["edges"].as_array().unwrap() {
        fields_exactly("FlowEdge", e);
    }
    assert_eq!(g["incident"], COINCHECK);
    assert_eq!(g["policy"], "poison");
    // 1 seed, 17 holders, 4 exits, 10 dust recipients (the harvester, the 9 sprayed).
    assert_eq!(g["total_nodes"], 32);
    assert_eq!(g["truncated"], false);
    let nodes = g["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 32);
    let by_id: BTreeMap<&str, &Value> = nodes
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    assert_eq!(by_id.len(), 32, "ids are unique");
    let kinds = |k: &str| -> BTreeSet<String> {
        nodes
            .iter()
            .filter(|n| n["kind"] == k)
            .map(|n| n["address"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds("seed"), BTreeSet::from([f.hot.clone()]));
    let exits: BTreeSet<String> = [0, 2, 3, 4].iter().map(|&i| ex[i].0.to_owned()).collect();
    assert_eq!(kinds("exit"), exits);
    let mut holders: BTreeSet<String> = f.hackers.iter().cloned().collect();
    holders.extend(f.mids.iter().cloned());
    assert_eq!(kinds("holder"), holders);
    let mut dust: BTreeSet<String> = f.spray.iter().cloned().collect();
    dust.insert(f.harvester.clone());
    assert_eq!(kinds("dust"), dust);
    for n in nodes {
        assert_eq!(n["id"], n["address"]);
        assert_eq!(
            n["x"].as_f64().unwrap(),
            10.0 * n["hop"].as_f64().unwrap(),
            "{n}"
        );
    }
    let seed = by_id[f.hot.as_str()];
    assert_eq!(
        (seed["hop"].as_u64(), seed["x"].as_f64()),
        (Some(0), Some(0.0))
    );
    let zaif = by_id[ex[0].0];
    assert_eq!(zaif["label"], "Zaif");
    assert_eq!(zaif["taint"], s(29_499_994 * XEM));
    assert_eq!(
        zaif["hop"], 4,
        "hot wallet → NC4 → hacker → intermediary → Zaif"
    );
    assert_eq!(by_id[ex[2].0]["hop"], 3);
    let nc4 = by_id[f.hackers[0].as_str()];
    assert_eq!(nc4["taint"], s(526_300_000 * XEM));
    assert_eq!(nc4["hop"], 1);
    assert_eq!(nc4["label"], label_of(f, &f.hackers[0])["name"]);
    // Edges: every endpoint is a node; the (from, to) pairs of the 109 movements.
    let edges = g["edges"].as_array().unwrap();
    for e in edges {
        assert!(by_id.contains_key(e["source"].as_str().unwrap()), "{e}");
        assert!(by_id.contains_key(e["target"].as_str().unwrap()), "{e}");
    }
    let ids: BTreeSet<&str> = edges.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), edges.len());
    // hot→NC4, hot→harvester, NC4→10 hackers, NC4→harvester, NC4→9 sprayed, 6 hackers→
    // intermediaries and →harvester, 6 intermediaries→Zaif and →harvester, 3 hackers→
    // exchanges and →harvester.
    assert_eq!(edges.len(), 1 + 1 + 10 + 1 + 9 + 6 + 6 + 6 + 6 + 3 + 3);
    assert_eq!(
        edges
            .iter()
            .map(|e| e["count"].as_u64().unwrap())
            .sum::<u64>(),
        109
    );
    let edge = |a: &str, b: &str| {
        edges
            .iter()
            .find(|e| e["source"] == a && e["target"] == b)
            .unwrap_or_else(|| panic!("no edge {a} → {b}"))
    };
    let thefts: Vec<FixtureTx> = f
        .transfers()
        .into_iter()
        .filter(|t| t.from == f.hot && t.to == f.hackers[0])
        .collect();
    assert_eq!(thefts.len(), 11);
    let e = edge(&f.hot, &f.hackers[0]);
    assert_eq!(e["count"], 11);
    assert_eq!(e["taint"], s(526_300_010 * XEM));
    assert_eq!(e["value"], s(526_300_010 * XEM));
    assert_eq!(e["first_time"], 1_516_892_533);
    assert_eq!(e["outcome"], "held");
    assert_eq!(
        strings(&e["txs"]),
        thefts[..10]
            .iter()
            .map(|t| t.hash.clone())
            .collect::<Vec<_>>()
    );
    let z = edge(&f.mids[0], ex[0].0);
    assert_eq!(
        (z["count"].as_u64(), z["outcome"].as_str()),
        (Some(2), Some("exit"))
    );
    assert_eq!(z["taint"], s(8_999_999 * XEM));

    // Limits: seeds and exits first, then the most tainted.
    let small = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/graph?limit=5"))
        .ok(200);
    assert_eq!(small["total_nodes"], 32);
    assert_eq!(small["truncated"], true);
    let kept: BTreeSet<String> = small["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    let mut want = exits.clone();
    want.insert(f.hot.clone());
    assert_eq!(kept, want);
    assert_eq!(
        small["edges"],
        json!([]),
        "no movement joins the seed and an exit"
    );
    let six = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/graph?limit=6"))
        .ok(200);
    assert_eq!(six["nodes"].as_array().unwrap().len(), 6);
    let e6 = six["edges"].as_array().unwrap();
    assert_eq!(e6.len(), 1);
    assert_eq!(
        (e6[0]["source"].as_str(), e6[0]["target"].as_str()),
        (Some(f.hot.as_str()), Some(f.hackers[0].as_str()))
    );
    let one = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/graph?limit=0"))
        .ok(200);
    assert_eq!(one["nodes"].as_array().unwrap().len(), 1, "clamped to 1");

    // The Ethereum case: S → A, B (hop 1) → C, X (hop 2) → E (hop 3).
    let g = srv
        .get(&format!(
            "/api/v1/incidents/{ETH_CASE}/graph?policy=haircut"
        ))
        .ok(200);
    assert_eq!(g["total_nodes"], 6);
    let place: BTreeMap<String, (String, f64, f64)> = g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                (
                    n["kind"].as_str().unwrap().to_owned(),
                    n["x"].as_f64().unwrap(),
                    n["y"].as_f64().unwrap(),
                ),
            )
        })
        .collect();
    let p = |k: &str, x: f64, y: f64| (k.to_owned(), x, y);
    // Inside a column, most tainted first (seeds and exits before holders), centred on 0.
    assert_eq!(
        place,
        BTreeMap::from([
            (eth(ETH_S), p("seed", 0.0, 0.0)),
            (eth(ETH_A), p("holder", 10.0, -0.5)),
            (eth(ETH_B), p("holder", 10.0, 0.5)),
            (eth(ETH_X), p("exit", 20.0, -0.5)),
            (eth(ETH_C), p("holder", 20.0, 0.5)),
            (eth(ETH_E), p("holder", 30.0, 0.0)),
        ])
    );
    let pairs: Vec<(String, String, String)> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
                e["taint"].as_str().unwrap().to_owned(),
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        (ETH_S, ETH_A, 6 * ETH),
        (ETH_S, ETH_B, 3 * ETH),
        (ETH_A, ETH_C, 3 * ETH),
        (ETH_B, ETH_X, 3 * ETH),
        (ETH_C, ETH_E, 3 * ETH / 4),
    ]
    .iter()
    .map(|(a, b, t)| (eth(a), eth(b), s(*t)))
    .collect();
    assert_eq!(pairs, want.into_iter().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// Evidence reports and exports. Their content is tested in tests/evidence.rs; here only
// the routes: status, content type, and 404s.

#[test]
fn reports_and_exports_answer_with_their_types() {
    let srv = read();
    let zaif = ashiato_nem::coincheck::EXCHANGES[0].0;
    for (path, ctype) in [
        (
            format!("/api/v1/incidents/{COINCHECK}/report.html"),
            "text/html; charset=utf-8",
        ),
        (
            format!("/api/v1/incidents/{COINCHECK}/report.html?policy=haircut"),
            "text/html; charset=utf-8",
        ),
        (
            format!("/api/v1/incidents/{COINCHECK}/exits/{zaif}/report.html"),
            "text/html; charset=utf-8",
        ),
        (
            format!(
                "/api/v1/incidents/{ETH_CASE}/exits/{}/report.html?policy=fifo",
                eth(ETH_X)
            ),
            "text/html; charset=utf-8",
        ),
        (
            format!("/api/v1/incidents/{COINCHECK}/export.csv"),
            "text/csv; charset=utf-8",
        ),
        (
            format!("/api/v1/incidents/{COINCHECK}/export.json?policy=lifo"),
            "application/json",
        ),
        (
            format!("/api/v1/incidents/{ETH_CASE}/export.graphml"),
            "application/graphml+xml",
        ),
    ] {
        let a = srv.get(&path);
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        assert_eq!(a.content_type(), ctype, "{path}");
        if path.contains("/export.") {
            let ext = path.rsplit('.').next().unwrap().split('?').next().unwrap();
            let cd = a.header("content-disposition").unwrap_or_default();
            assert!(
                cd.starts_with("attachment; filename=\"") && cd.ends_with(&format!(".{ext}\"")),
                "{cd}"
            );
        }
    }
    let export = srv.get(&format!(
        "/api/v1/incidents/{COINCHECK}/export.csv?policy=haircut"
    ));
    assert_eq!(
        export.header("content-disposition"),
        Some(format!("attachment; filename=\"{COINCHECK}-haircut.csv\"").as_str())
    );
    for path in [
        "/api/v1/incidents/nope/report.html".to_owned(),
        "/api/v1/incidents/nope/export.csv".to_owned(),
        "/api/v1/incidents/nope/export.json".to_owned(),
        "/api/v1/incidents/nope/export.graphml".to_owned(),
        format!("/api/v1/incidents/nope/exits/{zaif}/report.html"),
        // Not an exit of the trace: a holder, an unknown spelling, an exit of another case.
        format!(
            "/api/v1/incidents/{COINCHECK}/exits/{}/report.html",
            srv.facts().hackers[1]
        ),
        format!("/api/v1/incidents/{COINCHECK}/exits/nothing-here/report.html"),
        format!("/api/v1/incidents/{ETH_CASE}/exits/{zaif}/report.html"),
    ] {
        assert_error(&srv.get(&path), 404, "not_found");
    }
    for path in [
        format!("/api/v1/incidents/{COINCHECK}/report.html?policy=bogus"),
        format!("/api/v1/incidents/{COINCHECK}/export.csv?policy=bogus"),
        format!("/api/v1/incidents/{COINCHECK}/exits/{zaif}/report.html?policy=bogus"),
    ] {
        assert_error(&srv.get(&path), 400, "unknown_policy");
    }
}

// ---------------------------------------------------------------------------------------
// The watch's alert log, feed and watchlist (one watch round over the Ethereum case under
// poison: S → A, S → B, A → C, C → E are new holders, B → X an exit).

#[test]
fn the_alert_log_feed_and_watchlist_are_served() {
    let srv = read();
    let lines = srv.get("/api/v1/alerts.jsonl");
    assert_eq!(lines.status, 200);
    assert_eq!(lines.content_type(), "application/x-ndjson");
    let records: Vec<Value> = lines
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5, "{}", lines.text());
    for (i, r) in records.iter().enumerate() {
        conforms("AlertRecord", r);
        assert_eq!(r["seq"], i as u64 + 1);
        assert_eq!(r["event"], "alert");
        assert_eq!(r["incident"], ETH_CASE);
        assert_eq!(r["chain"], "ethereum");
    }
    let kinds: BTreeMap<String, String> = records
        .iter()
        .map(|r| {
            (
                r["tx"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            (eth_tx(2), "new-holder".to_owned()),
            (eth_tx(3), "new-holder".to_owned()),
            (eth_tx(5), "new-holder".to_owned()),
            (eth_tx(6), "exit".to_owned()),
            (eth_tx(7), "new-holder".to_owned()),
        ])
    );
    let exit = records.iter().find(|r| r["kind"] == "exit").unwrap();
    assert_eq!(exit["priority"], "high");
    assert_eq!(exit["label"], ETH_X_LABEL);
    assert_eq!(exit["amount"], s(3 * ETH));
    assert_eq!(exit["to"], eth(ETH_X));
    assert_eq!(exit["path"], json!([eth_tx(3), eth_tx(6)]));
    // `since` skips what a client saw.
    let after = srv.get("/api/v1/alerts.jsonl?since=3");
    let seqs: Vec<u64> = after
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [4, 5]);
    assert_eq!(srv.get("/api/v1/alerts.jsonl?since=5").text(), "");

    // Server-sent events: the same records, `id:` the seq; Last-Event-ID resumes.
    let events = sse_events(srv, None, 5);
    assert_eq!(events.len(), 5);
    for (i, (id, event, data)) in events.iter().enumerate() {
        assert_eq!(id, &(i as u64 + 1).to_string());
        assert_eq!(event, "alert");
        assert_eq!(&serde_json::from_str::<Value>(data).unwrap(), &records[i]);
    }
    let resumed = sse_events(srv, Some("3"), 2);
    assert_eq!(
        resumed.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(),
        ["4", "5"]
    );

    // The feed: one signed notice per new holder, checked with the served key.
    let key = srv.get("/api/v1/feed/key");
    assert_eq!(key.status, 200);
    assert_eq!(key.text(), format!("{}\n", srv.feed_key));
    let feed = srv.get("/api/v1/feed");
    assert_eq!(feed.status, 200);
    assert_eq!(feed.content_type(), "application/x-ndjson");
    for l in feed.text().lines() {
        conforms("SignedNotice", &serde_json::from_str(l).unwrap());
    }
    let listing = ashiato_watch::feed::verify_feed(feed.text().as_bytes(), &srv.feed_key).unwrap();
    assert_eq!(listing.notices, 4);
    // The watchlist: A, B, C, E with the taint each received under poison.
    let wl = srv.get("/api/v1/watchlist").ok(200);
    for n in wl.as_array().unwrap() {
        conforms("Notice", n);
        assert_eq!(n["action"], "add");
        assert_eq!(n["appeal"], "mailto:appeals@example.org");
    }
    let listed: BTreeMap<String, String> = wl
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["address"].as_str().unwrap().to_owned(),
                n["taint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        BTreeMap::from([
            (eth(ETH_A), s(6 * ETH)),
            (eth(ETH_B), s(3 * ETH)),
            (eth(ETH_C), s(4 * ETH)),
            (eth(ETH_E), s(ETH)),
        ])
    );
}

/// Reads `n` events from `GET /alerts` (resuming after `last` if given): (id, event, data).
fn sse_events(srv: &TestServer, last: Option<&str>, n: usize) -> Vec<(String, String, String)> {
    let mut req = srv.client.get(format!("{}/api/v1/alerts", srv.url));
    if let Some(l) = last {
        req = req.header("last-event-id", l);
    }
    let mut r = req.send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let parse = |text: &str| -> Vec<(String, String, String)> {
        text.split("\n\n")
            .filter(|block| block.contains("data:"))
            .map(|block| {
                let mut e = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    let (k, v) = line.split_once(':').unwrap_or((line, ""));
                    let v = v.strip_prefix(' ').unwrap_or(v).to_owned();
                    match k {
                        "id" => e.0 = v,
                        "event" => e.1 = v,
                        "data" => e.2 = v,
                        _ => {}
                    }
                }
                e
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let complete = text.rfind("\n\n").map_or("", |i| &text[..i + 2]);
        let events = parse(complete);
        if events.len() >= n {
            return events;
        }
        assert!(std::time::Instant::now() < deadline, "only {text:?}");
        let k = r.read(&mut buf).unwrap();
        assert!(k > 0, "the stream ended after {text:?}");
        text.push_str(std::str::from_utf8(&buf[..k]).unwrap());
    }
}

// ---------------------------------------------------------------------------------------
// Bad input: always a 4xx in the error shape, never a 500.

/// A valid NEM address with its last character changed: the base32 still decodes, the
/// Keccak checksum does not match.
fn bad_checksum_nem(a: &str) -> String {
    let mut b = a.to_owned();
    let last = b.pop().unwrap();
    b.push(if last == 'A' { 'B' } else { 'A' });
    b
}

#[test]
fn bad_addresses_chains_incidents_and_policies() {
    let srv = read();
    let f = srv.facts();
    let bad_nem = bad_checksum_nem(&f.hackers[1]);
    for (path, status, code) in [
        (format!("/api/v1/screen/nem/{bad_nem}"), 400, "bad_address"),
        (
            "/api/v1/screen/nem/NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77O".to_owned(),
            400,
            "bad_address",
        ),
        (
            "/api/v1/screen/nem/not-an-address".to_owned(),
            400,
            "bad_address",
        ),
        // The genesis address with its last character changed: base58check fails.
        (
            "/api/v1/screen/bitcoin/1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb".to_owned(),
            400,
            "bad_address",
        ),
        (
            "/api/v1/screen/btc/bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx".to_owned(),
            400,
            "bad_address",
        ),
        ("/api/v1/screen/bitcoin/0OIl".to_owned(), 400, "bad_address"),
        // EIP-55: one letter in the wrong case.
        (
            "/api/v1/screen/ethereum/0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD".to_owned(),
            400,
            "bad_address",
        ),
        (
            "/api/v1/screen/eth/0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae".to_owned(),
            400,
            "bad_address",
        ),
        (
            "/api/v1/screen/eth/5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".to_owned(),
            400,
            "bad_address",
        ),
        (
            "/api/v1/screen/generic/a%2Cb".to_owned(),
            400,
            "bad_address",
        ),
        (
            format!("/api/v1/screen/nem/{}", "N".repeat(5000)),
            400,
            "bad_address",
        ),
        (
            "/api/v1/screen/dogecoin/DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L".to_owned(),
            400,
            "bad_chain",
        ),
        ("/api/v1/screen/%FF/x".to_owned(), 400, "bad_request"),
        ("/api/v1/screen/nem/%FF%FE".to_owned(), 400, "bad_request"),
    ] {
        let a = srv.get(&path);
        let m = assert_error(&a, status, code);
        assert!(!m.is_empty());
    }
    // A well-formed address of the other chain is a bad address here.
    assert_error(
        &srv.get(&format!("/api/v1/screen/eth/{}", f.hackers[1])),
        400,
        "bad_address",
    );
    assert_error(
        &srv.get(&format!("/api/v1/screen/nem/{}", ETH_A)),
        400,
        "bad_address",
    );

    for sub in [
        "",
        "/graph",
        "/holders",
        "/exits",
        "/movements",
        "/timeline",
        "/report.html",
        "/export.csv",
        "/export.json",
        "/export.graphml",
    ] {
        for name in [
            "nope",
            "coincheck",
            "COINCHECK-2018",
            "..",
            "%2e%2e",
            "coincheck-2018%00",
            "a%2Fb",
        ] {
            let a = srv.get(&format!("/api/v1/incidents/{name}{sub}"));
            if a.status == 404 && sub.is_empty() && name == ".." {
                // `/api/v1/incidents/..` is `/api/v1/` after the client resolves dots.
                assert_error_shape(&a);
                continue;
            }
            assert_error(&a, 404, "not_found");
        }
        if sub.is_empty() {
            continue;
        }
        for policy in ["bogus", "poison2", "", "%00", "haircut,fifo"] {
            let a = srv.get(&format!(
                "/api/v1/incidents/{COINCHECK}{sub}?policy={policy}"
            ));
            let m = assert_error(&a, 400, "unknown_policy");
            assert!(m.contains("served"), "{m}");
        }
        // Aliases and any case name the same policies.
        let a = srv.get(&format!(
            "/api/v1/incidents/{COINCHECK}{sub}?policy=PROPORTIONAL"
        ));
        let b = srv.get(&format!(
            "/api/v1/incidents/{COINCHECK}{sub}?policy=haircut"
        ));
        assert_eq!(a.status, 200, "{sub}");
        if a.content_type().starts_with("application/json") && !sub.contains("export") {
            assert_eq!(a.json(), b.json(), "{sub}");
        }
    }
}

#[test]
fn bad_query_numbers_are_400() {
    let srv = read();
    for sub in ["graph", "holders", "movements", "timeline"] {
        for q in [
            "limit=abc",
            "limit=-1",
            "limit=1.5",
            "limit=99999999999999999999999",
            "offset=-3",
            "offset=x",
            "buckets=ten",
            "buckets=-1",
            "limit=1&limit=2",
        ] {
            let a = srv.get(&format!("/api/v1/incidents/{COINCHECK}/{sub}?{q}"));
            assert_error(&a, 400, "bad_request");
        }
        // Unknown query parameters are ignored.
        let a = srv.get(&format!("/api/v1/incidents/{COINCHECK}/{sub}?colour=blue"));
        assert_eq!(a.status, 200);
    }
    // Clamping: limit 0 is 1, a huge limit is the largest page.
    let one = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/movements?limit=0"))
        .ok(200);
    assert_eq!(one["movements"].as_array().unwrap().len(), 1);
    let big = srv
        .get(&format!("/api/v1/incidents/{COINCHECK}/holders?limit=18446744073709551615&offset=18446744073709551615"))
        .ok(200);
    assert_eq!(big["holders"], json!([]));
}

#[test]
fn malformed_bodies_are_refused_in_the_error_shape() {
    let srv = read();
    let f = srv.facts();
    let post = |body: &str| srv.post("/api/v1/screen", body, None);
    // Syntax, shape, unknown fields, missing fields.
    for body in [
        "",
        "{",
        "nul",
        "{\"chain\": \"nem\", \"addresses\": [\"a\",]}",
        "[]",
        "\"nem\"",
        "{\"chain\": 5, \"addresses\": []}",
        "{\"chain\": \"nem\", \"addresses\": \"NC4\"}",
        "{\"chain\": \"nem\", \"addresses\": [1, 2]}",
        "{\"chain\": \"nem\"}",
        "{\"addresses\": []}",
        "{\"chain\": \"nem\", \"addresses\": [], \"extra\": 1}",
        "{\"chain\": \"nem\", \"addresses\": [], \"chain\": \"eth\"}",
        "{\"chain\": \"nem\", \"addresses\": []} trailing",
        "\u{feff}{\"chain\": \"nem\", \"addresses\": []}",
    ] {
        let a = post(body);
        assert_error(&a, 400, "bad_request");
    }
    // Deeply nested JSON: refused, never a stack overflow.
    for body in [
        "[".repeat(100_000),
        format!(
            "{{\"chain\": \"nem\", \"addresses\": {}}}",
            "[".repeat(50_000)
        ),
        format!("{}{}", "{\"a\":".repeat(20_000), "}".repeat(20_000)),
    ] {
        assert_error(&post(&body), 400, "bad_request");
    }
    // Unknown chain in a body.
    assert_error(
        &post("{\"chain\": \"doge\", \"addresses\": []}"),
        400,
        "bad_chain",
    );
    // More than 1,000 addresses.
    let many = vec![f.hackers[2].clone(); 1001];
    let a = srv.post_json(
        "/api/v1/screen",
        &json!({"chain": "nem", "addresses": many}),
        None,
    );
    let m = assert_error(&a, 413, "too_large");
    assert!(m.contains("1001"), "{m}");
    // A body over the 256 KiB limit.
    let huge = json!({"chain": "nem", "addresses": vec!["x".repeat(1000); 300]}).to_string();
    let a = srv.send_refused(|| {
        srv.client
            .post(format!("{}/api/v1/screen", srv.url))
            .header("content-type", "application/json")
            .body(huge.clone())
    });
    assert_error(&a, 413, "too_large");
    // Not JSON by content type.
    let a = srv.send(
        srv.client
            .post(format!("{}/api/v1/screen", srv.url))
            .header("content-type", "text/plain")
            .body("{\"chain\": \"nem\", \"addresses\": []}"),
    );
    assert_error(&a, 415, "bad_request");
    let a = srv.send(
        srv.client
            .post(format!("{}/api/v1/screen", srv.url))
            .body("{\"chain\": \"nem\", \"addresses\": []}"),
    );
    assert_error(&a, 415, "bad_request");
}

#[test]
fn unknown_api_paths_answer_in_the_error_shape() {
    let srv = read();
    for path in [
        "/api/v1/nope",
        "/api/v1/",
        "/api/v1",
        "/api/v2/health",
        "/api/v1/screen/nem",
        "/api/v1/incidents/coincheck-2018/nope",
        "/api/v1/incidents/coincheck-2018/exits/x/y",
        "/api",
    ] {
        let a = srv.get(path);
        assert_error(&a, 404, "not_found");
    }
}

#[test]
fn other_methods_on_api_routes_answer_in_the_error_shape() {
    // A client can send any method; docs/serve.md: "Every error is {"error": …} with a
    // 4xx status".
    let srv = read();
    for (method, path) in [
        ("PUT", "/api/v1/health"),
        ("DELETE", "/api/v1/incidents/coincheck-2018"),
        ("POST", "/api/v1/health"),
        ("GET", "/api/v1/screen"),
        ("GET", "/api/v1/labels"),
        ("PATCH", "/api/v1/incidents"),
    ] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let a = srv.send(srv.client.request(m, format!("{}{path}", srv.url)));
        assert_eq!(a.status, 405, "{method} {path}");
        let m = assert_error(&a, 405, "method_not_allowed");
        assert!(!m.is_empty());
        assert!(
            a.header("allow").is_some(),
            "{method} {path}: {:?}",
            a.headers
        );
    }
}

#[test]
fn watch_routes_refuse_bad_queries_in_the_error_shape() {
    // The alert-stream routes are mounted under /api/v1 too: their errors should have the
    // documented shape like every other route's.
    let srv = read();
    for path in [
        "/api/v1/alerts.jsonl?since=abc",
        "/api/v1/alerts.jsonl?since=-1",
        "/api/v1/alerts?since=x",
    ] {
        let a = srv.get(path);
        assert_error(&a, 400, "bad_request");
    }
}

// ---------------------------------------------------------------------------------------
// The site: whatever a path says, nothing outside the bundle is served.

#[test]
fn traversal_never_serves_a_file_outside_the_bundle() {
    let srv = read();
    let root = workspace_root();
    // What must never come back: the first line of files a traversal could aim at.
    let secrets: Vec<String> = [
        root.join("Cargo.toml"),
        root.join("crates/serve/Cargo.toml"),
        root.join("crates/serve/src/api.rs"),
        std::path::PathBuf::from("/etc/passwd"),
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .map(|t| t.lines().next().unwrap_or_default().to_owned())
    .filter(|l| !l.is_empty())
    .collect();
    assert!(secrets.len() >= 3);
    let targets = [
        "/assets/../../Cargo.toml",
        "/assets/../../../Cargo.toml",
        "/assets/../../../../Cargo.toml",
        "/assets/../../../../../../../../etc/passwd",
        "/assets/..%2f..%2f..%2fCargo.toml",
        "/assets/..%2F..%2F..%2F..%2FCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/%2E%2E%2F%2E%2E%2F%2E%2E%2FCargo.toml",
        "/assets/%252e%252e%252f%252e%252e%252fCargo.toml",
        "/assets/....//....//Cargo.toml",
        "/assets/..\\..\\..\\Cargo.toml",
        "/assets/..%5c..%5c..%5cCargo.toml",
        "/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/Cargo.toml",
        "/assets/src/api.rs",
        "/assets//etc/passwd",
        "/assets/%2fetc%2fpasswd",
        "/assets/app.js%00../../Cargo.toml",
        "/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "//etc/passwd",
        "/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/Cargo.toml",
        "/src/api.rs",
        "/web/dist/../../Cargo.toml",
        "/api/v1/../../Cargo.toml",
        "/api/v1/%2e%2e/%2e%2e/Cargo.toml",
        "/api/v1/incidents/..%2f..%2f..%2fCargo.toml/report.html",
        "/api/v1/incidents/coincheck-2018/exits/..%2f..%2fCargo.toml/report.html",
    ];
    for t in targets {
        let a = srv.raw_get(t);
        assert_ne!(a.status, 500, "{t}");
        assert!(a.status < 500, "{t}: {}", a.status);
        if a.status == 200 {
            let body = a.text();
            for s in &secrets {
                assert!(
                    !body.contains(s.as_str()),
                    "{t} served a file outside the bundle"
                );
            }
        }
        if t.starts_with("/api/") && a.status != 200 {
            assert_error_shape(&a);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writes: API keys, new incidents, labels.

fn new_incident(name: &str, seed: &str) -> Value {
    json!({"name": name, "chain": "ethereum", "seeds": [seed],
           "description": "D's funds were stolen too", "source": "test"})
}

#[test]
fn writes_need_a_valid_key_checked_before_the_body() {
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    let good = new_incident("eth-d", ETH_D).to_string();
    for path in ["/api/v1/incidents", "/api/v1/labels"] {
        // No key, a wrong key, a wrong scheme: 401 whatever the body (even a malformed one,
        // an oversize one).
        for body in [good.as_str(), "{", "[1,2", &"x".repeat(300 * 1024)] {
            for auth in [
                None,
                Some("Bearer ashiato_0000".to_owned()),
                Some(format!("Basic {key}")),
                Some(format!("Bearer {key}x")),
                Some("Bearer ".to_owned()),
                Some(key.clone()),
            ] {
                let a = srv.send_refused(|| {
                    let r = srv
                        .client
                        .post(format!("{}{path}", srv.url))
                        .header("content-type", "application/json")
                        .body(body.to_owned());
                    match &auth {
                        Some(a) => r.header("authorization", a),
                        None => r,
                    }
                });
                assert_error(&a, 401, "unauthorized");
            }
        }
        let a = srv.send(
            srv.client
                .post(format!("{}{path}", srv.url))
                .header("x-api-key", "nope")
                .header("content-type", "application/json")
                .body("{"),
        );
        assert_error(&a, 401, "unauthorized");
        // With the key the body is judged.
        assert_error(&srv.post(path, "{", Some(&key)), 400, "bad_request");
        let big = srv.send_refused(|| {
            srv.client
                .post(format!("{}{path}", srv.url))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {key}"))
                .body("x".repeat(300 * 1024))
        });
        assert_error(&big, 413, "too_large");
    }
    // Nothing was written.
    assert_eq!(
        srv.get("/api/v1/incidents")
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The key works, as a bearer token or in X-Api-Key.
    let a = srv.post("/api/v1/incidents", &good, Some(&key));
    assert_eq!(a.status, 201, "{}", a.text());
    let a = srv.send(
        srv.client
            .post(format!("{}/api/v1/labels", srv.url))
            .header("x-api-key", key.as_str())
            .header("content-type", "application/json")
            .body(json!({"chain": "eth", "labels": [{"address": ETH_F, "name": "funder", "kind": "info"}]}).to_string()),
    );
    assert_eq!(a.ok(201), json!({"stored": 1}));

    // A service without keys refuses every write.
    let ro = read();
    let a = ro.post("/api/v1/incidents", &good, Some(&key));
    let m = assert_error(&a, 401, "unauthorized");
    assert!(m.contains("no API keys"), "{m}");
}

#[test]
fn a_new_incident_is_indexed_and_changes_screening() {
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    let screen_c = || srv.get(&format!("/api/v1/screen/eth/{ETH_C}")).ok(200);
    let hits_of = |r: &Value, incident: &str| -> Vec<Value> {
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["incident"] == incident)
            .cloned()
            .collect()
    };
    let before = screen_c();
    assert_eq!(hits_of(&before, "eth-d").len(), 0);
    assert_eq!(hits_of(&before, ETH_CASE).len(), 7);
    let health0 = srv.get("/api/v1/health").ok(200);
    assert_eq!(health0["incidents"], 1);

    // D paid A 2 ETH (block 103); A later paid C 4 ETH, C paid E 1 ETH.
    let a = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    let summary = a.ok(201);
    fields_exactly("IncidentSummary", &summary);
    assert_eq!(summary["name"], "eth-d");
    assert_eq!(summary["chain"], "ethereum");
    assert_eq!(summary["seeds"], json!([eth(ETH_D)]));
    assert_eq!(summary["since"], Value::Null);
    assert_eq!(summary["description"], "D's funds were stolen too");
    assert_eq!(summary["source"], "test");
    assert_eq!(summary["data_sha256"], eth_digest());
    let poison = &summary["policies"][0];
    assert_eq!(poison["summary"]["entered"], s(2 * ETH));
    assert_eq!(poison["tainted_addresses"], 3, "A, C, E");
    assert_eq!(poison["movements"], 3);
    assert_eq!(poison["exits"], 0);
    // Listed, and served like any other.
    let list = srv.get("/api/v1/incidents").ok(200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["eth-d", ETH_CASE]);
    assert_eq!(srv.get("/api/v1/incidents/eth-d").ok(200), summary);
    assert_eq!(srv.get("/api/v1/health").ok(200)["incidents"], 2);

    // Its seed's recipients are tainted now. A held 6 ETH (S's, clean for this incident)
    // when D's 2 ETH arrived, then paid C 4 ETH:
    // poison 4 (A holds taint); haircut floor(4 × 2 / 8) = 1; FIFO the oldest 4, all
    // clean; LIFO the newest 4, 2 of them D's; TIHO and dirty-first min(4, 2) = 2;
    // clean-first max(0, 2 − (8 − 4)) = 0. C then paid E 1 ETH: haircut takes
    // floor(1 × 1 / 4), LIFO, TIHO and dirty-first take 1 tainted ETH.
    let after = screen_c();
    let h = hits_of(&after, "eth-d");
    let got: Vec<(String, String, Value)> = h
        .iter()
        .map(|h| {
            (
                h["policy"].as_str().unwrap().to_owned(),
                h["taint"].as_str().unwrap().to_owned(),
                h["holding"].clone(),
            )
        })
        .collect();
    let q = ETH / 4;
    let want: Vec<(String, String, Value)> = [
        ("poison", 4 * ETH, Value::Null),
        ("haircut", ETH, json!(s(3 * q))),
        ("lifo", 2 * ETH, json!(s(ETH))),
        ("tiho", 2 * ETH, json!(s(ETH))),
        ("dirty-first", 2 * ETH, json!(s(ETH))),
    ]
    .into_iter()
    .map(|(p, t, hd)| (p.to_owned(), s(t), hd))
    .collect();
    assert_eq!(got, want);
    for h in &h {
        assert_eq!(h["hop"], 2);
        assert_eq!(h["first_tx"], eth_tx(5));
        assert_eq!(h["path"], json!([eth_tx(4), eth_tx(5)]));
    }
    // The hits of the other incident did not change.
    assert_eq!(hits_of(&after, ETH_CASE), hits_of(&before, ETH_CASE));
    let e = srv.get(&format!("/api/v1/screen/eth/{ETH_E}")).ok(200);
    let he: Vec<(String, String)> = hits_of(&e, "eth-d")
        .iter()
        .map(|h| {
            (
                h["policy"].as_str().unwrap().to_owned(),
                h["taint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("poison", ETH),
        ("haircut", q),
        ("lifo", ETH),
        ("tiho", ETH),
        ("dirty-first", ETH),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), s(t)))
    .collect();
    assert_eq!(he, want);
    // D itself (the seed) is not tainted by it.
    let d = srv.get(&format!("/api/v1/screen/eth/{ETH_D}")).ok(200);
    assert_eq!(d["hits"], json!([]));

    // The same name again: 409, and nothing changes.
    let again = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_E),
        Some(&key),
    );
    let m = assert_error(&again, 409, "conflict");
    assert!(m.contains("eth-d"), "{m}");
    assert_eq!(srv.get("/api/v1/incidents/eth-d").ok(200), summary);

    // A seed transaction works too; `since` in RFC 3339.
    let by_tx = json!({"name": "by tx 5", "chain": "eth", "seed_txs": [eth_tx(5)],
                       "since": "2024-03-01T00:00:00Z"});
    let t = srv
        .post_json("/api/v1/incidents", &by_tx, Some(&key))
        .ok(201);
    assert_eq!(t["since"], "2024-03-01T00:00:00Z");
    assert_eq!(t["seeds"], json!([]));
    assert_eq!(t["seed_txs"], json!([eth_tx(5)]));
    assert_eq!(t["policies"][0]["summary"]["entered"], s(4 * ETH));
    let served = srv
        .get(&format!(
            "/api/v1/incidents/{}/exits",
            ashiato_serve::views::url_segment("by tx 5")
        ))
        .ok(200);
    assert_eq!(served, json!([]));
}

#[test]
fn bad_new_incidents_are_refused() {
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    for (body, status, code) in [
        (
            json!({"name": "", "chain": "eth", "seeds": [ETH_D]}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x".repeat(101), "chain": "eth", "seeds": [ETH_D]}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "a/b", "chain": "eth", "seeds": [ETH_D]}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "../x", "chain": "eth", "seeds": [ETH_D]}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x", "chain": "doge", "seeds": [ETH_D]}),
            400,
            "bad_chain",
        ),
        (json!({"name": "x", "chain": "eth"}), 400, "bad_request"),
        (
            json!({"name": "x", "chain": "eth", "seeds": [], "seed_txs": []}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x", "chain": "eth", "seeds": ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"]}),
            400,
            "bad_address",
        ),
        (
            json!({"name": "x", "chain": "eth", "seeds": [ETH_D], "since": "yesterday"}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x", "chain": "eth", "seeds": [ETH_D], "since": "2024-03-02T09:00:00+09:00"}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x", "chain": "eth", "seeds": [ETH_D], "bogus": 1}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x", "chain": "eth", "seeds": ETH_D}),
            400,
            "bad_request",
        ),
        (
            json!({"chain": "eth", "seeds": [ETH_D]}),
            400,
            "bad_request",
        ),
        (json!([]), 400, "bad_request"),
    ] {
        let a = srv.post_json("/api/v1/incidents", &body, Some(&key));
        assert_error(&a, status, code);
    }
    let m = assert_error(
        &srv.post_json(
            "/api/v1/incidents",
            &json!({"name": "x", "chain": "eth", "seeds": [ETH_D, "0x1"]}),
            Some(&key),
        ),
        400,
        "bad_address",
    );
    assert!(m.starts_with("seeds[1]: "), "{m}");
    assert_eq!(
        srv.get("/api/v1/incidents")
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn incident_names_that_no_url_can_reach_are_refused() {
    // Every client resolves `.` and `..` path segments before sending
    // (`/api/v1/incidents/..` is `/api/v1/`): an incident so named could be stored but
    // never read, reported or exported. Names of spaces only, or with spaces around, are as
    // unusable in a URL or on the site.
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    for name in [".", "..", "...", " ", "  ", " x", "x "] {
        let body = json!({"name": name, "chain": "eth", "seeds": [ETH_D]});
        let a = srv.post_json("/api/v1/incidents", &body, Some(&key));
        assert_error(&a, 400, "bad_request");
    }
    assert_eq!(
        srv.get("/api/v1/incidents")
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_incident_on_a_chain_without_data_is_stored_and_empty() {
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    let body = json!({"name": "btc-case", "chain": "bitcoin",
                      "seeds": ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]});
    let a = srv.post_json("/api/v1/incidents", &body, Some(&key));
    let i = a.ok(201);
    assert_eq!(i["chain"], "bitcoin");
    assert_eq!(i["policies"][0]["summary"]["entered"], "0");
    assert_eq!(i["policies"][0]["movements"], 0);
    let tl = srv.get("/api/v1/incidents/btc-case/timeline").ok(200);
    assert_eq!(
        tl,
        json!({"asset": null, "start": null, "end": null, "buckets": []})
    );
    let g = srv.get("/api/v1/incidents/btc-case/graph").ok(200);
    assert_eq!(g["total_nodes"], 1, "the seed");
    assert_eq!(
        srv.get("/api/v1/incidents/btc-case/holders").ok(200)["total"],
        0
    );
    // The service still writes after it.
    let a = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    assert_eq!(a.status, 201, "{}", a.text());
}

#[test]
fn labels_show_in_screening_and_exit_labels_stop_the_next_trace() {
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    let exits = || {
        srv.get(&format!("/api/v1/incidents/{ETH_CASE}/exits"))
            .ok(200)
    };
    let e_before = srv.get(&format!("/api/v1/screen/eth/{ETH_E}")).ok(200);
    assert_eq!(e_before["tainted"], true);
    assert_eq!(exits().as_array().unwrap().len(), 1);

    // C becomes an exchange, A gets an informational label.
    let body = json!({"chain": "ethereum", "labels": [
        {"address": ETH_C, "name": "Exchange C", "kind": "exchange", "source": "analyst", "confidence": 70},
        {"address": ETH_A, "name": "A's wallet", "kind": "info"}
    ]});
    let a = srv.post_json("/api/v1/labels", &body, Some(&key));
    let stored = a.ok(201);
    fields_exactly("Stored", &stored);
    assert_eq!(stored, json!({"stored": 2}));

    let c = srv.get(&format!("/api/v1/screen/eth/{ETH_C}")).ok(200);
    assert_eq!(
        c["labels"],
        json!([{"name": "Exchange C", "kind": "exchange", "source": "analyst", "confidence": 70}])
    );
    // An exit now: every policy's hit says so, with what was deposited (A's payment,
    // hop 2); E, paid by C afterwards, is clean.
    let roles: BTreeSet<&str> = c["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, BTreeSet::from(["exit"]));
    assert_eq!(c["hits"][0]["policy"], "poison");
    assert_eq!(c["hits"][0]["taint"], s(4 * ETH));
    assert_eq!(c["hits"][0]["hop"], 2);
    assert_eq!(c["hits"][0]["path"], json!([eth_tx(2), eth_tx(5)]));
    assert_eq!(c["hits"][1]["taint"], s(3 * ETH), "haircut");
    let e = srv.get(&format!("/api/v1/screen/eth/{ETH_E}")).ok(200);
    assert_eq!(e["tainted"], false);
    assert_eq!(e["hits"], json!([]));
    let a_now = srv.get(&format!("/api/v1/screen/eth/{ETH_A}")).ok(200);
    assert_eq!(
        a_now["labels"],
        json!([{"name": "A's wallet", "kind": "info", "source": "", "confidence": 50}])
    );
    assert_eq!(
        a_now["hits"][0]["taint"],
        s(6 * ETH),
        "an info label stops nothing"
    );
    // Poison: A pays C its 4 ETH, the larger exit first.
    let x = exits();
    assert_eq!(x.as_array().unwrap().len(), 2);
    assert_eq!(x[0]["address"], eth(ETH_C));
    assert_eq!(x[0]["label"], "Exchange C");
    assert_eq!(x[0]["amount"], s(4 * ETH));
    assert_eq!(x[0]["path"], json!([eth_tx(2), eth_tx(5)]));
    assert_eq!(x[1]["address"], eth(ETH_X));
    // Holders: A and B only (C is an exit, E got nothing).
    let h = srv
        .get(&format!("/api/v1/incidents/{ETH_CASE}/holders"))
        .ok(200);
    assert_eq!(h["total"], 2);
    assert_eq!(h["holders"][0]["label"], "A's wallet");

    // Bad labels.
    for (body, code) in [
        (
            json!({"chain": "eth", "labels": [{"address": "0x1", "name": "n", "kind": "info"}]}),
            "bad_request",
        ),
        (
            json!({"chain": "eth", "labels": [{"address": ETH_B, "name": "n", "kind": "casino"}]}),
            "bad_request",
        ),
        (
            json!({"chain": "eth", "labels": [{"address": ETH_B, "name": " ", "kind": "info"}]}),
            "bad_request",
        ),
        (
            json!({"chain": "eth", "labels": [{"address": ETH_B, "name": "n", "kind": "info", "confidence": 101}]}),
            "bad_request",
        ),
        (
            json!({"chain": "eth", "labels": [{"address": ETH_B, "name": "n", "kind": "info", "confidence": 300}]}),
            "bad_request",
        ),
        (
            json!({"chain": "eth", "labels": [{"address": ETH_B, "name": "n", "kind": "info", "colour": "red"}]}),
            "bad_request",
        ),
        (
            json!({"chain": "eth", "labels": [], "extra": true}),
            "bad_request",
        ),
        (json!({"chain": "eth"}), "bad_request"),
        (json!({"chain": "doge", "labels": []}), "bad_chain"),
    ] {
        let a = srv.post_json("/api/v1/labels", &body, Some(&key));
        assert_error(&a, 400, code);
    }
    let m = assert_error(
        &srv.post_json(
            "/api/v1/labels",
            &json!({"chain": "eth", "labels": [
                {"address": ETH_B, "name": "ok", "kind": "info"},
                {"address": ETH_B, "name": "n", "kind": "casino"}]}),
            Some(&key),
        ),
        400,
        "bad_request",
    );
    assert!(m.starts_with("labels[1]: "), "{m}");
    // None of those was stored.
    let b = srv.get(&format!("/api/v1/screen/eth/{ETH_B}")).ok(200);
    assert_eq!(b["labels"], json!([]));
}

#[test]
fn labels_of_a_chain_without_incidents_show_in_screening() {
    // A label is stored for every chain; screening shows an address's labels whether or
    // not an incident is traced on its chain.
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    let btc = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
    let body = json!({"chain": "bitcoin", "labels": [
        {"address": btc, "name": "Satoshi's genesis address", "kind": "info", "source": "test", "confidence": 99}]});
    assert_eq!(
        srv.post_json("/api/v1/labels", &body, Some(&key)).ok(201),
        json!({"stored": 1})
    );
    let r = srv.get(&format!("/api/v1/screen/bitcoin/{btc}")).ok(200);
    assert_eq!(
        r["labels"],
        json!([{"name": "Satoshi's genesis address", "kind": "info", "source": "test", "confidence": 99}])
    );
}

// ---------------------------------------------------------------------------------------
// Rate limits, served policies, timeouts.

#[test]
fn the_sixth_rapid_request_is_rate_limited_then_served_again() {
    let srv = TestServer::start(Setup {
        coincheck: false,
        rate: 5,
        burst: 5,
        policies: vec![PolicyName::Haircut, PolicyName::Fifo],
        ..Setup::default()
    });
    for i in 0..5 {
        let a = srv.get("/api/v1/health");
        assert_eq!(a.status, 200, "request {i}");
    }
    let limited = srv.get(&format!("/api/v1/incidents/{ETH_CASE}"));
    let m = assert_error(&limited, 429, "rate_limited");
    let wait: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(m.contains(&format!("{wait} s")), "{m}");
    // The site and unknown paths count too.
    assert_error(&srv.get("/"), 429, "rate_limited");
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(100));
    let h = srv.get("/api/v1/health").ok(200);
    assert_eq!(strings(&h["policies"]), ["haircut", "fifo"]);

    // The first served policy is the default; one not served is refused.
    let d = srv
        .get(&format!("/api/v1/incidents/{ETH_CASE}/exits"))
        .ok(200);
    assert!(d[0]["report"]
        .as_str()
        .unwrap()
        .ends_with("?policy=haircut"));
    let m = assert_error(
        &srv.get(&format!("/api/v1/incidents/{ETH_CASE}/exits?policy=poison")),
        400,
        "unknown_policy",
    );
    assert!(m.contains("haircut, fifo"), "{m}");
    let i = srv.get(&format!("/api/v1/incidents/{ETH_CASE}")).ok(200);
    let served: Vec<&str> = i["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["policy"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["haircut", "fifo"]);
}

#[test]
fn a_request_that_times_out_answers_in_the_error_shape() {
    // The store never answers (its backend is held, not run): the write times out, and the
    // answer is an error of the documented shape.
    let srv = TestServer::start(Setup {
        coincheck: false,
        key: true,
        timeout: Duration::from_millis(300),
        backend: BackendMode::Hold,
        ..Setup::default()
    });
    let key = srv.key.clone().unwrap();
    let a = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    let code = assert_error_shape(&a);
    assert!(
        (a.status, code.as_str()) == (408, "timeout")
            || (a.status, code.as_str()) == (503, "unavailable"),
        "{} {code}",
        a.status
    );
    // Reads do not wait for the store.
    assert_eq!(
        srv.get("/api/v1/incidents")
            .ok(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_write_answered_with_an_error_is_not_applied_later() {
    // The store is busy (its backend held) when the write comes: the client is told it
    // timed out (or that the store is busy: "try again"). When the store gets to the queued
    // command afterwards it must not apply it: the client, told it failed, retries, and
    // the retry would be a 409 (or a second copy).
    let mut srv = TestServer::start(Setup {
        coincheck: false,
        key: true,
        timeout: Duration::from_millis(300),
        backend: BackendMode::Hold,
        ..Setup::default()
    });
    let key = srv.key.clone().unwrap();
    let a = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    assert_error_shape(&a);
    srv.release();
    // A write after it is applied after it (one queue, in order).
    let b = srv.post_json(
        "/api/v1/labels",
        &json!({"chain": "eth", "labels": []}),
        Some(&key),
    );
    assert_eq!(b.ok(201), json!({"stored": 0}));
    let names: Vec<String> = srv
        .get("/api/v1/incidents")
        .ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [ETH_CASE],
        "the write that failed was applied after all"
    );
    // So the client's retry succeeds.
    let again = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    assert_eq!(again.status, 201, "{}", again.text());
}

#[test]
fn writes_to_a_store_that_takes_none_are_503() {
    let srv = TestServer::start(Setup {
        coincheck: false,
        key: true,
        backend: BackendMode::Drop,
        ..Setup::default()
    });
    let key = srv.key.clone().unwrap();
    let a = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    assert_error(&a, 503, "unavailable");
    let a = srv.post_json(
        "/api/v1/labels",
        &json!({"chain": "eth", "labels": [
            {"address": ETH_D, "name": "Somebody", "kind": "info"}
        ]}),
        Some(&key),
    );
    assert_error(&a, 503, "unavailable");
    // Nothing to write needs no store.
    let a = srv.post_json(
        "/api/v1/labels",
        &json!({"chain": "eth", "labels": []}),
        Some(&key),
    );
    assert_eq!(a.ok(201), json!({"stored": 0}));
}

#[test]
fn screening_follows_each_policys_rule() {
    // C, in the Ethereum case: A held 6 tainted ETH (S's, first) and 2 clean (D's, later)
    // when it paid C 4 ETH; C then paid E 1 ETH (docs/tracing.md's table):
    // poison 4; haircut floor(4 × 6 / 8) = 3, then C keeps 3 − 3/4; FIFO the oldest 4, all
    // tainted, then E gets C's oldest (tainted) unit; LIFO the newest 4 (2 tainted, then
    // the 2 clean, order kept), E gets C's newest (clean) unit; TIHO and dirty-first
    // min(4, 6) = 4, then min(1, 4) = 1; clean-first max(0, 6 − (8 − 4)) = 2, then
    // max(0, 2 − (4 − 1)) = 0.
    let srv = read();
    let hits = |a: &str| -> Vec<(String, String, Value)> {
        srv.get(&format!("/api/v1/screen/eth/{a}")).ok(200)["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["incident"] == ETH_CASE)
            .map(|h| {
                (
                    h["policy"].as_str().unwrap().to_owned(),
                    h["taint"].as_str().unwrap().to_owned(),
                    h["holding"].clone(),
                )
            })
            .collect()
    };
    let q = ETH / 4;
    let row = |p: &str, t: Amount, h: Option<Amount>| {
        (p.to_owned(), s(t), h.map_or(Value::Null, |h| json!(s(h))))
    };
    assert_eq!(
        hits(ETH_C),
        [
            row("poison", 4 * ETH, None),
            row("haircut", 3 * ETH, Some(9 * q)),
            row("fifo", 4 * ETH, Some(3 * ETH)),
            row("lifo", 2 * ETH, Some(2 * ETH)),
            row("tiho", 4 * ETH, Some(3 * ETH)),
            row("dirty-first", 4 * ETH, Some(3 * ETH)),
            row("clean-first", 2 * ETH, Some(2 * ETH)),
        ]
    );
    // E: nothing under LIFO and clean-first, so no hit there.
    assert_eq!(
        hits(ETH_E),
        [
            row("poison", ETH, None),
            row("haircut", 3 * q, Some(3 * q)),
            row("fifo", ETH, Some(ETH)),
            row("tiho", ETH, Some(ETH)),
            row("dirty-first", ETH, Some(ETH)),
        ]
    );
}

#[test]
fn a_lower_case_bearer_scheme_is_accepted() {
    // RFC 9110 §11.1: the authentication scheme is a case-insensitive token.
    let srv = writable(false);
    let key = srv.key.clone().unwrap();
    let a = srv.send(
        srv.client
            .post(format!("{}/api/v1/labels", srv.url))
            .header("authorization", format!("bearer {key}"))
            .header("content-type", "application/json")
            .body(json!({"chain": "eth", "labels": []}).to_string()),
    );
    assert_eq!(a.ok(201), json!({"stored": 0}));
}

#[test]
fn a_new_incident_is_served_when_the_service_serves_only_some() {
    // `ashiato serve --incident eth-small`: a new incident written through the API is
    // stored; the write must not answer 404 (a retry would then be a 409).
    let srv = TestServer::start(Setup {
        coincheck: false,
        key: true,
        only: vec![ETH_CASE.to_owned()],
        ..Setup::default()
    });
    let key = srv.key.clone().unwrap();
    let a = srv.post_json(
        "/api/v1/incidents",
        &new_incident("eth-d", ETH_D),
        Some(&key),
    );
    let i = a.ok(201);
    assert_eq!(i["name"], "eth-d");
    assert_eq!(srv.get("/api/v1/incidents/eth-d").ok(200), i);
}

#[test]
fn the_seed_node_of_the_graph_carries_what_it_sent() {
    // views::flow_graph: "Movements give exits and dust recipients their hop, and seeds
    // what they sent": the seed's taint is what entered the trace.
    let srv = read();
    for (name, seed) in [(COINCHECK, srv.facts().hot.clone()), (ETH_CASE, eth(ETH_S))] {
        let entered = srv.get(&format!("/api/v1/incidents/{name}")).ok(200)["policies"][0]
            ["summary"]["entered"]
            .clone();
        let g = srv.get(&format!("/api/v1/incidents/{name}/graph")).ok(200);
        let node = g["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == seed.as_str())
            .unwrap()
            .clone();
        assert_eq!(node["kind"], "seed");
        assert_eq!(node["taint"], entered, "{name}");
    }
}

/// A Bitcoin chain whose first block came from an export without times (TaintedTX) and
/// whose second was synced from a node (with its time), and an incident seeded at the
/// first block's coinbase.
fn mixed_time_bitcoin(store: &mut ashiato_store::Store) {
    use ashiato_model::{Address, Chain, Incident, OutPoint, TxIn, TxOut, UtcTime, UtxoTx};
    let a = |s: &str| Address::parse(Chain::Bitcoin, s).unwrap();
    let coinbase = UtxoTx {
        txid: "aa".repeat(32),
        block: 1,
        time: None,
        coinbase: true,
        inputs: Vec::new(),
        outputs: vec![TxOut {
            address: Some(a("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")),
            value: 5_000_000_000,
        }],
    };
    let spend = UtxoTx {
        txid: "bb".repeat(32),
        block: 2,
        time: Some(UtcTime::parse("2024-01-01T00:00:00Z").unwrap()),
        coinbase: false,
        inputs: vec![TxIn {
            prev: OutPoint {
                txid: "aa".repeat(32),
                vout: 0,
            },
            address: Some(a("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")),
            value: 5_000_000_000,
        }],
        outputs: vec![TxOut {
            address: Some(a("1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3")),
            value: 4_990_000_000,
        }],
    };
    for (i, tx) in [coinbase, spend].iter().enumerate() {
        let key = ashiato_store::SourceKey {
            kind: "test".into(),
            name: format!("btc {i}"),
            fingerprint: [i as u8 + 1; 16],
        };
        let mut s = store.begin_source(Chain::Bitcoin, key).unwrap();
        s.push_utxo_tx(0, tx).unwrap();
        s.finish().unwrap();
    }
    store
        .put_incident(&Incident {
            name: "btc-mixed".into(),
            chain: Chain::Bitcoin,
            seeds: Vec::new(),
            seed_txs: vec!["aa".repeat(32)],
            since: None,
            description: String::new(),
            source: String::new(),
        })
        .unwrap();
}

#[test]
fn a_timeline_over_blocks_without_times_is_not_a_500() {
    let srv = TestServer::start(Setup {
        coincheck: false,
        eth: false,
        extra: Some(mixed_time_bitcoin),
        ..Setup::default()
    });
    let m = srv.get("/api/v1/incidents/btc-mixed/movements").ok(200);
    assert!(m["total"].as_u64().unwrap() >= 1, "{m}");
    let tl = srv.get("/api/v1/incidents/btc-mixed/timeline");
    assert_eq!(tl.status, 200, "{}", tl.text());
    fields_exactly("Timeline", &tl.json());
}
