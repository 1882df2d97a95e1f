//! The correlation id that follows a request through every hop.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Accepted from `X-Correlation-Id` or generated; 1–128 characters of `[A-Za-z0-9._:-]` so it
/// is safe in headers, log lines and SQS message attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CorrelationId(String);

pub const MAX_CORRELATION_ID_LEN: usize = 128;

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "X-Correlation-Id must be 1 to {MAX_CORRELATION_ID_LEN} characters of letters, digits, '.', '_', ':' or '-'"
)]
pub struct InvalidCorrelationId;

impl CorrelationId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidCorrelationId> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_CORRELATION_ID_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidCorrelationId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_id_shapes() {
        for ok in ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "req:1.2_x"] {
            assert_eq!(CorrelationId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_empty_long_and_hostile_ids() {
        let long = "a".repeat(MAX_CORRELATION_ID_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "a b",
            "x\r\nSet-Cookie: y",
            "<script>",
            "é",
        ] {
            assert_eq!(
                CorrelationId::parse(bad),
                Err(InvalidCorrelationId),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = CorrelationId::generate();
        let b = CorrelationId::generate();
        assert_ne!(a, b);
        assert!(CorrelationId::parse(a.as_str()).is_ok());
    }
}
