//! What a job type is, what it is given while it runs, and the registry courier runs them from.
//!
//! ```
//! use courier_jobs::{JobContext, JobError, JobSettings, JobType, OnTimeout};
//! use std::time::Duration;
//!
//! /// `{"text": "..."}` → `{"words": n}`
//! struct WordCount;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Input {
//!     /// The text to count words in.
//!     #[schemars(length(max = 10000))]
//!     text: String,
//! }
//!
//! #[async_trait::async_trait]
//! impl JobType for WordCount {
//!     const NAME: &'static str = "word-count";
//!     type Input = Input;
//!     type Output = serde_json::Value;
//!
//!     fn settings(&self) -> JobSettings {
//!         JobSettings::default().timeout(Duration::from_secs(5)).on_timeout(OnTimeout::Fail)
//!     }
//!
//!     async fn run(&self, input: Input, context: &JobContext<'_>) -> Result<Self::Output, JobError> {
//!         context.progress(50).await;
//!         Ok(serde_json::json!({"words": input.text.split_whitespace().count()}))
//!     }
//! }
//! ```

use async_trait::async_trait;
pub use courier_protocol::rest::Completion;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// How an attempt failed, which decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JobError {
    /// Worth retrying later, per the type's [`RetryPolicy`].
    #[error("transient failure: {0}")]
    Transient(String),
    /// Can never succeed: the job fails at once, without retries.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Worth retrying, but not before `after` (a target's `Retry-After`): the retry waits for
    /// the longer of this and the policy's own delay.
    #[error("transient failure, retry after {} s: {reason}", .after.as_secs())]
    RetryAfter { reason: String, after: Duration },
}

impl JobError {
    pub fn transient(reason: impl Into<String>) -> Self {
        Self::Transient(reason.into())
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent(reason.into())
    }

    pub fn retry_after(reason: impl Into<String>, after: Duration) -> Self {
        Self::RetryAfter {
            reason: reason.into(),
            after,
        }
    }
}

/// What happens to a job that runs past its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// Counts as a transient failure: retried per the [`RetryPolicy`].
    Retry,
    /// Fails the job at once (error kind `timeout`).
    Fail,
}

/// How transient failures are retried. Attempts (runs of the job, counted on its record) are
/// capped by the work queue's redrive limit (`MaxReceiveCount`); delays double per attempt
/// from `base_delay`, with jitter, up to `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// A type's settings, declared with the type. The payload's JSON Schema comes from its
/// `Input` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// Longest one attempt may run. Never longer than the processor function allows: an
    /// attempt is also stopped before the function's own deadline.
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    /// `None`: the deployment's schedule (`MaxAttempts`, `RetryBaseDelaySeconds`).
    pub retry: Option<RetryPolicy>,
    /// Runs at most on the deployment's schedule of delays (a declared type's `maxAttempts`);
    /// a [`RetryPolicy`] of the type's own says instead.
    pub max_attempts: Option<u32>,
    /// Largest result kept (as JSON); a larger one fails the job. Over 64 KiB it is held in the
    /// stack's bucket, not on the claim.
    pub max_result_bytes: usize,
    /// What a run changes besides its result: whether a short job may run before its start is
    /// written (see [`Effects`]).
    pub effects: Effects,
}

/// What a run of a job type changes besides its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Effects {
    /// It may change things outside courier (send mail, book an entry, call a service): every
    /// attempt of a job starts with its lease, so a cancel, the intake's withdrawal, an expiry
    /// or a copy of its message never races a run. The default.
    #[default]
    Outside,
    /// Its result is its only effect: a run whose result is dropped changed nothing. A job's
    /// first attempt runs on a read of its claim, and its start and success are one write if
    /// it succeeds within a second (the processor's `LEASE_AFTER`) without reporting progress;
    /// a cancel, withdrawal, expiry or copy that lands meanwhile wins, and the run's result is
    /// dropped. One write unit less a job.
    ResultOnly,
}

/// Ceiling of [`JobSettings::max_result_bytes`].
/// A result over 64 KiB is held in the stack's bucket (a claim carries its URL), so this is the
/// bucket's limit, not DynamoDB's.
pub const MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            on_timeout: OnTimeout::Retry,
            retry: None,
            max_attempts: None,
            max_result_bytes: MAX_RESULT_BYTES,
            effects: Effects::Outside,
        }
    }
}

