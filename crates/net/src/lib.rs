//! Talking to nodes over HTTP, shared by every chain's client and replay server:
//! [`retrying`] runs one request with timeouts and exponential backoff, leaving what an
//! answer means to the chain (NIS1 REST and Core JSON-RPC judge bodies differently);
//! [`Serving`] runs an axum router on a loopback port until dropped; [`jsonrpc`] is the
//! JSON-RPC call Bitcoin Core and Ethereum nodes share.

pub mod jsonrpc;

use std::net::SocketAddr;
use std::time::Duration;

/// How one attempt went, as the chain's client judges the answer.
pub enum Attempt<T, E> {
    Done(T),
    /// Worth another try; the reason is kept for the final error.
    Retry(String),
    Fatal(E),
}

/// Why [`retrying`] gave up.
pub enum Failure<E> {
    Fatal(E),
    /// Every attempt was retryable; `why` is the last reason.
    Exhausted {
        why: String,
        attempts: u32,
    },
}

/// Sends with `send` up to `retries + 1` times, sleeping `backoff` (doubling) between
/// attempts. Timeouts and transport errors are retried; an answer is judged by `judge`.
pub fn retrying<T, E>(
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    send: impl Fn() -> reqwest::Result<reqwest::blocking::Response>,
    judge: impl Fn(reqwest::blocking::Response) -> Attempt<T, E>,
) -> Result<T, Failure<E>> {
    let mut backoff = backoff;
    let mut last = String::new();
    let attempts = retries + 1;
    for attempt in 0..attempts {
        if attempt > 0 {
            std::thread::sleep(backoff);
            backoff *= 2;
        }
        let outcome = match send() {
            Err(e) if e.is_timeout() => Attempt::Retry(format!("timed out after {timeout:?}")),
            Err(e) => Attempt::Retry(format!("request failed: {e}")),
            Ok(r) => judge(r),
        };
        match outcome {
            Attempt::Done(v) => return Ok(v),
            Attempt::Fatal(e) => return Err(Failure::Fatal(e)),
            Attempt::Retry(why) => last = why,
        }
    }
    Err(Failure::Exhausted {
        why: last,
        attempts,
    })
}

/// An axum router served on its own runtime thread; stops (gracefully) when dropped.
pub struct Serving {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// Binds `addr` (port 0: an ephemeral port) and serves `app` on it.
    pub fn start(addr: SocketAddr, app: axum::Router) -> std::io::Result<Serving> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                // Peer addresses reach handlers (rate limits key on them).
                let _ = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            });
        });
        Ok(Serving {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
