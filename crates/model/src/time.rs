use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A point in time, in whole seconds since the Unix epoch, UTC.
///
/// Chains record seconds; nothing finer is ever needed for ordering (which is by block and
/// position), and an integer sorts and compares without surprises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtcTime(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("time is empty")]
    Empty,
    #[error("time {0:?} is neither RFC 3339 (e.g. 2018-01-26T00:02:13Z) nor unix seconds")]
    Unparsable(String),
    #[error("time {0:?} has a non-UTC offset; write times in UTC (Z)")]
    NotUtc(String),
}

impl UtcTime {
    /// Parses RFC 3339 in UTC (`Z` or `+00:00`), `YYYY-MM-DD HH:MM:SS` (taken as UTC, the
    /// spelling of several public data sets), or integer unix seconds.
    pub fn parse(s: &str) -> Result<UtcTime, TimeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TimeError::Empty);
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<i64>()
                .map(UtcTime)
                .map_err(|_| TimeError::Unparsable(s.to_owned()));
        }
        if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
            // A local time with an offset would be silently reinterpreted by some tools;
            // refusing it keeps every stored time unambiguous.
            if t.offset() != UtcOffset::UTC {
                return Err(TimeError::NotUtc(s.to_owned()));
            }
            return Ok(UtcTime(t.unix_timestamp()));
        }
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        if let Ok(t) = PrimitiveDateTime::parse(s, &fmt) {
            return Ok(UtcTime(t.assume_utc().unix_timestamp()));
        }
        Err(TimeError::Unparsable(s.to_owned()))
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    pub fn to_rfc3339(self) -> String {
        match OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => t.format(&Rfc3339).unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for UtcTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for UtcTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        UtcTime::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_spellings() {
        // 26 Jan 2018 00:02:13 JST = 25 Jan 2018 15:02:13 UTC.
        let t = UtcTime::parse("2018-01-25T15:02:13Z").unwrap();
        assert_eq!(t.0, 1_516_892_533);
        assert_eq!(UtcTime::parse("2018-01-25T15:02:13+00:00").unwrap(), t);
        assert_eq!(UtcTime::parse("2018-01-25 15:02:13").unwrap(), t);
        assert_eq!(UtcTime::parse("1516892533").unwrap(), t);
        assert_eq!(t.to_rfc3339(), "2018-01-25T15:02:13Z");
        assert!(matches!(
            UtcTime::parse("2018-01-26T00:02:13+09:00"),
            Err(TimeError::NotUtc(_))
        ));
        assert!(matches!(
            UtcTime::parse("yesterday"),
            Err(TimeError::Unparsable(_))
        ));
        assert_eq!(UtcTime::parse(" "), Err(TimeError::Empty));
    }
}
