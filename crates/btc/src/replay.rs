//! A Bitcoin Core–compatible JSON-RPC replay server: serves a chain of blocks (with the
//! coins their inputs spend) through `getblockcount`, `getblockhash`, `getbestblockhash`
//! and `getblock` (verbosity 0, 1 and 3), answering in Core's shape, errors included
//! (HTTP 500 with `{"error":{"code":-8,...}}`, 401 without the right login). Faults and
//! lies can be injected. Test support for the RPC client and sync: no Core node is
//! reachable from where Ashiato is built and tested, so the answers are generated from
//! real blocks, in the format Core 23+ documents (`asm` and `desc` fields are left out;
//! nothing reads them).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ashiato_net::Serving;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bitcoin::consensus::Encodable;
use bitcoin::hashes::Hash;
use bitcoin::hex::DisplayHex;
use bitcoin::{Block, OutPoint, Script, TxOut, Work};
use rustc_hash::FxHashMap;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::script_address;

/// What the next request gets instead of (or before) a faithful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer only after this long (past the client's timeout, it is a timeout).
    Delay(Duration),
    /// An HTTP error status with a short non-JSON body.
    Status(u16),
    /// The right answer cut in half.
    Truncate,
    /// An HTML error page instead of JSON.
    Garbage,
    /// Core's "Loading block index…" (-28) error.
    WarmingUp,
    /// The next `getblock` answer lies: its last transaction's raw bytes are changed
    /// (the last hex digit, in the lock time), so they no longer hash to its txid.
    TamperTx,
    /// The next `getblock` answer lies about a prevout: its value becomes 0 (the
    /// transaction then spends more than its inputs hold).
    ZeroPrevout,
}

/// A served block and the coins its inputs spend (in input order, coinbase excluded),
/// with the height and coinbase flag of each coin's transaction.
#[derive(Debug, Clone)]
pub struct ServedBlock {
    pub block: Block,
    pub prevouts: Vec<(TxOut, u64, bool)>,
}

struct Inner {
    blocks: Vec<ServedBlock>,
    /// Height of each block by hash, and the chain's work up to each height.
    by_hash: FxHashMap<bitcoin::BlockHash, usize>,
    chainwork: Vec<Work>,
    /// Highest height served.
    tip: u64,
    faults: VecDeque<Fault>,
    requests: u64,
    login: Option<(String, String)>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every edit is one assignment: a poisoned value is still consistent.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct RpcReplayServer {
    shared: Shared,
    serving: Serving,
}

/// Attaches to each block of a contiguous chain from genesis the coins its inputs spend.
/// Fails on an input whose coin is not in the chain.
pub fn with_prevouts(blocks: Vec<Block>) -> Result<Vec<ServedBlock>, String> {
    add_prevouts(Vec::new(), blocks)
}

/// [`with_prevouts`] for `more` blocks continuing `base` (a fork built on part of a
/// served chain).
pub fn add_prevouts(base: Vec<ServedBlock>, more: Vec<Block>) -> Result<Vec<ServedBlock>, String> {
    let mut coins: FxHashMap<OutPoint, (TxOut, u64, bool)> = FxHashMap::default();
    let mut out = Vec::with_capacity(base.len() + more.len());
    for (h, sb) in base.into_iter().enumerate() {
        index_block(&mut coins, &sb.block, h as u64, &mut Vec::new())?;
        out.push(sb);
    }
    for block in more {
        let h = out.len() as u64;
        let mut prevouts = Vec::new();
        index_block(&mut coins, &block, h, &mut prevouts)?;
        out.push(ServedBlock { block, prevouts });
    }
    Ok(out)
}

fn index_block(
    coins: &mut FxHashMap<OutPoint, (TxOut, u64, bool)>,
    block: &Block,
    height: u64,
    prevouts: &mut Vec<(TxOut, u64, bool)>,
) -> Result<(), String> {
    for tx in &block.txdata {
        if !tx.is_coinbase() {
            for i in &tx.input {
                let c = coins.remove(&i.previous_output).ok_or_else(|| {
                    format!("block {height}: {} is not a known coin", i.previous_output)
                })?;
                prevouts.push(c);
            }
        }
        let txid = tx.compute_txid();
        for (v, o) in tx.output.iter().enumerate() {
            coins.insert(
                OutPoint::new(txid, v as u32),
                (o.clone(), height, tx.is_coinbase()),
            );
        }
    }
    Ok(())
}

impl RpcReplayServer {
    /// Serves `blocks` (heights 0..) on an ephemeral loopback port. With `login`, every
    /// call must carry it as HTTP basic auth.
    pub fn start(
        blocks: Vec<ServedBlock>,
        login: Option<(String, String)>,
    ) -> std::io::Result<RpcReplayServer> {
        let tip = (blocks.len() as u64).saturating_sub(1);
        let shared = Shared(Arc::new(Mutex::new(Inner {
            by_hash: FxHashMap::default(),
            chainwork: Vec::new(),
            blocks: Vec::new(),
            tip,
            faults: VecDeque::new(),
            requests: 0,
            login,
        })));
        shared.lock().set_chain(blocks);
        let app = Router::new()
            .route("/", post(rpc))
            .with_state(shared.clone());
        let serving = Serving::start("127.0.0.1:0".parse().expect("static address"), app)?;
        Ok(RpcReplayServer { shared, serving })
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
        s.tip = height.min((s.blocks.len() as u64).saturating_sub(1));
    }