impl JobSettings {
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn on_timeout(mut self, on_timeout: OnTimeout) -> Self {
        self.on_timeout = on_timeout;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    pub fn max_result_bytes(mut self, bytes: usize) -> Self {
        self.max_result_bytes = bytes.min(MAX_RESULT_BYTES);
        self
    }

    pub fn effects(mut self, effects: Effects) -> Self {
        self.effects = effects;
        self
    }
}

/// Receives progress from a running job. Reporting is best effort and never fails the job.
#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn report(&self, percent: u8);
}

/// What a job knows about the attempt it is running.
pub struct JobContext<'a> {
    pub job_id: &'a str,
    pub correlation_id: &'a str,
    /// 1 for the first run, 2 for the first retry, and so on.
    pub attempt: u32,
    /// When the attempt must be done: the type's timeout or the function's own deadline,
    /// whichever comes first.
    pub deadline: Instant,
    pub progress: &'a dyn ProgressSink,
    /// A declared type whose worker finishes later: how that worker reports back.
    pub task: Option<&'a courier_protocol::task::TaskHandle>,
    /// Where the payload is held, when it is too large to travel inline: a download URL valid
    /// for the attempt. A Rust type is handed the payload itself and can ignore it; a declared
    /// type's target is sent this instead of the payload (`payloadUrl`).
    pub payload_url: Option<&'a str>,
}

impl JobContext<'_> {
    /// Time left before [`JobContext::deadline`].
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Resolves at the deadline. A job that selects on it gets a short grace to stop cleanly
    /// (and say why) before it is dropped.
    pub async fn cancelled(&self) {
        tokio::time::sleep_until(self.deadline).await;
    }

    /// An idempotency key for calls this job makes to other systems (a payment provider, an
    /// e-mail API): the same on every retry and redelivery of this job, different for every job.
    pub fn idempotency_key(&self) -> String {
        downstream_idempotency_key(self.job_id)
    }

    /// Reports progress (0–100) on the claim and to a WebSocket client.
    pub async fn progress(&self, percent: u8) {
        self.progress.report(percent.min(100)).await;
    }
}

/// A job's key for downstream calls: a UUID-shaped SHA-256 of its id, stable across retries.
pub fn downstream_idempotency_key(job_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("courier-downstream:{job_id}").as_bytes());
    let hex = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// One job type: typed input and output, settings, and an async `run`.
#[async_trait]
pub trait JobType: Send + Sync + 'static {
    /// The `type` callers name: 1–64 of `[a-z0-9-]`.
    const NAME: &'static str;
    /// The payload. Its JSON Schema is checked at acceptance (400 `invalid-payload`) and
    /// published in the OpenAPI document; use `serde_json::Value` to take any JSON.
    type Input: DeserializeOwned + JsonSchema + Send;
    type Output: Serialize + Send;

    fn settings(&self) -> JobSettings {
        JobSettings::default()
    }

    async fn run(
        &self,
        input: Self::Input,
        context: &JobContext<'_>,
    ) -> Result<Self::Output, JobError>;
}

/// Why a payload was refused at acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{pointer}: {message}")]
pub struct PayloadError {
    /// JSON pointer to the offending value, from the request body (`/payload/ms`).
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    #[error("unknown job type {name:?}; known types: {known}")]
    UnknownType { name: String, known: String },
    #[error("invalid payload for job type {name:?} at {}: {}", .error.pointer, .error.message)]
    InvalidPayload { name: String, error: PayloadError },
}

/// A registered type with its name erased: what the processor and the doors use.
#[async_trait]
pub trait RegisteredType: Send + Sync {
    fn name(&self) -> &'static str;
    fn settings(&self) -> &JobSettings;
    /// The payload's JSON Schema (draft 2020-12, as OpenAPI 3.1 uses).
    fn payload_schema(&self) -> &Value;
    /// What the schema cannot say: the payload deserialises into the type's input.
    fn fits_input(&self, payload: &Value) -> Result<(), PayloadError>;
    /// How an attempt ends: inline (the run's answer is the result) unless the type is a
    /// declared one whose worker reports later.
    fn completion(&self) -> Completion {
        Completion::Inline
    }
    /// A worker that finishes later: the longest it may go without a report.
    fn heartbeat(&self) -> Option<Duration> {
        None
    }
    async fn run(&self, payload: Value, context: &JobContext<'_>) -> Result<Value, JobError>;
}

struct Registered<T: JobType> {
    job: T,
    settings: JobSettings,
    /// Generated on first use, not at cold start: the processor never needs it, the doors
    /// only once a payload is to be checked.
    schema: OnceLock<Value>,
}

/// A type's compiled payload schema, on first use. The registry keeps these, not the types,
/// so only a function that checks payloads (the doors) links the validator: the processor
/// never does, and its bootstrap is smaller by the schema engine and its regular expressions.
type CompiledSchema = Arc<OnceLock<Result<jsonschema::Validator, String>>>;

pub use courier_protocol::json::whole_numbers_as_integers;

fn pointer_under_payload(instance_path: &str) -> String {
    format!("/payload{instance_path}")
}

#[async_trait]
impl<T: JobType> RegisteredType for Registered<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn settings(&self) -> &JobSettings {
        &self.settings
    }

