//! courier's CloudWatch metrics, in the stack's namespace (`Courier/<stack>`, from
//! `METRICS_NAMESPACE`; `Courier` outside a stack), written as Embedded Metric Format lines on
//! stdout (see [`emf`]). The catalogue, with dimensions, is in the README.
//!
//! A record about a unit of work is also that unit's log line at INFO: it names the event
//! (`message`) and carries the work's correlation id, id, job type and X-Ray trace id as
//! top-level properties, so a metric's spike can be followed to the requests behind it in Logs
//! Insights, and a request costs one line per function rather than a log line and a metric
//! line (the per-line detail is at DEBUG). In a function that handles a batch, the units after
//! the first of a series keep their lines without the directives, their values gathered into
//! one record at the invocation's end ([`batch`], [`per_invocation`]).

pub mod batch;
pub mod emf;

use emf::{Record, Unit};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The namespace outside a stack (tests, benchmarks).
pub const NAMESPACE: &str = "Courier";

/// The namespace the stack gives its functions (`METRICS_NAMESPACE`), read once.
fn namespace() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| NAMESPACE.to_owned())
    })
}

/// Dimension names.
pub mod dimension {
    pub const PATTERN: &str = "Pattern";
    pub const OUTCOME: &str = "Outcome";
    pub const QUEUE: &str = "Queue";
    pub const KIND: &str = "Kind";
    pub const FUNCTION: &str = "Function";
    /// A job type's name: bounded by what a deployment runs (unknown types are refused at
    /// acceptance), so its metrics stay few.
    pub const JOB_TYPE: &str = "JobType";
}

/// Metric names.
pub mod name {
    pub const ACCEPTED: &str = "Accepted";
    pub const PROCESSED: &str = "Processed";
    /// 1 for a unit of work that succeeded, 0 for one that failed for good, per job type: its
    /// average is the type's success rate.
    pub const SUCCESS: &str = "Success";
    pub const PROCESSING_DURATION: &str = "ProcessingDuration";
    pub const END_TO_END_LATENCY: &str = "EndToEndLatency";
    pub const RETRIES: &str = "Retries";
    pub const DEAD_LETTERED: &str = "DeadLettered";
    pub const CALLBACK_ATTEMPTS: &str = "CallbackAttempts";
    pub const CALLBACK_DELIVERED: &str = "CallbackDelivered";
    pub const CALLBACK_FAILED: &str = "CallbackFailed";
    pub const CALLBACK_DELIVERY_LATENCY: &str = "CallbackDeliveryLatency";
    pub const FRAMES_SENT: &str = "FramesSent";
    pub const CONNECTIONS_GONE: &str = "ConnectionsGone";
    pub const COLD_START: &str = "ColdStart";
}

use dimension::*;
use name::*;

fn record() -> Record {
    Record::new(namespace(), now_ms())
}

/// Milliseconds to the microsecond: more digits are noise, and bytes in every line.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// The unit of work a record is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    pub correlation_id: &'a str,
    /// The job's or message's id.
    pub id: &'a str,
    /// Whether `id` names a fire-and-forget message (`messageId`) rather than a job (`jobId`).
    pub is_message: bool,
    pub job_type: Option<&'a str>,
    /// The X-Ray trace id (`1-…-…`), when the work is traced.
    pub trace_id: Option<&'a str>,
}

impl<'a> About<'a> {
    pub fn new(correlation_id: &'a str, id: &'a str) -> Self {
        Self {
            correlation_id,
            id,
            ..Self::default()
        }
    }

    /// A piece of accepted work: its ids, type and the trace it was accepted under.
    pub fn of_work(work: &'a crate::domain::WorkMessage) -> Self {
        let about = Self::new(work.correlation_id.as_str(), &work.message_id)
            .job_type(&work.job_type)
            .trace_id(
                work.trace_header
                    .as_deref()
                    .and_then(crate::telemetry::TraceHeader::trace_id_of),
            );
        match work.pattern {
            crate::domain::Pattern::FireAndForget => about.message(),
            crate::domain::Pattern::ClaimCheck | crate::domain::Pattern::Bidirectional => about,
        }
    }

