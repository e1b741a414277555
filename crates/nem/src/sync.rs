//! Incremental, resumable, reorg-aware sync from a NIS1 node into the store.
//!
//! Blocks are committed in batches; each batch is one store source whose segment and the
//! sync state (height, recent block identities, batch list, mosaic levies) are written in
//! one durable batch, so after a crash the state never disagrees with the stored
//! transfers. A re-run resumes after the last committed batch; a batch that was committed
//! but whose state was not cannot exist, and one fetched again is recognised by its
//! content fingerprint and adds nothing.

use ashiato_model::Chain;
use ashiato_store::{SourceKey, Store, StoreError, TxNote};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use crate::client::{ClientError, Nis1Client};
use crate::tx::{
    block_messages, block_transfers, Message, MosaicBook, MosaicDefinition, NemBlock, Tally,
    MAINNET,
};

pub const STATE_KEY: &str = "nem-sync";
/// NIS1 never rolls back more than 360 blocks; identities older than that are dropped.
const MAX_ROLLBACK: usize = 360;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// `POST /block/at/public`, `concurrency` requests in flight (any public node).
    BlockAt { concurrency: usize },
    /// `POST /local/chain/blocks-after`, ten blocks a request (a node's trusted callers).
    BlocksAfter,
}

#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub fetch: Fetch,
    /// Blocks per committed batch.
    pub batch_blocks: u64,
    /// Stop at this height (default: the node's height).
    pub until: Option<u64>,
    /// Begin a fresh store at this height instead of 1 (mainnet holds millions of blocks
    /// before most incidents). Ignored once the store has synced anything.
    pub start: Option<u64>,
    /// Namespaces whose mosaic definitions are fetched from the node before a fresh sync
    /// that does not start at 1, so levies apply to mosaics defined before the start.
    /// They are the definitions as they stand now; definition transactions met during
    /// the sync replace them.
    pub namespaces: Vec<String>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            fetch: Fetch::BlockAt { concurrency: 8 },
            batch_blocks: 100,
            until: None,
            start: None,
            namespaces: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub from_height: u64,
    pub to_height: u64,
    pub blocks: u64,
    pub transfers_added: u64,
    pub duplicates: u64,
    /// A reorganisation was found: the stored chain was cut back to this height first.
    pub rolled_back_to: Option<u64>,
    pub tally: Tally,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
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
    #[error("stored sync state is corrupt: {0}")]
    CorruptState(String),
    #[error("node {node}: {why}")]
    Model { node: String, why: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncState {
    pub height: u64,
    /// The height below the first synced block (0, or `start - 1` for a sync begun
    /// mid-chain): a roll-back never goes below it.
    #[serde(default)]
    pub base: u64,
    /// (height, identity, hash if the node gave one) of the last blocks, oldest first.
    pub recent: Vec<(u64, String, Option<String>)>,
    /// Committed batches: (first height, last height, source fingerprint).
    pub batches: Vec<(u64, u64, String)>,
    pub mosaics: Vec<MosaicDefinition>,
}

impl SyncState {
    pub fn load(store: &Store) -> Result<SyncState, SyncError> {
        match store.sync_state(STATE_KEY)? {
            None => Ok(SyncState::default()),
            Some(v) => {
                serde_json::from_slice(&v).map_err(|e| SyncError::CorruptState(e.to_string()))
            }
        }
    }
}

/// What identifies a block's content for this sync: its header fields and its
/// transactions' hashes (NIS1 block hashes are not in `/block/at/public` answers).
pub fn identity(b: &NemBlock) -> String {
    let mut h = Keccak256::new();
    h.update(b.height.to_le_bytes());
    h.update(b.prev_hash);
    h.update(b.signer);
    h.update(b.timestamp.to_le_bytes());
    for t in &b.txs {
        h.update(t.hash.unwrap_or_default());
    }
    hex::encode(h.finalize())
}

fn fetch_range(
    client: &Nis1Client,
    fetch: Fetch,
    from: u64,
    to: u64,
) -> Result<Vec<NemBlock>, ClientError> {
    match fetch {
        Fetch::BlocksAfter => {
            let mut out: Vec<NemBlock> = Vec::new();
            while (out.len() as u64) < to - from + 1 {
                let after = from - 1 + out.len() as u64;
                let got = client.blocks_after(after)?;
                if got.is_empty() {
                    break;
                }
                out.extend(got.into_iter().take((to - after) as usize));
            }
            Ok(out)
        }
        Fetch::BlockAt { concurrency } => {
            let n = (to - from + 1) as usize;
            let k = concurrency.clamp(1, 64).min(n);
            let mut slots: Vec<Option<Result<NemBlock, ClientError>>> =
                (0..n).map(|_| None).collect();
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..k)
                    .map(|w| {
                        s.spawn(move || {
                            (w..n)
                                .step_by(k)
                                .map(|i| (i, client.block_at(from + i as u64)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    for (i, r) in h.join().expect("fetch worker does not panic") {
                        slots[i] = Some(r);
                    }
                }
            });
            slots
                .into_iter()
                .map(|r| r.expect("every height fetched"))
                .collect()
        }
    }
}

/// Syncs the store from the node: checks for a reorganisation first, then appends.
pub fn sync(
    store: &mut Store,
    client: &Nis1Client,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let node = client.node().to_owned();
    let mut state = SyncState::load(store)?;
    let mut report = SyncReport {
        from_height: state.height,
        to_height: state.height,
        ..SyncReport::default()
    };
    let node_height = client.height()?;
    match find_fork(client, &state, node_height)? {
        Fork::None if node_height < state.height => {
            return Err(SyncError::NodeBehind {
                node,
                node_height,
                stored: state.height,
            })
        }
        Fork::None => {}
        Fork::At(h) => {
            report.rolled_back_to = Some(roll_back(store, &mut state, h)?);
            report.from_height = state.height;
        }
    }
    let fresh = state.batches.is_empty() && state.height == 0;
    if let Some(start) = opts.start.filter(|s| fresh && *s > 1) {
        state.height = start - 1;
        state.base = start - 1;
        report.from_height = state.height;
        for ns in &opts.namespaces {
            state.mosaics.extend(client.mosaic_definitions(ns)?);
        }
    }
    let mut book = MosaicBook::default();
    for d in &state.mosaics {
        book.insert(d.clone());
    }
    let target = opts.until.map_or(node_height, |u| u.min(node_height));
    while state.height < target {
        let from = state.height + 1;
        let to = (from + opts.batch_blocks.max(1) - 1).min(target);
        let blocks = fetch_range(client, opts.fetch, from, to)?;
        if blocks.is_empty() {
            break;
        }
        check_links(&node, &state, &blocks)?;
        let mut transfers = Vec::new();
        for b in &blocks {
            transfers.extend(
                block_transfers(b, &mut book, MAINNET, &mut report.tally).map_err(|e| {
                    SyncError::Model {
                        node: node.clone(),
                        why: e.to_string(),
                    }
                })?,
            );
        }
        let last = blocks.last().expect("not empty").height;
        let ids: Vec<String> = blocks.iter().map(identity).collect();
        let mut fp = [0u8; 16];
        fp.copy_from_slice(&Keccak256::digest(ids.concat().as_bytes())[..16]);
        let mut next = state.clone();
        next.height = last;
        for (b, id) in blocks.iter().zip(ids) {
            next.recent.push((b.height, id, b.hash.map(hex::encode)));
        }
        let excess = next.recent.len().saturating_sub(MAX_ROLLBACK);
        next.recent.drain(..excess);
        next.batches.push((from, last, hex::encode(fp)));
        // Derived from the book every batch: a redefinition (new levy, same id) leaves
        // the count unchanged but must still reach the state.
        next.mosaics = book_defs(&book);
        let mut session = store.begin_source(
            Chain::Nem,
            SourceKey {
                kind: "nem-node".into(),
                name: format!("{node} blocks {from}..{last}"),
                fingerprint: fp,
            },
        )?;
        if !session.is_complete() {
            for (row, t) in transfers.iter().enumerate() {
                session.push_transfer(row as u64, t)?;
            }
            for b in &blocks {
                for (tx, m) in block_messages(b) {
                    session.push_note(note(tx, m));
                }
            }
        }
        let value = serde_json::to_vec(&next).expect("state serialises");
        let r = session.finish_with_state(STATE_KEY, &value)?;
        report.transfers_added += r.added;
        report.duplicates += r.duplicates;
        report.blocks += blocks.len() as u64;
        state = next;
        report.to_height = state.height;
    }
    Ok(report)
}

/// Plain messages are kept as text (a deposit tag is read by people); bytes that are not
/// UTF-8 and encrypted messages are kept as hex.
fn note(tx: String, m: &Message) -> TxNote {
    let (kind, text) = match (m.kind, std::str::from_utf8(&m.payload)) {
        (1, Ok(t)) => ("message", t.to_owned()),
        (1, Err(_)) => ("message-hex", hex::encode(&m.payload)),
        _ => ("message-encrypted", hex::encode(&m.payload)),
    };
    TxNote {
        tx,
        kind: kind.into(),
        text,
    }
}

fn book_defs(book: &MosaicBook) -> Vec<MosaicDefinition> {
    let mut v: Vec<MosaicDefinition> = book.iter().cloned().collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Blocks must continue the stored chain: with hashes (blocks-after) each previous-block
/// hash is checked; heights must be consecutive either way.
fn check_links(node: &str, state: &SyncState, blocks: &[NemBlock]) -> Result<(), SyncError> {
    let mut prev: Option<(u64, Option<[u8; 32]>)> = state.recent.last().map(|(h, _, hash)| {
        (
            *h,
            hash.as_deref()
                .and_then(|x| hex::decode(x).ok())
                .and_then(|v| v.try_into().ok()),
        )
    });
    for b in blocks {
        if let Some((ph, phash)) = prev {
            if b.height != ph + 1 {
                return Err(SyncError::Model {
                    node: node.to_owned(),
                    why: format!("block {} follows block {ph}", b.height),
                });
            }
            if let Some(want) = phash {
                if want != b.prev_hash {
                    return Err(SyncError::BrokenLink {
                        node: node.to_owned(),
                        height: b.height,
                        prev: ph,
                        got: hex::encode(b.prev_hash),
                        want: hex::encode(want),
                    });
                }
            }
        }
        prev = Some((b.height, b.hash));
    }
    Ok(())
}

enum Fork {
    /// The node has the stored blocks (up to its own height).
    None,
    /// The node's chain leaves the stored one after this height.
    At(u64),
}

/// Compares the stored recent blocks, from the highest the node has downwards, with the
/// node's; the first that still matches is where the chains part.
fn find_fork(client: &Nis1Client, state: &SyncState, node_height: u64) -> Result<Fork, SyncError> {
    let mut first = true;
    for (h, id, _) in state
        .recent
        .iter()
        .rev()
        .filter(|(h, _, _)| *h <= node_height)
    {
        if identity(&client.block_at(*h)?) == *id {
            return Ok(if first { Fork::None } else { Fork::At(*h) });
        }
        first = false;
    }
    match state.recent.first() {
        None => Ok(Fork::None),
        Some((h, _, _)) if *h <= state.base + 1 => Ok(Fork::At(state.base)),
        Some((h, _, _)) => Err(SyncError::DeepFork {
            node: client.node().to_owned(),
            height: *h,
        }),
    }
}

/// Drops every batch that reaches above `fork` and rewinds the state to just below the
/// first dropped batch, in one durable store batch. Returns the new height.
fn roll_back(store: &mut Store, state: &mut SyncState, fork: u64) -> Result<u64, SyncError> {
    let keep: Vec<_> = state
        .batches
        .iter()
        .filter(|(_, to, _)| *to <= fork)
        .cloned()
        .collect();
    let dropped: Vec<[u8; 16]> = state
        .batches
        .iter()
        .filter(|(_, to, _)| *to > fork)
        .filter_map(|(_, _, fp)| hex::decode(fp).ok()?.try_into().ok())
        .collect();
    let new_height = keep.last().map_or(state.base, |(_, to, _)| *to);
    state.batches = keep;
    state.height = new_height;
    state.recent.retain(|(h, _, _)| *h <= new_height);
    let value = serde_json::to_vec(&state).expect("state serialises");
    store.drop_sources(&dropped, (STATE_KEY, &value))?;
    Ok(new_height)
}
