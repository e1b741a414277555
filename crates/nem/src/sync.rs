//! Incremental, resumable, reorg-aware sync from a NIS1 node into the store: the NIS1
//! side of [`ashiato_store::sync`] (which owns batching, durability, resuming and
//! roll-back). Here: fetching blocks (`/block/at/public` in parallel, or
//! `/local/chain/blocks-after`), a block's identity, and the mosaic levies the state
//! carries between batches.

use ashiato_model::Chain;
use ashiato_store::sync::{self as engine, Convert, Movements, Naming, Node, SyncBlock};
use ashiato_store::{Store, TxNote};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use crate::client::{ClientError, Nis1Client};
use crate::tx::{
    block_messages, block_transfers, Message, MosaicBook, MosaicDefinition, NemBlock, Tally,
    MAINNET,
};

pub const STATE_KEY: &str = "nem-sync";

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

pub type SyncError = engine::SyncError<ClientError>;

/// What NEM keeps besides the engine's state: the mosaic definitions seen so far, so
/// levies apply across batches and runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NemExtra {
    pub mosaics: Vec<MosaicDefinition>,
}

pub type SyncState = engine::SyncState<NemExtra>;

/// The stored NEM sync state.
pub fn load_state(store: &Store) -> Result<SyncState, SyncError> {
    SyncState::load(store, STATE_KEY)
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

impl SyncBlock for NemBlock {
    fn height(&self) -> u64 {
        self.height
    }
    fn identity(&self) -> String {
        identity(self)
    }
    fn hash(&self) -> Option<[u8; 32]> {
        self.hash
    }
    fn prev_hash(&self) -> [u8; 32] {
        self.prev_hash
    }
}

struct NisNode<'a> {
    client: &'a Nis1Client,
    fetch: Fetch,
}

impl Node for NisNode<'_> {
    type Block = NemBlock;
    type Error = ClientError;

    fn name(&self) -> &str {
        self.client.node()
    }

    fn tip(&self) -> Result<u64, ClientError> {
        self.client.height()
    }

    fn identity_at(&self, height: u64) -> Result<String, ClientError> {
        Ok(identity(&self.client.block_at(height)?))
    }

    fn fetch(&self, from: u64, to: u64) -> Result<Vec<NemBlock>, ClientError> {
        match self.fetch {
            Fetch::BlocksAfter => {
                let mut out: Vec<NemBlock> = Vec::new();
                while (out.len() as u64) < to - from + 1 {
                    let after = from - 1 + out.len() as u64;
                    let got = self.client.blocks_after(after)?;
                    if got.is_empty() {
                        break;
                    }
                    out.extend(got.into_iter().take((to - after) as usize));
                }
                Ok(out)
            }
            Fetch::BlockAt { concurrency } => {
                engine::fetch_parallel((to - from + 1) as usize, concurrency, |i| {
                    self.client.block_at(from + i as u64)
                })
            }
        }
    }
}

/// Blocks to transfers (levies from the book), and messages to notes.
struct NemConvert {
    book: Option<MosaicBook>,
    tally: Tally,
}

impl Convert<NemBlock, NemExtra> for NemConvert {
    fn convert(&mut self, blocks: &[NemBlock], extra: &mut NemExtra) -> Result<Movements, String> {
        let book = self.book.get_or_insert_with(|| {
            let mut book = MosaicBook::default();
            for d in &extra.mosaics {
                book.insert(d.clone());
            }
            book
        });
        let mut out = Movements::default();
        for b in blocks {
            out.transfers.extend(
                block_transfers(b, book, MAINNET, &mut self.tally).map_err(|e| e.to_string())?,
            );
            for (tx, m) in block_messages(b) {
                out.notes.push(note(tx, m));
            }
        }
        // Derived from the book every batch: a redefinition (new levy, same id) leaves
        // the count unchanged but must still reach the state.
        extra.mosaics = book_defs(book);
        Ok(out)
    }
}

/// Syncs the store from the node: checks for a reorganisation first, then appends.
pub fn sync(
    store: &mut Store,
    client: &Nis1Client,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let node = NisNode {
        client,
        fetch: opts.fetch,
    };
    let mut convert = NemConvert {
        book: None,
        tally: Tally::default(),
    };
    let r = engine::run(
        store,
        &node,
        &Naming {
            key: STATE_KEY,
            chain: Chain::Nem,
            kind: "nem-node",
        },
        &engine::Options {
            batch_blocks: opts.batch_blocks,
            until: opts.until,
            start: opts.start,
            first: 1,
        },
        &mut convert,
        |extra: &mut NemExtra| {
            for ns in &opts.namespaces {
                extra.mosaics.extend(client.mosaic_definitions(ns)?);
            }
            Ok(())
        },
    )?;
    Ok(SyncReport {
        from_height: r.from_height,
        to_height: r.to_height,
        blocks: r.blocks,
        transfers_added: r.added,
        duplicates: r.duplicates,
        rolled_back_to: r.rolled_back_to,
        tally: convert.tally,
    })
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
