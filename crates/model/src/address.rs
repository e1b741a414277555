use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sha3::Keccak256;

use crate::Chain;

/// An address, validated for its chain and kept in one canonical spelling.
///
/// Canonical forms: Ethereum lower-case hex with `0x` (EIP-55 mixed case is checked on
/// input, then dropped so that the same account never appears twice); NEM upper-case
/// base32 without dashes; Bitcoin as written (base58 is case-sensitive, bech32 is stored
/// lower-case); generic tokens as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(Box<str>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address is empty")]
    Empty,
    #[error("{chain} address {addr:?} is malformed: {why}")]
    Malformed {
        chain: Chain,
        addr: String,
        why: &'static str,
    },
    #[error("{chain} address {addr:?} fails its checksum")]
    Checksum { chain: Chain, addr: String },
}

impl Address {
    /// Validates `s` as an address of `chain` and returns its canonical form.
    pub fn parse(chain: Chain, s: &str) -> Result<Address, AddressError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let canonical = match chain {
            Chain::Generic => generic(s)?,
            Chain::Ethereum => ethereum(s)?,
            Chain::Bitcoin => bitcoin(s)?,
            Chain::Nem => nem(s)?,
        };
        Ok(Address(canonical.into_boxed_str()))
    }

    /// Wraps an already-canonical address read back from the store, without re-validating.
    ///
    /// Only for data this program wrote itself after validating it with [`Address::parse`].
    pub fn from_canonical(s: &str) -> Address {
        Address(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// EIP-55 mixed-case spelling of an Ethereum address, for display.
    pub fn eip55(&self) -> Option<String> {
        let hex = self.0.strip_prefix("0x")?;
        if hex.len() != 40 {
            return None;
        }
        Some(format!("0x{}", eip55_encode(hex)))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Address {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn malformed(chain: Chain, addr: &str, why: &'static str) -> AddressError {
    AddressError::Malformed {
        chain,
        addr: addr.to_owned(),
        why,
    }
}

fn generic(s: &str) -> Result<String, AddressError> {
    if s.len() > 128 {
        return Err(malformed(Chain::Generic, s, "longer than 128 bytes"));
    }
    // Nearly every token is printable ASCII; only the others need the Unicode checks.
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b',' && b != b'"');
    if !plain
        && s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '"')
    {
        return Err(malformed(
            Chain::Generic,
            s,
            "contains whitespace, a comma, a quote or a control character",
        ));
    }
    Ok(s.to_owned())
}

fn ethereum(s: &str) -> Result<String, AddressError> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| malformed(Chain::Ethereum, s, "does not start with 0x"))?;
    if hex.len() != 40 {
        return Err(malformed(
            Chain::Ethereum,
            s,
            "is not 20 bytes (40 hex digits)",
        ));
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed(Chain::Ethereum, s, "has a non-hex digit"));
    }
    let lower = hex.to_ascii_lowercase();
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    // Single-case hex carries no checksum (EIP-55); mixed case must match exactly.
    if has_upper && has_lower && eip55_encode(&lower) != hex {
        return Err(AddressError::Checksum {
            chain: Chain::Ethereum,
            addr: s.to_owned(),
        });
    }
    Ok(format!("0x{lower}"))
}

fn eip55_encode(lower_hex: &str) -> String {
    let hash = Keccak256::digest(lower_hex.as_bytes());
    lower_hex
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0xf;
            if b.is_ascii_alphabetic() && nibble >= 8 {
                b.to_ascii_uppercase() as char
            } else {
                b as char
            }
        })
        .collect()
}

fn bitcoin(s: &str) -> Result<String, AddressError> {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("bc1") || lower.starts_with("tb1") || lower.starts_with("bcrt1") {
        return match bech32::segwit::decode(s) {
            Ok(_) => Ok(lower),
            Err(_) => Err(AddressError::Checksum {
                chain: Chain::Bitcoin,
                addr: s.to_owned(),
            }),
        };
    }
    let bytes = bs58::decode(s)
        .into_vec()
        .map_err(|_| malformed(Chain::Bitcoin, s, "is neither base58 nor bech32"))?;
    if bytes.len() != 25 {
        return Err(malformed(
            Chain::Bitcoin,
            s,
            "base58 payload is not 25 bytes (version, 20-byte hash, checksum)",
        ));
    }
    let (body, check) = bytes.split_at(21);
    let digest = Sha256::digest(Sha256::digest(body));
    if &digest[..4] != check {
        return Err(AddressError::Checksum {
            chain: Chain::Bitcoin,
            addr: s.to_owned(),
        });
    }
    match body[0] {
        0x00 | 0x05 | 0x6f | 0xc4 => Ok(s.to_owned()),
        _ => Err(malformed(Chain::Bitcoin, s, "unknown base58 version byte")),
    }
}