    /// A reorganisation: the served chain becomes `chain` (which shares a prefix with
    /// the old one), served to its end.
    pub fn reorg(&self, chain: Vec<ServedBlock>) {
        let mut s = self.shared.lock();
        s.tip = (chain.len() as u64).saturating_sub(1);
        s.set_chain(chain);
    }

    pub fn requests(&self) -> u64 {
        self.shared.lock().requests
    }

    /// The `getblock <hash> 3` answer for the block at `height`, as served.
    pub fn getblock_json(&self, height: u64) -> Option<Value> {
        let s = self.shared.lock();
        let b = s.blocks.get(height as usize)?;
        Some(block_json(&s, b, height))
    }
}

impl Inner {
    fn set_chain(&mut self, blocks: Vec<ServedBlock>) {
        self.by_hash = blocks
            .iter()
            .enumerate()
            .map(|(h, b)| (b.block.block_hash(), h))
            .collect();
        let mut work = Work::from_be_bytes([0; 32]);
        self.chainwork = blocks
            .iter()
            .map(|b| {
                work = work + b.block.header.work();
                work
            })
            .collect();
        self.blocks = blocks;
    }
}

fn amount(sat: u64) -> Box<RawValue> {
    RawValue::from_string(format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000))
        .expect("a decimal number is JSON")
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    bytes.as_ref().to_lower_hex_string()
}

fn script_type(s: &Script) -> &'static str {
    let b = s.as_bytes();
    if s.is_p2pk() {
        "pubkey"
    } else if s.is_p2pkh() {
        "pubkeyhash"
    } else if s.is_p2sh() {
        "scripthash"
    } else if s.is_p2wpkh() {
        "witness_v0_keyhash"
    } else if s.is_p2wsh() {
        "witness_v0_scripthash"
    } else if s.is_p2tr() {
        "witness_v1_taproot"
    } else if s.is_op_return() {
        "nulldata"
    } else if s.is_multisig() {
        "multisig"
    } else if s.is_witness_program() && b.first().is_some_and(|v| *v != 0) {
        "witness_unknown"
    } else {
        "nonstandard"
    }
}

fn script_json(s: &Script) -> Value {
    let mut v = json!({ "hex": hex(s.as_bytes()), "type": script_type(s) });
    // Core names an address only for scripts that have one (not bare public keys).
    if !s.is_p2pk() {
        if let Some(a) = script_address(s) {
            v["address"] = json!(a.as_str());
        }
    }
    v
}

fn encode<T: Encodable>(t: &T) -> Vec<u8> {
    let mut v = Vec::new();
    t.consensus_encode(&mut v)
        .expect("writing to a Vec does not fail");
    v
}

