//! Ethereum and other EVM chains, account model: what the JSON-RPC interface says about a
//! block ([`json`]), checked against the block's own hash ([`header`]), turned into
//! transfers of ETH and ERC-20 tokens ([`convert`]); a client ([`rpc`]) and the chain's
//! side of the store's reorg-aware sync ([`sync`]); deposit-address clustering
//! ([`deposit`]); and a local anvil node driven by tests and benchmarks ([`devnet`]).

pub mod convert;
pub mod deposit;
pub mod devnet;
pub mod header;
pub mod json;
pub mod rpc;
pub mod sync;