    /// The id is a fire-and-forget message's, not a job's.
    pub fn message(self) -> Self {
        Self {
            is_message: true,
            ..self
        }
    }

    /// The key the id goes under, in metrics records and log lines alike: the name the 202
    /// gave it.
    pub fn id_field(&self) -> &'static str {
        if self.is_message {
            crate::telemetry::fields::MESSAGE_ID
        } else {
            crate::telemetry::fields::JOB_ID
        }
    }

    pub fn job_type(self, job_type: &'a str) -> Self {
        Self {
            job_type: Some(job_type),
            ..self
        }
    }

    pub fn trace_id(self, trace_id: Option<&'a str>) -> Self {
        Self { trace_id, ..self }
    }
}

/// A record that is a unit of work's line: the event, and what it is about.
fn event(message: &str, about: About<'_>) -> Record {
    let mut record = record()
        .property("message", message)
        .property(
            crate::telemetry::fields::CORRELATION_ID,
            about.correlation_id,
        )
        .property(about.id_field(), about.id);
    if let Some(job_type) = about.job_type {
        record = record.property("jobType", job_type);
    }
    if let Some(trace_id) = about.trace_id {
        record = record.property(crate::telemetry::fields::TRACE_ID, trace_id);
    }
    record
}

static DISCARD: AtomicBool = AtomicBool::new(false);

/// Encode records but do not write them (benchmarks: the cost stays, the noise goes).
pub fn discard_output() {
    DISCARD.store(true, Ordering::Relaxed);
}

/// The invocation under way's records, where its function gathers them ([`per_invocation`]).
static BATCH: std::sync::Mutex<Option<batch::Batch>> = std::sync::Mutex::new(None);

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A record written: at once, or within the invocation's batch.
fn emit(record: Record) {
    let lines = match BATCH.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        Some(batch) => batch.add(record, now_ms()),
        None => vec![record.to_json()],
    };
    write(lines);
}

/// Lines on stdout, each written whole, where Lambda hands them to CloudWatch Logs.
fn write(lines: Vec<String>) {
    if DISCARD.load(Ordering::Relaxed) {
        return;
    }
    for mut line in lines {
        line.push('\n');
        // `print!` takes stdout's lock for the one call (so the line is written whole), and
        // in tests goes through the harness's capture.
        print!("{line}");
    }
}

/// One invocation of a function that handles a batch of work, its metric records gathered
/// ([`batch`]) and the gathered ones written as it ends, before Lambda may freeze the
/// instance. One invocation at a time per instance: whatever was gathered before is written
/// first.
pub async fn per_invocation<T>(handling: impl std::future::Future<Output = T>) -> T {
    /// Ends the batch however the handling ends: returned, or unwound by a panic (which the
    /// runtime catches, so the instance lives on and its next invocation may never come).
    struct Ends;
    impl Drop for Ends {
        fn drop(&mut self) {
            finish_batch(None);
        }
    }
    finish_batch(Some(batch::Batch::default()));
    let _ends = Ends;
    handling.await
}

fn finish_batch(next: Option<batch::Batch>) {
    let ended = std::mem::replace(&mut *BATCH.lock().unwrap_or_else(|p| p.into_inner()), next);
    if let Some(ended) = ended {
        write(ended.finish());
    }
}

/// How a processing attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    /// A transient failure; SQS delivers the message again.
    Retried,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Retried => "retried",
        }
    }
}

/// A request accepted (after its durable write). `pattern`: `fire-and-forget`, `claim-check`,
/// `callback` or `bidirectional`.
pub fn accepted(pattern: &str, about: About<'_>) {
    emit(event("accepted", about).dimension(PATTERN, pattern).metric(
        &[PATTERN],
        ACCEPTED,
        Unit::Count,
        1.0,
    ));
}

