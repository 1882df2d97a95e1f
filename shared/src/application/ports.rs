//! The ports courier's handlers depend on. AWS adapters live in [`crate::adapters::aws`], in-memory ones in
//! [`crate::adapters::memory`]; handlers never name a concrete store or queue.

use crate::domain::{
    CallbackEvent, CallbackStatus, Claim, EndpointId, IdempotencyKey, JobEvent, JobId, JobStatus,
    Principal, ReplyTo, SealedSecret, WebhookEndpoint, WorkId, WorkMessage,
};
use async_trait::async_trait;
use courier_protocol::webhook::Secret;
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;

/// A dependency (queue, table) could not do what was asked. Always worth retrying later.
#[derive(Debug, Error)]
#[error("{operation} failed: {detail}")]
pub struct PortError {
    pub operation: &'static str,
    pub detail: String,
}

impl PortError {
    pub fn new(operation: &'static str, detail: impl Into<String>) -> Self {
        Self {
            operation,
            detail: detail.into(),
        }
    }
}

/// Durable hand-off of accepted work. `Ok` means the queue has stored the message.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// `delay_seconds` holds the message back before any consumer can see it.
    async fn enqueue(&self, envelope: &WorkMessage, delay_seconds: u32) -> Result<(), PortError>;
}

/// The response an idempotent request produced, kept so a retry can be answered identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// Lower-case header names with their values, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What the idempotency store says about a key when a request arrives with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// This request owns the key: do the work under `id`, then `complete` (or `release` on
    /// failure). `id` is the one proposed to `acquire` when the key was free (never used, or
    /// past its window), or the id an earlier try of this same request took it with, whose lock
    /// has lapsed (that try may have written its claim and message: the retry names them).
    Acquired { id: JobId },
    /// The same request was completed before: answer with its response.
    Replay(StoredResponse),
    /// The same request is being handled right now by another invocation.
    InProgress,
    /// The key was used with a different request body.
    KeyReused,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// `scope` separates doors and callers; `fingerprint` identifies the request body;
    /// `owner` is recorded with the key; `fresh` is the id new work under the key gets, kept
    /// with the key for the retries of this request.
    async fn acquire(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        owner: &Principal,
        fresh: &JobId,
    ) -> Result<IdempotencyClaim, PortError>;
    async fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), PortError>;
    /// The request that acquired the key was not accepted (a dependency failed, and its writes
    /// may have been applied all the same): the key stays that request's, with its id, and is
    /// unlocked at once, so the client's retry of it takes the key over and names the same work.
    async fn unlock(&self, scope: &str, key: &IdempotencyKey) -> Result<(), PortError>;
}

/// Why a caller's token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenRejected {
    /// Malformed, badly signed, expired, or of another issuer or audience.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The issuer's keys could not be had: nobody can be let in just now.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// Checks a caller's token and says whose it is.
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    async fn verify(&self, token: &str) -> Result<Principal, TokenRejected>;
}

/// Why a message ended up failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The job said it can never succeed.
    Permanent,
    /// Transient failures used up every receive the queue allows.
    RetriesExhausted,
    /// The job ran past its type's timeout, whose policy is to fail.
    Timeout,
    /// The message is not a courier envelope.
    Unparseable,
    /// SQS redrive moved the message to the dead-letter queue with no outcome recorded.
    DeadLettered,
    /// The claim's lifetime ran out before the job could finish (it never ran, or its retries
    /// outlasted the claim).
    Expired,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::RetriesExhausted => "retries-exhausted",
            Self::Timeout => "timeout",
            Self::Unparseable => "unparseable",
            Self::DeadLettered => "dead-lettered",
            Self::Expired => "expired",
        }
    }

    /// The kind a record names, if courier knows it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub const ALL: [Self; 6] = [
        Self::Permanent,
        Self::RetriesExhausted,
        Self::Timeout,
        Self::Unparseable,
        Self::DeadLettered,
        Self::Expired,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: String,
}

/// Whether a write made a record or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    AlreadyThere,
}

/// What taking back a claim whose message may not have been queued found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// It had never started (or was not there): gone now, and no message will run it.
    Withdrawn,
    /// A delivery has started it (its message was queued after all), or another try of its
    /// request has taken it over ([`ClaimStore::take_over`], and may have been answered on
    /// it): the claim stays.
    Started,
}

/// What a try's taking over an earlier try's claim found ([`ClaimStore::take_over`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOver {
    /// Marked as taken over: the try that wrote it no longer withdraws it. `held`: a delivery
    /// has held its message back (the ordered queue), so that message is queued, and a second
    /// one would share the claim's one note of held receives with it.
    TakenOver { held: bool },
    /// A delivery has started it: its message was queued.
    Started,
    /// It is gone (withdrawn by the try that wrote it): this try may write it again.
    Gone,
}