fn nem(s: &str) -> Result<String, AddressError> {
    let upper: String = s
        .chars()
        .filter(|&c| c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if upper.len() != 40 {
        return Err(malformed(Chain::Nem, s, "is not 40 base32 characters"));
    }
    let bytes = data_encoding::BASE32
        .decode(upper.as_bytes())
        .map_err(|_| malformed(Chain::Nem, s, "is not base32"))?;
    // 25 bytes: network version, RIPEMD-160 of the public key's SHA3, 4-byte checksum.
    let (body, check) = bytes.split_at(21);
    match body[0] {
        0x68 | 0x98 | 0x60 => {}
        _ => {
            return Err(malformed(
                Chain::Nem,
                s,
                "unknown network byte (expected mainnet N, testnet T or mijin M)",
            ))
        }
    }
    if &Keccak256::digest(body)[..4] != check {
        return Err(AddressError::Checksum {
            chain: Chain::Nem,
            addr: s.to_owned(),
        });
    }
    Ok(upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethereum_eip55() {
        // Test vectors from the EIP-55 specification.
        for good in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a = Address::parse(Chain::Ethereum, good).unwrap();
            assert_eq!(a.as_str(), good.to_ascii_lowercase());
            assert_eq!(a.eip55().unwrap(), good);
        }
        let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert!(matches!(
            Address::parse(Chain::Ethereum, bad),
            Err(AddressError::Checksum { .. })
        ));
        assert!(Address::parse(
            Chain::Ethereum,
            "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
        )
        .is_ok());
        assert!(
            Address::parse(Chain::Ethereum, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea").is_err()
        );
        assert!(
            Address::parse(Chain::Ethereum, "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").is_err()
        );
        assert!(Address::parse(
            Chain::Ethereum,
            "0xzaaeb6053f3e94c9b9a09f33669435e7ef1beaed"
        )
        .is_err());
    }

    #[test]
    fn bitcoin_base58_and_bech32() {
        // The genesis coinbase address and the first P2P payment recipient (Hal Finney).
        for good in [
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ] {
            Address::parse(Chain::Bitcoin, good).unwrap();
        }
        // Last character changed: checksum must fail.
        assert!(matches!(
            Address::parse(Chain::Bitcoin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"),
            Err(AddressError::Checksum { .. })
        ));
        assert!(matches!(
            Address::parse(Chain::Bitcoin, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"),
            Err(AddressError::Checksum { .. })
        ));
        assert!(Address::parse(Chain::Bitcoin, "0OIl").is_err());
    }

    #[test]
    fn nem_base32_checksum() {
        // The Coincheck hot wallet and the first hacker account (checked in the facts file).
        let hot = "NC3BI3DNMR2PGEOOMP2NKXQGSAKMS7GYRKVA5CSZ";
        assert_eq!(Address::parse(Chain::Nem, hot).unwrap().as_str(), hot);
        let dashed = "nc3bi3-dnmr2p-geoomp-2nkxqg-sakms7-gyrkva-5csz";
        assert_eq!(Address::parse(Chain::Nem, dashed).unwrap().as_str(), hot);
        let corrupted = "NC3BI3DNMR2PGEOOMP2NKXQGSAKMS7GYRKVA5CSA";
        assert!(matches!(
            Address::parse(Chain::Nem, corrupted),
            Err(AddressError::Checksum { .. })
        ));
        assert!(Address::parse(Chain::Nem, "NC3BI3DNMR2PGEOOMP2NKXQGSAKMS7GYRKVA5CS").is_err());
    }

    #[test]
    fn generic_tokens() {
        assert_eq!(
            Address::parse(Chain::Generic, " alice ").unwrap().as_str(),
            "alice"
        );
        assert!(Address::parse(Chain::Generic, "a b").is_err());
        assert!(Address::parse(Chain::Generic, "a,b").is_err());
        assert_eq!(Address::parse(Chain::Generic, ""), Err(AddressError::Empty));
    }
}
