//! Bodies of any size. A payload or a result too large to travel inline (a queue message, a
//! claim, a Lambda invocation) is held as an object in the stack's bucket and referred to by
//! its key; job types — Rust and remote — never see the difference: the processor reads a held
//! payload before the attempt and keeps a large result after it, and readers get a result's
//! download URL, minted when they read (valid for minutes, never past the claim).

use crate::application::ports::{BlobStore, Fetched, PortError};
use crate::domain::blob::{
    LINK_LIFETIME, MAX_INLINE_MESSAGE_BYTES, MAX_INLINE_RESULT_BYTES, MAX_LINK_LIFETIME,
    MAX_RESULT_BYTES, MAX_SCHEDULED_MESSAGE_BYTES, MAX_UPLOAD_BYTES,
};
use crate::domain::{BlobKey, Claim, KeptResult, Principal, UploadId, WorkMessage};
use courier_protocol::queue::PayloadRef;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;

/// Why an upload cannot be a job's payload.
#[derive(Debug, Error)]
pub enum UploadRefused {
    /// Malformed, never uploaded, expired, or another caller's: the same answer.
    #[error("payloadRef: no upload {0} of yours holds a payload (PUT it to its uploadUrl first)")]
    NotFound(String),
    #[error("payloadRef: upload {id} holds {size} bytes, over the {MAX_UPLOAD_BYTES}-byte limit")]
    TooLarge { id: String, size: u64 },
    #[error(transparent)]
    Dependency(#[from] PortError),
}

/// Why a held payload could not be read.
#[derive(Debug, Error)]
pub enum Unreadable {
    /// Gone, or not JSON: no attempt can ever read it.
    #[error("{0}")]
    ForGood(String),
    #[error(transparent)]
    Dependency(#[from] PortError),
}

/// An upload checked at acceptance: its key, and the version that was sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUpload {
    pub key: BlobKey,
    pub etag: String,
}

/// A new upload: its id, where to `PUT` it, and until when.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub id: UploadId,
    pub url: String,
    pub expires_at: OffsetDateTime,
}

/// Where `work`'s payload is held: under its id, and for a job whose id its request derives
/// under its request's print too, so another request's payload under the same id (a try whose
/// claim was withdrawn) is never taken for this one's.
fn payload_key(work: &WorkMessage, scheduled: bool) -> BlobKey {
    let held_as = match &work.request_print {
        Some(print) => format!("{}-{print}", work.message_id),
        None => work.message_id.clone(),
    };
    BlobKey::payload(work.owner.as_ref(), &held_as, scheduled)
}

/// Points `work` at its payload held under `key` (`unchecked`: an upload, whose schema is
/// checked when it is read).
fn refer_to(work: &mut WorkMessage, key: &BlobKey, unchecked: bool) {
    work.payload = Value::Null;
    work.payload_ref = Some(PayloadRef {
        key: key.as_str().to_owned(),
        unchecked,
    });
}

pub struct Payloads {
    pub store: Arc<dyn BlobStore>,
}

impl Payloads {
    /// A new upload of `owner`'s: a URL to `PUT` a payload to, valid for a quarter of an hour.
    pub async fn new_upload(
        &self,
        owner: &Principal,
        now: OffsetDateTime,
    ) -> Result<NewUpload, PortError> {
        let id = UploadId::generate();
        let url = self
            .store
            .upload_url(&BlobKey::upload(owner, &id), LINK_LIFETIME)
            .await?;
        Ok(NewUpload {
            id,
            url,
            expires_at: now + LINK_LIFETIME,
        })
    }

    /// Checks that `raw` is an upload of `owner`'s within the limit (the intake's check before
    /// anything is written).
    pub async fn check_upload(
        &self,
        owner: &Principal,
        raw: &str,
    ) -> Result<CheckedUpload, UploadRefused> {
        let not_found = || UploadRefused::NotFound(raw.to_owned());
        let id = UploadId::parse(raw).map_err(|_| not_found())?;
        let key = BlobKey::upload(owner, &id);
        match self.store.head(&key).await? {
            None => Err(not_found()),
            Some(info) if info.size > MAX_UPLOAD_BYTES => Err(UploadRefused::TooLarge {
                id: raw.to_owned(),
                size: info.size,
            }),
            Some(info) => Ok(CheckedUpload {
                key,
                etag: info.etag,
            }),
        }
    }