/// What cancelling a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    Cancelled(Claim),
    /// The job already started (or finished): cancelling is no longer possible.
    TooLate(Claim),
    NotFound,
}

/// Where a page of a caller's list starts: just after the item created at `created_at`
/// (courier's fixed-width UTC format) with id `id`. Lists run newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListPosition {
    #[serde(rename = "at")]
    pub created_at: String,
    pub id: String,
}

/// One page of a caller's list, and where the next starts (`None`: this is the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<ListPosition>,
}

/// What a FAILED job's claim keeps for a rerun.
#[derive(Debug, Clone, PartialEq)]
pub struct RerunSource {
    /// Its work message (`None`: the claim keeps none: it failed before it ran).
    pub message: Option<WorkMessage>,
    /// The highest redrive that reopened it so far.
    pub redrives: u32,
    /// How many events its timeline holds.
    pub events: usize,
}

/// Which of a caller's jobs a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    /// Created at or after.
    pub created_from: Option<OffsetDateTime>,
    /// Created before.
    pub created_until: Option<OffsetDateTime>,
}

impl JobFilter {
    /// Whether its creation window holds no instant at all (from not before until).
    pub fn window_is_empty(&self) -> bool {
        matches!((self.created_from, self.created_until), (Some(from), Some(until)) if from >= until)
    }

    /// Whether `claim` is one the filter shows (the store filters too; this holds the page to
    /// the claims as they are when read).
    pub fn admits(&self, claim: &Claim, now: OffsetDateTime) -> bool {
        !claim.is_expired(now)
            && self.status.is_none_or(|s| s == claim.status)
            && self.job_type.as_deref().is_none_or(|t| t == claim.job_type)
            && self
                .created_from
                .is_none_or(|from| claim.created_at >= from)
            && self
                .created_until
                .is_none_or(|until| claim.created_at < until)
    }
}

