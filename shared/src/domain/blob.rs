//! Payloads and results too large to travel inline, held as objects in the stack's bucket: the
//! limits that decide where a body goes, upload ids, and the keys objects live under — each
//! under its owner's tag, so one caller's reference can never name another's object.

use super::Principal;
use std::time::Duration;
use thiserror::Error;

/// The largest request body the HTTP API takes: what a Lambda proxy integration carries (a
/// 6 MB invocation, 6,291,456 bytes) less room for the event around the body, which carries it
/// as a JSON string (each `"` and `\` in it escaped).
pub const MAX_DIRECT_BODY_BYTES: usize = 5_000_000;
/// The largest payload an upload may hold.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// A work message over this (as sent: escaped for SQS) goes to the bucket, the message carrying
/// its key: SQS bills a message per 64 KiB, so past 192 KiB an object's put and get cost less
/// than the message; and it stays clear of SQS's own 256 KiB with its attributes.
pub const MAX_INLINE_MESSAGE_BYTES: usize = 192 * 1024;
/// A work message held back by a schedule (`runAt` past SQS's delay) travels as the schedule's
/// input, which takes less: over this its payload is held in the bucket.
pub const MAX_SCHEDULED_MESSAGE_BYTES: usize = 128 * 1024;
/// A result over this is kept in the bucket, the claim carrying its key (a claim is a
/// DynamoDB item, 400 KB at most, and every read of it is billed by its size).
pub const MAX_INLINE_RESULT_BYTES: usize = 64 * 1024;
/// The largest result a job may return.
pub const MAX_RESULT_BYTES: usize = courier_jobs::api::MAX_RESULT_BYTES;
/// How long an upload URL or a result URL is valid (a target's payload URL: its attempt's
/// timeout, if longer, up to [`MAX_LINK_LIFETIME`]).
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The longest a payload URL is made for: a URL signed with a function's session credentials
/// stops working when they expire, whatever it says.
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The most memory a held payload's parsed form may take, as [`parsed_footprint`] reckons it:
/// the processor (256 MB) parses one held payload at a time, and must keep room for the
/// job's own work and its result.
pub const MAX_PARSED_FOOTPRINT: u64 = 128 * 1024 * 1024;
/// What one JSON value (a number, string, array, object or member) is reckoned to take once
/// parsed, besides its text: a `serde_json::Value`, its slot in an array or map, and slack.
pub const PARSED_BYTES_PER_VALUE: u64 = 80;

/// What parsing `text` (JSON) would take in memory, reckoned without parsing it: its length,
/// plus [`PARSED_BYTES_PER_VALUE`] for each value it holds (counted by the separators and
/// openings outside strings). A 64 MiB text is within [`MAX_PARSED_FOOTPRINT`]; 64 MiB of
/// `[0,0,0,…]`, a gigabyte once parsed, is not.
pub fn parsed_footprint(text: &[u8]) -> u64 {
    let (mut values, mut in_string, mut escaped) = (1u64, false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b':' | b'[' | b'{' => values += 1,
            _ => {}
        }
    }
    text.len() as u64 + values * PARSED_BYTES_PER_VALUE
}

/// An upload's id: `up_` and 32 lower-case hex digits (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("an upload id is up_ followed by 32 lower-case hex digits")]
pub struct InvalidUploadId;