/// The median of the last eleven block times up to `height` (BIP 113).
fn median_time(blocks: &[ServedBlock], height: u64) -> u32 {
    let lo = (height + 1).saturating_sub(11) as usize;
    let mut times: Vec<u32> = blocks[lo..=height as usize]
        .iter()
        .map(|b| b.block.header.time)
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

fn block_json(s: &Inner, sb: &ServedBlock, height: u64) -> Value {
    let b = &sb.block;
    let hash = b.block_hash();
    let chainwork = s.chainwork[height as usize];
    let mut prevouts = sb.prevouts.iter();
    let mut txs = Vec::with_capacity(b.txdata.len());
    for tx in &b.txdata {
        let mut vin = Vec::new();
        let mut fee_in = 0u64;
        for i in &tx.input {
            let mut v = if tx.is_coinbase() {
                json!({ "coinbase": hex(i.script_sig.as_bytes()) })
            } else {
                let (o, h, generated) = prevouts.next().cloned().unwrap_or((TxOut::NULL, 0, false));
                fee_in += o.value.to_sat();
                json!({
                    "txid": i.previous_output.txid.to_string(),
                    "vout": i.previous_output.vout,
                    "scriptSig": { "hex": hex(i.script_sig.as_bytes()) },
                    "prevout": {
                        "generated": generated,
                        "height": h,
                        "value": amount(o.value.to_sat()),
                        "scriptPubKey": script_json(&o.script_pubkey),
                    },
                })
            };
            if !i.witness.is_empty() {
                v["txinwitness"] = json!(i.witness.iter().map(hex).collect::<Vec<_>>());
            }
            v["sequence"] = json!(i.sequence.0);
            vin.push(v);
        }
        let vout: Vec<Value> = tx
            .output
            .iter()
            .enumerate()
            .map(|(n, o)| {
                json!({
                    "value": amount(o.value.to_sat()),
                    "n": n,
                    "scriptPubKey": script_json(&o.script_pubkey),
                })
            })
            .collect();
        let mut t = json!({
            "txid": tx.compute_txid().to_string(),
            "hash": tx.compute_wtxid().to_string(),
            "version": tx.version.0,
            "size": tx.total_size(),
            "vsize": tx.vsize(),
            "weight": tx.weight().to_wu(),
            "locktime": tx.lock_time.to_consensus_u32(),
            "vin": vin,
            "vout": vout,
        });
        if !tx.is_coinbase() {
            let paid: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
            t["fee"] = json!(amount(fee_in.saturating_sub(paid)));
        }
        t["hex"] = json!(hex(encode(tx)));
        txs.push(t);
    }
    let size = b.total_size();
    let weight = b.weight().to_wu() as usize;
    let mut v = json!({
        "hash": hash.to_string(),
        "confirmations": s.tip as i64 - height as i64 + 1,
        "height": height,
        "version": b.header.version.to_consensus(),
        "versionHex": format!("{:08x}", b.header.version.to_consensus()),
        "merkleroot": b.header.merkle_root.to_string(),
        "time": b.header.time,
        "mediantime": median_time(&s.blocks, height),
        "nonce": b.header.nonce,
        "bits": format!("{:08x}", b.header.bits.to_consensus()),
        "difficulty": b.header.difficulty_float(),
        "chainwork": hex(chainwork.to_be_bytes()),
        "nTx": b.txdata.len(),
        "strippedsize": (weight - size) / 3,
        "size": size,
        "weight": weight,
        "tx": txs,
    });
    // Core leaves it out for the genesis block, whose previous hash is all zeros.
    if b.header.prev_blockhash != bitcoin::BlockHash::from_byte_array([0; 32]) {
        v["previousblockhash"] = json!(b.header.prev_blockhash.to_string());
    }
    if height < s.tip {
        if let Some(n) = s.blocks.get(height as usize + 1) {
            v["nextblockhash"] = json!(n.block.block_hash().to_string());
        }
    }
    v
}

fn rpc_error(status: StatusCode, id: &Value, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({ "result": null, "error": { "code": code, "message": message }, "id": id })),
    )
        .into_response()
}

fn ok(id: &Value, result: Value) -> Response {
    Json(json!({ "result": result, "error": null, "id": id })).into_response()
}

fn authorised(login: &Option<(String, String)>, headers: &HeaderMap) -> bool {
    let Some((u, p)) = login else {
        return true;
    };
    let want = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{u}:{p}").as_bytes())
    );
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == want)
}