/// The claim records callers poll (`JOB#<id>`): created at submission, read on status requests.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Writes a new claim. A claim already stored under the id is left as it is: ids are
    /// random or derived from one request, so it is this request's, written by an earlier try.
    async fn create(&self, claim: &Claim) -> Result<Created, PortError>;
    /// The claim as stored, expired or not: expiry is the caller's decision.
    async fn get(&self, id: &JobId) -> Result<Option<Claim>, PortError>;
    /// PENDING → CANCELLED, only if still PENDING, not expired at `now` and `owner`'s: another
    /// caller's claim is `NotFound`, as if it did not exist.
    async fn cancel(
        &self,
        id: &JobId,
        owner: &Principal,
        now: OffsetDateTime,
    ) -> Result<CancelOutcome, PortError>;
    /// Compensation for a claim whose job may not have been enqueued: removes it only while no
    /// delivery has started it (`PENDING`, no attempt) and no other try has taken it over, in
    /// one conditional write.
    async fn withdraw(&self, id: &JobId) -> Result<Withdrawal, PortError>;
    /// Marks an unstarted claim as taken over by a try of its request that found it (whose
    /// message may never have gone out, so that try sends one): from then on nobody withdraws
    /// it, since that try may be answered on it. One conditional write.
    async fn take_over(&self, id: &JobId) -> Result<TakeOver, PortError>;
    /// Sends the job's frames to `to` from now on (a resubmit on a new connection), if the
    /// claim is `owner`'s: the claim as it is now, or `None` if there is no such claim of
    /// theirs.
    async fn redirect(
        &self,
        id: &JobId,
        owner: &Principal,
        to: &ReplyTo,
    ) -> Result<Option<Claim>, PortError>;
    /// Up to `limit` of `owner`'s unexpired claims that `filter` admits, newest first, from
    /// just after `after`. A page may hold fewer (the store reads a bounded amount per page)
    /// and still have a next one.
    async fn list(
        &self,
        owner: &Principal,
        filter: &JobFilter,
        after: Option<&ListPosition>,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Page<Claim>, PortError>;
    /// Has `id`'s claim carry `slot`, the job slot its work for later took as it came due, in
    /// place of `replacing` (the slot it was seen with, no longer counted) or of none: only
    /// while it is PENDING and carries exactly that (`false` otherwise: another delivery gave
    /// it one, or it will never start).
    async fn carry_slot(
        &self,
        id: &JobId,
        slot: &str,
        replacing: Option<&str>,
    ) -> Result<bool, PortError>;
    /// What a rerun of the FAILED job `id` needs to know (`None`: no such claim).
    async fn rerun_source(&self, id: &JobId) -> Result<Option<RerunSource>, PortError>;
    /// `FAILED → PENDING` for `owner`'s unexpired job, as the rerun numbered `redrive` (once:
    /// `false` if it is not FAILED, not theirs, or that rerun or a later redrive reopened it).
    /// Its callback, if any, delivers the rerun's outcome as a new round when it ends; the
    /// claim carries `slot` (the job slot the rerun took) until then.
    async fn rerun(
        &self,
        id: &JobId,
        owner: &Principal,
        redrive: u32,
        slot: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, PortError>;
}

/// Callers' webhook endpoints (`ENDPOINT#<id>`).
#[async_trait]
pub trait WebhookEndpointStore: Send + Sync {
    /// Stores a new endpoint (its id is fresh and random).
    async fn create(&self, endpoint: &WebhookEndpoint) -> Result<(), PortError>;
    async fn get(&self, id: &EndpointId) -> Result<Option<WebhookEndpoint>, PortError>;
    /// Replaces the endpoint's secrets (and revision) if it is still at `revision - 1`:
    /// `false` if another change came first or it is gone.
    async fn replace_secrets(&self, endpoint: &WebhookEndpoint) -> Result<bool, PortError>;
    /// Removes it if `owner`'s: `false` if there was no such endpoint of theirs.
    async fn delete(&self, id: &EndpointId, owner: &Principal) -> Result<bool, PortError>;
    /// Up to `limit` of `owner`'s endpoints of `kind`, newest first, from just after `after`.
    async fn list(
        &self,
        owner: &Principal,
        kind: crate::domain::EndpointKind,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<Page<WebhookEndpoint>, PortError>;
}

/// What a sealed secret is bound to: opening it under any other endpoint or owner fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealingContext {
    pub endpoint: EndpointId,
    pub owner: Principal,
}

impl SealingContext {
    pub fn of(endpoint: &WebhookEndpoint) -> Self {
        Self {
            endpoint: endpoint.id.clone(),
            owner: endpoint.owner.clone(),
        }
    }
}

/// The stack's bucket: payloads and results too large to travel inline, and callers' uploads.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &crate::domain::BlobKey, bytes: Vec<u8>) -> Result<(), PortError>;
    /// The object, unless it is over `limit` bytes (then its size, unread).
    async fn get(&self, key: &crate::domain::BlobKey, limit: u64) -> Result<Fetched, PortError>;
    /// The object's size and version tag; `None`: there is no such object.
    async fn head(&self, key: &crate::domain::BlobKey) -> Result<Option<ObjectInfo>, PortError>;
    /// Copies the object, if it is still the version `etag` names, within the bucket (no bytes
    /// pass through the function); `false` if it changed meanwhile (or is gone).
    async fn copy(
        &self,
        from: &crate::domain::BlobKey,
        etag: &str,
        to: &crate::domain::BlobKey,
    ) -> Result<bool, PortError>;
    /// A presigned `GET` of the object, valid for `lifetime`.
    async fn download_url(
        &self,
        key: &crate::domain::BlobKey,
        lifetime: Duration,
    ) -> Result<String, PortError>;
    /// A presigned `PUT` of the object, valid for `lifetime`.
    async fn upload_url(
        &self,
        key: &crate::domain::BlobKey,
        lifetime: Duration,
    ) -> Result<String, PortError>;
}

/// Callers' recurring schedules, as the API lists them.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    async fn create(&self, schedule: &crate::domain::schedule::Schedule) -> Result<(), PortError>;
    async fn get(
        &self,
        id: &crate::domain::schedule::ScheduleId,
    ) -> Result<Option<crate::domain::schedule::Schedule>, PortError>;
    /// Pauses or resumes `owner`'s schedule: `false` if there is none of theirs.
    async fn set_paused(
        &self,
        id: &crate::domain::schedule::ScheduleId,
        owner: &Principal,
        paused: bool,
    ) -> Result<bool, PortError>;
    /// Removes `owner`'s schedule: `false` if there was none of theirs.
    async fn delete(
        &self,
        id: &crate::domain::schedule::ScheduleId,
        owner: &Principal,
    ) -> Result<bool, PortError>;
    async fn list(
        &self,
        owner: &Principal,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<Page<crate::domain::schedule::Schedule>, PortError>;
}

/// The scheduler that fires schedules: each firing a [`courier_protocol::queue::ScheduleRun`]
/// on the work queue.
#[async_trait]
pub trait RecurringScheduler: Send + Sync {
    /// Makes it (paused or not); one already made under its id is brought to this definition.
    /// A definition the scheduler will not take (e.g. a time zone it does not know) is
    /// [`Definition::Refused`], with its reason: the caller's mistake, not an outage.
    async fn put(
        &self,
        schedule: &crate::domain::schedule::Schedule,
    ) -> Result<Definition, PortError>;
    /// Brings an existing one to this definition (a pause, a resume): `false` if it is gone
    /// (never made again by this).
    async fn update(&self, schedule: &crate::domain::schedule::Schedule)
    -> Result<bool, PortError>;
    /// Removes it; one already gone is fine.
    async fn delete(&self, id: &crate::domain::schedule::ScheduleId) -> Result<(), PortError>;
}

