use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Address, Chain, UtcTime};

/// What a labelled address is. Exit kinds are places where a person can be named or where
/// the trail leaves the chain, so a trace stops there and reports an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelKind {
    Exchange,
    Mixer,
    Bridge,
    Service,
    /// An end point named by an analyst or a data set without saying what it is.
    Terminal,
    Victim,
    Suspect,
    Info,
}

impl LabelKind {
    /// Whether a trace stops at this kind by default.
    pub fn is_exit(self) -> bool {
        matches!(
            self,
            LabelKind::Exchange
                | LabelKind::Mixer
                | LabelKind::Bridge
                | LabelKind::Service
                | LabelKind::Terminal
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LabelKind::Exchange => "exchange",
            LabelKind::Mixer => "mixer",
            LabelKind::Bridge => "bridge",
            LabelKind::Service => "service",
            LabelKind::Terminal => "terminal",
            LabelKind::Victim => "victim",
            LabelKind::Suspect => "suspect",
            LabelKind::Info => "info",
        }
    }
}

impl fmt::Display for LabelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown label kind {0:?} (exchange, mixer, bridge, service, terminal, victim, suspect, info)"
)]
pub struct LabelKindError(pub String);

impl FromStr for LabelKind {
    type Err = LabelKindError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "exchange" => LabelKind::Exchange,
            "mixer" => LabelKind::Mixer,
            "bridge" => LabelKind::Bridge,
            "service" => LabelKind::Service,
            "terminal" => LabelKind::Terminal,
            "victim" => LabelKind::Victim,
            "suspect" | "hacker" => LabelKind::Suspect,
            "info" => LabelKind::Info,
            _ => return Err(LabelKindError(s.to_owned())),
        })
    }
}

/// A name attached to an address, with where it came from and how sure we are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub chain: Chain,
    pub address: Address,
    pub name: String,
    pub kind: LabelKind,
    /// Provenance: the data set, file or person the label comes from.
    pub source: String,
    /// 0-100; 100 = confirmed by the entity or a court, 50 = a public tagging, lower = guess.
    pub confidence: u8,
}

/// A theft or scam to trace: where the stolen value starts and from when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub name: String,
    pub chain: Chain,
    /// Addresses whose every send at or after `since` is fully tainted.
    pub seeds: Vec<Address>,
    /// Transactions (account: all their transfers; UTXO: all their outputs) fully tainted.
    pub seed_txs: Vec<String>,
    pub since: Option<UtcTime>,
    pub description: String,
    pub source: String,
}