/// One processing attempt. `end_to_end` (acceptance to a terminal state) only for the attempt
/// that finished the work.
pub fn processed(
    pattern: &str,
    outcome: Outcome,
    attempt: Option<u32>,
    duration: Duration,
    end_to_end: Option<Duration>,
    about: About<'_>,
) {
    emit(processed_record(
        pattern, outcome, attempt, duration, end_to_end, about,
    ));
}

fn processed_record(
    pattern: &str,
    outcome: Outcome,
    attempt: Option<u32>,
    duration: Duration,
    end_to_end: Option<Duration>,
    about: About<'_>,
) -> Record {
    let message = match outcome {
        Outcome::Succeeded => "job succeeded",
        Outcome::Failed => "job failed",
        Outcome::Retried => "job attempt failed; will retry",
    };
    let mut record = event(message, about)
        .dimension(PATTERN, pattern)
        .dimension(OUTCOME, outcome.as_str())
        .metric(&[PATTERN, OUTCOME], PROCESSED, Unit::Count, 1.0)
        .metric(
            &[PATTERN],
            PROCESSING_DURATION,
            Unit::Milliseconds,
            millis(duration),
        );
    if let Some(attempt) = attempt {
        record = record.property("attempt", attempt);
    }
    if outcome != Outcome::Retried {
        let succeeded = if outcome == Outcome::Succeeded {
            1.0
        } else {
            0.0
        };
        record = record.metric(&[PATTERN], SUCCESS, Unit::None, succeeded);
    }
    if outcome == Outcome::Retried {
        record = record.metric(&[PATTERN], RETRIES, Unit::Count, 1.0);
    }
    if let Some(latency) = end_to_end {
        record = record.metric(
            &[PATTERN],
            END_TO_END_LATENCY,
            Unit::Milliseconds,
            millis(latency),
        );
    }
    // Every one of them per job type too: which type fails, which is slow. The same
    // directives, counted under a second dimension set (the line grows by a few bytes).
    match about.job_type {
        Some(job_type) => record
            .dimension(JOB_TYPE, job_type)
            .also_under(&[PATTERN, OUTCOME], &[JOB_TYPE, OUTCOME])
            .also_under(&[PATTERN], &[JOB_TYPE]),
        None => record,
    }
}

/// A message on its way to a dead-letter queue (`work`, `ordered-work` or `callback`), sent
/// directly or left to SQS redrive after its last receive.
pub fn dead_lettered(queue: &str, about: About<'_>) {
    emit(
        event("dead-lettered", about)
            .dimension(QUEUE, queue)
            .metric(&[QUEUE], DEAD_LETTERED, Unit::Count, 1.0),
    );
}

/// One callback delivery attempt: delivered (with the latency from the job's completion),
/// failed for good, or to be retried.
pub fn callback_attempt(
    delivered: bool,
    gave_up: bool,
    attempt: u32,
    code: Option<u16>,
    latency: Option<Duration>,
    about: About<'_>,
) {
    let message = match (delivered, gave_up) {
        (true, _) => "callback delivered",
        (false, true) => "callback failed",
        (false, false) => "callback attempt failed; will retry",
    };
    let mut record = event(message, about).property("attempt", attempt).metric(
        &[],
        CALLBACK_ATTEMPTS,
        Unit::Count,
        1.0,
    );
    if let Some(code) = code {
        record = record.property("code", code);
    }
    if delivered {
        record = record.metric(&[], CALLBACK_DELIVERED, Unit::Count, 1.0);
        if let Some(latency) = latency {
            record = record.metric(
                &[],
                CALLBACK_DELIVERY_LATENCY,
                Unit::Milliseconds,
                millis(latency),
            );
        }
    } else if gave_up {
        record = record.metric(&[], CALLBACK_FAILED, Unit::Count, 1.0);
    }
    emit(record);
}

