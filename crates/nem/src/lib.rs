//! NEM (NIS1) support: the transaction model ([`tx`]), the binary ([`binary`]) and REST
//! JSON ([`json`]) parsers, the REST client and store sync ([`client`], [`sync`]), a
//! replay server that serves a chain from fixture files ([`replay`]), and the Coincheck
//! 2018 fixture chain ([`coincheck`]) and a SYNTHETIC chain generator for volume
//! ([`synth`]).

pub mod binary;
pub mod client;
pub mod coincheck;
pub mod json;
pub mod replay;
pub mod sync;
pub mod synth;
pub mod tx;

pub use tx::{address_of, block_transfers, MosaicBook, NemBlock, NemTx, Tally, MAINNET, XEM};
