//! Bitcoin in Ashiato: `blk*.dat` framing ([`blk`]) and the best chain of a blocks
//! folder ([`chain`]), raw blocks checked and turned into
//! UTXO transactions with their input values ([`block`]), and address clustering
//! ([`cluster`]).

pub mod blk;
pub mod block;
pub mod chain;
pub mod cluster;

pub use block::{parse_block, script_address, BlockError, UtxoSet};
