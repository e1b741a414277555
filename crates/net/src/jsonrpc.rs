//! One JSON-RPC 2.0/1.0 call over HTTP with the judgement every node client shares:
//! transport failures, timeouts, 5xx without an RPC error, HTTP 429 (rate limited) and
//! bodies that are not JSON at all (a truncated answer) are retried; an RPC error is
//! returned with its code (retried only when the chain says the code means "try again",
//! such as Core's -28 "warming up" or a provider's -32005 "limit exceeded"); a refused
//! login, and an answer that is JSON but not of the expected shape, are not retried.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{retrying, Attempt, Failure};

#[derive(Debug, Clone)]
pub struct CallOptions {
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// The first backoff; it doubles after each failed attempt.
    pub backoff: Duration,
    /// RPC error codes that mean "try again later".
    pub retry_codes: Vec<i64>,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(200),
            retry_codes: Vec::new(),
        }
    }
}

/// Why a call failed; `call` is the method with its parameters, for the error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    Unavailable {
        call: String,
        why: String,
        attempts: u32,
    },
    Rpc {
        call: String,
        code: i64,
        message: String,
    },
    Unauthorized {
        call: String,
        status: u16,
    },
    /// The answer is not what the protocol promises (wrong shape, no result).
    Lied {
        call: String,
        why: String,
    },
}

pub struct JsonRpc {
    url: String,
    auth: Option<(String, String)>,
    http: reqwest::blocking::Client,
    opts: CallOptions,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<JError>,
}

#[derive(Deserialize)]
struct JError {
    code: i64,
    message: String,
}

impl JsonRpc {
    pub fn new(
        url: &str,
        auth: Option<(String, String)>,
        opts: CallOptions,
    ) -> Result<JsonRpc, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(JsonRpc {
            url: url.trim_end_matches('/').to_owned(),
            auth,
            http,
            opts,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method`; a `null` result is `Ok(None)` (Ethereum's "no such block yet").
    pub fn call_opt<T: DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<Option<T>, CallError> {
        let call = format!("{method} {params}");
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": method, "params": params,
        });
        let send = || {
            let req = self.http.post(&self.url).json(&body);
            match &self.auth {
                Some((u, p)) => req.basic_auth(u, Some(p)),
                None => req,
            }
            .send()
        };
        let o = &self.opts;
        let value = retrying(o.timeout, o.retries, o.backoff, send, |r| {
            self.judge(&call, r)
        })
        .map_err(|f| match f {
            Failure::Fatal(e) => e,
            Failure::Exhausted { why, attempts } => CallError::Unavailable {
                call: call.clone(),
                why,
                attempts,
            },
        })?;
        if value.is_null() {
            return Ok(None);
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| CallError::Lied {
                call,
                why: format!("the answer is not of the expected shape: {e}"),
            })
    }

    /// Calls `method`; a `null` result is a lie (the method promises a value).
    pub fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, CallError> {
        let call = || format!("{method} {params}");
        match self.call_opt(method, params.clone())? {
            Some(v) => Ok(v),
            None => Err(CallError::Lied {
                call: call(),
                why: "null result".into(),
            }),
        }
    }

    /// Nodes answer an RPC error with HTTP 200 (geth, anvil) or 500 (Core), so the body
    /// decides before the status does.
    fn judge(
        &self,
        call: &str,
        r: reqwest::blocking::Response,
    ) -> Attempt<serde_json::Value, CallError> {
        let status = r.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Attempt::Fatal(CallError::Unauthorized {
                call: call.to_owned(),
                status: status.as_u16(),
            });
        }
        if status.as_u16() == 429 {
            return Attempt::Retry("HTTP 429: rate limited".into());
        }
        let body = match r.bytes() {
            Err(e) => return Attempt::Retry(format!("reading the body failed: {e}")),
            Ok(b) => b,
        };
        let snippet = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(Envelope { error: Some(e), .. }) if self.opts.retry_codes.contains(&e.code) => {
                Attempt::Retry(format!("RPC error {}: {}", e.code, e.message))
            }
            Ok(Envelope { error: Some(e), .. }) => Attempt::Fatal(CallError::Rpc {
                call: call.to_owned(),
                code: e.code,
                message: e.message,
            }),
            Ok(Envelope {
                result: Some(v), ..
            }) if status.is_success() => Attempt::Done(v),
            Ok(Envelope { result: None, .. }) if status.is_success() => {
                // `"result": null` deserialises as None too: it is a valid answer.
                Attempt::Done(serde_json::Value::Null)
            }
            Ok(_) if status.is_server_error() => Attempt::Retry(format!("HTTP {status}")),
            Ok(_) => Attempt::Fatal(CallError::Lied {
                call: call.to_owned(),
                why: format!("HTTP {status} without a result"),
            }),
            Err(_) if status.is_server_error() => {
                Attempt::Retry(format!("HTTP {status}: {}", snippet()))
            }
            Err(e) if status.is_success() => {
                Attempt::Retry(format!("answer is not JSON ({e}; {} bytes)", body.len()))
            }
            Err(_) => Attempt::Fatal(CallError::Lied {
                call: call.to_owned(),
                why: format!("HTTP {status}: {}", snippet()),
            }),
        }
    }
}

/// Gives a chain client's error enum `from_call(node, CallError)`: the enum must have
/// `Unavailable`, `Rpc`, `Unauthorized` and `Lied` variants with `CallError`'s fields
/// plus `node` (each chain words its messages itself: "Bitcoin node …", "Ethereum node …").
#[macro_export]
macro_rules! impl_from_call {
    ($t:ident) => {
        impl $t {
            fn from_call(node: &str, e: $crate::jsonrpc::CallError) -> $t {
                use $crate::jsonrpc::CallError as C;
                let node = node.to_owned();
                match e {
                    C::Unavailable {
                        call,
                        why,
                        attempts,
                    } => $t::Unavailable {
                        node,
                        call,
                        why,
                        attempts,
                    },
                    C::Rpc {
                        call,
                        code,
                        message,
                    } => $t::Rpc {
                        node,
                        call,
                        code,
                        message,
                    },
                    C::Unauthorized { call, status } => $t::Unauthorized { node, call, status },
                    C::Lied { call, why } => $t::Lied { node, call, why },
                }
            }
        }
    };
}