/// What the scheduler made of a schedule's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Definition {
    Taken,
    Refused(String),
}

/// What reading an object found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Missing,
    /// Over the limit asked for: its size.
    TooLarge(u64),
    Bytes(Vec<u8>),
}

/// An object's size and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
}

/// The bus job state change events are published on.
#[async_trait]
pub trait JobEventBus: Send + Sync {
    /// Publishes up to ten events, in order: how many from the first were published (the rest
    /// were refused); `Err` when none could be.
    async fn publish(
        &self,
        events: &[courier_protocol::events::JobStateChange],
    ) -> Result<usize, PortError>;
}

/// Proves a new destination can be delivered to: the notifier (whose role the destination's
/// policy must allow) delivers a signed verification to it.
#[async_trait]
pub trait DestinationProbe: Send + Sync {
    /// `Ok(Err(reason))`: the destination refused, or does not exist; `Err`: courier could not
    /// tell (its own dependency failed).
    async fn probe(&self, destination: &EndpointId) -> Result<Result<(), String>, PortError>;
}

/// Encrypts webhook secrets for storage and decrypts them to sign (a key service).
#[async_trait]
pub trait SecretSealer: Send + Sync {
    async fn seal(
        &self,
        secret: &Secret,
        context: &SealingContext,
    ) -> Result<SealedSecret, PortError>;
    async fn open(
        &self,
        sealed: &SealedSecret,
        context: &SealingContext,
    ) -> Result<Secret, PortError>;
}

/// The signing secrets of a declared job type's HTTP target: the first signs, all sign during
/// a rotation (a secret store the operator writes, the processor only reads).
#[async_trait]
pub trait TargetSecrets: Send + Sync {
    async fn secrets(&self, job_type: &str) -> Result<Vec<Secret>, PortError>;
}

/// An attempt handed to a worker that finishes later.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskBegin {
    pub attempt: u32,
    /// The attempt's number since the last operator redrive (what the budget counts).
    pub round: u32,
    /// The digest of the attempt's task token (the token itself is never stored).
    pub digest: String,
    /// The attempt's overall deadline.
    pub attempt_by: time::OffsetDateTime,
    pub heartbeat: Option<Duration>,
    /// The work message's body, to run the job again or dead-letter it.
    pub envelope: String,
}

/// A job's attempt as the processor's look at it finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    pub running: bool,
    pub task: Option<crate::domain::TaskState>,
    /// Where the job's frames go.
    pub reply_to: Option<ReplyTo>,
    /// How the job ended, once it has.
    pub ending: Option<Ending>,
}

/// What a report did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportAnswer {
    /// Recorded on the claim (or the same outcome was already): the claim as it is now, and
    /// `settle` when the report ends the attempt and the processor is to be told.
    Recorded {
        claim: Option<Box<Claim>>,
        settle: bool,
    },
    Refused(ReportRefusal),
}

/// Why a report changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportRefusal {
    /// No attempt has this token: forged, another job's, or for no job at all.
    Unknown,
    /// The token's attempt is over; another one runs (or ran) the job.
    Stale,
    /// The job has finished.
    Finished,
    /// The attempt's deadline passed.
    Expired,
    /// The attempt already reported a different outcome.
    AlreadyReported,
}

/// Attempts of jobs whose workers finish later, on their claims.
#[async_trait]
pub trait TaskLedger: Send + Sync {
    /// Hands the job's running `begin.attempt` to a worker (only while it is that attempt).
    async fn begin(&self, job: &JobId, begin: &TaskBegin) -> Result<bool, PortError>;
    /// The worker acknowledged: no delivery waits on the attempt any more; a copy of the work
    /// message finds the job running under the worker's lease until `attempt_by`.
    async fn acknowledged(
        &self,
        job: &JobId,
        attempt: u32,
        attempt_by: time::OffsetDateTime,
    ) -> Result<bool, PortError>;
    /// A worker's report, checked against the claim in the write itself.
    async fn report(
        &self,
        token: &crate::domain::TaskToken,
        report: &courier_protocol::task::TaskReport,
    ) -> Result<ReportAnswer, PortError>;
    /// The job's attempt as stored (a consistent read); `None`: no claim.
    async fn task(&self, job: &JobId) -> Result<Option<TaskView>, PortError>;
    /// Takes the attempt back from its worker before the job runs again: its lease goes, and
    /// copies of the job's message may start it. Only while it is this attempt and nothing was
    /// reported (false: leave the attempt to be settled).
    async fn release(&self, job: &JobId, attempt: u32) -> Result<bool, PortError>;
    /// Ends the attempt without an outcome, so the job can run again: only if it is still
    /// this attempt. Records `reason` as the job's last error.
    async fn retire(&self, job: &JobId, attempt: u32, reason: &str) -> Result<bool, PortError>;
    /// The attempt's ending has been told (final frame, callback started): later looks at it
    /// have nothing to do.
    async fn settled(&self, job: &JobId, attempt: u32) -> Result<(), PortError>;
    /// Moves the attempt's timer from `due` (none: the first) to `next`; false if another
    /// timer moved it first (that one goes on, this one stops).
    async fn rearm(
        &self,
        job: &JobId,
        attempt: u32,
        due: Option<i64>,
        next: i64,
    ) -> Result<bool, PortError>;
}

