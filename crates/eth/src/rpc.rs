//! An Ethereum JSON-RPC client: `eth_blockNumber`, `eth_getBlockByNumber`, receipts by
//! block (`eth_getBlockReceipts`, or one `eth_getTransactionReceipt` per transaction on
//! nodes without it), and call traces (`debug_traceBlockByNumber` with geth's
//! `callTracer`, else `trace_block`, else none: then internal transfers are missing and
//! the sync report says so).
//!
//! Rate-limit friendly: a bounded number of calls in flight, HTTP 429 and the providers'
//! "limit exceeded" (-32005) retried with exponential backoff. Every block is checked
//! ([`EthBlock::new`]): header hash, positions, receipts and traces against the block;
//! an answer that fails is "the node lied", naming the call.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use ashiato_net::jsonrpc::{CallError, CallOptions, JsonRpc};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::convert::{EthBlock, Traces};
use crate::json::{Block, GethTxTrace, ParityTrace, Receipt, H256, Q};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// Try geth's tracer, then `trace_block`, then go without.
    Auto,
    Geth,
    Parity,
    Off,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub traces: TraceMode,
    /// Check each header against its hash (off for EVM chains whose headers are not
    /// Ethereum's).
    pub check_header: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(200),
            traces: TraceMode::Auto,
            check_header: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("Ethereum node {node}: {call}: {why} (after {attempts} attempts)")]
    Unavailable {
        node: String,
        call: String,
        why: String,
        attempts: u32,
    },
    #[error("Ethereum node {node}: {call}: RPC error {code}: {message}")]
    Rpc {
        node: String,
        call: String,
        code: i64,
        message: String,
    },
    #[error("Ethereum node {node}: {call}: refused the login (HTTP {status})")]
    Unauthorized {
        node: String,
        call: String,
        status: u16,
    },
    #[error("Ethereum node {node}: {call}: the node lied: {why}")]
    Lied {
        node: String,
        call: String,
        why: String,
    },
    #[error("Ethereum node {node}: no block {height} (the node's tip moved back?)")]
    NoBlock { node: String, height: u64 },
}

ashiato_net::impl_from_call!(RpcError);

/// JSON-RPC "method not found" (and what some providers answer for a disabled namespace).
const METHOD_NOT_FOUND: [i64; 2] = [-32601, -32604];

const RECEIPTS_UNKNOWN: u8 = 0;
const RECEIPTS_BY_BLOCK: u8 = 1;
const RECEIPTS_BY_TX: u8 = 2;

pub struct EthClient {
    rpc: JsonRpc,
    opts: ClientOptions,
    /// What the node turned out to support, learnt on the first block.
    receipts: AtomicU8,
    traces: AtomicU8,
}

impl EthClient {
    pub fn new(url: &str, opts: ClientOptions) -> Result<EthClient, RpcError> {
        let call_opts = CallOptions {
            timeout: opts.timeout,
            retries: opts.retries,
            backoff: opts.backoff,
            // -32005: Infura/Alchemy "limit exceeded"; -32016 some providers' rate limit.
            retry_codes: vec![-32005, -32016],
        };
        let rpc = JsonRpc::new(url, None, call_opts).map_err(|why| RpcError::Unavailable {
            node: url.to_owned(),
            call: "client setup".into(),
            why,
            attempts: 0,
        })?;
        let traces = match opts.traces {
            TraceMode::Auto => 0,
            TraceMode::Geth => 1,
            TraceMode::Parity => 2,
            TraceMode::Off => 3,
        };
        Ok(EthClient {
            rpc,
            opts,
            receipts: AtomicU8::new(RECEIPTS_UNKNOWN),
            traces: AtomicU8::new(traces),
        })
    }

    pub fn node(&self) -> &str {
        self.rpc.url()
    }

    /// The trace source in use once known: geth, parity, or off.
    pub fn trace_mode(&self) -> TraceMode {
        match self.traces.load(Ordering::Relaxed) {
            1 => TraceMode::Geth,
            2 => TraceMode::Parity,
            3 => TraceMode::Off,
            _ => TraceMode::Auto,
        }
    }

    fn err(&self, e: CallError) -> RpcError {
        RpcError::from_call(self.node(), e)
    }

    fn call<T: DeserializeOwned>(&self, m: &str, p: serde_json::Value) -> Result<T, RpcError> {
        self.rpc.call(m, p).map_err(|e| self.err(e))
    }

    fn lied(&self, call: String, why: String) -> RpcError {
        RpcError::Lied {
            node: self.node().to_owned(),
            call,
            why,
        }
    }

    pub fn chain_id(&self) -> Result<u64, RpcError> {
        let q: Q = self.call("eth_chainId", json!([]))?;
        q.u64()
            .ok_or_else(|| self.lied("eth_chainId".into(), "chain id over 64 bits".into()))
    }

