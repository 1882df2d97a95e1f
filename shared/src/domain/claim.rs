//! The claim check: a job's id, its status, and the record callers poll.

use super::CorrelationId;
use super::lifecycle::{CallbackStatus, JobStatus};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use thiserror::Error;
use time::OffsetDateTime;

/// A job id: a random (v4) UUID, 122 random bits, in lower-case hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a job id is a lower-case UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e")]
pub struct InvalidJobId;

impl JobId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id of the job one request names, derived from what identifies the request (its
    /// door, the caller's idempotency key): every retry of that request names the same job, so
    /// a retry after a crash finds the first attempt's claim and message instead of starting a
    /// second job. A UUID (version 8, RFC 9562) made of SHA-256 bits.
    pub fn derive(parts: &[&str]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&hasher.finalize()[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
        Self(uuid::Uuid::from_bytes(bytes).hyphenated().to_string())
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidJobId> {
        let uuid = uuid::Uuid::try_parse(raw).map_err(|_| InvalidJobId)?;
        // One spelling per id, so a claim has exactly one URL.
        let canonical = uuid.hyphenated().to_string();
        if canonical == raw {
            Ok(Self(canonical))
        } else {
            Err(InvalidJobId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read back only as what it is: a stored id that is not a job id is an error, not a job.
impl<'de> serde::Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Why a job failed, as stored on its claim.
pub use courier_protocol::rest::JobFailure;

/// A job's callback and its delivery state, as stored on the claim and shown to callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackState {
    pub endpoint_id: super::EndpointId,
    pub state: CallbackStatus,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// Which outcome of the job it delivers: 0 for the first, the rerun's number after the
    /// owner reran it (each round is a message of its own, with a `webhook-id` of its own).
    #[serde(skip)]
    pub round: u32,
}

impl CallbackState {
    pub fn waiting(endpoint_id: super::EndpointId) -> Self {
        Self {
            round: 0,
            endpoint_id,
            state: CallbackStatus::Waiting,
            attempts: 0,
            last_status: None,
            last_error: None,
            next_attempt_at: None,
            delivered_at: None,
        }
    }

    /// Delivered or given up: no attempt is under way or scheduled.
    pub fn is_settled(&self) -> bool {
        super::lifecycle::callback::is_settled(self.state)
    }
}

/// A job's claim record.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: JobId,
    pub job_type: String,
    pub status: JobStatus,
    pub progress: u8,
    pub attempts: u32,
    pub correlation_id: CorrelationId,
    /// Who submitted it: only they can read or cancel it. `None` only for a claim written
    /// before callers were authenticated, which nobody can.
    pub owner: Option<super::Principal>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub completed_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    /// When it was asked to run (`runAt`); its claim lives its lifetime past this.
    pub run_at: Option<OffsetDateTime>,
    pub result: Option<Value>,
    /// Instead of `result`, a result too large for the claim: its object's key.
    pub result_ref: Option<super::BlobKey>,
    /// A held result's size as JSON.
    pub result_bytes: Option<u64>,
    pub error: Option<JobFailure>,
    pub callback: Option<CallbackState>,
    /// The WebSocket connection and request its frames go to: the latest submit of it (a
    /// resubmit under the same idempotency key on a new connection takes them over).
    pub reply_to: Option<super::ReplyTo>,
    /// What happened to the job, in the order the claim's writes recorded it.
    pub events: Vec<super::Recorded>,
    /// The slot of its owner's jobs in flight it holds (`quota::JobSlot`, as written), given
    /// back once the job has ended (then none).
    pub slot: Option<String>,
    /// The slot it held once that was given back (its job ended).
    pub slot_given_back: Option<String>,
    /// For a job whose id the request derives (a WebSocket submit keyed by its connection and
    /// `requestId`): which request wrote it (`intake::print_of`), so a resubmit of the same
    /// request finds its job and other work under the same `requestId` is refused.
    pub request_print: Option<String>,
}

/// A job's result as it is kept: on its claim, or (too large for it) in the bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptResult {
    Inline(Value),
    /// Held in the bucket: its key, and its size as JSON.
    Stored {
        key: super::BlobKey,
        bytes: u64,
    },
}

impl Claim {
    /// A new claim for accepted work.
    pub fn pending(
        id: JobId,
        job_type: String,
        correlation_id: CorrelationId,
        owner: super::Principal,
        now: OffsetDateTime,
        lifetime: std::time::Duration,
    ) -> Self {
        Self {
            id,
            job_type,
            status: JobStatus::Pending,
            progress: 0,
            attempts: 0,
            correlation_id,
            owner: Some(owner),
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            expires_at: now + lifetime,
            run_at: None,
            result: None,
            result_ref: None,
            result_bytes: None,
            error: None,
            callback: None,
            reply_to: None,
            events: Vec::new(),
            slot: None,
            slot_given_back: None,
            request_print: None,
        }
    }

    /// Whether `caller` may see it: its owner, while it has not expired. To anyone else it
    /// does not exist.
    pub fn visible_to(&self, caller: &super::Principal, now: OffsetDateTime) -> bool {
        self.owner.as_ref() == Some(caller) && !self.is_expired(now)
    }

    /// Whether a delivery of its message has started it: it left `PENDING`, or counts an
    /// attempt. Until then its message may never have been queued.
    pub fn has_started(&self) -> bool {
        self.status != JobStatus::Pending || self.attempts > 0
    }

    /// Expiry is decided on read: DynamoDB's TTL sweep may lag by up to 48 hours.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_canonical_uuids() {
        let id = JobId::generate();
        assert_eq!(JobId::parse(id.as_str()), Ok(id.clone()));
        let upper = id.as_str().to_ascii_uppercase();
        let simple = id.as_str().replace('-', "");
        for bad in [
            "",
            "123",
            "../etc/passwd",
            upper.as_str(),
            simple.as_str(),
            "JOB#x",
        ] {
            assert_eq!(JobId::parse(bad), Err(InvalidJobId), "{bad:?}");
        }
    }

    #[test]
    fn derived_ids_are_stable_canonical_and_distinct() {
        let a = JobId::derive(&["jobs", "key-1"]);
        assert_eq!(a, JobId::derive(&["jobs", "key-1"]));
        assert_eq!(JobId::parse(a.as_str()), Ok(a.clone()));
        assert_eq!(&a.as_str()[14..15], "8", "version 8: {a}");
        assert_ne!(a, JobId::derive(&["jobs", "key-2"]));
        assert_ne!(a, JobId::derive(&["messages", "key-1"]));
        assert_ne!(JobId::derive(&["ab", "c"]), JobId::derive(&["a", "bc"]));
    }

    #[test]
    fn a_claim_is_expired_from_its_expiry_instant() {
        let now = time::macros::datetime!(2026-11-23 12:00 UTC);
        let alice = crate::domain::Principal::new("https://issuer.example", "alice");
        let claim = Claim::pending(
            JobId::generate(),
            "echo".into(),
            CorrelationId::generate(),
            alice.clone(),
            now,
            std::time::Duration::from_secs(60),
        );
        assert!(!claim.is_expired(now + time::Duration::seconds(59)));
        assert!(claim.is_expired(now + time::Duration::seconds(60)));
        // Visible to its owner only, and to nobody once expired.
        let bob = crate::domain::Principal::new("https://issuer.example", "bob");
        assert!(claim.visible_to(&alice, now));
        assert!(!claim.visible_to(&bob, now));
        assert!(!claim.visible_to(&alice, now + time::Duration::seconds(60)));
        let unowned = Claim {
            owner: None,
            ..claim
        };
        assert!(!unowned.visible_to(&alice, now));
    }
}
