//! Accepting work, whichever door it came in by (`POST /v1/messages`, `POST /v1/jobs`, a
//! WebSocket `submit`): validate, take the idempotency key once, build the work message, make
//! the durable writes, and return a transport-free result each door turns into its own reply
//! (a 202, an `accepted` frame, a problem, an error frame).
//!
//! The claim and the queued message must both exist before anyone is told a job was accepted.

use crate::application::clock::{Clock, rfc3339};
use crate::application::ports::{
    ClaimStore, Created, IdempotencyClaim, IdempotencyStore, StoredResponse, TakeOver,
    WebhookEndpointStore, Withdrawal, WorkQueue,
};
use crate::application::quotas::TakeRefused;
use crate::domain::{
    CallbackState, Claim, CorrelationId, EndpointId, EndpointKind, IdempotencyKey, JobId,
    JobStatus, Pattern, Principal, ReplyTo, Submission, WorkMessage,
};
use crate::telemetry::TraceHeader;
use courier_jobs::{Registry, RegistryError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Which door the work came in by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    /// `POST /v1/messages`: fire and forget, no claim.
    Messages,
    /// `POST /v1/jobs`: a claim to poll, maybe a callback.
    Jobs,
    /// A WebSocket `submit`: a claim, and frames to the connection.
    WebSocket {
        connection_id: String,
        request_id: String,
        /// The key is the caller's own (`idempotencyKey`), shared with `POST /v1/jobs`; else
        /// it is the connection's `requestId`, known to this connection only.
        keyed_by_caller: bool,
    },
}

impl Door {
    /// The door as a job's timeline names it.
    fn timeline_name(&self) -> &'static str {
        match self {
            Self::Messages | Self::Jobs => "http",
            Self::WebSocket { .. } => "websocket",
        }
    }

    /// Keeps one door's idempotency keys apart from another's.
    fn scope(&self) -> &'static str {
        match self {
            Self::Messages => "messages",
            // A caller's key names one job whichever door it comes through.
            Self::Jobs
            | Self::WebSocket {
                keyed_by_caller: true,
                ..
            } => "jobs",
            Self::WebSocket { .. } => "ws-submit",
        }
    }

    /// Whether the request's key names its job by itself: a WebSocket submit keyed by its
    /// connection and `requestId`. Its job id is derived from the key and its claim is the
    /// only record of the key (no idempotency record: one write less per submit); the key
    /// lives as long as the connection, well inside the claim's lifetime.
    fn derives_job_id(&self, claim_lifetime: Duration) -> bool {
        // A claim that could expire, and be swept, before its connection closes would let a
        // resubmit write it again: such a deployment keeps the idempotency record.
        matches!(
            self,
            Self::WebSocket {
                keyed_by_caller: false,
                ..
            }
        ) && claim_lifetime >= crate::domain::quota::CONNECTION_LIFETIME
    }

    fn pattern(&self) -> Pattern {
        match self {
            Self::Messages => Pattern::FireAndForget,
            Self::Jobs => Pattern::ClaimCheck,
            Self::WebSocket { .. } => Pattern::Bidirectional,
        }
    }
}

/// One submission as a door hands it over.
pub struct Request {
    pub submission: Submission,
    pub correlation_id: CorrelationId,
    pub trace: Option<TraceHeader>,
    /// The caller's key (HTTP `Idempotency-Key`; a WebSocket connection + `requestId`), and
    /// the request it stands for (what a reuse of the key is compared against).
    pub idempotency: Option<(IdempotencyKey, Value)>,
    /// Who asks: the work, its claim and its idempotency key belong to them.
    pub owner: Principal,
}

/// How far ahead `runAt` may be.
pub const MAX_RUN_AHEAD: time::Duration = time::Duration::days(365);

/// Where an idempotency key lives: one door, one caller. Two callers may use the same key.
fn key_scope(door: &Door, owner: &Principal) -> String {
    format!("{}#{}", door.scope(), owner.tag())
}