/// Where a look at an attempt is sent: the work queue, after `delay` (at most 15 minutes: a
/// later look is re-sent from there).
#[async_trait]
pub trait TaskChecks: Send + Sync {
    async fn schedule(
        &self,
        check: &courier_protocol::queue::TaskCheck,
        delay: Duration,
    ) -> Result<(), PortError>;
}

/// How a finished job ended, as its record keeps it: what its client's last frame says.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    Succeeded(Value),
    /// Succeeded with a result held in the bucket, of this many bytes.
    Held {
        bytes: u64,
    },
    Failed(Failure),
    Cancelled,
}

impl Ending {
    /// How the job on this claim ended; `None` while it has not.
    pub fn of(claim: &Claim) -> Option<Self> {
        match claim.status {
            JobStatus::Succeeded if claim.result_ref.is_some() => Some(Self::Held {
                bytes: claim.result_bytes.unwrap_or(0),
            }),
            JobStatus::Succeeded => {
                Some(Self::Succeeded(claim.result.clone().unwrap_or(Value::Null)))
            }
            JobStatus::Failed => Some(Self::Failed(Failure {
                kind: claim
                    .error
                    .as_ref()
                    .and_then(|e| FailureKind::parse(&e.kind))
                    .unwrap_or(FailureKind::Permanent),
                reason: claim
                    .error
                    .as_ref()
                    .map(|e| e.reason.clone())
                    .unwrap_or_default(),
            })),
            JobStatus::Cancelled => Some(Self::Cancelled),
            JobStatus::Pending | JobStatus::Running => None,
        }
    }
}

/// Where the processor stands with one message, as recorded before it runs the job.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptStart {
    /// Run the job. `attempt` counts its runs, starting at 1; `round` counts them since the
    /// last operator redrive (the same as `attempt` if it was never redriven): what the retry
    /// budget spends.
    Run { attempt: u32, round: u32 },
    /// The record is terminal (or cancelled): nothing to run. `ending` and `reply_to` are
    /// what the record says, so a delivery that stopped between recording the outcome and
    /// sending its frame can be finished by the next.
    AlreadyFinished {
        ending: Option<Ending>,
        reply_to: Option<ReplyTo>,
    },
    /// A delivery holds the job's lease for `remaining`: another copy running it now, or an
    /// earlier run of this one that could not record its outcome. Looked at again after it.
    RunningElsewhere { remaining: Duration },
    /// A worker that finishes later holds the job's running attempt, and its timer decides
    /// what comes next (a rerun sends a message of its own): this copy is not needed.
    WithWorker,
    /// No claim (yet): the message can outrun its claim's write, which the intake makes at
    /// the same time; or the job was never accepted.
    NoClaim,
    /// The claim is past its lifetime and the job has not finished: it is not run, but ended
    /// (`expire`).
    Expired,
}

/// What a look at a unit of work's record found.
#[derive(Debug, Clone, PartialEq)]
pub struct Looked {
    /// What a start would find.
    pub start: AttemptStart,
    /// The attempts the record counted (`None`: no record, or none counted): a later write is
    /// made only if no attempt has started since.
    pub seen: Option<u32>,
    /// The receives of one SQS message held back behind its group (see
    /// [`MessageLedger::note_held`]); `None`: none noted.
    pub held: Option<HeldReceives>,
}

/// Receives of an ordered-queue message that ran nothing through no fault of its own: it was
/// held back behind a failed message of its group, or left for a later invocation's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldReceives {
    /// The SQS message they were receives of (a redriven job's message is a new one).
    pub message_id: String,
    pub count: u32,
}

