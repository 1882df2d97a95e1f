//! Text a caller controls — a job's failure reason (often made of its payload), a panic's
//! message, a refused frame's field names, an idempotency key — reaches a log line bounded: a
//! caller cannot make courier's log bill or a line's size grow with their input, and a key, which
//! may be a secret of theirs, is logged as a digest (the same key always gives the same digest,
//! so lines about it can still be found).

use std::fmt;

/// At most this many characters of a caller's text in one field of a log line.
pub const MAX_CHARS: usize = 256;

/// `text` as a log field: its first [`MAX_CHARS`] characters, then how much was left out.
pub fn capped(text: &str) -> Capped<'_> {
    Capped(text)
}

pub struct Capped<'a>(&'a str);

impl fmt::Display for Capped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_CHARS) {
            None => f.write_str(self.0),
            Some((cut, _)) => write!(f, "{}… ({} more bytes)", &self.0[..cut], self.0.len() - cut),
        }
    }
}

/// An idempotency key as log lines name it: 16 hex digits of its SHA-256.
pub fn key_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_logged_whole() {
        assert_eq!(capped("out of paper").to_string(), "out of paper");
        let exactly = "é".repeat(MAX_CHARS);
        assert_eq!(capped(&exactly).to_string(), exactly);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_saying_how_much_is_left_out() {
        let long = format!("{}{}", "é".repeat(MAX_CHARS), "x".repeat(10_000));
        let logged = capped(&long).to_string();
        assert!(logged.starts_with(&"é".repeat(MAX_CHARS)));
        assert!(logged.ends_with("… (10000 more bytes)"), "{logged}");
        assert!(logged.chars().count() < MAX_CHARS + 30);
    }

    #[test]
    fn a_key_is_named_by_a_stable_digest_that_does_not_contain_it() {
        let digest = key_digest("order-42");
        assert_eq!(digest.len(), 16);
        assert_eq!(digest, key_digest("order-42"));
        assert_ne!(digest, key_digest("order-43"));
        assert!(!digest.contains("order"));
    }
}
