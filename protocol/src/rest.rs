//! The HTTP API's request and response bodies (`/v1/messages`, `/v1/jobs`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The RFC 9457 problem type prefix; the rest is the slug (`job-not-found`, ...).
pub const PROBLEM_TYPE_PREFIX: &str = "urn:courier:problem:";

/// Where a job's outcome is delivered (the callback pattern): one of the caller's webhook
/// endpoints (`endpointId`, a signed POST) or destinations (`destinationId`, a signed message on
/// a queue or event on a bus), whose address and signing secrets are kept with it. Exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallbackSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,
}

impl CallbackSpec {
    pub fn endpoint(id: impl Into<String>) -> Self {
        Self {
            endpoint_id: Some(id.into()),
            destination_id: None,
        }
    }

    pub fn destination(id: impl Into<String>) -> Self {
        Self {
            endpoint_id: None,
            destination_id: Some(id.into()),
        }
    }
}

/// The body of `POST /v1/messages` and `POST /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Submission {
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(default)]
    pub payload: Value,
    /// Instead of `payload`: an upload of the caller's (`up_…`, from `POST /v1/uploads`) whose
    /// object is the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<String>,
    /// Hold the work back this long (SQS delay), 0–900 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u32>,
    /// Run it at this instant (RFC 3339), up to a year ahead; never with `delaySeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<String>,
    /// Jobs only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
}

/// 202 to `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAccepted {
    pub message_id: String,
    pub correlation_id: String,
    pub accepted_at: String,
}

/// 202 to `POST /v1/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobAccepted {
    pub id: String,
    pub status: JobStatus,
    pub status_url: String,
    pub expires_at: String,
}

/// Where a job stands. The transitions between these are the domain's job lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The one spelling of each status, on the wire and in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Finished: the claim will not change again (short of an operator's redrive).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a job's callback delivery stands. The transitions between these are the domain's
/// callback lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallbackStatus {
    /// The job has not finished yet.
    Waiting,
    /// The job finished; a delivery is queued for the notifier.
    Queued,
    /// An attempt failed and another is scheduled (`nextAttemptAt`).
    Retrying,
    Delivered,
    /// Gave up: the last attempt failed, the receiver answered 410 Gone, or the URL was refused.
    Failed,
}

impl CallbackStatus {
    pub const ALL: [Self; 5] = [
        Self::Waiting,
        Self::Queued,
        Self::Retrying,
        Self::Delivered,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Queued => "QUEUED",
            Self::Retrying => "RETRYING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl std::fmt::Display for CallbackStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    /// `permanent`, `retries-exhausted`, `timeout`, `unparseable`, `dead-lettered` or `expired`.
    pub kind: String,
    pub reason: String,
}

/// A job's callback and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackView {
    /// The webhook endpoint the outcome goes to; or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// the destination (queue or bus) it goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_id: Option<String>,
    pub state: CallbackStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
}

/// A job's claim as `GET /v1/jobs/{id}` returns it. A callback's body is the same, without
/// `callback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: JobStatus,
    pub progress: u8,
    pub attempts: u32,
    pub correlation_id: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub expires_at: String,
    /// When it was asked to run, for a job given `runAt`: PENDING (and cancellable) until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Instead of `result`, for a result too large for the claim: a download URL of it, valid
    /// for minutes (never past `expiresAt`), minted when the job is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackView>,
}

impl Job {
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

/// The body of `POST /v1/webhook-endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    pub url: String,
}

/// The body of `POST /v1/webhook-endpoints/{id}/rotate` (optional: an empty body takes the
/// default grace period).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRotation {
    /// How long the secrets in use now stay valid beside the new one, 0–604800 s (7 days);
    /// 86400 (24 hours) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u64>,
}

/// One signing secret of an endpoint, as listed (the secret itself is shown only once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretInfo {
    pub created_at: String,
    /// When it stops signing deliveries; absent for the newest secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A webhook endpoint: where a caller's callbacks go, and the secrets that sign them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub created_at: String,
    /// The secrets that sign deliveries now, oldest first.
    pub secrets: Vec<SecretInfo>,
    /// The new secret (`whsec_...`): only in the answer to the registration or rotation
    /// that made it, never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The job each run of a schedule submits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledJob {
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(default)]
    pub payload: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
}

/// The body of `POST /v1/schedules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSchedule {
    /// `rate(1 hour)`, `cron(0 9 * * ? *)`: EventBridge Scheduler's expressions.
    pub expression: String,
    /// An IANA time zone the expression is read in; UTC when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub job: ScheduledJob,
}

/// A schedule, as `GET /v1/schedules/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    pub expression: String,
    pub timezone: String,
    pub job: ScheduledJob,
    /// `ACTIVE` or `PAUSED`.
    pub state: String,
    pub created_at: String,
}