impl Looked {
    /// How many of SQS message `message_id`'s receives were held back.
    pub fn held_receives_of(&self, message_id: &str) -> u32 {
        self.held
            .as_ref()
            .filter(|held| held.message_id == message_id)
            .map_or(0, |held| held.count)
    }
}

/// What recording a short attempt's start and outcome in one write came to.
#[derive(Debug, Clone, PartialEq)]
pub enum QuickOutcome {
    /// Recorded, as a write that ended the job answers (a job's slot given back and its
    /// callback marked by the same write).
    Recorded(Ended),
    /// Another delivery started (or ended) the work since the look: what a start finds now.
    Refused(AttemptStart),
}

/// What a write that ended a job answers (a write refused because the job had ended already
/// answers the same, with nothing marked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// Where the job's frames go now (`None`: as the message says).
    pub reply_to: Option<ReplyTo>,
    /// The write also started the job's callback delivery (its first round: the claim's
    /// `WAITING → QUEUED`, made with the job's success or failure, on the condition that it
    /// still stood WAITING): only its message is left to send
    /// ([`CallbackStarter::queue_marked`]).
    pub callback_marked: bool,
}

/// Whether the write of `event` that ends `envelope`'s job also marks its callback's delivery
/// QUEUED ([`Ended::callback_marked`]), in every ledger: a success or failure of a job that has
/// a callback, in its first round (no redrive or rerun yet). A later round's delivery restarts
/// from wherever the last round's stands, and an expiry's or a dead letter's is started as any
/// ended job's: the start's own conditional write sees to both.
pub fn marks_callback(envelope: &WorkMessage, event: JobEvent) -> bool {
    envelope.has_callback
        && matches!(WorkId::of(envelope), WorkId::Job(_))
        && envelope.redrive == 0
        && matches!(event, JobEvent::Succeed | JobEvent::Fail)
}

impl Ended {
    /// Where a job's frames go, as a read (or a write that did not end it) found: its
    /// callback's start is left to [`CallbackStarter::start`].
    pub fn unmarked(reply_to: Option<ReplyTo>) -> Self {
        Self {
            reply_to,
            callback_marked: false,
        }
    }

    /// The same, its frames going to `reply_to` where the write named no connection.
    pub fn or_told(self, reply_to: Option<&ReplyTo>) -> Self {
        Self {
            reply_to: self.reply_to.or_else(|| reply_to.cloned()),
            ..self
        }
    }
}

/// What abandoning a job whose message SQS dead-lettered found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Abandonment {
    /// It was PENDING or RUNNING with no live lease (or a fire-and-forget message had no
    /// record yet): it is FAILED now, as `dead-lettered`.
    Abandoned(Ended),
    /// A delivery still holds the job's lease for `remaining`: that run records its own outcome.
    Leased { remaining: Duration },
    /// It had ended; `failure_kind` is the recorded kind of a FAILED job, `reply_to` where its
    /// frames go.
    Ended {
        status: JobStatus,
        failure_kind: Option<String>,
        reply_to: Option<ReplyTo>,
    },
    /// The claim is gone (expired) or never existed.
    Missing,
}

