//! Bitcoin in Ashiato: `blk*.dat` framing ([`blk`]) and the best chain of a blocks
//! folder ([`chain`]), raw blocks checked and turned into
//! UTXO transactions with their input values ([`block`]), address clustering
//! ([`cluster`]) and peel chains ([`peel`]), a Bitcoin Core JSON-RPC client ([`rpc`]) and the incremental,
//! reorg-aware sync over it ([`sync`]), with a replay server for tests ([`replay`]).

pub mod blk;
pub mod block;
pub mod chain;
pub mod cluster;
pub mod peel;
pub mod replay;
pub mod rpc;
pub mod sync;

pub use block::{parse_block, script_address, BlockError, UtxoSet};