/// A WebSocket frame posted (`accepted`, `progress`, `result`, `error`).
pub fn frame_sent(kind: &str) {
    emit(
        record()
            .dimension(KIND, kind)
            .metric(&[KIND], FRAMES_SENT, Unit::Count, 1.0),
    );
}

/// A post found its WebSocket connection gone.
pub fn connection_gone(connection_id: &str) {
    emit(record().property("connectionId", connection_id).metric(
        &[],
        CONNECTIONS_GONE,
        Unit::Count,
        1.0,
    ));
}

/// A function's first invocation in a new execution environment.
pub fn cold_start(function: &str) {
    emit(
        record()
            .dimension(FUNCTION, function)
            .metric(&[FUNCTION], COLD_START, Unit::Count, 1.0),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_units_record_is_its_log_line_with_the_ids_at_the_top_level() {
        let about = About::new("corr-1", "job-1")
            .job_type("echo")
            .trace_id(Some("1-6b0dc3af-b952ec1e75e946062b44f544"));
        let line: serde_json::Value = serde_json::from_str(
            &event("accepted", about)
                .metric(&[], ACCEPTED, Unit::Count, 1.0)
                .to_json(),
        )
        .unwrap();
        assert_eq!(line["message"], "accepted");
        assert_eq!(line["correlationId"], "corr-1");
        assert_eq!(line["jobId"], "job-1");
        assert_eq!(line["jobType"], "echo");
        assert_eq!(line["traceId"], "1-6b0dc3af-b952ec1e75e946062b44f544");
        let bare: serde_json::Value =
            serde_json::from_str(&event("accepted", About::new("c", "m-1").message()).to_json())
                .unwrap();
        assert_eq!(bare["messageId"], "m-1", "{bare}");
        assert!(bare.get("jobId").is_none() && bare.get("jobType").is_none());
        assert!(bare.get("traceId").is_none());
    }

    #[test]
    fn outcomes_are_counted_per_job_type_with_a_success_rate_of_the_finished_ones() {
        let about = About::new("c", "job-1").job_type("resize");
        let line = |outcome| -> serde_json::Value {
            let record = processed_record(
                "claim-check",
                outcome,
                Some(1),
                Duration::from_millis(12),
                None,
                about,
            );
            serde_json::from_str(&record.to_json()).unwrap()
        };
        let succeeded = line(Outcome::Succeeded);
        assert_eq!(succeeded["JobType"], "resize");
        assert_eq!(succeeded["Success"], 1.0);
        let directives = succeeded["_aws"]["CloudWatchMetrics"].to_string();
        for set in [
            r#"[["Pattern","Outcome"],["JobType","Outcome"]]"#,
            r#"[["Pattern"],["JobType"]]"#,
        ] {
            assert!(directives.contains(set), "{set} in {directives}");
        }
        assert_eq!(line(Outcome::Failed)["Success"], 0.0);
        // A retry is no outcome yet: it counts, but not toward the rate.
        let retried = line(Outcome::Retried);
        assert!(retried.get("Success").is_none(), "{retried}");
        assert_eq!(retried["Processed"], 1.0);
    }

    #[tokio::test]
    async fn an_invocation_that_panics_still_writes_what_it_gathered() {
        let about = About::new("c", "job-1").job_type("echo");
        let handling = per_invocation(async move {
            for _ in 0..3 {
                processed(
                    "claim-check",
                    Outcome::Succeeded,
                    Some(1),
                    Duration::from_millis(2),
                    None,
                    about,
                );
            }
            assert!(BATCH.lock().unwrap().is_some(), "gathering within it");
            panic!("a job panicked");
        });
        let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(handling));
        assert!(outcome.await.is_err());
        assert!(BATCH.lock().unwrap().is_none(), "the batch ended with it");
    }

    #[test]
    fn durations_are_kept_to_the_microsecond() {
        assert_eq!(millis(Duration::from_nanos(950_678_999)), 950.679);
        assert_eq!(millis(Duration::from_nanos(1_499)), 0.001);
    }
}
