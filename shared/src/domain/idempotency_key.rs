//! The client-chosen `Idempotency-Key`.

use std::fmt;
use thiserror::Error;

pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// 1–255 visible ASCII characters (no spaces or control characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_IDEMPOTENCY_KEY_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidIdempotencyKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid_and_rejects_hostile_keys() {
        assert!(IdempotencyKey::parse("7c9e6679-7425-40de-944b-e07fc1f90ae7").is_ok());
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
        for bad in ["", "with space", "tab\t", long.as_str(), "ключ"] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(InvalidIdempotencyKey),
                "{bad:?}"
            );
        }
    }
}
