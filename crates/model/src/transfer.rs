use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Address, Amount, UtcTime};

/// An asset on a chain: the native coin (`XEM`, `ETH`, `BTC`), a NEM mosaic
/// (`namespace:name`), an ERC-20 contract (`erc20:0x…`), or a pseudo-asset such as `USD`
/// for data sets that give only a fiat value.
///
/// Shared (`Arc`), because a file of ten million transfers usually names one or two assets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Asset(Arc<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("asset {0:?} must be 1-96 characters of letters, digits and . : _ - @")]
pub struct AssetError(pub String);

impl Asset {
    pub fn parse(s: &str) -> Result<Asset, AssetError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 96
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":._-@".contains(&b));
        if ok {
            Ok(Asset(s.into()))
        } else {
            Err(AssetError(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One account-model movement: `amount` of `asset` from `from` to `to`.
///
/// A transaction may hold several transfers (a multisig inner transfer, several mosaics,
/// an ERC-20 log beside the native value); `tx` groups them and `index` orders them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub time: UtcTime,
    pub block: u64,
    pub tx: String,
    /// Position of this transfer within its transaction (0 for the first).
    pub index: u32,
    pub from: Address,
    pub to: Address,
    pub asset: Asset,
    pub amount: Amount,
}

/// A reference to a transaction output.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutPoint {
    pub txid: String,
    pub vout: u32,
}

/// An input: the coin it spends and, when the source knows it, that coin's owner and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxIn {
    pub prev: OutPoint,
    pub address: Option<Address>,
    pub value: Amount,
}

/// An output; `address` is `None` for scripts that pay no address (OP_RETURN, bare multisig).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOut {
    pub address: Option<Address>,
    pub value: Amount,
}

/// A UTXO transaction with inputs and outputs in their serialised order.
///
/// The order matters: FIFO, LIFO and the seniority policies cut the line of inputs into
/// outputs by position. The fee is implied (`Σ inputs − Σ outputs`); a coinbase has no
/// inputs and creates new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoTx {
    pub txid: String,
    pub block: u64,
    /// Block time when the source gives it (the 2009 BlockSci export has heights only).
    pub time: Option<UtcTime>,
    pub coinbase: bool,
    pub inputs: Vec<TxIn>,
    pub outputs: Vec<TxOut>,
}

impl UtxoTx {
    /// `Σ inputs − Σ outputs`, or `None` when the outputs exceed the inputs of a
    /// non-coinbase transaction (the data is inconsistent).
    pub fn fee(&self) -> Option<Amount> {
        if self.coinbase {
            return Some(0);
        }
        let inp: Amount = self.inputs.iter().map(|i| i.value).sum();
        let out: Amount = self.outputs.iter().map(|o| o.value).sum();
        inp.checked_sub(out)
    }
}