async fn rpc(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let fault = {
        let mut s = shared.lock();
        s.requests += 1;
        s.faults.pop_front()
    };
    let mut lie = None;
    match fault {
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Status(code)) => {
            return (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "injected failure",
            )
                .into_response()
        }
        Some(Fault::Garbage) => {
            return (StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response()
        }
        Some(f @ (Fault::Truncate | Fault::TamperTx | Fault::ZeroPrevout)) => lie = Some(f),
        Some(Fault::WarmingUp) => {
            return rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &Value::Null,
                -28,
                "Loading block index…",
            )
        }
        None => {}
    }
    let answer = answer(&shared, &headers, &body, lie.as_ref());
    if lie == Some(Fault::Truncate) {
        let (parts, body) = answer.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let half = bytes.slice(..bytes.len() / 2);
        let mut r = Response::from_parts(parts, axum::body::Body::from(half));
        r.headers_mut().remove("content-length");
        return r;
    }
    answer
}

fn answer(shared: &Shared, headers: &HeaderMap, body: &str, lie: Option<&Fault>) -> Response {
    let s = shared.lock();
    if !authorised(&s.login, headers) {
        return (StatusCode::UNAUTHORIZED, "").into_response();
    }
    let Ok(req) = serde_json::from_str::<Value>(body) else {
        return rpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Value::Null,
            -32700,
            "Parse error",
        );
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = req.get("params").cloned().unwrap_or(json!([]));
    let bad = |msg: &str| rpc_error(StatusCode::INTERNAL_SERVER_ERROR, &id, -1, msg);
    match req.get("method").and_then(Value::as_str) {
        Some("getblockcount") => ok(&id, json!(s.tip)),
        Some("getbestblockhash") => match s.blocks.get(s.tip as usize) {
            Some(b) => ok(&id, json!(b.block.block_hash().to_string())),
            None => bad("no blocks"),
        },
        Some("getblockhash") => match params.get(0).and_then(Value::as_u64) {
            Some(h) if h <= s.tip => ok(
                &id,
                json!(s.blocks[h as usize].block.block_hash().to_string()),
            ),
            Some(_) => rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &id,
                -8,
                "Block height out of range",
            ),
            None => bad("getblockhash height"),
        },
        Some("getblock") => {
            let want = params.get(0).and_then(Value::as_str).unwrap_or_default();
            let verbosity = params.get(1).and_then(Value::as_u64).unwrap_or(1);
            let Some(h) = want
                .parse::<bitcoin::BlockHash>()
                .ok()
                .and_then(|w| s.by_hash.get(&w).copied())
                .filter(|h| *h as u64 <= s.tip)
            else {
                return rpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &id,
                    -5,
                    "Block not found",
                );
            };
            let sb = &s.blocks[h];
            match verbosity {
                0 => ok(&id, json!(hex(encode(&sb.block)))),
                1..=3 => {
                    let mut v = block_json(&s, sb, h as u64);
                    if verbosity == 1 {
                        let ids: Vec<Value> = v["tx"]
                            .as_array()
                            .map(|a| a.iter().map(|t| t["txid"].clone()).collect())
                            .unwrap_or_default();
                        v["tx"] = json!(ids);
                    }
                    if verbosity == 2 {
                        for t in v["tx"].as_array_mut().into_iter().flatten() {
                            for i in t["vin"].as_array_mut().into_iter().flatten() {
                                if let Some(o) = i.as_object_mut() {
                                    o.remove("prevout");
                                }
                            }
                        }
                    }
                    tell_lie(&mut v, lie);
                    ok(&id, v)
                }
                _ => rpc_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &id,
                    -8,
                    "Verbosity must be in range 0..3",
                ),
            }
        }
        Some(m) => rpc_error(
            StatusCode::NOT_FOUND,
            &id,
            -32601,
            &format!("Method not found: {m}"),
        ),
        None => bad("no method"),
    }
}

fn tell_lie(v: &mut Value, lie: Option<&Fault>) {
    let Some(txs) = v["tx"].as_array_mut() else {
        return;
    };
    match lie {
        Some(Fault::TamperTx) => {
            let Some(t) = txs.last_mut() else {
                return;
            };
            if let Some(h) = t["hex"].as_str() {
                let mut h = h.to_owned();
                let last = if h.ends_with('0') { "1" } else { "0" };
                h.replace_range(h.len() - 1.., last);
                t["hex"] = json!(h);
            }
        }
        Some(Fault::ZeroPrevout) => {
            let Some(t) = txs.get_mut(1) else {
                return;
            };
            if let Some(p) = t["vin"][0].get_mut("prevout") {
                p["value"] = json!(amount(0));
            }
        }
        _ => {}
    }
}
