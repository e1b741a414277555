//! The domain model shared by every Ashiato crate.
//!
//! One model per chain family: the account family (NEM, Ethereum, plain CSV) moves an
//! amount of one asset from one address to another; the UTXO family (Bitcoin) consumes
//! ordered inputs and creates ordered outputs. Amounts are exact integers in base units,
//! times are UTC seconds, and addresses are validated (checksums included) when parsed,
//! so nothing downstream has to re-check them.

mod address;
mod chain;
mod label;
mod time;
mod transfer;

pub use address::{Address, AddressError};
pub use chain::{Chain, ChainError, Family};
pub use label::{Incident, Label, LabelKind, LabelKindError};
pub use time::{TimeError, UtcTime};
pub use transfer::{Asset, AssetError, OutPoint, Transfer, TxIn, TxOut, UtxoTx};

/// An exact amount in the asset's base units (satoshi, micro-XEM, wei, cents).
///
/// `u128` because wei amounts overflow `u64` (1 ETH = 10^18 wei) and money is never `f64`.
pub type Amount = u128;

/// An exact amount with thousands separators, for people: 29499994000000 →
/// "29,499,994,000,000".
pub fn group_digits(n: Amount) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Parses an amount written as a plain decimal integer in base units.
///
/// Signs, decimal points, exponents and blanks are refused: a CSV that says `1.5` has
/// almost certainly mixed units, and guessing would silently scale the money.
pub fn parse_amount(s: &str) -> Result<Amount, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::NotInteger(s.to_owned()));
    }
    s.parse::<u128>()
        .map_err(|_| AmountError::TooLarge(s.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a non-negative integer in base units")]
    NotInteger(String),
    #[error("amount {0:?} does not fit in 128 bits")]
    TooLarge(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_integers() {
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(
            parse_amount("340282366920938463463374607431768211455"),
            Ok(u128::MAX)
        );
        assert!(matches!(
            parse_amount("340282366920938463463374607431768211456"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_amount("1.5"),
            Err(AmountError::NotInteger(_))
        ));
        assert!(matches!(
            parse_amount("-3"),
            Err(AmountError::NotInteger(_))
        ));
        assert!(matches!(
            parse_amount("1e6"),
            Err(AmountError::NotInteger(_))
        ));
        assert_eq!(parse_amount(""), Err(AmountError::Empty));
    }
}
