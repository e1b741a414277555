//! The one incremental, resumable, reorg-aware sync loop every live chain uses (NEM over
//! NIS1 REST, Bitcoin over Core's JSON-RPC). A chain supplies a [`Node`] (what the node
//! says) and a [`Convert`] (blocks to movements); the loop owns the durable part.
//!
//! Blocks are committed in batches; each batch is one store source whose segment and the
//! sync state (height, recent block identities, batch list, the chain's own extra state)
//! are written in one durable batch, so after a crash the state never disagrees with the
//! stored movements. A re-run resumes after the last committed batch; a batch fetched
//! again is recognised by its content fingerprint and adds nothing. Before appending, the
//! stored recent blocks are compared with the node's, from the top down: where they part
//! is a reorganisation, and every batch above it is dropped in one durable batch.

use ashiato_model::{Chain, Transfer, UtxoTx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{SourceKey, Store, StoreError, TxNote};

/// No chain rolls back further than this many blocks in practice (NIS1 refuses more than
/// 360; a Bitcoin reorg past a few blocks has not happened since 2013); identities older
/// than that are dropped from the state.
pub const MAX_ROLLBACK: usize = 360;

/// A fetched block, as far as the loop cares.
pub trait SyncBlock {
    fn height(&self) -> u64;
    /// What identifies the block's content: its hash where the node gives one.
    fn identity(&self) -> String;
    /// The block's own hash, if known, to check that the next block links to it.
    fn hash(&self) -> Option<[u8; 32]>;
    fn prev_hash(&self) -> [u8; 32];
}

/// What a node answers.
pub trait Node {
    type Block: SyncBlock;
    type Error: std::error::Error + Send + Sync + 'static;
    /// Names the node in errors and source names (its URL).
    fn name(&self) -> &str;
    fn tip(&self) -> Result<u64, Self::Error>;
    /// The identity of the node's block at `height` (same as [`SyncBlock::identity`]).
    fn identity_at(&self, height: u64) -> Result<String, Self::Error>;
    /// Blocks `from..=to` in order; fewer if the node has fewer.
    fn fetch(&self, from: u64, to: u64) -> Result<Vec<Self::Block>, Self::Error>;
}

/// What one batch of blocks becomes in the store.
#[derive(Debug, Default)]
pub struct Movements {
    pub transfers: Vec<Transfer>,
    pub utxo: Vec<UtxoTx>,
    pub notes: Vec<TxNote>,
}

/// Turns blocks into movements; `X` is the chain's own state, kept with the sync state
/// (NEM's mosaic levies). An `Err` names what is wrong with the node's blocks.
pub trait Convert<B, X> {
    fn convert(&mut self, blocks: &[B], extra: &mut X) -> Result<Movements, String>;
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Blocks per committed batch.
    pub batch_blocks: u64,
    /// Stop at this height (default: the node's tip).
    pub until: Option<u64>,
    /// Begin a fresh store at this height instead of the chain's first block. Ignored
    /// once the store has synced anything.
    pub start: Option<u64>,
    /// The chain's first block: 1 for NEM, 0 (genesis) for Bitcoin.
    pub first: u64,
}

/// What a user sets for a sync from a JSON-RPC node (Bitcoin Core, Ethereum).
#[derive(Debug, Clone)]
pub struct RpcSyncOptions {
    /// Blocks per committed batch.
    pub batch_blocks: u64,
    /// Blocks fetched in parallel.
    pub concurrency: usize,
    /// Stop at this height (default: the node's tip).
    pub until: Option<u64>,
    /// Begin a fresh store at this height instead of genesis.
    pub start: Option<u64>,
}

impl Default for RpcSyncOptions {
    fn default() -> Self {
        RpcSyncOptions {
            batch_blocks: 100,
            concurrency: 4,
            until: None,
            start: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The last synced height before (after a roll-back) and after this run.
    pub from_height: u64,
    pub to_height: u64,
    pub blocks: u64,
    pub added: u64,
    pub duplicates: u64,
    /// A reorganisation was found: the stored chain was cut back to this height first.
    pub rolled_back_to: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Client(E),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("node {node} reports height {node_height}, below the {stored} blocks already synced: a lagging or lying node (use another, or re-sync into a fresh store)")]
    NodeBehind {
        node: String,
        node_height: u64,
        stored: u64,
    },
    #[error("node {node}: block {height} does not follow block {prev}: its previous-block hash is {got}, block {prev} hashes to {want}")]
    BrokenLink {
        node: String,
        height: u64,
        prev: u64,
        got: String,
        want: String,
    },
    #[error("node {node}: the chain diverges from the stored one deeper than {MAX_ROLLBACK} blocks (below height {height})")]
    DeepFork { node: String, height: u64 },
    #[error("stored sync state {key} is corrupt: {why}")]
    CorruptState { key: String, why: String },
    #[error("node {node}: {why}")]
    Model { node: String, why: String },
}

/// The sync state of one chain, stored under its key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncState<X> {
    /// The last synced height (`first - 1`, i.e. 0 for NEM, before anything).
    pub height: u64,
    /// The height below the first synced block: a roll-back never goes below it.
    #[serde(default)]
    pub base: u64,
    /// (height, identity, hash if the node gave one) of the last blocks, oldest first.
    pub recent: Vec<(u64, String, Option<String>)>,
    /// Committed batches: (first height, last height, source fingerprint).
    pub batches: Vec<(u64, u64, String)>,
    /// Has anything been synced (distinguishes "at height 0" from "nothing yet" on
    /// chains whose first block is 0).
    #[serde(default)]
    pub started: bool,
    #[serde(flatten)]
    pub extra: X,
}

impl<X: DeserializeOwned + Default> SyncState<X> {
    pub fn load<E: std::error::Error>(
        store: &Store,
        key: &str,
    ) -> Result<SyncState<X>, SyncError<E>> {
        match store.sync_state(key)? {
            None => Ok(SyncState::default()),
            Some(v) => serde_json::from_slice(&v).map_err(|e| SyncError::CorruptState {
                key: key.to_owned(),
                why: e.to_string(),
            }),
        }
    }
}

impl<X> SyncState<X> {
    /// Has anything been synced (or a mid-chain start fixed)? States written before
    /// `started` existed tell by their batches.
    fn synced_any(&self) -> bool {
        self.started || !self.batches.is_empty()
    }

    /// The next height to fetch.
    fn next(&self, first: u64) -> u64 {
        if self.synced_any() || self.height > 0 {
            self.height + 1
        } else {
            first
        }
    }
}

/// How a chain's batches are named in the store.
pub struct Naming<'a> {
    /// The sync state's key.
    pub key: &'a str,
    pub chain: Chain,
    /// The source kind ("nem-node", "bitcoin-rpc").
    pub kind: &'a str,
}