/// The processor's record of each message, so a redelivery is a no-op and outcomes are visible.
/// A write that ends a job (success, failure, expiry, abandonment) also gives back the job
/// slot its claim holds, once: the write moves it off the claim, and the delivery whose write
/// that was gives the caller's count back. A success or failure of a job with a callback
/// (`has_callback`), in its first round (no redrive or rerun: `redrive` 0), also marks the
/// delivery QUEUED ([`Ended::callback_marked`]), on the condition that it still stands WAITING
/// — which fails only for a copy of a first round's message that outlived its round, while a
/// later round holds the job: that copy's outcome is not recorded.
#[async_trait]
pub trait MessageLedger: Send + Sync {
    /// Starts an attempt and takes the job's lease for `lease` (the attempt's longest run).
    async fn start_attempt(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
    ) -> Result<AttemptStart, PortError>;
    /// Where the work stands, read without writing (strongly consistent): `start` is what
    /// [`Self::start_attempt`] would find now (its `Run`, the attempt it would make). A short
    /// attempt runs on a look and records its start with its outcome (below); one that
    /// outlives [`crate::application::processor::LEASE_AFTER`] or reports progress takes its
    /// lease first ([`Self::start_seen`]).
    async fn look(&self, envelope: &WorkMessage) -> Result<Looked, PortError>;
    /// Notes one more held-back receive of SQS message `message_id` on the job's record, if it
    /// has one (nothing is created). Counted for that message only: a new message starts at 0.
    async fn note_held(&self, envelope: &WorkMessage, message_id: &str) -> Result<(), PortError>;
    /// Notes that at least `count` receives of SQS message `message_id` were held back (a
    /// message behind others of its group that succeeded has had no failed receive of its
    /// own: `processor/ordered.rs`); a count noted already that is higher stands.
    async fn note_held_at_least(
        &self,
        envelope: &WorkMessage,
        message_id: &str,
        count: u32,
    ) -> Result<(), PortError>;
    /// [`Self::start_attempt`], only if no attempt has started since the look that saw
    /// `seen` attempts (`None`: none, or no record).
    async fn start_seen(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<u32>,
    ) -> Result<AttemptStart, PortError>;
    /// An attempt that ran without a lease (it began at `began`) and succeeded: its start and
    /// its success in one conditional write, made only if the work may still start and no
    /// attempt has started since the look that saw `seen`. Refused: what a start finds now —
    /// the outcome is not recorded (another delivery's is, or will be; or the job was
    /// cancelled, withdrawn or expired meanwhile, and no run of it is).
    async fn record_quick_success(
        &self,
        envelope: &WorkMessage,
        seen: Option<u32>,
        began: time::OffsetDateTime,
        result: &crate::domain::KeptResult,
    ) -> Result<QuickOutcome, PortError>;
    // The writes after which a frame may be due answer where the job's frames go now: the
    // connection and request the record names (`None`: as the message says).
    /// `milestone`: the progress milestone this update passes, which the job's timeline
    /// notes (`domain::timeline::milestone`).
    async fn record_progress(
        &self,
        work: &WorkId,
        percent: u8,
        milestone: Option<u8>,
    ) -> Result<Option<ReplyTo>, PortError>;
    async fn record_success(
        &self,
        envelope: &WorkMessage,
        result: &crate::domain::KeptResult,
    ) -> Result<Ended, PortError>;
    /// A job's claim keeps its work message from now on: what a rerun sends again.
    async fn record_failure(
        &self,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Ended, PortError>;
    /// `PENDING | RUNNING → FAILED` for a job whose claim expired before it finished
    /// (`JobEvent::Expire`); a job that ended meanwhile is left as it is.
    async fn expire(&self, envelope: &WorkMessage, failure: &Failure) -> Result<Ended, PortError>;
    /// A transient failure that will be retried: the record stays non-terminal.
    async fn record_retry(&self, work: &WorkId, reason: &str) -> Result<(), PortError>;
    /// Ends a job SQS gave up on (`JobEvent::Abandon`) with `failure`, unless a delivery holds
    /// its lease or it has ended.
    async fn abandon(
        &self,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Abandonment, PortError>;
}

/// A message that reached the dead-letter queue, with the attributes it travelled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub body: String,
    pub message_id: Option<String>,
    pub correlation_id: Option<String>,
    pub failure: Failure,
    /// The X-Ray trace it was accepted under, kept so a redrive continues it.
    pub trace: Option<crate::telemetry::TraceHeader>,
    /// The request a derived-id job's message names (`WorkMessage::request_print`), kept so a
    /// redrive still runs only that request's claim.
    pub request_print: Option<String>,
}

/// Sends a message that must not be retried straight to its dead-letter queue.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), PortError>;
}

/// Decides a received message's next delivery: later (SQS visibility), so retries back off,
/// or none (deleted before its batch answers).
#[async_trait]
pub trait RetryScheduler: Send + Sync {
    async fn retry_after(
        &self,
        source_queue_arn: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), PortError>;
    /// Deletes handled messages (at most ten) of one queue now, rather than when the batch
    /// answers (the event source deletes them then too, which finds them gone).
    async fn acknowledge(
        &self,
        source_queue_arn: &str,
        receipt_handles: &[String],
    ) -> Result<(), PortError>;
}

/// Starts a finished job's callback delivery: only a claim whose job is terminal and whose
/// callback the notifier has not taken yet (WAITING or QUEUED) is queued for the notifier, so
/// a redelivered work message completes an interrupted start and never starts a second
/// delivery once the notifier has one.
#[async_trait]
pub trait CallbackStarter: Send + Sync {
    async fn start(&self, envelope: &WorkMessage) -> Result<(), PortError>;
    /// Sends the delivery's message for a claim the write that ended its job marked QUEUED
    /// already ([`Ended::callback_marked`]): the start without its own write. Unsent, the work
    /// message's redelivery finds the job ended and [`Self::start`]s it (QUEUED may start again).
    async fn queue_marked(&self, envelope: &WorkMessage) -> Result<(), PortError>;
}

/// A callback delivery's progress, written onto the claim after each attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUpdate {
    /// What the attempt did to the delivery; the stored state follows the callback lifecycle.
    pub event: CallbackEvent,
    pub attempts: u32,
    /// The count of attempts this one follows: the update applies only while the claim still
    /// says so (another copy of the delivery that got there first owns it). `None`: whatever
    /// the count.
    pub follows: Option<u32>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    /// How long the attempt's request took (none when no request was made).
    pub duration_ms: Option<u64>,
    /// The round of the delivery it is about (the job's outcome after its `round`-th redrive
    /// or rerun): an update of an earlier round's copy never lands on a later round.
    pub round: u32,
}