    /// Makes the upload `checked` the payload of `work`: copied to the work's own key (so it
    /// lives as long as the work's claim, whatever becomes of the upload) — the very version
    /// that was checked: one PUT again since is refused as if it were not there.
    pub async fn adopt(
        &self,
        checked: &CheckedUpload,
        work: &mut WorkMessage,
        scheduled: bool,
    ) -> Result<Result<(), UploadRefused>, PortError> {
        let key = payload_key(work, scheduled);
        if !self.store.copy(&checked.key, &checked.etag, &key).await? {
            let id = checked.key.as_str().rsplit('/').next().unwrap_or_default();
            return Ok(Err(UploadRefused::NotFound(id.to_owned())));
        }
        refer_to(work, &key, true);
        Ok(Ok(()))
    }

    /// As [`Self::adopt`], unless the work's payload is held already (an earlier try of its
    /// request adopted it): then the message points at that one, and a version of the upload
    /// PUT since the earlier try is not copied over the work's payload.
    pub async fn adopt_unless_held(
        &self,
        checked: &CheckedUpload,
        work: &mut WorkMessage,
        scheduled: bool,
    ) -> Result<Result<(), UploadRefused>, PortError> {
        let key = payload_key(work, scheduled);
        if self.store.head(&key).await?.is_none() {
            return self.adopt(checked, work, scheduled).await;
        }
        refer_to(work, &key, true);
        Ok(Ok(()))
    }

    /// Holds `work`'s payload in the bucket when the message would be over the queue's inline
    /// limit (a scheduled one's: a schedule's input is smaller); the message then carries its
    /// key.
    pub async fn offload(&self, work: &mut WorkMessage, scheduled: bool) -> Result<(), PortError> {
        let limit = match scheduled {
            true => MAX_SCHEDULED_MESSAGE_BYTES,
            false => MAX_INLINE_MESSAGE_BYTES,
        };
        let sent = courier_protocol::json::xml_safe(&work.to_json()).len();
        if work.payload_ref.is_some() || sent <= limit {
            return Ok(());
        }
        let key = payload_key(work, scheduled);
        let bytes = serde_json::to_vec(&work.payload).expect("JSON serialises");
        self.store.put(&key, bytes).await?;
        refer_to(work, &key, false);
        Ok(())
    }