/// Syncs the store from the node: checks for a reorganisation first, then appends.
/// `on_fresh_start` runs once when a fresh store begins mid-chain (`opts.start`), to
/// fetch state that predates the start (NEM's mosaic definitions).
pub fn run<N, X, C>(
    store: &mut Store,
    node: &N,
    naming: &Naming<'_>,
    opts: &Options,
    convert: &mut C,
    on_fresh_start: impl FnOnce(&mut X) -> Result<(), N::Error>,
) -> Result<Report, SyncError<N::Error>>
where
    N: Node,
    X: Serialize + DeserializeOwned + Default + Clone,
    C: Convert<N::Block, X>,
{
    let name = node.name().to_owned();
    let mut state: SyncState<X> = SyncState::load(store, naming.key)?;
    let mut report = Report {
        from_height: state.height,
        to_height: state.height,
        ..Report::default()
    };
    let node_height = node.tip().map_err(SyncError::Client)?;
    // The batches to keep: those ending at or below this height (`None`: none).
    let keep_to = match find_fork(node, &state, node_height, opts.first)? {
        Fork::None if state.synced_any() && node_height < state.height => {
            return Err(SyncError::NodeBehind {
                node: name,
                node_height,
                stored: state.height,
            })
        }
        Fork::None => None,
        Fork::At(h) => Some(Some(h)),
        Fork::All => Some(None),
    };
    if let Some(keep_to) = keep_to {
        report.rolled_back_to = Some(roll_back(store, naming.key, &mut state, keep_to)?);
        report.from_height = state.height;
    }
    let fresh = !state.synced_any();
    if let Some(start) = opts.start.filter(|s| fresh && *s > opts.first) {
        state.height = start - 1;
        state.base = start - 1;
        state.started = true;
        report.from_height = state.height;
        on_fresh_start(&mut state.extra).map_err(SyncError::Client)?;
    }
    let target = opts.until.map_or(node_height, |u| u.min(node_height));
    while state.next(opts.first) <= target {
        let from = state.next(opts.first);
        let to = (from + opts.batch_blocks.max(1) - 1).min(target);
        let blocks = node.fetch(from, to).map_err(SyncError::Client)?;
        if blocks.is_empty() {
            break;
        }
        check_links(&name, &state, from, &blocks)?;
        let mut next = state.clone();
        let movements =
            convert
                .convert(&blocks, &mut next.extra)
                .map_err(|why| SyncError::Model {
                    node: name.clone(),
                    why,
                })?;
        let last = blocks.last().expect("not empty").height();
        let ids: Vec<String> = blocks.iter().map(|b| b.identity()).collect();
        let fp = fingerprint(&ids);
        next.height = last;
        next.started = true;
        for (b, id) in blocks.iter().zip(ids) {
            next.recent
                .push((b.height(), id, b.hash().map(|h| crate::hex(&h))));
        }
        let excess = next.recent.len().saturating_sub(MAX_ROLLBACK);
        next.recent.drain(..excess);
        next.batches.push((from, last, crate::hex(&fp)));
        let mut session = store.begin_source(
            naming.chain,
            SourceKey {
                kind: naming.kind.into(),
                name: format!("{name} blocks {from}..{last}"),
                fingerprint: fp,
            },
        )?;
        if !session.is_complete() {
            let mut row = 0u64;
            for t in &movements.transfers {
                session.push_transfer(row, t)?;
                row += 1;
            }
            for t in &movements.utxo {
                session.push_utxo_tx(row, t)?;
                row += 1;
            }
            for n in movements.notes {
                session.push_note(n);
            }
        }
        let value = serde_json::to_vec(&next).expect("state serialises");
        let r = session.finish_with_state(naming.key, &value)?;
        report.added += r.added;
        report.duplicates += r.duplicates;
        report.blocks += blocks.len() as u64;
        state = next;
        report.to_height = state.height;
    }
    Ok(report)
}

