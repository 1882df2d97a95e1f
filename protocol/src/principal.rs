//! Who called: the issuer and subject of the caller's verified JWT. Jobs, message records,
//! idempotency keys and WebSocket connections belong to one principal.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The token's `iss`: an issuer URL.
    pub issuer: String,
    /// The token's `sub`: unique within the issuer.
    pub subject: String,
}

impl Principal {
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
        }
    }

    /// One string, as records store it: the issuer, a space, the subject (an issuer URL holds
    /// no space, so the first one separates them).
    pub fn key(&self) -> String {
        format!("{} {}", self.issuer, self.subject)
    }

    pub fn parse_key(raw: &str) -> Option<Self> {
        let (issuer, subject) = raw.split_once(' ')?;
        (!issuer.is_empty() && !subject.is_empty()).then(|| Self::new(issuer, subject))
    }

    /// A fixed-length tag for keys that must stay short: 128 bits of SHA-256, in hex.
    pub fn tag(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.key().as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_reads_back_and_tags_tell_principals_apart() {
        let alice = Principal::new("https://issuer.example/pool", "alice id");
        assert_eq!(Principal::parse_key(&alice.key()), Some(alice.clone()));
        assert_eq!(Principal::parse_key("no-subject"), None);
        assert_eq!(Principal::parse_key(" x"), None);
        let bob = Principal::new("https://issuer.example/pool", "bob");
        let elsewhere = Principal::new("https://other.example", "alice id");
        assert_eq!(alice.tag().len(), 32);
        assert_ne!(alice.tag(), bob.tag());
        assert_ne!(alice.tag(), elsewhere.tag());
        assert_eq!(alice.tag(), alice.clone().tag());
    }
}