    pub fn block_number(&self) -> Result<u64, RpcError> {
        let q: Q = self.call("eth_blockNumber", json!([]))?;
        q.u64()
            .ok_or_else(|| self.lied("eth_blockNumber".into(), "height over 64 bits".into()))
    }

    /// The block's header and transactions, unchecked (`None`: the node has no such block).
    pub fn raw_block(&self, height: u64) -> Result<Option<Block>, RpcError> {
        let p = json!([format!("{height:#x}"), true]);
        let b: Option<Block> = self
            .rpc
            .call_opt("eth_getBlockByNumber", p.clone())
            .map_err(|e| self.err(e))?;
        if let Some(b) = &b {
            if b.number.0 != u128::from(height) {
                return Err(self.lied(
                    format!("eth_getBlockByNumber {p}"),
                    format!("answered block {}", b.number.0),
                ));
            }
        }
        Ok(b)
    }

    /// The block hash at `height`, from the header (checked against its hash).
    pub fn block_hash(&self, height: u64) -> Result<String, RpcError> {
        let p = json!([format!("{height:#x}"), false]);
        let call = format!("eth_getBlockByNumber {p}");
        let b: Block<H256> = self
            .rpc
            .call_opt("eth_getBlockByNumber", p)
            .map_err(|e| self.err(e))?
            .ok_or(RpcError::NoBlock {
                node: self.node().to_owned(),
                height,
            })?;
        if b.number.0 != u128::from(height) {
            return Err(self.lied(call, format!("answered block {}", b.number.0)));
        }
        if self.opts.check_header {
            crate::header::check_hash(&b).map_err(|why| self.lied(call, why))?;
        }
        Ok(b.hash.to_string())
    }

    fn receipts(&self, b: &Block) -> Result<Vec<Receipt>, RpcError> {
        if b.transactions.is_empty() {
            return Ok(Vec::new());
        }
        let tag = format!("{:#x}", b.number.0);
        if self.receipts.load(Ordering::Relaxed) != RECEIPTS_BY_TX {
            match self
                .rpc
                .call::<Vec<Receipt>>("eth_getBlockReceipts", json!([tag]))
            {
                Ok(r) => {
                    self.receipts.store(RECEIPTS_BY_BLOCK, Ordering::Relaxed);
                    return Ok(r);
                }
                Err(CallError::Rpc { code, .. })
                    if METHOD_NOT_FOUND.contains(&code)
                        && self.receipts.load(Ordering::Relaxed) == RECEIPTS_UNKNOWN =>
                {
                    self.receipts.store(RECEIPTS_BY_TX, Ordering::Relaxed);
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        b.transactions
            .iter()
            .map(|t| self.call("eth_getTransactionReceipt", json!([t.hash.to_string()])))
            .collect()
    }

    fn traces(&self, b: &Block) -> Result<Option<Traces>, RpcError> {
        let tag = format!("{:#x}", b.number.0);
        loop {
            let mode = self.traces.load(Ordering::Relaxed);
            let got = match mode {
                0 | 1 => self
                    .rpc
                    .call::<Vec<GethTxTrace>>(
                        "debug_traceBlockByNumber",
                        json!([tag, {"tracer": "callTracer"}]),
                    )
                    .map(|t| Some(Traces::Geth(t))),
                2 => self
                    .rpc
                    .call::<Vec<ParityTrace>>("trace_block", json!([tag]))
                    .map(|t| Some(Traces::Parity(t))),
                _ => return Ok(None),
            };
            match got {
                Ok(t) => {
                    if mode == 0 {
                        self.traces.store(1, Ordering::Relaxed);
                    }
                    return Ok(t);
                }
                // Auto mode: fall back one step when the node lacks the method.
                Err(CallError::Rpc { code, .. })
                    if METHOD_NOT_FOUND.contains(&code) && self.opts.traces == TraceMode::Auto =>
                {
                    let next = if mode <= 1 { 2 } else { 3 };
                    self.traces.store(next, Ordering::Relaxed);
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// The block at `height` with receipts and traces, checked.
    pub fn block_at(&self, height: u64) -> Result<EthBlock, RpcError> {
        let b = self.raw_block(height)?.ok_or(RpcError::NoBlock {
            node: self.node().to_owned(),
            height,
        })?;
        let receipts = self.receipts(&b)?;
        let traces = self.traces(&b)?;
        EthBlock::new(b, receipts, traces, self.opts.check_header).map_err(|why| {
            self.lied(
                format!("block {height} (eth_getBlockByNumber, receipts, traces)"),
                why,
            )
        })
    }
}
