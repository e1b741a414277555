//! API keys for the service's writes. The store keeps only each key's SHA-256 (under
//! `apikey/NAME` in its service state); a presented key is hashed and compared with every
//! stored digest in constant time, so neither a stolen store nor response timing gives
//! a key away.

use ashiato_store::{Store, StoreError};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "apikey/";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("an API key named {0:?} exists already (revoke it first)")]
    Exists(String),
    #[error("a key name is 1 to 64 letters, digits, '-', '_' or '.', not {0:?}")]
    BadName(String),
    #[error("stored key {0:?} is unreadable: {1}")]
    Corrupt(String, String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: String,
    pub sha256: String,
    /// Unix seconds.
    pub created: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl ApiKeys {
    pub fn load(store: &Store) -> Result<ApiKeys, KeyError> {
        let mut keys = Vec::new();
        for info in list(store)? {
            let mut d = [0u8; 32];
            hex::decode_to_slice(&info.sha256, &mut d)
                .map_err(|e| KeyError::Corrupt(info.name.clone(), e.to_string()))?;
            keys.push((info.name, d));
        }
        Ok(ApiKeys { keys })
    }

    /// The name of the key `presented` is, if it is one.
    pub fn check(&self, presented: &str) -> Option<&str> {
        let d: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        let mut found = None;
        // Compare with every key, without stopping early.
        for (name, k) in &self.keys {
            if bool::from(k.ct_eq(&d)) {
                found = Some(name.as_str());
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Makes a new key named `name`, stores its digest and returns the key (shown once).
pub fn add(store: &mut Store, name: &str, now: i64) -> Result<String, KeyError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(KeyError::BadName(name.to_owned()));
    }
    let k = format!("{PREFIX}{name}");
    if store.state_get(&k)?.is_some() {
        return Err(KeyError::Exists(name.to_owned()));
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("ashiato_{}", hex::encode(secret));
    let info = KeyInfo {
        name: name.to_owned(),
        sha256: hex::encode(Sha256::digest(key.as_bytes())),
        created: now,
    };
    let v = serde_json::to_vec(&info).map_err(|e| KeyError::Corrupt(name.into(), e.to_string()))?;
    store.state_write(&[(k, Some(v))])?;
    Ok(key)
}

/// Removes the key named `name`; false if there was none.
pub fn revoke(store: &mut Store, name: &str) -> Result<bool, KeyError> {
    let k = format!("{PREFIX}{name}");
    if store.state_get(&k)?.is_none() {
        return Ok(false);
    }
    store.state_write(&[(k, None)])?;
    Ok(true)
}

pub fn list(store: &Store) -> Result<Vec<KeyInfo>, KeyError> {
    store
        .state_scan(PREFIX)?
        .into_iter()
        .map(|(k, v)| serde_json::from_slice(&v).map_err(|e| KeyError::Corrupt(k, e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_as_digests_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let k = add(&mut store, "exchange-a", 1_700_000_000).unwrap();
        assert!(k.starts_with("ashiato_") && k.len() == 8 + 64);
        // The store holds the digest, never the key.
        let raw = store.state_get("apikey/exchange-a").unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains(&k[8..]));
        let keys = ApiKeys::load(&store).unwrap();
        assert_eq!(keys.check(&k), Some("exchange-a"));
        assert_eq!(keys.check(&format!("{k} ")), Some("exchange-a"));
        assert_eq!(keys.check("ashiato_00"), None);
        assert!(matches!(
            add(&mut store, "exchange-a", 0),
            Err(KeyError::Exists(_))
        ));
        assert!(matches!(
            add(&mut store, "a/b", 0),
            Err(KeyError::BadName(_))
        ));
        assert_eq!(list(&store).unwrap()[0].created, 1_700_000_000);
        assert!(revoke(&mut store, "exchange-a").unwrap());
        assert!(!revoke(&mut store, "exchange-a").unwrap());
        assert_eq!(ApiKeys::load(&store).unwrap().check(&k), None);
    }
}
