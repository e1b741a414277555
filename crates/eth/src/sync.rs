//! Incremental, resumable, reorg-aware sync from an Ethereum node over JSON-RPC: the
//! Ethereum side of [`ashiato_store::sync`]. A block's identity is its hash; blocks are
//! fetched a few at a time in parallel (each is three calls: block, receipts, traces).

use ashiato_model::Chain;
use ashiato_store::sync::{self as engine, Convert, Movements, Naming, Node, SyncBlock};
use ashiato_store::Store;
use serde::{Deserialize, Serialize};

use crate::convert::{EthBlock, Tally};
use crate::rpc::{EthClient, RpcError, TraceMode};

pub const STATE_KEY: &str = "ethereum-sync";

pub type SyncOptions = engine::RpcSyncOptions;

pub type SyncError = engine::SyncError<RpcError>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub run: engine::Report,
    pub tally: Tally,
    /// Where internal transfers came from: geth, parity, or off (none recorded).
    pub traces: Option<TraceMode>,
}

/// Ethereum keeps nothing besides the engine's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EthExtra {}

pub type SyncState = engine::SyncState<EthExtra>;

pub fn load_state(store: &Store) -> Result<SyncState, SyncError> {
    SyncState::load(store, STATE_KEY)
}

impl SyncBlock for EthBlock {
    fn height(&self) -> u64 {
        EthBlock::height(self)
    }
    fn identity(&self) -> String {
        self.block.hash.to_string()
    }
    fn hash(&self) -> Option<[u8; 32]> {
        Some(self.block.hash.0)
    }
    fn prev_hash(&self) -> [u8; 32] {
        self.block.parent_hash.0
    }
}

struct EthNode<'a> {
    client: &'a EthClient,
    concurrency: usize,
}

impl Node for EthNode<'_> {
    type Block = EthBlock;
    type Error = RpcError;

    fn name(&self) -> &str {
        self.client.node()
    }

    fn tip(&self) -> Result<u64, RpcError> {
        self.client.block_number()
    }

    fn identity_at(&self, height: u64) -> Result<String, RpcError> {
        self.client.block_hash(height)
    }

    fn fetch(&self, from: u64, to: u64) -> Result<Vec<EthBlock>, RpcError> {
        engine::fetch_parallel((to - from + 1) as usize, self.concurrency, |i| {
            self.client.block_at(from + i as u64)
        })
    }
}

struct ToTransfers {
    tally: Tally,
}

impl Convert<EthBlock, EthExtra> for ToTransfers {
    fn convert(&mut self, blocks: &[EthBlock], _: &mut EthExtra) -> Result<Movements, String> {
        let mut out = Movements::default();
        for b in blocks {
            out.transfers.extend(b.transfers(&mut self.tally)?);
        }
        Ok(out)
    }
}

/// Syncs the store from the node: checks for a reorganisation first, then appends.
pub fn sync(
    store: &mut Store,
    client: &EthClient,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let mut convert = ToTransfers {
        tally: Tally::default(),
    };
    let run = engine::run(
        store,
        &EthNode {
            client,
            concurrency: opts.concurrency,
        },
        &Naming {
            key: STATE_KEY,
            chain: Chain::Ethereum,
            kind: "ethereum-rpc",
        },
        &engine::Options {
            batch_blocks: opts.batch_blocks,
            until: opts.until,
            start: opts.start,
            first: 0,
        },
        &mut convert,
        |_: &mut EthExtra| Ok(()),
    )?;
    let traces = match client.trace_mode() {
        TraceMode::Auto => None,
        m => Some(m),
    };
    Ok(SyncReport {
        run,
        tally: convert.tally,
        traces,
    })
}