    fn payload_schema(&self) -> &Value {
        self.schema.get_or_init(payload_schema::<T::Input>)
    }

    fn fits_input(&self, payload: &Value) -> Result<(), PayloadError> {
        serde_json::from_value::<T::Input>(whole_numbers_as_integers(payload.clone()))
            .map(drop)
            .map_err(|e| PayloadError {
                pointer: "/payload".into(),
                message: e.to_string(),
            })
    }

    async fn run(&self, payload: Value, context: &JobContext<'_>) -> Result<Value, JobError> {
        let input: T::Input = serde_json::from_value(whole_numbers_as_integers(payload))
            .map_err(|e| JobError::permanent(format!("payload does not fit the type: {e}")))?;
        let output = self.job.run(input, context).await?;
        serde_json::to_value(output)
            .map_err(|e| JobError::permanent(format!("result is not JSON: {e}")))
    }
}

/// Job types by name. Built once per cold start and shared by every invocation.
#[derive(Default, Clone)]
pub struct Registry {
    types: BTreeMap<&'static str, Arc<dyn RegisteredType>>,
    schemas: BTreeMap<&'static str, CompiledSchema>,
}

/// The payload's schema, self-contained (no `$defs`), so it can be embedded in the OpenAPI
/// document as it is.
fn payload_schema<I: JsonSchema>() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<I>();
    let mut value = serde_json::to_value(schema).expect("a JSON Schema is JSON");
    if let Some(object) = value.as_object_mut() {
        object.remove("$schema");
    }
    value
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a type. Panics on a malformed or duplicate name: a deployment bug, found at start.
    pub fn register<T: JobType>(&mut self, job: T) -> &mut Self {
        assert!(
            valid_name(T::NAME),
            "job type name {:?} is not [a-z0-9-]{{1,64}}",
            T::NAME
        );
        let settings = job.settings();
        self.insert(Arc::new(Registered {
            job,
            settings,
            schema: OnceLock::new(),
        }))
    }

    /// Adds a type with its name erased (a declared one). Panics on a duplicate name.
    pub fn insert(&mut self, registered: Arc<dyn RegisteredType>) -> &mut Self {
        let name = registered.name();
        let previous = self.types.insert(name, registered);
        self.schemas.insert(name, CompiledSchema::default());
        assert!(previous.is_none(), "job type {name:?} registered twice");
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn RegisteredType>> {
        self.types.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.keys().copied()
    }

    pub fn types(&self) -> impl Iterator<Item = &Arc<dyn RegisteredType>> {
        self.types.values()
    }

    /// The acceptance check: the type exists and the payload fits its schema, then its input.
    pub fn validate(&self, name: &str, payload: &Value) -> Result<(), RegistryError> {
        let registered = self.get(name).ok_or_else(|| RegistryError::UnknownType {
            name: name.to_owned(),
            known: self.names().collect::<Vec<_>>().join(", "),
        })?;
        let invalid = |error| RegistryError::InvalidPayload {
            name: name.to_owned(),
            error,
        };
        let validator = self.schemas[name]
            .get_or_init(|| {
                jsonschema::validator_for(registered.payload_schema()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| {
                invalid(PayloadError {
                    pointer: "/payload".into(),
                    message: format!("the type's schema does not compile: {e}"),
                })
            })?;
        if let Some(error) = validator.iter_errors(payload).next() {
            return Err(invalid(PayloadError {
                pointer: pointer_under_payload(&error.instance_path().to_string()),
                message: error.to_string(),
            }));
        }
        registered.fits_input(payload).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downstream_keys_are_stable_per_job_and_distinct_between_jobs() {
        let a = downstream_idempotency_key("0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(
            a,
            downstream_idempotency_key("0f8fad5b-d9cb-469f-a165-70867728950e")
        );
        assert_ne!(
            a,
            downstream_idempotency_key("0f8fad5b-d9cb-469f-a165-70867728950f")
        );
        assert_eq!(a.len(), 36);
        assert_ne!(
            a, "0f8fad5b-d9cb-469f-a165-70867728950e",
            "not the job id itself"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("word-count"));
        for bad in ["", "Echo", "a b", "x_y", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
