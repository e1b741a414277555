use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A chain whose addresses Ashiato knows how to validate.
///
/// `Generic` accepts any plain token as an address; it exists so that a CSV from an
/// unsupported chain (or a synthetic graph) can still be traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    Generic,
    Ethereum,
    Bitcoin,
    Nem,
}

/// How value moves on a chain: this decides which half of the walker's ledger is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Balances per address and asset; a transfer moves part of a balance.
    Account,
    /// Coins (outputs) consumed whole by transactions with ordered inputs and outputs.
    Utxo,
}

impl Chain {
    pub const ALL: [Chain; 4] = [Chain::Generic, Chain::Ethereum, Chain::Bitcoin, Chain::Nem];

    pub fn family(self) -> Family {
        match self {
            Chain::Bitcoin => Family::Utxo,
            Chain::Generic | Chain::Ethereum | Chain::Nem => Family::Account,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Generic => "generic",
            Chain::Ethereum => "ethereum",
            Chain::Bitcoin => "bitcoin",
            Chain::Nem => "nem",
        }
    }

    /// The native asset's ticker, used when a source does not name the asset.
    pub fn native_asset(self) -> &'static str {
        match self {
            Chain::Generic => "UNIT",
            Chain::Ethereum => "ETH",
            Chain::Bitcoin => "BTC",
            Chain::Nem => "XEM",
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain {0:?} (expected one of: generic, ethereum, bitcoin, nem)")]
pub struct ChainError(pub String);

impl FromStr for Chain {
    type Err = ChainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "generic" | "csv" => Ok(Chain::Generic),
            "ethereum" | "eth" | "evm" => Ok(Chain::Ethereum),
            "bitcoin" | "btc" => Ok(Chain::Bitcoin),
            "nem" | "xem" | "nis1" => Ok(Chain::Nem),
            _ => Err(ChainError(s.to_owned())),
        }
    }
}
