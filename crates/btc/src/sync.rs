//! Incremental, resumable, reorg-aware sync from a Bitcoin Core node over JSON-RPC: the
//! Bitcoin side of [`ashiato_store::sync`]. A block's identity is its hash; its inputs'
//! values come from the node's undo data (`getblock` verbosity 3), so no UTXO set is kept
//! and a sync may start at any height.

use ashiato_model::Chain;
use ashiato_store::sync::{self as engine, Convert, Movements, Naming, Node, SyncBlock};
use ashiato_store::Store;
use bitcoin::hashes::Hash;
use serde::{Deserialize, Serialize};

use crate::block::convert_with_undo;
use crate::rpc::{RpcBlock, RpcClient, RpcError};

pub const STATE_KEY: &str = "bitcoin-sync";

pub type SyncOptions = engine::RpcSyncOptions;

pub type SyncError = engine::SyncError<RpcError>;
pub type SyncReport = engine::Report;

/// Bitcoin keeps nothing besides the engine's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BtcExtra {}

pub type SyncState = engine::SyncState<BtcExtra>;

pub fn load_state(store: &Store) -> Result<SyncState, SyncError> {
    SyncState::load(store, STATE_KEY)
}

impl SyncBlock for RpcBlock {
    fn height(&self) -> u64 {
        self.height
    }
    fn identity(&self) -> String {
        self.block.block_hash().to_string()
    }
    fn hash(&self) -> Option<[u8; 32]> {
        Some(self.block.block_hash().to_byte_array())
    }
    fn prev_hash(&self) -> [u8; 32] {
        self.block.header.prev_blockhash.to_byte_array()
    }
}

struct CoreNode<'a> {
    client: &'a RpcClient,
    concurrency: usize,
}

impl Node for CoreNode<'_> {
    type Block = RpcBlock;
    type Error = RpcError;

    fn name(&self) -> &str {
        self.client.node()
    }

    fn tip(&self) -> Result<u64, RpcError> {
        self.client.block_count()
    }

    fn identity_at(&self, height: u64) -> Result<String, RpcError> {
        Ok(self.client.block_hash(height)?.to_string())
    }

    fn fetch(&self, from: u64, to: u64) -> Result<Vec<RpcBlock>, RpcError> {
        engine::fetch_parallel((to - from + 1) as usize, self.concurrency, |i| {
            self.client.block_at(from + i as u64)
        })
    }
}

struct ToUtxo;

impl Convert<RpcBlock, BtcExtra> for ToUtxo {
    fn convert(&mut self, blocks: &[RpcBlock], _: &mut BtcExtra) -> Result<Movements, String> {
        let mut out = Movements::default();
        for b in blocks {
            out.utxo.extend(
                convert_with_undo(&b.block, b.height, &b.prevouts).map_err(|e| e.to_string())?,
            );
        }
        Ok(out)
    }
}

/// Syncs the store from the node: checks for a reorganisation first, then appends.
pub fn sync(
    store: &mut Store,
    client: &RpcClient,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    engine::run(
        store,
        &CoreNode {
            client,
            concurrency: opts.concurrency,
        },
        &Naming {
            key: STATE_KEY,
            chain: Chain::Bitcoin,
            kind: "bitcoin-rpc",
        },
        &engine::Options {
            batch_blocks: opts.batch_blocks,
            until: opts.until,
            start: opts.start,
            first: 0,
        },
        &mut ToUtxo,
        |_: &mut BtcExtra| Ok(()),
    )
}