/// A batch's source fingerprint: its blocks' identities, so the same blocks fetched
/// again are the same source and a replaced block makes a new one.
fn fingerprint(ids: &[String]) -> [u8; 16] {
    let a = xxhash_rust::xxh3::xxh3_128_with_seed(ids.concat().as_bytes(), 0x0061_7368_6961_746f);
    a.to_le_bytes()
}

/// Parses the hex [`crate::hex`] wrote back into `N` bytes.
fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Blocks must continue the stored chain at consecutive heights; where the blocks carry
/// hashes each previous-block hash is checked.
fn check_links<B: SyncBlock, X, E: std::error::Error>(
    node: &str,
    state: &SyncState<X>,
    from: u64,
    blocks: &[B],
) -> Result<(), SyncError<E>> {
    let mut prev: Option<(u64, Option<[u8; 32]>)> = state
        .recent
        .last()
        .map(|(h, _, hash)| (*h, hash.as_deref().and_then(unhex::<32>)));
    for (expect, b) in (from..).zip(blocks) {
        if b.height() != expect {
            return Err(SyncError::Model {
                node: node.to_owned(),
                why: format!("asked for block {expect}, got block {}", b.height()),
            });
        }
        if let Some((ph, Some(want))) = prev {
            if want != b.prev_hash() {
                return Err(SyncError::BrokenLink {
                    node: node.to_owned(),
                    height: b.height(),
                    prev: ph,
                    got: crate::hex(&b.prev_hash()),
                    want: crate::hex(&want),
                });
            }
        }
        prev = Some((b.height(), b.hash()));
    }
    Ok(())
}