impl UploadId {
    pub fn generate() -> Self {
        Self(super::random_id::generate("up_"))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidUploadId> {
        super::random_id::is_spelled(raw, "up_")
            .then(|| Self(raw.to_owned()))
            .ok_or(InvalidUploadId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An object's key in the bucket: `<kind>/<owner tag>/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

/// The tag of work with no owner (accepted before callers were authenticated).
const NO_OWNER: &str = "anonymous";

fn tag(owner: Option<&Principal>) -> String {
    owner.map_or_else(|| NO_OWNER.to_owned(), Principal::tag)
}

impl BlobKey {
    /// What a caller `PUT` to an upload URL.
    pub fn upload(owner: &Principal, id: &UploadId) -> Self {
        Self(format!("uploads/{}/{}", owner.tag(), id.as_str()))
    }

    /// A unit of work's payload (a job's, or a message's), kept as long as its claim; one run
    /// at a time ahead (`runAt`, up to a year) under a prefix the bucket keeps longer.
    pub fn payload(owner: Option<&Principal>, work_id: &str, scheduled: bool) -> Self {
        let kind = match scheduled {
            true => "scheduled",
            false => "payloads",
        };
        Self(format!("{kind}/{}/{work_id}", tag(owner)))
    }

    /// A job's result, kept as long as its claim: a key of each keeping's own, so a stale
    /// attempt's result never replaces the one a finished claim points at.
    pub fn result(owner: Option<&Principal>, job_id: &str) -> Self {
        let keeping = &uuid::Uuid::new_v4().simple().to_string()[..12];
        Self(format!("results/{}/{job_id}-{keeping}", tag(owner)))
    }

    /// A key as stored on a message or a claim; `None` unless it is one of these shapes.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('/');
        let (kind, owner, id) = (parts.next()?, parts.next()?, parts.next()?);
        let safe = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        (parts.next().is_none()
            && ["uploads", "payloads", "scheduled", "results"].contains(&kind)
            && safe(owner)
            && safe(id))
        .then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a caller's upload (its payload's schema not yet checked).
    pub fn is_upload(&self) -> bool {
        self.0.starts_with("uploads/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    #[test]
    fn keys_are_scoped_by_their_owners_tag() {
        let id = UploadId::generate();
        let key = BlobKey::upload(&alice(), &id);
        let bob = Principal::new("https://issuer.example", "bob");
        assert_ne!(
            key,
            BlobKey::upload(&bob, &id),
            "the same id is bob's own key"
        );
        assert!(key.is_upload());
        assert_eq!(BlobKey::parse(key.as_str()), Some(key.clone()));
        let result = BlobKey::result(Some(&alice()), "0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(BlobKey::parse(result.as_str()), Some(result.clone()));
        assert!(!result.is_upload());
        for bad in [
            "",
            "uploads/x",
            "other/a/b",
            "uploads/a/../b",
            "uploads/a/b/c",
            "uploads//b",
        ] {
            assert_eq!(BlobKey::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_payloads_parsed_footprint_counts_its_values_not_what_its_strings_hold() {
        let per = PARSED_BYTES_PER_VALUE;
        assert_eq!(parsed_footprint(b"1"), 1 + per);
        assert_eq!(parsed_footprint(b"[1,2]"), 5 + 3 * per);
        // Separators inside strings, escaped quotes included, are text.
        let text = br#"{"a":"x,y:[{\",z"}"#;
        assert_eq!(parsed_footprint(text), text.len() as u64 + 3 * per);
        // A 64 MiB text fits; 64 MiB of tiny numbers does not.
        let mut text = vec![b'"'];
        text.resize(64 * 1024 * 1024 - 1, b'a');
        text.push(b'"');
        assert!(parsed_footprint(&text) <= MAX_PARSED_FOOTPRINT);
        let numbers = "0,".repeat(32 * 1024 * 1024);
        assert!(parsed_footprint(numbers.as_bytes()) > MAX_PARSED_FOOTPRINT);
        // Nor does a document of a million small values in 10 MB.
        let members = format!("[{}0]", "{\"k\":1},".repeat(1_000_000));
        assert!(parsed_footprint(members.as_bytes()) > MAX_PARSED_FOOTPRINT);
    }

    #[test]
    fn upload_ids_have_one_spelling() {
        let id = UploadId::generate();
        assert_eq!(UploadId::parse(id.as_str()), Ok(id.clone()));
        for bad in [
            "",
            "up_",
            "up_XYZ",
            "ep_0123456789abcdef0123456789abcdef",
            "up_0123456789abcdef0123456789abcde",
        ] {
            assert_eq!(UploadId::parse(bad), Err(InvalidUploadId), "{bad:?}");
        }
    }
}
