//! One attempt at a job: run its type under the type's own settings (timeout, result size)
//! and the function's deadline, and say what came of it. No I/O of its own.

use crate::application::consumer::panic_message;
use crate::application::ports::{Failure, FailureKind};
use crate::domain::WorkMessage;
use courier_jobs::api::Completion;
use courier_jobs::api::RegisteredType;
use courier_jobs::{JobContext, JobError, OnTimeout, ProgressSink};
use courier_protocol::task::TaskHandle;
use futures_util::FutureExt;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::time::Instant;

/// Stop starting or running work this long before the function's deadline, so the outcome
/// (terminal write, dead letter, frame, callback start) is recorded and the batch answered
/// before Lambda ends the invocation.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

/// A job that selects on `JobContext::cancelled` gets this long to stop cleanly.
pub const CANCEL_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Succeeded(Value),
    /// Worth another attempt (a transient failure, or a timeout whose policy is to retry).
    Transient(String),
    /// Worth another attempt, not before `after` (the target said when).
    RetryAfter {
        reason: String,
        after: Duration,
    },
    /// The function's own deadline came first: hand the message back for redelivery.
    OutOfTime,
    /// Done for good.
    Failed(Failure),
}

/// When the function must stop working, from the Lambda deadline; `None` runs unbounded
/// (tests, benches).
pub fn working_deadline(function_deadline: Option<Instant>) -> Option<Instant> {
    function_deadline.map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d))
}

/// Whether there is still time to start another message before the working deadline.
pub fn may_start(function_deadline: Option<Instant>, now: Instant) -> bool {
    working_deadline(function_deadline).is_none_or(|cutoff| now < cutoff)
}

/// How long an attempt holds the job's lease: its longest run (the type's timeout, or the
/// function's working time if that ends first), the cancel grace, and time to record the
/// outcome. Another delivery of the same job waits that long before it may take over.
pub fn lease_for(job: Option<&dyn RegisteredType>, function_deadline: Option<Instant>) -> Duration {
    const RECORDING: Duration = Duration::from_secs(5);
    let own = job.map_or(Duration::ZERO, |j| j.settings().timeout);
    let left = working_deadline(function_deadline).map_or(own, |cutoff| {
        cutoff.saturating_duration_since(Instant::now())
    });
    own.min(left) + CANCEL_GRACE + RECORDING
}

fn failed(kind: FailureKind, reason: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::Failed(Failure {
        kind,
        reason: reason.into(),
    })
}

/// The longest a worker that finishes later may take to acknowledge an attempt.
pub const ACKNOWLEDGE_WITHIN: Duration = Duration::from_secs(20);

/// The longest an attempt of `job` runs in the invocation: its timeout, or for a worker that
/// finishes later, the wait for its acknowledgement.
pub fn longest_run(job: &dyn RegisteredType) -> Duration {
    match job.completion() {
        Completion::External => ACKNOWLEDGE_WITHIN,
        Completion::Inline => job.settings().timeout,
    }
}

