//! What a watch says: alerts, and the log records that carry them to sinks.
//!
//! An alert is content-addressed: its id is a hash of everything it says, so the same
//! movement seen again after a restart is the same alert (never issued twice), and a
//! movement that changed (a reorganisation put the transaction in another block) is a new
//! alert while the old one is retracted.

use ashiato_model::Amount;
use ashiato_trace::Outcome;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Tainted value reached an address that held none: the watchlist grows by it.
    NewHolder,
    /// Tainted value moved to an address already on the watchlist (or beyond the hop
    /// limit, or back to a seed).
    Movement,
    /// Tainted value reached a labelled entity (an exchange): where a person can be named.
    Exit,
    /// Below the dust threshold, or a spray onto a bystander: reported, not followed.
    Dust,
    /// A watched custody wallet is being emptied.
    Drain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    Normal,
    Low,
}

/// One alert. Amounts are exact base units, written as decimal strings (JSON numbers
/// lose precision above 2^53 in most consumers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: Kind,
    pub priority: Priority,
    pub chain: String,
    /// The incident whose taint moved (empty for a drain).
    pub incident: String,
    /// The taint policy (empty for a drain).
    pub policy: String,
    pub block: u64,
    /// RFC 3339, UTC: the block time of the movement.
    pub time: String,
    pub tx: String,
    pub from: String,
    pub to: String,
    pub asset: String,
    /// Tainted value moved (a drain: the transfer's value).
    #[serde(with = "decimal")]
    pub amount: Amount,
    /// The whole value of the movement.
    #[serde(with = "decimal")]
    pub value: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Transaction ids that carried the taint here, seed side first: the evidence.
    pub path: Vec<String>,
    /// The labelled entity reached (exits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// One sentence for the person on call.
    pub detail: String,
    /// The n-th identical movement of the same transaction (0 for the first; omitted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Alert {
    /// The content hash: hex SHA-256 of the alert's canonical JSON, first 128 bits.
    pub fn id(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("alerts serialise");
        let d = Sha256::digest(&bytes);
        hex::encode(&d[..16])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Alert,
    /// An alert issued earlier no longer holds (its block left the chain).
    Retract,
}

/// One entry of the alert log: what every sink receives, in `seq` order. `seq` is
/// gap-free from 1; a consumer that saw `seq` n has seen everything before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub event: Event,
    /// The alert's id (a retraction names the alert it takes back).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub alert: Alert,
}

impl Record {
    /// The record as one JSON line (no newline).
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("records serialise")
    }
}

/// u128 amounts as decimal strings.
pub(crate) mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert() -> Alert {
        Alert {
            kind: Kind::NewHolder,
            priority: Priority::Normal,
            chain: "nem".into(),
            incident: "i".into(),
            policy: "poison".into(),
            block: 7,
            time: "2018-01-25T15:02:13Z".into(),
            tx: "t".into(),
            from: "A".into(),
            to: "B".into(),
            asset: "xem".into(),
            amount: 340_282_366_920_938_463_463_374_607_431_768_211_455,
            value: 1,
            hop: Some(1),
            outcome: Some(Outcome::Held),
            path: vec!["t".into()],
            label: None,
            detail: String::new(),
            repeat: 0,
        }
    }

    #[test]
    fn ids_follow_content_and_amounts_stay_exact() {
        let a = alert();
        let mut b = a.clone();
        assert_eq!(a.id(), b.id());
        b.block = 8;
        assert_ne!(a.id(), b.id());
        let r = Record {
            seq: 1,
            event: Event::Alert,
            id: a.id(),
            reason: None,
            alert: a,
        };
        let line = r.line();
        assert!(line.contains(r#""amount":"340282366920938463463374607431768211455""#));
        assert!(line.contains(r#""kind":"new-holder""#));
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }
}