    /// `work`'s payload, wherever it is held.
    pub async fn read(&self, work: &WorkMessage) -> Result<Value, Unreadable> {
        let Some(held) = &work.payload_ref else {
            return Ok(work.payload.clone());
        };
        let key = BlobKey::parse(&held.key)
            .ok_or_else(|| Unreadable::ForGood(format!("{:?} is not a payload's key", held.key)))?;
        let bytes = match self.store.get(&key, MAX_UPLOAD_BYTES).await? {
            Fetched::Bytes(bytes) => bytes,
            Fetched::Missing => {
                return Err(Unreadable::ForGood(
                    "the payload's object is gone (past its lifetime)".into(),
                ));
            }
            Fetched::TooLarge(size) => {
                return Err(Unreadable::ForGood(format!(
                    "the payload is {size} bytes, over the {MAX_UPLOAD_BYTES}-byte limit"
                )));
            }
        };
        let footprint = crate::domain::blob::parsed_footprint(&bytes);
        if footprint > crate::domain::blob::MAX_PARSED_FOOTPRINT {
            return Err(Unreadable::ForGood(format!(
                "the payload would take about {footprint} bytes once parsed (its {} bytes, {} \
                 per JSON value in it), over the {}-byte limit: send fewer, larger values",
                bytes.len(),
                crate::domain::blob::PARSED_BYTES_PER_VALUE,
                crate::domain::blob::MAX_PARSED_FOOTPRINT
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Unreadable::ForGood(format!("the payload is not JSON: {e}")))
    }

    /// A URL a remote target can read `work`'s held payload from during its attempt (which may
    /// last `attempt`); `None` when it is not held.
    pub async fn payload_url(
        &self,
        work: &WorkMessage,
        attempt: Duration,
    ) -> Result<Option<String>, PortError> {
        let lifetime = attempt.clamp(LINK_LIFETIME, MAX_LINK_LIFETIME);
        match work
            .payload_ref
            .as_ref()
            .and_then(|held| BlobKey::parse(&held.key))
        {
            Some(key) => Ok(Some(self.store.download_url(&key, lifetime).await?)),
            None => Ok(None),
        }
    }

    /// Whether [`Self::keep`] would hold `result` in the bucket (it does not fit a claim): its
    /// JSON counted, not kept.
    pub fn would_hold(result: &Value) -> bool {
        struct Counted(usize);
        impl std::io::Write for Counted {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len();
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counted = Counted(0);
        serde_json::to_writer(&mut counted, result).expect("JSON serialises");
        counted.0 > MAX_INLINE_RESULT_BYTES
    }

    /// A job's result as it is kept: inline if it fits the claim, else in the bucket. `Err`
    /// with the reason for a result over the limit (the job fails for good).
    pub async fn keep(
        &self,
        work: &WorkMessage,
        result: Value,
    ) -> Result<Result<KeptResult, String>, PortError> {
        let bytes = serde_json::to_vec(&result).expect("JSON serialises");
        if bytes.len() <= MAX_INLINE_RESULT_BYTES {
            return Ok(Ok(KeptResult::Inline(result)));
        }
        if bytes.len() > MAX_RESULT_BYTES {
            return Ok(Err(format!(
                "result is {} bytes, over the {MAX_RESULT_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let key = BlobKey::result(work.owner.as_ref(), &work.message_id);
        let size = bytes.len() as u64;
        self.store.put(&key, bytes).await?;
        Ok(Ok(KeptResult::Stored { key, bytes: size }))
    }

    /// `claim` as callers see it (`GET /v1/jobs/{id}`, a list), its held result's URL minted.
    pub async fn job(
        &self,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<courier_protocol::rest::Job, PortError> {
        let mut job = crate::application::job_view::job_view(claim);
        if job.status == crate::domain::JobStatus::Succeeded {
            job.result_url = self.result_url(claim, now).await?;
        }
        Ok(job)
    }

    /// The body a callback carries (the job less its delivery's state), its held result's URL
    /// minted.
    pub async fn callback_body(
        &self,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<courier_protocol::rest::Job, PortError> {
        Ok(courier_protocol::rest::Job {
            callback: None,
            ..self.job(claim, now).await?
        })
    }

    /// The download URL of `claim`'s result, if it is held in the bucket and the claim has not
    /// expired: valid for a quarter of an hour, never past the claim's expiry.
    pub async fn result_url(
        &self,
        claim: &Claim,
        now: OffsetDateTime,
    ) -> Result<Option<String>, PortError> {
        let Some(key) = &claim.result_ref else {
            return Ok(None);
        };
        let left = Duration::try_from(claim.expires_at - now).unwrap_or_default();
        if left.is_zero() {
            return Ok(None);
        }
        let lifetime = LINK_LIFETIME.min(left).max(Duration::from_secs(1));
        Ok(Some(self.store.download_url(key, lifetime).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::InMemoryBlobs;
    use crate::domain::{CorrelationId, JobId, JobStatus, Pattern};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 12:00 UTC);

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    fn service() -> (Payloads, Arc<InMemoryBlobs>) {
        let blobs = Arc::new(InMemoryBlobs::default());
        (
            Payloads {
                store: blobs.clone(),
            },
            blobs,
        )
    }

    fn work(payload: Value) -> WorkMessage {
        WorkMessage {
            message_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            correlation_id: "c-1".into(),
            pattern: Pattern::ClaimCheck,
            job_type: "echo".into(),
            payload,
            payload_ref: None,
            accepted_at: "2026-12-03T12:00:00.000Z".into(),
            has_callback: false,
            reply_to: None,
            owner: Some(alice()),
            redrive: 0,
            slot_when_due: false,
            request_print: None,
            trace_header: None,
        }
    }

    #[tokio::test]
    async fn a_payload_over_the_queues_limit_is_held_and_read_back() {
        let (payloads, blobs) = service();
        let mut small = work(serde_json::json!({"a": 1}));
        payloads.offload(&mut small, false).await.unwrap();
        assert_eq!(small.payload_ref, None, "a small one travels inline");
        let big = serde_json::json!({"data": "x".repeat(MAX_INLINE_MESSAGE_BYTES)});
        let mut large = work(big.clone());
        payloads.offload(&mut large, false).await.unwrap();
        let held = large.payload_ref.clone().expect("held");
        assert!(!held.unchecked, "checked at acceptance");
        assert_eq!(large.payload, Value::Null);
        assert!(
            large.to_json().len() < 1024,
            "the message carries only the key"
        );
        assert_eq!(blobs.keys(), vec![held.key.clone()]);
        assert!(
            held.key
                .starts_with(&format!("payloads/{}/", alice().tag()))
        );
        assert_eq!(payloads.read(&large).await.unwrap(), big);
    }

    #[tokio::test]
    async fn a_derived_id_jobs_payload_is_held_under_its_request_and_read_back() {
        let (payloads, _) = service();
        let big = serde_json::json!({"data": "x".repeat(MAX_INLINE_MESSAGE_BYTES)});
        let mut derived = work(big.clone());
        derived.request_print = Some("0123456789abcdef0123456789abcdef".into());
        payloads.offload(&mut derived, false).await.unwrap();
        let held = derived.payload_ref.clone().expect("held");
        assert!(
            held.key.ends_with(&format!(
                "/{}-0123456789abcdef0123456789abcdef",
                derived.message_id
            )),
            "{}",
            held.key
        );
        assert_eq!(
            payloads.read(&derived).await.unwrap(),
            big,
            "a key it reads"
        );
    }

    #[tokio::test]
    async fn a_held_payload_too_large_once_parsed_fails_its_job_for_good_unparsed() {
        let (payloads, _) = service();
        // 40 MB of tiny numbers: under the upload limit, gigabytes once parsed.
        let numbers: Vec<u8> = format!("[{}0]", "0,".repeat(20_000_000)).into_bytes();
        let mut large = work(Value::Null);
        let key = BlobKey::payload(Some(&alice()), &large.message_id, false);
        payloads.store.put(&key, numbers).await.unwrap();
        large.payload_ref = Some(PayloadRef {
            key: key.as_str().to_owned(),
            unchecked: true,
        });
        match payloads.read(&large).await {
            Err(Unreadable::ForGood(reason)) => {
                assert!(reason.contains("once parsed"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // A text as long is read.
        let text = serde_json::json!({"text": "x".repeat(40_000_000)});
        payloads
            .store
            .put(&key, serde_json::to_vec(&text).unwrap())
            .await
            .unwrap();
        assert_eq!(payloads.read(&large).await.unwrap(), text);
    }

    #[tokio::test]
    async fn an_upload_is_the_owners_only_and_within_the_limit() {
        let (payloads, blobs) = service();
        let upload = payloads.new_upload(&alice(), NOW).await.unwrap();
        assert_eq!(upload.expires_at, NOW + LINK_LIFETIME);
        let key = BlobKey::upload(&alice(), &upload.id);
        assert!(
            matches!(
                payloads.check_upload(&alice(), upload.id.as_str()).await,
                Err(UploadRefused::NotFound(_))
            ),
            "nothing was put yet"
        );
        blobs.put(&key, b"{\"a\": 1}".to_vec()).await.unwrap();
        let checked = payloads
            .check_upload(&alice(), upload.id.as_str())
            .await
            .unwrap();
        let bob = Principal::new("https://issuer.example", "bob");
        assert!(
            matches!(
                payloads.check_upload(&bob, upload.id.as_str()).await,
                Err(UploadRefused::NotFound(_))
            ),
            "another caller's upload does not exist for them"
        );
        let mut adopted = work(Value::Null);
        payloads
            .adopt(&checked, &mut adopted, false)
            .await
            .unwrap()
            .unwrap();
        // A PUT again after the check: that version is not the one checked, and is not taken.
        blobs.put(&key, vec![b'9'; 10]).await.unwrap();
        let mut swapped = work(Value::Null);
        assert!(matches!(
            payloads.adopt(&checked, &mut swapped, false).await.unwrap(),
            Err(UploadRefused::NotFound(_))
        ));
        let held = adopted.payload_ref.clone().unwrap();
        assert!(held.unchecked, "its schema is the processor's to check");
        assert!(
            held.key.starts_with("payloads/"),
            "copied to the work's own key"
        );
        assert_eq!(
            payloads.read(&adopted).await.unwrap(),
            serde_json::json!({"a": 1})
        );
        let huge = BlobKey::upload(&alice(), &UploadId::generate());
        blobs
            .put(&huge, vec![b' '; MAX_UPLOAD_BYTES as usize + 1])
            .await
            .unwrap();
        let raw = huge.as_str().rsplit('/').next().unwrap();
        assert!(matches!(
            payloads.check_upload(&alice(), raw).await,
            Err(UploadRefused::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_gone_or_garbled_payload_fails_for_good() {
        let (payloads, blobs) = service();
        let mut gone = work(Value::Null);
        gone.payload_ref = Some(PayloadRef {
            key: BlobKey::payload(Some(&alice()), "x", false)
                .as_str()
                .to_owned(),
            unchecked: false,
        });
        assert!(matches!(
            payloads.read(&gone).await,
            Err(Unreadable::ForGood(_))
        ));
        blobs
            .put(
                &BlobKey::payload(Some(&alice()), "x", false),
                b"not json".to_vec(),
            )
            .await
            .unwrap();
        assert!(matches!(
            payloads.read(&gone).await,
            Err(Unreadable::ForGood(_))
        ));
        blobs.fail.set(true);
        assert!(matches!(
            payloads.read(&gone).await,
            Err(Unreadable::Dependency(_))
        ));
    }

    fn claim(expires_in: Duration) -> Claim {
        let mut claim = Claim::pending(
            JobId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap(),
            "echo".into(),
            CorrelationId::parse("c-1").unwrap(),
            alice(),
            NOW,
            expires_in,
        );
        claim.status = JobStatus::Succeeded;
        claim
    }

    #[tokio::test]
    async fn a_large_result_is_held_and_its_url_never_outlives_the_claim() {
        let (payloads, _) = service();
        let small = payloads
            .keep(&work(Value::Null), serde_json::json!(1))
            .await
            .unwrap();
        assert_eq!(small, Ok(KeptResult::Inline(serde_json::json!(1))));
        let big = serde_json::json!("y".repeat(MAX_INLINE_RESULT_BYTES));
        let Ok(KeptResult::Stored { key, .. }) =
            payloads.keep(&work(Value::Null), big).await.unwrap()
        else {
            panic!("held");
        };
        let mut claim = claim(Duration::from_secs(60));
        claim.result_ref = Some(key);
        let url = payloads.result_url(&claim, NOW).await.unwrap().unwrap();
        assert!(
            url.ends_with("expires=60"),
            "capped at the claim's expiry: {url}"
        );
        let later = NOW + time::Duration::seconds(30);
        let url = payloads.result_url(&claim, later).await.unwrap().unwrap();
        assert!(url.ends_with("expires=30"), "{url}");
        assert_eq!(
            payloads
                .result_url(&claim, NOW + time::Duration::seconds(60))
                .await
                .unwrap(),
            None,
            "no URL for an expired claim"
        );
        let job = payloads.job(&claim, NOW).await.unwrap();
        assert!(job.result.is_none() && job.result_url.is_some());
        let long = self::claim(Duration::from_secs(86_400));
        let mut long = long;
        long.result_ref = claim.result_ref.clone();
        let url = payloads.result_url(&long, NOW).await.unwrap().unwrap();
        assert!(
            url.ends_with(&format!("expires={}", LINK_LIFETIME.as_secs())),
            "{url}"
        );
    }

    #[tokio::test]
    async fn a_result_over_every_limit_fails_the_job() {
        let (payloads, blobs) = service();
        let huge = serde_json::json!("z".repeat(MAX_RESULT_BYTES));
        let kept = payloads.keep(&work(Value::Null), huge).await.unwrap();
        assert!(kept.unwrap_err().contains("over the"), "refused");
        assert!(blobs.keys().is_empty(), "nothing kept");
    }
}