pub async fn run_attempt(
    job: Option<&dyn RegisteredType>,
    work: &WorkMessage,
    attempt: u32,
    function_deadline: Option<Instant>,
    progress: &dyn ProgressSink,
    task: Option<&TaskHandle>,
    payload_url: Option<&str>,
) -> AttemptOutcome {
    let Some(job) = job else {
        return failed(
            FailureKind::Permanent,
            format!("unknown job type {:?}", work.job_type),
        );
    };
    let settings = job.settings();
    let own_deadline = Instant::now() + settings.timeout;
    // A worker that finishes later is given its attempt's own deadline; what this invocation
    // waits for is only its acknowledgement.
    let external = job.completion() == Completion::External;
    let wait_until = Instant::now() + longest_run(job);
    let (until, function_first) = match working_deadline(function_deadline) {
        Some(cutoff) if cutoff < wait_until => (cutoff, true),
        _ => (wait_until, false),
    };
    let context = JobContext {
        job_id: &work.message_id,
        correlation_id: &work.correlation_id,
        attempt,
        deadline: if external { own_deadline } else { until },
        progress,
        task,
        payload_url,
    };
    let deadline = until;
    // A panic is the job's bug, not the batch's: it fails this attempt only.
    let run = AssertUnwindSafe(async {
        crate::crash_point!("job.run", &work.correlation_id);
        job.run(work.payload.clone(), &context).await
    })
    .catch_unwind();
    let result = match tokio::time::timeout_at(deadline + CANCEL_GRACE, run).await {
        Err(_elapsed) if function_first => return AttemptOutcome::OutOfTime,
        Err(_elapsed) if external => {
            return AttemptOutcome::Transient(format!(
                "the worker did not acknowledge within {} s",
                ACKNOWLEDGE_WITHIN.as_secs()
            ));
        }
        Err(_elapsed) => {
            let reason = format!("ran past its {} s timeout", settings.timeout.as_secs_f64());
            return match settings.on_timeout {
                OnTimeout::Retry => AttemptOutcome::Transient(reason),
                OnTimeout::Fail => failed(FailureKind::Timeout, reason),
            };
        }
        Ok(Err(panic)) => {
            return AttemptOutcome::Transient(format!(
                "the job panicked: {}",
                panic_message(panic.as_ref())
            ));
        }
        Ok(Ok(result)) => result,
    };
    match result {
        Ok(value) => {
            let size = value.to_string().len();
            if size > settings.max_result_bytes {
                failed(
                    FailureKind::Permanent,
                    format!(
                        "result is {size} bytes, over the {}-byte limit",
                        settings.max_result_bytes
                    ),
                )
            } else {
                AttemptOutcome::Succeeded(value)
            }
        }
        Err(JobError::Transient(reason)) => AttemptOutcome::Transient(reason),
        Err(JobError::Permanent(reason)) => failed(FailureKind::Permanent, reason),
        Err(JobError::RetryAfter { reason, after }) => AttemptOutcome::RetryAfter { reason, after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Pattern;
    use async_trait::async_trait;
    use courier_jobs::{JobSettings, JobType, Registry};
    use serde_json::json;

    struct Nothing;

    #[async_trait]
    impl ProgressSink for Nothing {
        async fn report(&self, _: u8) {}
    }

    /// Sleeps `payload` ms; times out at 100 ms and fails (or retries, by name).
    struct Nap<const RETRY: bool>;

    #[async_trait]
    impl<const RETRY: bool> JobType for Nap<RETRY> {
        const NAME: &'static str = if RETRY { "nap-retry" } else { "nap" };
        type Input = u64;
        type Output = Value;

        fn settings(&self) -> JobSettings {
            JobSettings::default()
                .timeout(Duration::from_millis(100))
                .on_timeout(if RETRY {
                    OnTimeout::Retry
                } else {
                    OnTimeout::Fail
                })
                .max_result_bytes(20)
        }

        async fn run(&self, ms: u64, _: &JobContext<'_>) -> Result<Value, JobError> {
            if ms == 666 {
                panic!("the nap went wrong");
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!("x".repeat(ms as usize % 50)))
        }
    }

    fn registry() -> Registry {
        let mut registry = Registry::new();
        registry.register(Nap::<false>).register(Nap::<true>);
        registry
    }

    fn work(job_type: &str, ms: u64) -> WorkMessage {
        crate::fixtures::work_message("m", Pattern::ClaimCheck, job_type, json!(ms))
    }

    async fn attempt(
        job_type: &str,
        ms: u64,
        function_deadline: Option<Instant>,
    ) -> AttemptOutcome {
        let registry = registry();
        let job = registry.get(job_type);
        run_attempt(
            job.as_deref(),
            &work(job_type, ms),
            1,
            function_deadline,
            &Nothing,
            None,
            None,
        )
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_past_its_timeout_ends_as_its_policy_says() {
        let AttemptOutcome::Failed(failure) = attempt("nap", 5_000, None).await else {
            panic!("a timed-out nap fails");
        };
        assert_eq!(failure.kind, FailureKind::Timeout);
        assert!(
            failure.reason.contains("0.1 s timeout"),
            "{}",
            failure.reason
        );
        assert!(matches!(
            attempt("nap-retry", 5_000, None).await,
            AttemptOutcome::Transient(reason) if reason.contains("timeout")
        ));
        assert_eq!(
            attempt("nap", 10, None).await,
            AttemptOutcome::Succeeded(json!("x".repeat(10)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_functions_deadline_stops_a_job_before_its_own_timeout() {
        // 3.05 s left: 50 ms of working time, less than the type's 100 ms timeout.
        let deadline = Instant::now() + DEADLINE_MARGIN + Duration::from_millis(50);
        let started = Instant::now();
        assert_eq!(
            attempt("nap", 5_000, Some(deadline)).await,
            AttemptOutcome::OutOfTime
        );
        assert!(
            Instant::now() < deadline,
            "answered before the function's deadline"
        );
        assert!(Instant::now() - started < Duration::from_millis(100) + CANCEL_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn no_new_work_starts_inside_the_margin() {
        let now = Instant::now();
        assert!(may_start(None, now));
        assert!(may_start(
            Some(now + DEADLINE_MARGIN + Duration::from_millis(1)),
            now
        ));
        assert!(!may_start(Some(now + DEADLINE_MARGIN), now));
        assert!(!may_start(Some(now + Duration::from_secs(1)), now));
    }

    #[tokio::test]
    async fn panics_unknown_types_and_large_results_fail_only_the_attempt() {
        assert!(matches!(
            attempt("nap", 666, None).await,
            AttemptOutcome::Transient(reason) if reason.contains("the nap went wrong")
        ));
        assert!(matches!(
            attempt("nope", 1, None).await,
            AttemptOutcome::Failed(Failure { kind: FailureKind::Permanent, reason }) if reason.contains("unknown job type")
        ));
        assert!(matches!(
            attempt("nap", 49, None).await,
            AttemptOutcome::Failed(Failure { reason, .. }) if reason.contains("over the 20-byte limit")
        ));
    }
}