/// What was accepted: enough for every door to answer, the same on a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acceptance {
    /// The message id (fire and forget) or the job id.
    pub id: JobId,
    pub correlation_id: String,
    pub accepted_at: String,
    /// Jobs only: when the claim stops being readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl Acceptance {
    /// A job's status right after acceptance.
    pub const STATUS: JobStatus = JobStatus::Pending;
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("{0}")]
    UnknownJobType(String),
    #[error("{0}")]
    InvalidPayload(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidCallback(String),
    /// `payloadRef` names no upload of the caller's.
    #[error("{0}")]
    InvalidPayloadRef(String),
    /// The upload is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The idempotency key was used with a different request.
    #[error("the key was used with a different request")]
    KeyReused,
    /// The first request with this key is still being accepted.
    #[error("a request with this key is being accepted right now")]
    InProgress,
    /// A dependency failed; nothing was accepted. Safe to retry.
    #[error("{0}")]
    Unavailable(&'static str),
    /// The caller holds as many jobs in flight as their quota allows.
    #[error(transparent)]
    QuotaExceeded(#[from] crate::application::quotas::QuotaExceeded),
}

impl From<crate::application::ports::PortError> for Refusal {
    fn from(error: crate::application::ports::PortError) -> Self {
        tracing::error!(%error, "a dependency failed; nothing was accepted");
        Self::Unavailable("a dependency failed; nothing was accepted, retry later")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub acceptance: Acceptance,
    /// An earlier request with the same key was accepted; nothing new was written.
    pub replayed: bool,
    /// A WebSocket resubmit took over the frames of a job that had finished already: its
    /// final frame is due to this connection now (the processor sent it elsewhere, if at all).
    pub finished: Option<Claim>,
}

/// The intake of one function: its queue, and the stores a job needs.
pub struct Intake {
    pub registry: Arc<Registry>,
    pub queue: Arc<dyn WorkQueue>,
    pub claims: Arc<dyn ClaimStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Where a callback's endpoint is looked up (it must be the caller's).
    pub endpoints: Arc<dyn WebhookEndpointStore>,
    pub clock: Arc<dyn Clock>,
    /// How long a claim stays readable (`expiresAt` = acceptance + this).
    pub claim_lifetime: Duration,
    /// Each caller's jobs in flight.
    pub quotas: Arc<crate::application::quotas::Quotas>,
    /// Where payloads too large for the queue, and callers' uploads, are held.
    pub payloads: Option<Arc<crate::application::payloads::Payloads>>,
}

/// Which write this is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Try {
    /// A request's first, under a fresh id.
    First,
    /// A retry of a request whose earlier try may have written under this id.
    Again,
    /// A schedule's firing, under the firing's id (delivered more than once, perhaps).
    ScheduleRun,
    /// Any try of a request whose key derives its job's id ([`Door::derives_job_id`]), with
    /// the request's print: the claim, written first, tells whether an earlier try did.
    Derived(String),
}

/// A request's print as a claim keeps it ([`Claim::request_print`]): 128 bits of its
/// [`fingerprint`], enough to tell one request from another of the same caller, connection
/// and `requestId`, in half the bytes.
fn claim_print(fingerprint: &str) -> String {
    fingerprint[..32].to_owned()
}

/// What the durable writes made of a request.
struct Written {
    acceptance: Acceptance,
    /// The job's claim was there already, an earlier try's (a derived id's only: see
    /// [`Try::Derived`]).
    found_earlier: bool,
    /// A WebSocket resubmit's job that had finished already (see [`Accepted::finished`]).
    finished: Option<Claim>,
}

/// What the checks before any write found: the callback's endpoint, and the upload that is
/// the payload.
struct Checked {
    callback: Option<EndpointId>,
    upload: Option<crate::application::payloads::CheckedUpload>,
}

/// Identifies a request regardless of key order and whitespace.
pub fn fingerprint(scope: &str, request: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    // serde_json's map is ordered by key, so this is a canonical form.
    hasher.update(request.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

impl Intake {
    pub async fn accept(&self, door: Door, request: Request) -> Result<Accepted, Refusal> {
        let checked = self.validate(&door, &request).await?;
        let Some((key, original)) = &request.idempotency else {
            let Written { acceptance, .. } = self
                .write(&door, JobId::generate(), request, checked, Try::First)
                .await?;
            return Ok(Accepted {
                acceptance,
                replayed: false,
                finished: None,
            });
        };
        let scope = key_scope(&door, &request.owner);
        let print = fingerprint(&scope, original);
        if door.derives_job_id(self.claim_lifetime) {
            let id = JobId::derive(&[&scope, key.as_str()]);
            let correlation_id = request.correlation_id.clone();
            let written = self
                .write(
                    &door,
                    id,
                    request,
                    checked,
                    Try::Derived(claim_print(&print)),
                )
                .await?;
            // The durable writes are made, the answer not given: a resubmit finds the job.
            crate::crash_point!("intake.before-complete", correlation_id.as_str());
            return Ok(Accepted {
                acceptance: written.acceptance,
                replayed: written.found_earlier,
                finished: written.finished,
            });
        }
        // New work under the key gets a new id; a retry of a request whose try died gets that
        // try's id back from the store (it may have written the claim and the message).
        let fresh = JobId::generate();
        let claim = self
            .idempotency
            .acquire(&scope, key, &print, &request.owner, &fresh)
            .await;
        match claim.map_err(|error| {
            tracing::error!(%error, "idempotency store unavailable");
            Refusal::Unavailable("could not record the idempotency key; nothing was accepted")
        })? {
            IdempotencyClaim::KeyReused => Err(Refusal::KeyReused),
            IdempotencyClaim::InProgress => Err(Refusal::InProgress),
            IdempotencyClaim::Replay(stored) => {
                match serde_json::from_str::<Acceptance>(&stored.body) {
                    Ok(acceptance) => {
                        tracing::info!(
                            idempotencyKeySha256 = %crate::telemetry::key_digest(key.as_str()),
                            "replaying the acceptance"
                        );
                        // A WebSocket resubmit: the job's frames come to this connection now.
                        let finished = self.redirect(&door, &acceptance.id, &request.owner).await;
                        Ok(Accepted {
                            acceptance,
                            replayed: true,
                            finished,
                        })
                    }
                    Err(error) => {
                        tracing::error!(%error, "stored acceptance unreadable");
                        Err(Refusal::Unavailable(
                            "the earlier acceptance could not be read",
                        ))
                    }
                }
            }
            IdempotencyClaim::Acquired { id } => {
                let key = key.clone();
                let correlation_id = request.correlation_id.clone();
                // Not the id proposed: an earlier try of this request took the key with it.
                let earlier_try = id != fresh;
                let attempt = match earlier_try {
                    true => Try::Again,
                    false => Try::First,
                };
                match self.write(&door, id, request, checked, attempt).await {
                    Ok(Written {
                        acceptance,
                        finished,
                        ..
                    }) => {
                        crate::crash_point!("intake.before-complete", correlation_id.as_str());
                        let stored = StoredResponse {
                            status: 202,
                            headers: Vec::new(),
                            body: serde_json::to_string(&acceptance).expect("serialisable"),
                        };
                        // The work is durable already; a lost completion only costs the
                        // replay, and the key frees itself when its in-progress lock lapses.
                        if let Err(error) = self.idempotency.complete(&scope, &key, &stored).await {
                            tracing::error!(%error, "accepted, but not stored for replay");
                        }
                        Ok(Accepted {
                            acceptance,
                            replayed: false,
                            finished,
                        })
                    }
                    Err(refusal) => {
                        if let Err(error) = self.idempotency.unlock(&scope, &key).await {
                            tracing::warn!(%error, "could not unlock the idempotency key; it unlocks itself when its lock lapses");
                        }
                        Err(refusal)
                    }
                }
            }
        }
    }

    /// The checks made before anything is written: the type, its payload, and the callback's
    /// endpoint (one of the caller's; its URL was checked at registration and is checked again
    /// at every delivery).
    async fn validate(&self, door: &Door, request: &Request) -> Result<Checked, Refusal> {
        let upload = self.check_upload(request).await?;
        let callback = self.check_callback(door, request).await?;
        Ok(Checked { callback, upload })
    }

    /// The upload a body names as its payload: one of the caller's, within the limit. Its
    /// schema is checked when the processor reads it (the bytes never pass through here).
    async fn check_upload(
        &self,
        request: &Request,
    ) -> Result<Option<crate::application::payloads::CheckedUpload>, Refusal> {
        let Some(raw) = &request.submission.payload_ref else {
            return Ok(None);
        };
        let Some(payloads) = &self.payloads else {
            return Err(Refusal::InvalidPayloadRef(
                "payloadRef: this deployment takes no uploads".into(),
            ));
        };
        use crate::application::payloads::UploadRefused;
        match payloads.check_upload(&request.owner, raw).await {
            Ok(key) => Ok(Some(key)),
            Err(refused @ UploadRefused::NotFound(_)) => {
                Err(Refusal::InvalidPayloadRef(refused.to_string()))
            }
            Err(refused @ UploadRefused::TooLarge { .. }) => {
                Err(Refusal::PayloadTooLarge(refused.to_string()))
            }
            Err(UploadRefused::Dependency(error)) => Err(Refusal::from(error)),
        }
    }

    async fn check_callback(
        &self,
        door: &Door,
        request: &Request,
    ) -> Result<Option<EndpointId>, Refusal> {
        let submission = &request.submission;
        if let Some(run_at) = submission.run_at {
            let now = self.clock.now();
            if run_at < now {
                return Err(Refusal::InvalidBody(format!(
                    "runAt: {} is in the past (it is {} now)",
                    rfc3339(run_at),
                    rfc3339(now)
                )));
            }
            if run_at > now + MAX_RUN_AHEAD {
                return Err(Refusal::InvalidBody(format!(
                    "runAt: {} is more than a year ahead (at most {})",
                    rfc3339(run_at),
                    rfc3339(now + MAX_RUN_AHEAD)
                )));
            }
        }
        // A job held back past its claim's lifetime would expire before anyone could run it.
        if *door != Door::Messages
            && u64::from(submission.delay_seconds) >= self.claim_lifetime.as_secs()
        {
            return Err(Refusal::InvalidBody(format!(
                "delaySeconds: {} s is not shorter than a job's claim lives ({} s): the job would expire before it could run",
                submission.delay_seconds,
                self.claim_lifetime.as_secs()
            )));
        }
        // An uploaded payload's schema is checked when it is read; its type is checked here.
        let checked = match submission.payload_ref {
            Some(_) => self
                .registry
                .get(&submission.job_type)
                .map(|_| ())
                .ok_or_else(|| RegistryError::UnknownType {
                    name: submission.job_type.clone(),
                    known: self.registry.names().collect::<Vec<_>>().join(", "),
                }),
            None => self
                .registry
                .validate(&submission.job_type, &submission.payload),
        };
        checked.map_err(|e| match e {
            RegistryError::UnknownType { .. } => Refusal::UnknownJobType(e.to_string()),
            RegistryError::InvalidPayload { .. } => Refusal::InvalidPayload(e.to_string()),
        })?;
        // A worker that finishes later reports to a job's claim: a fire-and-forget message
        // has none for it to report to.
        let finishes_later = self
            .registry
            .get(&submission.job_type)
            .is_some_and(|t| t.completion() == courier_jobs::api::Completion::External);
        if *door == Door::Messages && finishes_later {
            return Err(Refusal::InvalidBody(format!(
                "type: {:?} is finished later by its worker, which reports to the job's claim: \
                 submit it as a job (POST /v1/jobs or over WebSocket), not a message",
                submission.job_type
            )));
        }
        let Some(raw) = &submission.callback_endpoint else {
            return Ok(None);
        };
        if *door != Door::Jobs {
            return Err(Refusal::InvalidBody(
                "callback is accepted on POST /v1/jobs only: a fire-and-forget message has no outcome to report".into(),
            ));
        }
        let unknown = || {
            let what = match raw.kind {
                EndpointKind::Webhook => "webhook endpoint",
                EndpointKind::Destination => "destination",
            };
            Refusal::InvalidCallback(format!(
                "{}: no {what} {} is registered to you",
                raw.field(),
                raw.id
            ))
        };
        let id = EndpointId::parse_kind(&raw.id, raw.kind).map_err(|_| unknown())?;
        match self.endpoints.get(&id).await? {
            Some(endpoint) if endpoint.visible_to(&request.owner) => Ok(Some(id)),
            _ => Err(unknown()),
        }
    }

    /// A firing of a caller's recurring schedule, made a job: its type, payload and callback
    /// were checked when the schedule was made, so it is only written now — under `id`, the
    /// firing's own (a second delivery of the same firing finds its claim and makes nothing
    /// new) — and takes no job slot (a schedule paces itself).
    pub async fn accept_run(
        &self,
        id: JobId,
        request: Request,
        callback: Option<EndpointId>,
    ) -> Result<Acceptance, Refusal> {
        let checked = Checked {
            callback,
            upload: None,
        };
        let Written { acceptance, .. } = self
            .write(&Door::Jobs, id, request, checked, Try::ScheduleRun)
            .await?;
        Ok(acceptance)
    }

    /// The work message and its durable writes: the acceptance, and what an earlier try had
    /// written.
    async fn write(
        &self,
        door: &Door,
        id: JobId,
        request: Request,
        checked: Checked,
        attempt: Try,
    ) -> Result<Written, Refusal> {
        // The id is one an earlier try of the request may have written a claim under (and
        // the claim's own write tells, for a derived id).
        let earlier_try = matches!(attempt, Try::Again | Try::ScheduleRun);
        let Checked { callback, upload } = checked;
        let now = self.clock.now();
        let pattern = door.pattern();
        let mut work = WorkMessage {
            message_id: id.to_string(),
            correlation_id: request.correlation_id.to_string(),
            pattern,
            job_type: request.submission.job_type,
            payload: request.submission.payload,
            payload_ref: None,
            accepted_at: rfc3339(now),
            has_callback: callback.is_some(),
            reply_to: match door {
                Door::WebSocket {
                    connection_id,
                    request_id,
                    ..
                } => Some(ReplyTo {
                    connection_id: connection_id.clone(),
                    request_id: request_id.clone(),
                }),
                _ => None,
            },
            redrive: 0,
            owner: Some(request.owner.clone()),
            // Work for later is admitted again as it comes due (the processor's admission.rs).
            // A fire-and-forget message holds no slot, now or later.
            slot_when_due: pattern != Pattern::FireAndForget
                && (request.submission.run_at.is_some() || attempt == Try::ScheduleRun),
            request_print: match &attempt {
                Try::Derived(print) => Some(print.clone()),
                _ => None,
            },
            trace_header: request.trace.map(|t| t.as_str().to_owned()),
        };
        let scheduled = request.submission.run_at.is_some();
        // A derived id's payload is held once its claim is known to be this request's.
        if !matches!(attempt, Try::Derived(_)) {
            self.hold_payload(upload.as_ref(), &mut work, scheduled, false)
                .await?;
        }
        // Held back until runAt (past SQS's 15 minutes, the queue adapter schedules it).
        let run_at = request.submission.run_at;
        let delay_seconds = match run_at {
            // Rounded up: never a moment before its time.
            Some(at) => (at - now)
                .as_seconds_f64()
                .ceil()
                .clamp(0.0, f64::from(u32::MAX)) as u32,
            None => request.submission.delay_seconds,
        };
        let mut finished = None;
        let expires_at = if pattern == Pattern::FireAndForget {
            if let Err(error) = self.send(&work, delay_seconds).await {
                tracing::error!(%error, "work queue unavailable; message not accepted");
                return Err(Refusal::Unavailable(
                    "the message could not be queued and was not accepted; retry later",
                ));
            }
            None
        } else {
            // A slot of the caller's jobs in flight, held by the claim once it is written; none
            // for a retry whose earlier try's claim is there already (it holds its own), nor
            // for a schedule's run (it takes one as it comes due: processor/admission.rs).
            let earlier_claim = match earlier_try {
                true => self.claims.get(&id).await?.is_some(),
                false => false,
            };
            let slot = match earlier_claim || attempt == Try::ScheduleRun {
                true => None,
                false => match self.quotas.take_job(&request.owner, &id).await {
                    Ok(slot) => Some(slot),
                    // A resubmit of a job accepted already is accepted at the caller's limit:
                    // the claim there holds its own slot (whose it is, the write tells).
                    Err(TakeRefused::Exceeded(_))
                        if matches!(attempt, Try::Derived(_))
                            && self.claims.get(&id).await?.is_some() =>
                    {
                        None
                    }
                    Err(TakeRefused::Exceeded(exceeded)) => {
                        return Err(Refusal::QuotaExceeded(exceeded));
                    }
                    Err(TakeRefused::Unavailable(error)) => return Err(Refusal::from(error)),
                },
            };
            let mut claim = Claim::pending(
                id.clone(),
                work.job_type.clone(),
                request.correlation_id.clone(),
                request.owner.clone(),
                now,
                self.claim_lifetime,
            );
            claim.callback = callback.map(CallbackState::waiting);
            if let Some(at) = run_at {
                // It lives its lifetime past the moment it runs, not past its acceptance.
                claim.run_at = Some(at);
                claim.expires_at = at + self.claim_lifetime;
            }
            claim.reply_to = work.reply_to.clone();
            claim.slot = slot.as_ref().map(ToString::to_string);
            if let Try::Derived(print) = &attempt {
                claim.request_print = Some(print.clone());
            }
            claim.events.push(crate::domain::Recorded {
                at: crate::application::clock::rfc3339(now),
                what: crate::domain::Happening::Accepted {
                    door: door.timeline_name().into(),
                    // The claim keeps it once; the timeline's answer names it.
                    correlation_id: None,
                    delay_seconds: (run_at.is_none() && delay_seconds > 0).then_some(delay_seconds),
                    run_at: run_at.map(rfc3339),
                },
            });
            if matches!(attempt, Try::Derived(_)) {
                let found = self
                    .record_then_queue(&claim, &mut work, delay_seconds, upload.as_ref())
                    .await;
                if let (Some(slot), Err(_) | Ok(Some(_))) = (&slot, &found) {
                    crate::application::quotas::settle(
                        &self.quotas,
                        &*self.claims,
                        &claim.id,
                        slot,
                    )
                    .await;
                }
                return Ok(match found? {
                    // An earlier try's claim, and its acceptance as that try made it.
                    Some(earlier) => Written {
                        acceptance: Acceptance {
                            id,
                            correlation_id: earlier.correlation_id.to_string(),
                            accepted_at: rfc3339(earlier.created_at),
                            expires_at: Some(rfc3339(earlier.expires_at)),
                        },
                        found_earlier: true,
                        finished: earlier.status.is_terminal().then_some(earlier),
                    },
                    None => Written {
                        acceptance: self.accepted(work, id, Some(rfc3339(claim.expires_at))),
                        found_earlier: false,
                        finished: None,
                    },
                });
            }
            let created = self
                .record_and_queue(&claim, &work, delay_seconds, earlier_try)
                .await;
            if let (Some(slot), None | Some(Created::AlreadyThere)) = (&slot, &created) {
                crate::application::quotas::settle(&self.quotas, &*self.claims, &claim.id, slot)
                    .await;
            }
            match created {
                None => {
                    return Err(Refusal::Unavailable(
                        "the job could not be recorded and queued, and was not accepted; retry later",
                    ));
                }
                // An earlier try's claim: its frames may be bound for the earlier connection.
                Some(Created::AlreadyThere) => {
                    finished = self.redirect(door, &claim.id, &request.owner).await;
                }
                Some(Created::New) => {}
            }
            Some(rfc3339(claim.expires_at))
        };
        Ok(Written {
            acceptance: self.accepted(work, id, expires_at),
            found_earlier: false,
            finished,
        })
    }

    /// The acceptance of work this try queued, counted.
    fn accepted(&self, work: WorkMessage, id: JobId, expires_at: Option<String>) -> Acceptance {
        let label = if work.has_callback {
            "callback"
        } else {
            work.pattern.as_str()
        };
        tracing::debug!(job_id = %work.message_id, job_type = %work.job_type, pattern = label, "accepted");
        crate::metrics::accepted(label, crate::metrics::About::of_work(&work));
        Acceptance {
            id,
            correlation_id: work.correlation_id,
            accepted_at: work.accepted_at,
            expires_at,
        }
    }

    /// Points the job's frames at this WebSocket submit's connection and request; the claim
    /// if the job has finished already (its final frame is then this door's to send).
    async fn redirect(&self, door: &Door, id: &JobId, owner: &Principal) -> Option<Claim> {
        let Door::WebSocket {
            connection_id,
            request_id,
            ..
        } = door
        else {
            return None;
        };
        let to = ReplyTo {
            connection_id: connection_id.clone(),
            request_id: request_id.clone(),
        };
        match self.claims.redirect(id, owner, &to).await {
            Ok(Some(claim)) if claim.status.is_terminal() => Some(claim),
            Ok(_) => None,
            Err(error) => {
                // The frames keep going where they went; the claim has the outcome.
                tracing::warn!(%error, "the job's frames could not be taken over");
                None
            }
        }
    }

    /// Writes the claim and queues the job, concurrently (they are independent, so the caller
    /// waits for one round trip). `Some` when the job will run, so the caller may be told it
    /// was accepted (`AlreadyThere`: the claim may be an earlier try's); `None` when it will
    /// not (then nothing of it runs). A write reported as
    /// failed may still have been applied (a timeout after the fact), so a failure is looked
    /// into before the answer: a claim that is there after all is accepted; a claim whose
    /// message may not be queued is taken back only while no delivery has started it.
    async fn record_and_queue(
        &self,
        claim: &Claim,
        work: &WorkMessage,
        delay: u32,
        earlier_try: bool,
    ) -> Option<Created> {
        let create = async {
            // The claim write fails (and is not applied) while the message goes out.
            crate::error_point!("intake.before-claim", &work.correlation_id);
            let created = self.claims.create(claim).await?;
            // Written, and then reported as failed: a timeout after DynamoDB applied it.
            crate::error_point!("intake.after-claim", &work.correlation_id);
            Ok::<_, crate::application::ports::PortError>(created)
        };
        let (created, enqueued) = tokio::join!(create, self.send(work, delay));
        if matches!(created, Ok(Created::AlreadyThere)) {
            tracing::info!(job_id = %claim.id, "claim already written by an earlier try of this request");
        }
        match (created, enqueued) {
            (Ok(created), Ok(())) => Some(created),
            (Err(error), Ok(())) => {
                tracing::error!(%error, "claim write failed; looking whether it was applied");
                self.claim_is_there(&claim.id)
                    .await
                    .then_some(Created::AlreadyThere)
            }
            (created, Err(error)) => {
                tracing::error!(%error, "job not queued; job not accepted unless it has started");
                #[cfg(feature = "failpoints")]
                self.until_started_if_armed(&claim.id, &work.correlation_id)
                    .await;
                // Only a claim this try wrote (or may have written): one an earlier try wrote
                // may have its message queued.
                match created {
                    Ok(Created::AlreadyThere) => None,
                    // A claim write reported failed may have found an earlier try's claim,
                    // whose message may be queued: never withdraw that one.
                    Err(_) if earlier_try => None,
                    Ok(Created::New) | Err(_) => {
                        self.withdraw(&claim.id).await.then_some(Created::New)
                    }
                }
            }
        }
    }

    /// A payload too large for the queue, or an upload, held in the bucket under the work's
    /// own key before anything refers to it (a retry puts the same object again). `earlier`:
    /// an earlier try of a derived id's request may have held it, and its messages may be
    /// running it: that version is kept.
    async fn hold_payload(
        &self,
        upload: Option<&crate::application::payloads::CheckedUpload>,
        work: &mut WorkMessage,
        scheduled: bool,
        earlier: bool,
    ) -> Result<(), Refusal> {
        let Some(payloads) = &self.payloads else {
            return Ok(());
        };
        let Some(upload) = upload else {
            return Ok(payloads.offload(work, scheduled).await?);
        };
        let adopted = match earlier {
            true => payloads.adopt_unless_held(upload, work, scheduled).await?,
            false => payloads.adopt(upload, work, scheduled).await?,
        };
        adopted.map_err(|refused| {
            Refusal::InvalidPayloadRef(format!(
                "{refused} (it was uploaded again while being accepted)"
            ))
        })
    }

    /// Writes the claim, then holds the payload and queues the job: a job whose id its
    /// request derives ([`Try::Derived`]), so the claim is the request's only record. `Some`
    /// with the claim an earlier try wrote, once it is known to be this request's (another
    /// request's is `KeyReused`, and nothing of this one is held or sent: no message or
    /// object may carry other work under the job's id). An earlier claim not yet started may
    /// have no message (its try died, or could not send), so this try takes it over and sends
    /// one, under the earlier acceptance: the claim runs its job once however many messages
    /// name it. Only the try that wrote a claim withdraws it, when its message could not be
    /// sent, and only while nothing started it and no later try took it over: every try that
    /// may have been answered on a claim keeps it. A taken-over claim whose message could not
    /// be sent waits for the next resubmit (or its expiry).
    async fn record_then_queue(
        &self,
        claim: &Claim,
        work: &mut WorkMessage,
        delay: u32,
        upload: Option<&crate::application::payloads::CheckedUpload>,
    ) -> Result<Option<Claim>, Refusal> {
        let unavailable =
            || Refusal::Unavailable("the job could not be recorded and queued; retry later");
        let created = async {
            // The claim write fails (and is not applied): nothing is sent.
            crate::error_point!("intake.before-claim", &work.correlation_id);
            let created = self.claims.create(claim).await?;
            // Written, and then reported as failed: a timeout after DynamoDB applied it.
            crate::error_point!("intake.after-claim", &work.correlation_id);
            Ok::<_, crate::application::ports::PortError>(created)
        }
        .await;
        let earlier = match created {
            Ok(Created::New) => None,
            Ok(Created::AlreadyThere) | Err(_) => {
                if let Err(error) = &created {
                    tracing::error!(%error, "claim write failed; looking whether it was applied");
                }
                let Some(there) = self.claims.get(&claim.id).await? else {
                    return Err(unavailable());
                };
                if there.request_print != claim.request_print {
                    return Err(Refusal::KeyReused);
                }
                // A write reported failed may have been this try's own: the same claim, and
                // taken over like any earlier try's (so never withdrawn by this try).
                tracing::info!(job_id = %claim.id, "the job's claim is there already: this request's");
                work.correlation_id = there.correlation_id.to_string();
                work.accepted_at = rfc3339(there.created_at);
                if there.has_started() {
                    // A delivery of its message started it: nothing more to queue.
                    return Ok(Some(there));
                }
                match self.claims.take_over(&claim.id).await? {
                    TakeOver::TakenOver { held: false } => Some(there),
                    // Its message is queued, held behind its connection's earlier jobs.
                    TakeOver::TakenOver { held: true } | TakeOver::Started => {
                        return Ok(Some(there));
                    }
                    // Withdrawn by the try that wrote it since the look: resubmit.
                    TakeOver::Gone => return Err(unavailable()),
                }
            }
        };
        let queued = async {
            self.hold_payload(upload, work, false, earlier.is_some())
                .await?;
            self.send(work, delay).await.map_err(Refusal::from)
        }
        .await;
        let Err(refusal) = queued else {
            return Ok(earlier);
        };
        tracing::error!(job_id = %claim.id, "job not queued; job not accepted unless it has started");
        if earlier.is_some() {
            // Taken over: an earlier try may have been answered on it.
            return Err(refusal);
        }
        match self.claims.withdraw(&claim.id).await {
            Ok(Withdrawal::Withdrawn) => Err(refusal),
            // Kept: started (its message was queued after all: accepted), or taken over by a
            // later try, which answers for it.
            Ok(Withdrawal::Started) => match self.claims.get(&claim.id).await {
                Ok(Some(now)) if now.has_started() => {
                    tracing::info!(job_id = %claim.id, "the job started: its message was queued after all; job accepted");
                    Ok(None)
                }
                _ => Err(refusal),
            },
            Err(error) => {
                tracing::warn!(%error, "unqueued claim left for a resubmit or its expiry");
                Err(refusal)
            }
        }
    }

    /// Queues the work message.
    async fn send(
        &self,
        work: &WorkMessage,
        delay: u32,
    ) -> Result<(), crate::application::ports::PortError> {
        // After (or while) a job's claim is written, before the message is sent.
        crate::error_point!("intake.before-send", &work.correlation_id);
        self.queue.enqueue(work, delay).await?;
        // Sent, and then reported as failed: a timeout after SQS stored the message.
        crate::error_point!("intake.after-send", &work.correlation_id);
        Ok(())
    }

    /// `intake.before-withdraw=return(until-started)`: waits (up to a minute) until a delivery
    /// has started the job, so a test sees the processor win the race with the withdrawal
    /// without betting on how long the processor takes.
    #[cfg(feature = "failpoints")]
    async fn until_started_if_armed(&self, id: &JobId, correlation_id: &str) {
        if crate::failpoints::action("intake.before-withdraw", correlation_id).as_deref()
            != Some("until-started")
        {
            return;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(claim)) = self.claims.get(id).await
                && claim.has_started()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        tracing::warn!(job_id = %id, "failpoint: the job did not start within a minute");
    }

    /// After a failed claim write: whether the claim exists all the same (its message is
    /// queued, so the job runs). Unknown counts as absent: the message, finding no claim, is
    /// dropped unrun (or, should the claim be there, runs: the README's failure model says so).
    async fn claim_is_there(&self, id: &JobId) -> bool {
        match self.claims.get(id).await {
            Ok(Some(_)) => {
                tracing::info!(job_id = %id, "the claim was written after all; job accepted");
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::error!(%error, "could not read the claim back; job not accepted");
                false
            }
        }
    }

    /// Takes back a claim whose message may not have been queued: `true` if a delivery has
    /// started it meanwhile (the message was queued after all: the job is accepted).
    async fn withdraw(&self, id: &JobId) -> bool {
        match self.claims.withdraw(id).await {
            Ok(Withdrawal::Withdrawn) => false,
            Ok(Withdrawal::Started) => {
                tracing::info!(job_id = %id, "the job started: its message was queued after all; job accepted");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "unqueued claim left for TTL to remove");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{
        FixedClock, InMemoryClaims, InMemoryIdempotencyStore, InMemoryQueue, InMemoryQuotas,
        InMemoryWebhookEndpoints, roomy_quotas,
    };
    use crate::domain::{SealedSecret, WebhookEndpoint};
    use serde_json::json;

    struct Harness {
        intake: Intake,
        queue: Arc<InMemoryQueue>,
        claims: Arc<InMemoryClaims>,
        keys: Arc<InMemoryIdempotencyStore>,
        endpoints: Arc<InMemoryWebhookEndpoints>,
        quotas: Arc<InMemoryQuotas>,
    }

    fn harness() -> Harness {
        let (queue, claims, keys, endpoints) = (
            Arc::new(InMemoryQueue::default()),
            Arc::new(InMemoryClaims::default()),
            Arc::new(InMemoryIdempotencyStore::default()),
            Arc::new(InMemoryWebhookEndpoints::default()),
        );
        let clock = Arc::new(FixedClock::at(
            time::macros::datetime!(2026-11-30 12:00 UTC),
        ));
        let quotas = Arc::new(InMemoryQuotas::default());
        let intake = Intake {
            payloads: None,
            registry: Arc::new(courier_jobs::examples::offline()),
            queue: queue.clone(),
            claims: claims.clone(),
            idempotency: keys.clone(),
            endpoints: endpoints.clone(),
            clock: clock.clone(),
            claim_lifetime: Duration::from_secs(3600),
            quotas: roomy_quotas(quotas.clone(), clock),
        };
        Harness {
            intake,
            queue,
            claims,
            keys,
            endpoints,
            quotas,
        }
    }

    fn request(key: Option<&str>) -> Request {
        let body = json!({"type": "echo", "payload": {"n": 1}});
        Request {
            submission: Submission::from_json(body.clone()).unwrap(),
            correlation_id: CorrelationId::generate(),
            trace: None,
            idempotency: key.map(|k| (IdempotencyKey::parse(k).unwrap(), body)),
            owner: alice(),
        }
    }

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    #[tokio::test]
    async fn a_retry_after_a_lost_completion_names_the_same_job_and_makes_no_second_one() {
        let h = harness();
        // The first try writes claim and message, then its completion is lost (a crash).
        h.keys.fail_complete.set(true);
        let first = h
            .intake
            .accept(Door::Jobs, request(Some("k-1")))
            .await
            .unwrap();
        h.keys.fail_complete.set(false);
        // Its in-progress lock lapses; the client's retry takes the key again.
        h.keys.lapse();
        let second = h
            .intake
            .accept(Door::Jobs, request(Some("k-1")))
            .await
            .unwrap();
        assert!(!second.replayed);
        assert_eq!(second.acceptance.id, first.acceptance.id, "the same job");
        assert_eq!(h.claims.len(), 1, "one claim");
        let sent: Vec<_> = h.queue.sent().into_iter().map(|m| m.message_id).collect();
        assert_eq!(
            sent,
            [
                first.acceptance.id.to_string(),
                first.acceptance.id.to_string()
            ],
            "one job, sent twice"
        );
        // And now the key replays.
        let third = h
            .intake
            .accept(Door::Jobs, request(Some("k-1")))
            .await
            .unwrap();
        assert!(third.replayed);
        // One job, one slot: the retry took none, and gave back none.
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn a_retry_of_an_accepted_job_is_accepted_even_at_the_callers_limit() {
        let h = harness();
        one_job_in_flight(&h);
        h.keys.fail_complete.set(true);
        let first = h
            .intake
            .accept(Door::Jobs, request(Some("k-1")))
            .await
            .unwrap();
        h.keys.fail_complete.set(false);
        h.keys.lapse();
        // Its one slot is this very job's: the retry names it, and is no "nothing accepted".
        let retry = h
            .intake
            .accept(Door::Jobs, request(Some("k-1")))
            .await
            .unwrap();
        assert_eq!(retry.acceptance.id, first.acceptance.id);
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn a_retry_that_cannot_tell_whether_its_job_was_accepted_is_unavailable_not_refused() {
        let h = harness();
        one_job_in_flight(&h);
        h.keys.fail_complete.set(true);
        h.intake
            .accept(Door::Jobs, request(Some("k-1")))
            .await
            .unwrap();
        h.keys.fail_complete.set(false);
        h.keys.lapse();
        h.claims.fail.set(true);
        let retry = h.intake.accept(Door::Jobs, request(Some("k-1"))).await;
        assert!(matches!(retry, Err(Refusal::Unavailable(_))), "{retry:?}");
    }

    #[tokio::test]
    async fn a_claim_that_carries_this_requests_slot_keeps_it() {
        let h = harness();
        // The claim write reports a failure it did not have (applied, then a timeout): the
        // claim is read back, carries this request's slot, and the job is accepted holding it.
        h.claims.fail_after_create.set(true);
        h.intake.accept(Door::Jobs, request(None)).await.unwrap();
        assert_eq!(h.quotas.slots_held(&alice()), 1, "kept, not given back");
    }

    #[tokio::test]
    async fn a_key_past_its_window_is_new_work_under_a_new_id() {
        let h = harness();
        for door in [Door::Jobs, Door::Messages] {
            let first = h
                .intake
                .accept(door.clone(), request(Some("k-w")))
                .await
                .unwrap();
            let replay = h
                .intake
                .accept(door.clone(), request(Some("k-w")))
                .await
                .unwrap();
            assert!(replay.replayed);
            assert_eq!(replay.acceptance.id, first.acceptance.id);
            h.keys.expire();
            let again = h.intake.accept(door, request(Some("k-w"))).await.unwrap();
            assert!(!again.replayed);
            assert_ne!(
                again.acceptance.id, first.acceptance.id,
                "new work, a new id"
            );
        }
        let sent: Vec<_> = h.queue.sent().into_iter().map(|m| m.message_id).collect();
        assert_eq!(sent.len(), 4, "each door sent new work twice: {sent:?}");
        assert_eq!(h.claims.len(), 2, "two jobs");
    }

    #[tokio::test]
    async fn a_lapsed_key_is_taken_over_only_by_the_same_request() {
        let h = harness();
        h.keys.fail_complete.set(true);
        let first = h
            .intake
            .accept(Door::Jobs, request(Some("k-l")))
            .await
            .unwrap();
        h.keys.fail_complete.set(false);
        h.keys.lapse();
        let other = Request {
            idempotency: Some((
                IdempotencyKey::parse("k-l").unwrap(),
                json!({"type": "echo", "payload": {"n": 2}}),
            )),
            ..request(None)
        };
        assert!(matches!(
            h.intake.accept(Door::Jobs, other).await,
            Err(Refusal::KeyReused)
        ));
        let same = h
            .intake
            .accept(Door::Jobs, request(Some("k-l")))
            .await
            .unwrap();
        assert_eq!(same.acceptance.id, first.acceptance.id);
    }

    #[tokio::test]
    async fn a_retry_after_a_refusal_names_the_same_work_at_once() {
        let h = harness();
        h.queue.fail.set(true);
        assert!(matches!(
            h.intake.accept(Door::Messages, request(Some("k-r"))).await,
            Err(Refusal::Unavailable(_))
        ));
        h.queue.fail.set(false);
        let other = Request {
            idempotency: Some((
                IdempotencyKey::parse("k-r").unwrap(),
                json!({"type": "echo", "payload": {"n": 2}}),
            )),
            ..request(None)
        };
        assert!(
            matches!(
                h.intake.accept(Door::Messages, other).await,
                Err(Refusal::KeyReused)
            ),
            "the key stays the refused request's"
        );
        let retry = h
            .intake
            .accept(Door::Messages, request(Some("k-r")))
            .await
            .unwrap();
        let again = h
            .intake
            .accept(Door::Messages, request(Some("k-r")))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.acceptance.id, retry.acceptance.id);
    }

    #[tokio::test]
    async fn a_retry_never_removes_the_claim_an_earlier_try_wrote() {
        let h = harness();
        h.keys.fail_complete.set(true);
        let first = h
            .intake
            .accept(Door::Jobs, request(Some("k-2")))
            .await
            .unwrap();
        h.keys.lapse();
        h.queue.fail.set(true);
        let refused = h.intake.accept(Door::Jobs, request(Some("k-2"))).await;
        assert!(matches!(refused, Err(Refusal::Unavailable(_))));
        assert!(
            h.claims.get_now(first.acceptance.id.as_str()).is_some(),
            "the first try's claim (its message is queued) stays"
        );
    }

    /// The retry's claim write is reported failed (it found the first try's claim) and its send
    /// fails too: the first try's claim, whose message is queued, is never withdrawn.
    #[tokio::test]
    async fn a_retry_whose_writes_both_failed_never_withdraws_an_earlier_tries_claim() {
        let h = harness();
        h.keys.fail_complete.set(true);
        let first = h
            .intake
            .accept(Door::Jobs, request(Some("k-3")))
            .await
            .unwrap();
        h.keys.fail_complete.set(false);
        h.keys.lapse();
        h.claims.fail_create.set(true);
        h.queue.fail.set(true);
        let refused = h.intake.accept(Door::Jobs, request(Some("k-3"))).await;
        assert!(matches!(refused, Err(Refusal::Unavailable(_))));
        assert!(
            h.claims.get_now(first.acceptance.id.as_str()).is_some(),
            "the first try's claim stays"
        );
    }

    #[tokio::test]
    async fn a_callback_names_one_of_the_callers_own_endpoints() {
        let h = harness();
        let endpoint = WebhookEndpoint::new(
            EndpointId::generate(EndpointKind::Webhook),
            alice(),
            crate::domain::CallbackTarget::Url("https://example.com/hook".into()),
            SealedSecret(vec![1]),
            time::macros::datetime!(2026-11-30 12:00 UTC),
        );
        h.endpoints.create(&endpoint).await.unwrap();
        let with_callback = |owner: Principal, endpoint_id: &str| {
            let body = json!({"type": "echo", "callback": {"endpointId": endpoint_id}});
            Request {
                submission: Submission::from_json(body).unwrap(),
                owner,
                ..request(None)
            }
        };
        let bob = Principal::new("https://issuer.example", "bob");
        for refused in [
            with_callback(bob, endpoint.id.as_str()),
            with_callback(
                alice(),
                EndpointId::generate(EndpointKind::Webhook).as_str(),
            ),
            with_callback(alice(), "not-an-id"),
        ] {
            assert!(matches!(
                h.intake.accept(Door::Jobs, refused).await,
                Err(Refusal::InvalidCallback(_))
            ));
        }
        assert_eq!(h.claims.len(), 0, "a refused callback writes nothing");
        let refused = h
            .intake
            .accept(Door::Messages, with_callback(alice(), endpoint.id.as_str()))
            .await;
        assert!(matches!(refused, Err(Refusal::InvalidBody(_))));

        let accepted = h
            .intake
            .accept(Door::Jobs, with_callback(alice(), endpoint.id.as_str()))
            .await
            .unwrap();
        let claim = h
            .claims
            .get(&accepted.acceptance.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claim.callback.unwrap().endpoint_id, endpoint.id);
        assert!(h.queue.messages.lock().unwrap()[0].has_callback);
    }

    #[tokio::test]
    async fn a_job_held_back_past_its_claims_lifetime_is_refused() {
        let mut h = harness();
        h.intake.claim_lifetime = Duration::from_secs(60);
        let delayed = |seconds: u32| {
            let body = json!({"type": "echo", "delaySeconds": seconds});
            Request {
                submission: Submission::from_json(body).unwrap(),
                ..request(None)
            }
        };
        let refused = h.intake.accept(Door::Jobs, delayed(60)).await;
        assert!(
            matches!(&refused, Err(Refusal::InvalidBody(detail)) if detail.contains("delaySeconds")),
            "{refused:?}"
        );
        assert_eq!(h.claims.len(), 0);
        assert!(h.intake.accept(Door::Jobs, delayed(59)).await.is_ok());
        // A message has no claim to outlive.
        assert!(h.intake.accept(Door::Messages, delayed(600)).await.is_ok());
    }

    #[tokio::test]
    async fn a_job_for_later_takes_its_slot_now_and_is_admitted_again_when_due_a_message_never() {
        let h = harness();
        // Two hours past the harness's clock.
        let later = || Request {
            submission: Submission::from_json(
                json!({"type": "echo", "runAt": "2026-11-30T14:00:00Z"}),
            )
            .unwrap(),
            ..request(None)
        };
        h.intake.accept(Door::Jobs, later()).await.unwrap();
        assert_eq!(h.quotas.slots_held(&alice()), 1, "counted from acceptance");
        h.intake.accept(Door::Messages, later()).await.unwrap();
        assert_eq!(h.quotas.slots_held(&alice()), 1, "a message holds none");
        let flags: Vec<bool> = h.queue.sent().iter().map(|m| m.slot_when_due).collect();
        assert_eq!(
            flags,
            vec![true, false],
            "only the job is admitted again when due"
        );
    }

    #[tokio::test]
    async fn without_a_key_every_request_is_its_own_job() {
        let h = harness();
        let a = h.intake.accept(Door::Jobs, request(None)).await.unwrap();
        let b = h.intake.accept(Door::Jobs, request(None)).await.unwrap();
        assert_ne!(a.acceptance.id, b.acceptance.id);
        assert_eq!(h.claims.len(), 2);
    }

    /// Claims that outlive any connection, as the template's default (a day): a submit keyed by
    /// its `requestId` derives its job's id.
    fn ws_harness() -> Harness {
        let mut h = harness();
        h.intake.claim_lifetime = Duration::from_secs(86_400);
        h
    }

    impl Harness {
        /// The WebSocket submit `r1` on `conn-1`, with `payload`.
        async fn submit_r1(&self, payload: Value) -> Result<Accepted, Refusal> {
            self.intake
                .accept(submit_on("conn-1", "r1"), submitted("r1", payload))
                .await
        }
    }

    /// [`ws_harness`], its intake holding payloads in the bucket it returns.
    fn ws_harness_with_blobs() -> (Harness, Arc<crate::adapters::memory::InMemoryBlobs>) {
        let mut h = ws_harness();
        let blobs = Arc::new(crate::adapters::memory::InMemoryBlobs::default());
        h.intake.payloads = Some(Arc::new(crate::application::payloads::Payloads {
            store: blobs.clone(),
        }));
        (h, blobs)
    }

    /// Puts `bytes` as Alice's upload `id`.
    async fn put_upload(
        blobs: &crate::adapters::memory::InMemoryBlobs,
        id: &crate::domain::UploadId,
        bytes: &str,
    ) {
        let key = crate::domain::BlobKey::upload(&alice(), id);
        crate::application::ports::BlobStore::put(blobs, &key, bytes.as_bytes().to_vec())
            .await
            .unwrap();
    }

    /// A new upload of Alice's holding `bytes`.
    async fn new_upload(
        blobs: &crate::adapters::memory::InMemoryBlobs,
        bytes: &str,
    ) -> crate::domain::UploadId {
        let id = crate::domain::UploadId::generate();
        put_upload(blobs, &id, bytes).await;
        id
    }

    /// The WebSocket submit `r1` on `conn-1` of Alice's upload `id`.
    fn submitted_upload(id: &crate::domain::UploadId) -> Request {
        let body = json!({"type": "echo", "payloadRef": id.as_str()});
        Request {
            submission: Submission::from_json(body.clone()).unwrap(),
            correlation_id: CorrelationId::generate(),
            trace: None,
            idempotency: Some((IdempotencyKey::parse("conn-1:r1").unwrap(), body)),
            owner: alice(),
        }
    }

    fn submit_on(connection: &str, request_id: &str) -> Door {
        Door::WebSocket {
            connection_id: connection.into(),
            request_id: request_id.into(),
            keyed_by_caller: false,
        }
    }

    /// A WebSocket submit on `conn-1` as the handler makes it: keyed by its connection and
    /// `requestId`.
    fn submitted(request_id: &str, payload: Value) -> Request {
        submitted_on("conn-1", request_id, payload)
    }

    fn submitted_on(connection: &str, request_id: &str, payload: Value) -> Request {
        let body = json!({"type": "echo", "payload": payload});
        Request {
            submission: Submission::from_json(body.clone()).unwrap(),
            correlation_id: CorrelationId::generate(),
            trace: None,
            idempotency: Some((
                IdempotencyKey::parse(&format!("{connection}:{request_id}")).unwrap(),
                body,
            )),
            owner: alice(),
        }
    }

    #[tokio::test]
    async fn a_websocket_resubmit_names_the_same_job_and_no_key_record_is_written() {
        let h = ws_harness();
        let first = h.submit_r1(json!(1)).await.unwrap();
        assert!(!first.replayed);
        assert!(h.keys.is_empty(), "the claim is the key's only record");
        // The client heard nothing and sends the same submit again (a new correlation id:
        // it named none, so each try makes one up).
        let again = h.submit_r1(json!(1)).await.unwrap();
        assert!(again.replayed);
        assert_eq!(
            again.acceptance, first.acceptance,
            "the first acceptance, as it was"
        );
        assert_eq!(h.claims.len(), 1, "one claim");
        // Not started yet: its first message may never have gone out, so the resubmit sends
        // one too, under the first acceptance. The claim runs the job once.
        let sent = h.queue.sent();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(
            sent.iter()
                .all(|m| m.message_id == first.acceptance.id.as_str()
                    && m.correlation_id == first.acceptance.correlation_id
                    && m.accepted_at == first.acceptance.accepted_at)
        );
        assert_eq!(h.quotas.slots_held(&alice()), 1, "one job, one slot");
        let print = h
            .claims
            .get_now(first.acceptance.id.as_str())
            .unwrap()
            .request_print;
        assert!(print.is_some());
        assert!(
            sent.iter().all(|m| m.request_print == print),
            "each message names the request whose claim it may run"
        );
        // Another connection's `r1` is another job.
        let elsewhere = h
            .intake
            .accept(
                submit_on("conn-2", "r1"),
                submitted_on("conn-2", "r1", json!(1)),
            )
            .await
            .unwrap();
        assert_ne!(elsewhere.acceptance.id, first.acceptance.id);
    }

    #[tokio::test]
    async fn a_resubmit_of_a_started_job_queues_nothing_and_a_finished_ones_final_frame_is_due() {
        let h = ws_harness();
        let first = h.submit_r1(json!(1)).await.unwrap();
        let id = first.acceptance.id.to_string();
        h.claims.update(&id, |claim| {
            claim.status = JobStatus::Running;
            claim.attempts = 1;
        });
        let running = h.submit_r1(json!(1)).await.unwrap();
        assert_eq!(running.acceptance.id, first.acceptance.id);
        assert_eq!(running.finished, None);
        h.claims.set_status(&id, JobStatus::Succeeded);
        let finished = h.submit_r1(json!(1)).await.unwrap();
        assert_eq!(
            finished.finished.map(|claim| claim.status),
            Some(JobStatus::Succeeded)
        );
        assert_eq!(h.queue.sent().len(), 1, "only the first try's message");
    }

    #[tokio::test]
    async fn other_work_under_a_used_request_id_is_refused_and_sends_nothing() {
        let h = ws_harness();
        h.submit_r1(json!(1)).await.unwrap();
        let other = h.submit_r1(json!(2)).await;
        assert_eq!(other, Err(Refusal::KeyReused));
        assert_eq!(h.queue.sent().len(), 1, "no message carries the other work");
        assert_eq!(h.quotas.slots_held(&alice()), 1, "its slot given back");
    }

    #[tokio::test]
    async fn a_submit_whose_message_was_not_sent_withdraws_its_claim_and_its_slot() {
        let h = ws_harness();
        h.queue.fail.set(true);
        let refused = h.submit_r1(json!(1)).await;
        assert!(
            matches!(refused, Err(Refusal::Unavailable(_))),
            "{refused:?}"
        );
        assert!(h.claims.is_empty(), "no claim that cannot progress");
        assert_eq!(h.quotas.slots_held(&alice()), 0);
        h.queue.fail.set(false);
        let resubmitted = h.submit_r1(json!(1)).await.unwrap();
        let sent = h.queue.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].message_id, resubmitted.acceptance.id.as_str());
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn a_request_id_reused_after_a_refusal_names_the_same_job_id_under_another_print() {
        let h = ws_harness();
        h.queue.fail.set(true);
        assert!(matches!(
            h.submit_r1(json!(1)).await,
            Err(Refusal::Unavailable(_))
        ));
        h.queue.fail.set(false);
        // Nothing stands for the refused request: `r1` may carry other work now. A message of
        // the refused try that SQS stored all the same names the same id, but not this print,
        // so it cannot run this claim (`DynamoMessageLedger`'s start).
        let other = h.submit_r1(json!(2)).await.unwrap();
        let sent = h.queue.sent();
        assert_eq!(sent.len(), 1);
        let claim = h.claims.get_now(other.acceptance.id.as_str()).unwrap();
        assert_eq!(sent[0].request_print, claim.request_print);
        let refused_print = claim_print(&fingerprint(
            &key_scope(&submit_on("conn-1", "r1"), &alice()),
            &json!({"type": "echo", "payload": 1}),
        ));
        assert_ne!(claim.request_print, Some(refused_print));
    }

    #[tokio::test]
    async fn a_claim_a_later_try_took_over_is_never_withdrawn() {
        let h = ws_harness();
        let id = JobId::derive(&[
            &key_scope(&submit_on("conn-1", "r1"), &alice()),
            "conn-1:r1",
        ]);
        let mut claim = Claim::pending(
            id.clone(),
            "echo".into(),
            CorrelationId::generate(),
            alice(),
            time::macros::datetime!(2026-11-30 12:00 UTC),
            Duration::from_secs(86_400),
        );
        claim.request_print = Some("p".into());
        h.claims.create(&claim).await.unwrap();
        assert_eq!(h.claims.withdraw(&id).await.unwrap(), Withdrawal::Withdrawn);
        h.claims.create(&claim).await.unwrap();
        // A resubmit takes it over before its writer, whose send failed, withdraws it.
        assert_eq!(
            h.claims.take_over(&id).await.unwrap(),
            TakeOver::TakenOver { held: false }
        );
        assert_eq!(
            h.claims.withdraw(&id).await.unwrap(),
            Withdrawal::Started,
            "the resubmit may have been answered on it"
        );
        assert_eq!(h.claims.len(), 1);
        h.claims.set_status(id.as_str(), JobStatus::Running);
        assert_eq!(h.claims.take_over(&id).await.unwrap(), TakeOver::Started);
        h.claims.sweep(id.as_str());
        assert_eq!(h.claims.take_over(&id).await.unwrap(), TakeOver::Gone);
    }

    #[tokio::test]
    async fn a_resubmit_whose_message_was_not_sent_keeps_the_claim_an_earlier_try_answered_on() {
        let h = ws_harness();
        // The first try was answered `accepted`; the client resubmits all the same.
        let first = h.submit_r1(json!(1)).await.unwrap();
        h.queue.fail.set(true);
        let resubmit = h.submit_r1(json!(1)).await;
        assert!(
            matches!(resubmit, Err(Refusal::Unavailable(_))),
            "{resubmit:?}"
        );
        assert_eq!(h.claims.len(), 1, "the first answer stands");
        assert_eq!(h.queue.sent().len(), 1, "the first try's message names it");
        assert_eq!(h.quotas.slots_held(&alice()), 1);
        h.queue.fail.set(false);
        let third = h.submit_r1(json!(1)).await.unwrap();
        assert!(third.replayed);
        assert_eq!(third.acceptance, first.acceptance);
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn a_claim_written_though_reported_failed_whose_message_failed_keeps_its_one_slot() {
        let h = ws_harness();
        h.claims.fail_after_create.set(true);
        h.queue.fail.set(true);
        let refused = h.submit_r1(json!(1)).await;
        assert!(
            matches!(refused, Err(Refusal::Unavailable(_))),
            "{refused:?}"
        );
        // Its own claim, found as an earlier try's would be: kept for the resubmit, holding
        // the one slot it was written with (given back neither twice nor once).
        assert_eq!(h.claims.len(), 1);
        assert_eq!(h.quotas.slots_held(&alice()), 1);
        h.claims.fail_after_create.set(false);
        h.queue.fail.set(false);
        h.submit_r1(json!(1)).await.unwrap();
        assert_eq!(h.queue.sent().len(), 1);
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn other_work_under_a_used_request_id_leaves_the_jobs_payload_as_it_was() {
        let (h, blobs) = ws_harness_with_blobs();
        let (first, second) = (new_upload(&blobs, "1").await, new_upload(&blobs, "2").await);
        h.intake
            .accept(submit_on("conn-1", "r1"), submitted_upload(&first))
            .await
            .unwrap();
        // Held under the job's id and its request's print.
        let held = h.queue.sent()[0].payload_ref.clone().unwrap().key;
        assert_eq!(blobs.object(&held).as_deref(), Some(&b"1"[..]));
        let reused = h
            .intake
            .accept(submit_on("conn-1", "r1"), submitted_upload(&second))
            .await;
        assert_eq!(reused, Err(Refusal::KeyReused));
        assert_eq!(
            blobs.object(&held).as_deref(),
            Some(&b"1"[..]),
            "the job's payload is the first request's"
        );
    }

    #[tokio::test]
    async fn a_resubmit_keeps_the_payload_an_earlier_try_held_though_its_upload_was_put_again() {
        let (h, blobs) = ws_harness_with_blobs();
        let id = crate::domain::UploadId::generate();
        put_upload(&blobs, &id, "1").await;
        let first = h
            .intake
            .accept(submit_on("conn-1", "r1"), submitted_upload(&id))
            .await
            .unwrap();
        put_upload(&blobs, &id, "2").await;
        let again = h
            .intake
            .accept(submit_on("conn-1", "r1"), submitted_upload(&id))
            .await
            .unwrap();
        assert_eq!(again.acceptance, first.acceptance);
        // Held under the job's id and its request's print.
        let held = h.queue.sent()[0].payload_ref.clone().unwrap().key;
        assert_eq!(
            blobs.object(&held).as_deref(),
            Some(&b"1"[..]),
            "the payload the job was accepted with"
        );
        let sent = h.queue.sent();
        assert_eq!(sent.len(), 2);
        assert!(
            sent.iter()
                .all(|m| m.payload_ref.as_ref().map(|r| &r.key) == Some(&held))
        );
    }

    #[tokio::test]
    async fn a_request_id_reused_after_a_refusal_never_takes_the_refused_requests_payload() {
        let (h, blobs) = ws_harness_with_blobs();
        let (refused, other) = (new_upload(&blobs, "1").await, new_upload(&blobs, "2").await);
        // Held, then refused: its send failed and its claim was withdrawn.
        h.queue.fail.set(true);
        let first = h
            .intake
            .accept(submit_on("conn-1", "r1"), submitted_upload(&refused))
            .await;
        assert!(matches!(first, Err(Refusal::Unavailable(_))), "{first:?}");
        h.queue.fail.set(false);
        // Other work under `r1`, the same id; its claim write reported failed though applied,
        // so it goes on as a try that found its request's claim.
        h.claims.fail_after_create.set(true);
        h.intake
            .accept(submit_on("conn-1", "r1"), submitted_upload(&other))
            .await
            .unwrap();
        let sent = h.queue.sent();
        assert_eq!(sent.len(), 1);
        let key = sent[0].payload_ref.clone().unwrap().key;
        assert_eq!(
            blobs.object(&key).as_deref(),
            Some(&b"2"[..]),
            "its own payload"
        );
    }

    #[tokio::test]
    async fn a_deployment_whose_claims_may_not_outlive_a_connection_keeps_the_idempotency_record() {
        let mut h = harness();
        h.intake.claim_lifetime = Duration::from_secs(60);
        h.submit_r1(json!(1)).await.unwrap();
        assert!(
            !h.keys.is_empty(),
            "a claim may be swept before its connection closes"
        );
    }

    #[tokio::test]
    async fn a_submit_whose_claim_write_was_reported_failed_but_applied_is_accepted() {
        let h = ws_harness();
        h.claims.fail_after_create.set(true);
        let accepted = h.submit_r1(json!(1)).await.unwrap();
        assert_eq!(h.queue.sent().len(), 1);
        assert_eq!(
            h.quotas.slots_held(&alice()),
            1,
            "the claim holds this try's slot"
        );
        assert!(h.claims.get_now(accepted.acceptance.id.as_str()).is_some());
    }

    #[tokio::test]
    async fn a_submit_whose_claim_write_failed_sends_nothing_and_holds_no_slot() {
        let h = ws_harness();
        h.claims.fail_create.set(true);
        let refused = h.submit_r1(json!(1)).await;
        assert!(
            matches!(refused, Err(Refusal::Unavailable(_))),
            "{refused:?}"
        );
        assert!(h.queue.sent().is_empty());
        assert_eq!(h.quotas.slots_held(&alice()), 0);
    }

    #[tokio::test]
    async fn a_resubmit_at_the_callers_limit_is_accepted_other_work_is_not() {
        let h = ws_harness();
        one_job_in_flight(&h);
        let first = h.submit_r1(json!(1)).await.unwrap();
        let again = h.submit_r1(json!(1)).await.unwrap();
        assert_eq!(again.acceptance.id, first.acceptance.id);
        let reused = h.submit_r1(json!(2)).await;
        assert_eq!(reused, Err(Refusal::KeyReused));
        let next = h
            .intake
            .accept(submit_on("conn-1", "r2"), submitted("r2", json!(1)))
            .await;
        assert!(matches!(next, Err(Refusal::QuotaExceeded(_))), "{next:?}");
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[test]
    fn fingerprint_ignores_key_order_but_not_values_or_scope() {
        let a = fingerprint(
            "messages",
            &json!({"type": "echo", "payload": {"a": 1, "b": 2}}),
        );
        let b = fingerprint(
            "messages",
            &serde_json::from_str(r#"{ "payload": {"b": 2, "a": 1}, "type": "echo" }"#).unwrap(),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint(
                "messages",
                &json!({"type": "echo", "payload": {"a": 2, "b": 2}})
            )
        );
        assert_ne!(
            a,
            fingerprint(
                "jobs",
                &json!({"type": "echo", "payload": {"a": 1, "b": 2}})
            )
        );
    }

    /// Alice may have one job in flight.
    fn one_job_in_flight(h: &Harness) {
        h.quotas.set_own_limits(
            &alice(),
            crate::application::quotas::OwnLimits {
                jobs_in_flight: Some(1),
                ..Default::default()
            },
        );
    }

    #[tokio::test]
    async fn a_job_over_the_callers_quota_is_refused_whole_and_its_key_freed() {
        let h = harness();
        one_job_in_flight(&h);
        let first = h
            .intake
            .accept(Door::Jobs, request(Some("k1")))
            .await
            .unwrap();
        let refused = h
            .intake
            .accept(Door::Jobs, request(Some("k2")))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, Refusal::QuotaExceeded(e) if e.limit == 1),
            "{refused:?}"
        );
        assert_eq!(h.queue.sent().len(), 1, "nothing more queued");
        assert_eq!(h.claims.len(), 1, "no claim written");
        assert_eq!(h.quotas.slots_held(&alice()), 1);
        // The first job ends: its slot is given back, and the refused request's key was
        // freed, so its retry is accepted.
        assert!(
            crate::application::ports::QuotaStore::release_job(&*h.quotas, &first.acceptance.id)
                .await
                .unwrap()
                .is_some()
        );
        h.intake
            .accept(Door::Jobs, request(Some("k2")))
            .await
            .unwrap();
        // A replay takes no slot.
        let replay = h
            .intake
            .accept(Door::Jobs, request(Some("k2")))
            .await
            .unwrap();
        assert!(replay.replayed);
        assert_eq!(h.quotas.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn a_job_not_accepted_gives_its_slot_back() {
        let h = harness();
        h.queue.fail.set(true);
        h.claims.fail_create.set(true);
        assert!(h.intake.accept(Door::Jobs, request(None)).await.is_err());
        assert_eq!(h.quotas.slots_held(&alice()), 0);
    }

    #[tokio::test]
    async fn messages_hold_no_slot() {
        let h = harness();
        one_job_in_flight(&h);
        for _ in 0..3 {
            h.intake
                .accept(Door::Messages, request(None))
                .await
                .unwrap();
        }
        assert_eq!(h.quotas.slots_held(&alice()), 0);
    }
}
