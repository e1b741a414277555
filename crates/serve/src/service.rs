//! The service's moving parts: the shared state requests read (the index, the keys, the
//! alert hub) and the backend that owns the store, applies writes and rebuilds the index.
//!
//! Requests never touch the store. A write goes to the backend as a command and is
//! answered after it is durable and the index is rebuilt; the backend runs either on its
//! own thread (`ashiato serve`) or inside a watch's rounds (`ashiato watch … --serve`),
//! where it is the only owner of the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ashiato_model::{Incident, Label};
use ashiato_store::Store;
use ashiato_watch::sink::Hub;
use axum::Router;
use tokio::sync::oneshot;

use crate::index::{Index, IndexError, IndexOptions};
use crate::keys::{ApiKeys, KeyError};
use crate::limit::Limiter;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub index: IndexOptions,
    /// Requests per second per client IP (0: unlimited) and the burst allowed.
    pub rate: u32,
    pub burst: u32,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Longest a request (not an event stream) may take.
    pub timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            index: IndexOptions::default(),
            rate: 50,
            burst: 200,
            max_body: 256 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A write a request asks for; the reply says whether it is stored and indexed.
pub(crate) enum Command {
    AddIncident(Incident, oneshot::Sender<Result<(), WriteError>>),
    AddLabels(Vec<Label>, oneshot::Sender<Result<usize, WriteError>>),
}

#[derive(Debug, Clone)]
pub(crate) enum WriteError {
    /// The request contradicts what is stored (409).
    Conflict(String),
    /// The store failed (503: nothing was written; try again).
    Failed(String),
    /// Written, but the index could not be rebuilt (503 saying so: do not write again).
    Stored(String),
}

pub(crate) struct Shared {
    pub index: RwLock<Arc<Index>>,
    pub keys: ApiKeys,
    pub hub: Arc<Hub>,
    pub commands: Mutex<Sender<Command>>,
    pub opts: ServeOptions,
    pub limiter: Arc<Limiter>,
    /// Turns for whole-trace answers (see `api::heavy`).
    pub heavy: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    pub fn index(&self) -> Arc<Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The request side: cheap to clone, gives the router.
#[derive(Clone)]
pub struct Service {
    pub(crate) shared: Arc<Shared>,
}

/// The store side: applies writes, rebuilds the index.
pub struct Backend {
    rx: Receiver<Command>,
    shared: Arc<Shared>,
    /// Incidents written through the API: served even when `opts.index.only` names others.
    added: Mutex<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Watch(#[from] ashiato_watch::WatchError),
}

impl Service {
    /// Builds the index from `store` and loads the API keys; `hub` serves the alert log.
    pub fn new(
        store: &Store,
        opts: ServeOptions,
        hub: Arc<Hub>,
    ) -> Result<(Service, Backend), ServiceError> {
        let index = Index::build(store, &opts.index)?;
        let keys = ApiKeys::load(store)?;
        let (tx, rx) = mpsc::channel();
        let limiter = Arc::new(Limiter::new(opts.rate, opts.burst));
        let shared = Arc::new(Shared {
            index: RwLock::new(Arc::new(index)),
            keys,
            hub,
            commands: Mutex::new(tx),
            opts,
            limiter,
            heavy: Arc::new(tokio::sync::Semaphore::new(crate::api::HEAVY_AT_ONCE)),
        });
        Ok((
            Service {
                shared: shared.clone(),
            },
            Backend {
                rx,
                shared,
                added: Default::default(),
            },
        ))
    }

    pub fn router(&self) -> Router {
        crate::api::router(self.shared.clone())
    }

    pub fn index(&self) -> Arc<Index> {
        self.shared.index()
    }
}

impl Backend {
    /// Rebuilds the index from the store and puts it in place of the old one.
    pub fn rebuild(&self, store: &Store) -> Result<(), ServiceError> {
        let mut opts = self.shared.opts.index.clone();
        if !opts.only.is_empty() {
            let added = self.added.lock().unwrap_or_else(|e| e.into_inner());
            opts.only.extend(added.iter().cloned());
        }
        let index = Index::build(store, &opts)?;
        *self.shared.index.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(index);
        Ok(())
    }

    /// Applies every waiting write (without blocking) and rebuilds once if any was applied.
    /// True if something was written.
    pub fn apply_pending(&self, store: &mut Store) -> Result<bool, ServiceError> {
        let mut replies = Vec::new();
        while let Ok(cmd) = self.rx.try_recv() {
            replies.push(apply(store, cmd, &self.added));
        }
        if replies.is_empty() {
            return Ok(false);
        }
        let rebuilt = self.rebuild(store);
        for r in replies {
            r(rebuilt.as_ref().err().map(|e| e.to_string()));
        }
        rebuilt.map(|_| true)
    }

    /// Serves writes until `stop` is set (the standalone `ashiato serve`).
    pub fn run(&self, store: &mut Store, stop: &AtomicBool) -> Result<(), ServiceError> {
        while !stop.load(Ordering::Relaxed) {
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(cmd) => {
                    let reply = apply(store, cmd, &self.added);
                    // Take whatever else queued meanwhile into the same rebuild.
                    let mut replies = vec![reply];
                    while let Ok(cmd) = self.rx.try_recv() {
                        replies.push(apply(store, cmd, &self.added));
                    }
                    // A failed rebuild is told to the writers and keeps the previous
                    // index serving; the next write tries again.
                    let rebuilt = self.rebuild(store);
                    for r in replies {
                        r(rebuilt.as_ref().err().map(|e| e.to_string()));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(())
    }
}

type Reply = Box<dyn FnOnce(Option<String>)>;

/// The write is durable but the index could not be rebuilt: the old one still serves.
fn not_indexed(e: String) -> WriteError {
    WriteError::Stored(format!(
        "stored, but not yet served: rebuilding the index failed ({e}); the next write or \
         restart retries"
    ))
}

/// Writes one command durably; the returned closure answers the request once the index
/// is rebuilt (with the rebuild's error, if any).
fn apply(store: &mut Store, cmd: Command, added: &Mutex<Vec<String>>) -> Reply {
    match cmd {
        // The client gave up (its request timed out and it was told so): do not write
        // what it was told failed.
        Command::AddIncident(_, tx) if tx.is_closed() => Box::new(|_| {}),
        Command::AddLabels(_, tx) if tx.is_closed() => Box::new(|_| {}),
        Command::AddIncident(i, tx) => {
            let r = match store.incident(&i.name) {
                Ok(Some(_)) => Err(WriteError::Conflict(format!(
                    "an incident named {:?} exists already",
                    i.name
                ))),
                Ok(None) => store
                    .put_incident(&i)
                    .map(|()| {
                        let mut added = added.lock().unwrap_or_else(|e| e.into_inner());
                        added.push(i.name.clone());
                    })
                    .map_err(|e| WriteError::Failed(e.to_string())),
                Err(e) => Err(WriteError::Failed(e.to_string())),
            };
            Box::new(move |rebuild: Option<String>| {
                let _ = tx.send(r.and_then(|()| rebuild.map_or(Ok(()), |e| Err(not_indexed(e)))));
            })
        }
        Command::AddLabels(ls, tx) => {
            let r = store
                .put_labels(&ls)
                .map_err(|e| WriteError::Failed(e.to_string()));
            Box::new(move |rebuild: Option<String>| {
                let _ = tx.send(r.and_then(|n| rebuild.map_or(Ok(n), |e| Err(not_indexed(e)))));
            })
        }
    }
}
