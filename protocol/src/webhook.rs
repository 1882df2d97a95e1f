//! [Standard Webhooks](https://www.standardwebhooks.com/) signatures:
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, with secrets
//! written `whsec_<base64>`. Several active secrets (rotation) give several space-separated
//! signatures; a receiver accepts the message if any one verifies.
//!
//! Receivers: check the three headers with [`verify`] (or [`verify_headers`]) on the raw body
//! before parsing it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

const SECRET_PREFIX: &str = "whsec_";
const VERSION: &str = "v1";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret is whsec_ followed by base64")]
    Malformed,
    #[error("a webhook secret must hold 24 to 64 bytes")]
    BadLength,
}

/// A signing key. Never printed: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional, as in the reference libraries).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .unwrap_or(text.trim());
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Malformed)?;
        Self::from_bytes(key)
    }

    /// A key of 24 to 64 raw bytes.
    pub fn from_bytes(key: Vec<u8>) -> Result<Self, SecretError> {
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::BadLength);
        }
        Ok(Self(key))
    }

    /// The raw key, for sealing it; never for printing.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Several secrets, separated by spaces or commas: the first signs new messages, all sign
    /// during a rotation so receivers holding either one keep verifying.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, SecretError> {
        text.split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }

    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// One signature: `v1,<base64>`.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(id, timestamp, body).finalize().into_bytes();
    format!("{VERSION},{}", STANDARD.encode(tag))
}

/// The `webhook-signature` header value: one signature per active secret.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the timestamp is too far from now (tolerance {0} s)")]
    Timestamp(i64),
    #[error("no signature matches")]
    NoMatch,
}

/// Checks a received message: its timestamp within `tolerance_seconds` of `now` (replays), and
/// any `v1` signature in the header matching (compared in constant time by the MAC).
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    // `abs_diff` cannot overflow, whatever a sender put in `webhook-timestamp`.
    if tolerance_seconds < 0 || now.abs_diff(timestamp) > tolerance_seconds.unsigned_abs() {
        return Err(VerifyError::Timestamp(tolerance_seconds));
    }
    let matches = header.split(' ').any(|candidate| {
        let Some((VERSION, encoded)) = candidate.split_once(',') else {
            return false;
        };
        let Ok(tag) = STANDARD.decode(encoded) else {
            return false;
        };
        secret.mac(id, timestamp, body).verify_slice(&tag).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// Header names the specification fixes.
pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The default replay window: the specification suggests five minutes.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("missing or unreadable {0} header")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    #[error(transparent)]
    Invalid(#[from] VerifyError),
}

/// Verifies a request from its header lookup (`get(name) -> value`), raw body and the time now.
/// Returns the `webhook-id`, for deduplication: it is stable across retries of one event.
pub fn verify_headers<'a>(
    secret: &Secret,
    get: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now: i64,
    tolerance_seconds: i64,
) -> Result<String, HeaderError> {
    let id = get(ID_HEADER).ok_or(HeaderError::Missing(ID_HEADER))?;
    let timestamp = get(TIMESTAMP_HEADER)
        .ok_or(HeaderError::Missing(TIMESTAMP_HEADER))?
        .trim()
        .parse::<i64>()
        .map_err(|_| HeaderError::BadTimestamp)?;
    let signature = get(SIGNATURE_HEADER).ok_or(HeaderError::Missing(SIGNATURE_HEADER))?;
    verify(
        secret,
        id,
        timestamp,
        body,
        signature,
        now,
        tolerance_seconds,
    )?;
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector published with the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn reproduces_the_reference_test_vector() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, ID, TIMESTAMP, BODY), EXPECTED);
        assert_eq!(secret.to_whsec(), SECRET);
    }

    #[test]
    fn verifies_the_vector_and_refuses_tampering() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(
            verify(&secret, ID, TIMESTAMP, BODY, EXPECTED, TIMESTAMP, 300),
            Ok(())
        );
        let other = Secret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 32]))).unwrap();
        assert_eq!(
            verify(&other, ID, TIMESTAMP, BODY, EXPECTED, TIMESTAMP, 300),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(&secret, ID, TIMESTAMP, b"{}", EXPECTED, TIMESTAMP, 300),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(
                &secret,
                "msg_other",
                TIMESTAMP,
                BODY,
                EXPECTED,
                TIMESTAMP,
                300
            ),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            verify(&secret, ID, TIMESTAMP, BODY, EXPECTED, TIMESTAMP + 301, 300),
            Err(VerifyError::Timestamp(300))
        );
        assert_eq!(
            verify(
                &secret,
                ID,
                TIMESTAMP,
                BODY,
                "v2,abc v1,!!!",
                TIMESTAMP,
                300
            ),
            Err(VerifyError::NoMatch)
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_never_a_panic() {
        let secret = Secret::parse(SECRET).unwrap();
        for (timestamp, now) in [
            (i64::MIN, TIMESTAMP),
            (i64::MAX, TIMESTAMP),
            (i64::MAX, i64::MIN),
            (i64::MIN, i64::MAX),
        ] {
            assert_eq!(
                verify(&secret, ID, timestamp, BODY, EXPECTED, now, 300),
                Err(VerifyError::Timestamp(300)),
                "timestamp {timestamp}, now {now}"
            );
        }
        // A negative tolerance accepts nothing, and is no reason to panic either.
        assert_eq!(
            verify(&secret, ID, TIMESTAMP, BODY, EXPECTED, TIMESTAMP, -1),
            Err(VerifyError::Timestamp(-1))
        );
    }

    #[test]
    fn rotation_signs_with_every_active_secret() {
        let old = Secret::parse(SECRET).unwrap();
        let new = Secret::parse(&format!("whsec_{}", STANDARD.encode([9u8; 32]))).unwrap();
        let header = signature_header(&[new.clone(), old.clone()], ID, TIMESTAMP, BODY);
        assert_eq!(header.split(' ').count(), 2);
        for secret in [&old, &new] {
            assert_eq!(
                verify(secret, ID, TIMESTAMP, BODY, &header, TIMESTAMP, 300),
                Ok(())
            );
        }
    }

    #[test]
    fn verifies_from_headers_and_names_what_is_missing() {
        let secret = Secret::parse(SECRET).unwrap();
        let headers = [
            (ID_HEADER, ID.to_owned()),
            (TIMESTAMP_HEADER, TIMESTAMP.to_string()),
            (SIGNATURE_HEADER, EXPECTED.to_owned()),
        ];
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            verify_headers(&secret, get, BODY, TIMESTAMP, DEFAULT_TOLERANCE_SECONDS),
            Ok(ID.to_owned())
        );
        let none = |_: &str| None;
        assert_eq!(
            verify_headers(&secret, none, BODY, TIMESTAMP, 300),
            Err(HeaderError::Missing(ID_HEADER))
        );
    }

    #[test]
    fn secrets_are_validated_and_never_printed() {
        assert_eq!(Secret::parse("whsec_***"), Err(SecretError::Malformed));
        assert_eq!(Secret::parse("whsec_c2hvcnQ="), Err(SecretError::BadLength));
        let list = Secret::parse_list(&format!("{SECRET} ,{SECRET}")).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(format!("{:?}", list[0]), "Secret(..)");
    }
}