impl CallbackUpdate {
    /// The delivery ends FAILED without another request: its count of attempts made and its
    /// last answer stay as they are.
    pub fn give_up(round: u32, attempts: u32, last_status: Option<u16>, reason: String) -> Self {
        Self {
            event: CallbackEvent::GiveUp,
            attempts,
            follows: None,
            last_status,
            last_error: Some(reason),
            next_attempt_at: None,
            delivered_at: None,
            duration_ms: None,
            round,
        }
    }

    /// The state `event` leads to.
    pub fn state(&self) -> CallbackStatus {
        crate::domain::lifecycle::callback::target(self.event)
    }
}

#[async_trait]
pub trait CallbackLedger: Send + Sync {
    /// Records an attempt's outcome; never moves a settled (delivered or failed) callback.
    /// `false`: not applied (settled, or another attempt was recorded since).
    async fn record(&self, job: &JobId, update: &CallbackUpdate) -> Result<bool, PortError>;
    /// An operator redrove a failed delivery: FAILED → QUEUED, once per `redrive` number.
    /// `false` when the callback is not FAILED or this redrive already reopened it.
    async fn reopen(&self, job: &JobId, redrive: u32) -> Result<bool, PortError>;
}

/// A WebSocket connection as recorded at `$connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    /// Who connected: the jobs submitted on the connection are theirs.
    pub owner: Option<Principal>,
    pub connected_at: OffsetDateTime,
    /// When the record may be deleted (DynamoDB TTL): after API Gateway's 2-hour limit.
    pub expires_at: OffsetDateTime,
}

/// The connection records (`CONN#<id>`) and their per-connection frame counter.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn open(&self, connection: &Connection) -> Result<(), PortError>;
    /// Forgets a connection, answering whose it was; forgetting one that is already gone is
    /// not an error (and answers nobody).
    async fn close(&self, connection_id: &str) -> Result<Option<Principal>, PortError>;
    /// Takes the connection's next frame number (1, 2, 3, ... atomically), or `None` when the
    /// connection is no longer recorded (nobody is listening) or, with `owner`, is not theirs:
    /// send nothing.
    async fn next_seq(
        &self,
        connection_id: &str,
        owner: Option<&Principal>,
    ) -> Result<Option<u64>, PortError>;
}

/// What happened to a frame posted to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOutcome {
    Delivered,
    /// API Gateway no longer knows the connection (`GoneException`).
    Gone,
}

/// API Gateway's `@connections` management API.
#[async_trait]
pub trait ConnectionPoster: Send + Sync {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<PostOutcome, PortError>;
}

/// Where callers' quotas are counted (`application/quotas.rs` says what is counted when).
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// The limits an operator set for `owner` (none: all the deployment's).
    async fn own_limits(
        &self,
        owner: &Principal,
    ) -> Result<crate::domain::quota::OwnLimits, PortError>;
    /// Counts a request in the Unix second `second`; false, counting nothing, when `limit`
    /// were counted in it already.
    async fn count_request(
        &self,
        owner: &Principal,
        second: i64,
        limit: u32,
    ) -> Result<bool, PortError>;
    /// Takes a slot of `owner`'s jobs in flight, in `generation`, for `job`: the slot its claim
    /// is to carry, or `None`, taking nothing, when `limit` are taken (this generation's and the
    /// last one's together).
    async fn take_job_slot(
        &self,
        owner: &Principal,
        job: &JobId,
        generation: u64,
        limit: u32,
    ) -> Result<Option<crate::domain::quota::JobSlot>, PortError>;
    /// Gives `slot` back (taken for a claim this request did not write).
    async fn give_back_job_slot(
        &self,
        slot: &crate::domain::quota::JobSlot,
    ) -> Result<(), PortError>;
    /// Gives back the slot `job`'s claim holds, once: the slot, if it held one.
    async fn release_job(
        &self,
        job: &JobId,
    ) -> Result<Option<crate::domain::quota::JobSlot>, PortError>;
    /// Counts connection `connection` until the Unix time `until`; false when `limit` live
    /// ones (those whose `until` is after `now`) are counted already.
    async fn open_connection(
        &self,
        owner: &Principal,
        connection: &str,
        until: i64,
        now: i64,
        limit: u32,
    ) -> Result<bool, PortError>;
    async fn close_connection(&self, owner: &Principal, connection: &str) -> Result<(), PortError>;
}
