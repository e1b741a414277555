//! The JSON-RPC answers read: `eth_getBlockByNumber` (with transactions),
//! `eth_getBlockReceipts` / `eth_getTransactionReceipt`, geth's `debug_traceBlockByNumber`
//! with the `callTracer`, and OpenEthereum/Erigon's `trace_block`. Only the fields used are
//! declared; quantities are hex strings (`0x…`) read exactly into integers, hashes and
//! addresses must have their exact length.

use std::fmt;

use ashiato_model::Address;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A quantity: `0x`-prefixed hex (or a JSON number, as `trace_block` gives block
/// numbers), read exactly. Values above `u128` are refused here; a token amount that
/// large is read from log data as [`Word`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Q(pub u128);

impl<'de> Deserialize<'de> for Q {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Q, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Q;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a 0x-prefixed hex quantity")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Q, E> {
                Ok(Q(v.into()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Q, E> {
                let h = s
                    .strip_prefix("0x")
                    .ok_or_else(|| E::custom(format!("quantity {s:?} lacks 0x")))?;
                if h.is_empty() || h.len() > 32 {
                    return Err(E::custom(format!(
                        "quantity {s:?} is empty or over 128 bits"
                    )));
                }
                u128::from_str_radix(h, 16)
                    .map(Q)
                    .map_err(|_| E::custom(format!("quantity {s:?} is not hex")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Q {
    pub fn u64(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }
}

/// Fixed-length bytes given as `0x` hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fixed<const N: usize>(pub [u8; N]);

pub type H256 = Fixed<32>;
pub type H160 = Fixed<20>;
/// A 32-byte big-endian word (log topics and data).
pub type Word = Fixed<32>;

impl<const N: usize> fmt::Debug for Fixed<N> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl<const N: usize> fmt::Display for Fixed<N> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Fixed<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fixed<N>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let h = s
            .strip_prefix("0x")
            .ok_or_else(|| de::Error::custom(format!("{s:?} lacks 0x")))?;
        let mut out = [0u8; N];
        hex::decode_to_slice(h, &mut out)
            .map_err(|_| de::Error::custom(format!("{s:?} is not {N} bytes of hex")))?;
        Ok(Fixed(out))
    }
}

impl H160 {
    /// The canonical (lower-case) account address; the bytes are already an address.
    pub fn address(&self) -> Address {
        Address::from_canonical(&self.to_string())
    }
}

impl Word {
    /// The word as an amount, or `None` above `u128` (spam tokens mint such numbers).
    pub fn amount(&self) -> Option<u128> {
        if self.0[..16].iter().any(|&b| b != 0) {
            return None;
        }
        let mut lo = [0u8; 16];
        lo.copy_from_slice(&self.0[16..]);
        Some(u128::from_be_bytes(lo))
    }

    /// The word as an address, if its first 12 bytes are zero (an indexed `address`).
    pub fn as_address(&self) -> Option<H160> {
        if self.0[..12].iter().any(|&b| b != 0) {
            return None;
        }
        let mut a = [0u8; 20];
        a.copy_from_slice(&self.0[12..]);
        Some(Fixed(a))
    }
}

/// Variable-length bytes given as `0x` hex.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let h = s
            .strip_prefix("0x")
            .ok_or_else(|| de::Error::custom(format!("{s:?} lacks 0x")))?;
        hex::decode(h)
            .map(Bytes)
            .map_err(|_| de::Error::custom("bytes are not hex"))
    }
}

/// `eth_getBlockByNumber(n, true)`; `Block<H256>` is the answer with `false` (hashes).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block<T = Tx> {
    pub number: Q,
    pub hash: H256,
    pub parent_hash: H256,
    pub sha3_uncles: H256,
    pub miner: H160,
    pub state_root: H256,
    pub transactions_root: H256,
    pub receipts_root: H256,
    pub logs_bloom: Bytes,
    pub difficulty: Q,
    pub gas_limit: Q,
    pub gas_used: Q,
    pub timestamp: Q,
    pub extra_data: Bytes,
    pub mix_hash: Option<H256>,
    pub nonce: Option<Bytes>,
    pub base_fee_per_gas: Option<Q>,
    pub withdrawals_root: Option<H256>,
    pub blob_gas_used: Option<Q>,
    pub excess_blob_gas: Option<Q>,
    pub parent_beacon_block_root: Option<H256>,
    pub requests_hash: Option<H256>,
    pub transactions: Vec<T>,
    #[serde(default)]
    pub withdrawals: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tx {
    pub hash: H256,
    pub from: H160,
    pub to: Option<H160>,
    pub value: Q,
    pub gas_price: Option<Q>,
    pub transaction_index: Option<Q>,
    pub block_hash: Option<H256>,
}

/// A receipt. Before Byzantium (block 4,370,000) receipts carry a state root and no
/// status; such transactions count as successful unless a trace says otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub transaction_hash: H256,
    pub block_number: Option<Q>,
    pub transaction_index: Q,
    pub block_hash: H256,
    pub contract_address: Option<H160>,
    pub gas_used: Q,
    pub effective_gas_price: Option<Q>,
    pub status: Option<Q>,
    pub blob_gas_used: Option<Q>,
    pub blob_gas_price: Option<Q>,
    pub logs: Vec<Log>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    pub address: H160,
    pub topics: Vec<Word>,
    pub data: Bytes,
    pub transaction_hash: Option<H256>,
    pub block_hash: Option<H256>,
    #[serde(default)]
    pub removed: bool,
}

/// One frame of geth's `callTracer`. Geth before 1.11 wrote `SELFDESTRUCT` frames with
/// no sender, heir or value.
#[derive(Debug, Clone, Deserialize)]
pub struct CallFrame {
    #[serde(rename = "type")]
    pub kind: String,
    pub from: Option<H160>,
    pub to: Option<H160>,
    pub value: Option<Q>,
    pub error: Option<String>,
    #[serde(default)]
    pub calls: Vec<CallFrame>,
}

/// One element of `debug_traceBlockByNumber`: a transaction's call tree.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GethTxTrace {
    pub tx_hash: Option<H256>,
    pub result: Option<CallFrame>,
    pub error: Option<String>,
}

/// One element of `trace_block` (flat, in pre-order, `traceAddress` the path).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityTrace {
    pub action: ParityAction,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub trace_address: Vec<u32>,
    pub transaction_hash: Option<H256>,
    pub transaction_position: Option<u64>,
    pub error: Option<String>,
    pub result: Option<ParityResult>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityAction {
    pub from: Option<H160>,
    pub to: Option<H160>,
    pub value: Option<Q>,
    pub call_type: Option<String>,
    /// `suicide`: the destroyed contract, its heir and the balance moved.
    pub address: Option<H160>,
    pub refund_address: Option<H160>,
    pub balance: Option<Q>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ParityResult {
    /// `create`: the new contract.
    pub address: Option<H160>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_words_are_exact() {
        let q: Q = serde_json::from_str("\"0x56bc75e2d63100000\"").unwrap();
        assert_eq!(q.0, 100_000_000_000_000_000_000);
        assert!(serde_json::from_str::<Q>("\"12\"").is_err());
        assert!(serde_json::from_str::<Q>(&format!("\"0x1{}\"", "0".repeat(32))).is_err());
        let w: Word = serde_json::from_str(
            "\"0x00000000000000000000000000000000000000000000000000000000000186a0\"",
        )
        .unwrap();
        assert_eq!(w.amount(), Some(100_000));
        let big = Fixed([0xff; 32]);
        assert_eq!(big.amount(), None);
        assert_eq!(big.as_address(), None);
        assert!(serde_json::from_str::<H160>("\"0x1234\"").is_err());
    }
}