enum Fork {
    /// The node has the stored blocks (up to its own height).
    None,
    /// The node's chain leaves the stored one after this height.
    At(u64),
    /// Not even the first synced block is the node's: drop everything.
    All,
}

/// Compares the stored recent blocks, from the highest the node has downwards, with the
/// node's; the first that still matches is where the chains part. A node whose tip is
/// below every stored block compares nothing: that is a node behind, not a fork.
fn find_fork<N: Node, X>(
    node: &N,
    state: &SyncState<X>,
    node_height: u64,
    first: u64,
) -> Result<Fork, SyncError<N::Error>> {
    let mut top = true;
    for (h, id, _) in state
        .recent
        .iter()
        .rev()
        .filter(|(h, _, _)| *h <= node_height)
    {
        if node.identity_at(*h).map_err(SyncError::Client)? == *id {
            return Ok(if top { Fork::None } else { Fork::At(*h) });
        }
        top = false;
    }
    match state.recent.first() {
        None => Ok(Fork::None),
        _ if top => Ok(Fork::None),
        // Nothing stored matches, down to the first synced block.
        Some((h, _, _)) if *h <= state.base.max(first.saturating_sub(1)) + 1 => Ok(Fork::All),
        Some((h, _, _)) => Err(SyncError::DeepFork {
            node: node.name().to_owned(),
            height: *h,
        }),
    }
}

/// Drops every batch that reaches above `fork` (all of them for `None`) and rewinds the
/// state to just below the first dropped batch, in one durable store batch. Returns the
/// new height.
fn roll_back<X: Serialize, E: std::error::Error>(
    store: &mut Store,
    key: &str,
    state: &mut SyncState<X>,
    fork: Option<u64>,
) -> Result<u64, SyncError<E>> {
    let (keep, drop): (Vec<_>, Vec<_>) = state
        .batches
        .iter()
        .cloned()
        .partition(|(_, to, _)| fork.is_some_and(|f| *to <= f));
    let dropped: Vec<[u8; 16]> = drop
        .iter()
        .filter_map(|(_, _, fp)| unhex::<16>(fp))
        .collect();
    let new_height = keep.last().map_or(state.base, |(_, to, _)| *to);
    // Nothing left at all: the next block to fetch is the first again.
    state.started = !keep.is_empty() || state.base > 0;
    state.batches = keep;
    state.height = new_height;
    state.recent.retain(|(h, _, _)| *h <= new_height);
    let value = serde_json::to_vec(&state).expect("state serialises");
    store.drop_sources(&dropped, (key, &value))?;
    Ok(new_height)
}

/// Runs `get(i)` for `i in 0..n` on up to `concurrency` threads and returns the results
/// in order; the first error wins.
pub fn fetch_parallel<T: Send, E: Send>(
    n: usize,
    concurrency: usize,
    get: impl Fn(usize) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let k = concurrency.clamp(1, 64).min(n);
    let mut slots: Vec<Option<Result<T, E>>> = (0..n).map(|_| None).collect();
    let get = &get;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..k)
            .map(|w| s.spawn(move || (w..n).step_by(k).map(|i| (i, get(i))).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("fetch worker does not panic") {
                slots[i] = Some(r);
            }
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every index fetched"))
        .collect()
}