/// The body of `GET /v1/schedules`: a page of the caller's schedules, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleList {
    pub schedules: Vec<Schedule>,
    pub next_cursor: Option<String>,
}

/// 201 to `POST /v1/uploads`: where to `PUT` a payload's bytes, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// What a job body names as its `payloadRef`.
    pub id: String,
    /// A presigned URL: `PUT` the payload (JSON) to it, once, before `expiresAt`.
    pub upload_url: String,
    pub expires_at: String,
    /// The largest payload an upload may hold.
    pub max_bytes: u64,
}

/// The body of `POST /v1/destinations`: exactly one of an SQS queue's ARN or an EventBridge
/// bus's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bridge: Option<String>,
}

/// A destination: a queue or a bus a caller's callbacks go to, and the secrets that sign them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    pub id: String,
    /// The queue's ARN, for a queue; or
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs: Option<String>,
    /// the bus's ARN, for a bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_bridge: Option<String>,
    pub created_at: String,
    /// The secrets that sign deliveries now, oldest first.
    pub secrets: Vec<SecretInfo>,
    /// The new secret (`whsec_...`): only in the answer to the registration or rotation
    /// that made it, never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The body of `GET /v1/destinations`: a page of the caller's destinations, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationList {
    pub destinations: Vec<Destination>,
    pub next_cursor: Option<String>,
}

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default)]
    pub problem_type: String,
    #[serde(default)]
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Problem {
    /// The slug after [`PROBLEM_TYPE_PREFIX`] (`job-not-found`, ...).
    pub fn slug(&self) -> &str {
        self.problem_type
            .strip_prefix(PROBLEM_TYPE_PREFIX)
            .unwrap_or(&self.problem_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_spell_and_parse_one_way() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        for s in CallbackStatus::ALL {
            assert_eq!(CallbackStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(JobStatus::parse("pending"), None);
    }

    #[test]
    fn submissions_refuse_unknown_fields() {
        let ok: Submission =
            serde_json::from_value(json!({"type": "echo", "delaySeconds": 3})).unwrap();
        assert_eq!(ok.delay_seconds, Some(3));
        assert_eq!(ok.payload, Value::Null);
        assert!(serde_json::from_value::<Submission>(json!({"type": "echo", "x": 1})).is_err());
    }
}

/// How a job's attempt ends: the target's answer is the result (`inline`), or the worker
/// reports it later (`external`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Completion {
    Inline,
    External,
}

/// What happens to an attempt that runs past its type's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// A transient failure: retried like any other.
    Retry,
    /// The job fails at once (error kind `timeout`).
    Fail,
}

/// One job type a deployment runs, as `GET /v1/job-types` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTypeView {
    pub name: String,
    /// The JSON Schema (draft 2020-12) a submission's `payload` must fit.
    pub payload_schema: Value,
    /// Longest one attempt may run.
    pub timeout_seconds: u64,
    pub on_timeout: OnTimeout,
    /// Runs of the job at most (the type's own schedule, or the deployment's).
    pub max_attempts: u32,
    /// Largest result kept, as JSON; a larger one fails the job.
    pub max_result_bytes: usize,
    pub completion: Completion,
}

/// `GET /v1/job-types`: every type the deployment runs, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTypeList {
    pub job_types: Vec<JobTypeView>,
}

/// The body of `GET /v1/jobs`: a page of the caller's jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobList {
    pub jobs: Vec<Job>,
    /// Continues the list (`?cursor=`, with the same filters); `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The body of `GET /v1/webhook-endpoints`: a page of the caller's endpoints, newest first
/// (never their secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointList {
    pub endpoints: Vec<WebhookEndpoint>,
    pub next_cursor: Option<String>,
}

/// The body of `POST /v1/jobs/cancel` and `POST /v1/jobs/rerun`: which of the caller's jobs.
/// A rerun needs `type`, `createdAfter` and `createdBefore`; a cancel at least one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BulkAction {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// Created at or after (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<String>,
    /// Created before (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<String>,
    /// At most this many jobs (1 to 100; 100 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// List what the call would touch, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a bulk action did to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BulkJobOutcome {
    Cancelled,
    WouldCancel,
    Rerun,
    WouldRerun,
    /// It moved on meanwhile (started, finished, or rerun by another call): left alone.
    Skipped,
    /// Its claim keeps no work message to run again.
    NotRerunnable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkJob {
    pub id: String,
    pub outcome: BulkJobOutcome,
}

/// The answer to a bulk action: the jobs it looked at, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkResult {
    pub dry_run: bool,
    pub jobs: Vec<BulkJob>,
    /// More jobs match than one call touches: call again.
    pub more: bool,
}
