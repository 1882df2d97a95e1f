//! courier's CloudWatch metrics, all in the `Courier` namespace, written as Embedded Metric
//! Format lines on stdout (see [`emf`]). The catalogue, with dimensions, is in the README.
//!
//! Each record also carries the correlation id (and job or message id where there is one) as
//! plain properties, so a metric's spike can be followed to the requests behind it in Logs
//! Insights.

pub mod emf;

use emf::{Record, Unit};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const NAMESPACE: &str = "Courier";

/// Dimension names.
pub mod dimension {
    pub const PATTERN: &str = "Pattern";
    pub const OUTCOME: &str = "Outcome";
    pub const QUEUE: &str = "Queue";
    pub const KIND: &str = "Kind";
    pub const FUNCTION: &str = "Function";
}

/// Metric names.
pub mod name {
    pub const ACCEPTED: &str = "Accepted";
    pub const PROCESSED: &str = "Processed";
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
    let now = time::OffsetDateTime::now_utc();
    Record::new(NAMESPACE, (now.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

static DISCARD: AtomicBool = AtomicBool::new(false);

/// Encode records but do not write them (benchmarks: the cost stays, the noise goes).
pub fn discard_output() {
    DISCARD.store(true, Ordering::Relaxed);
}

/// One line on stdout, written whole, where Lambda hands it to CloudWatch Logs.
fn emit(record: Record) {
    let mut line = record.to_json();
    line.push('\n');
    if DISCARD.load(Ordering::Relaxed) {
        return;
    }
    // `print!` takes stdout's lock for the one call (so the line is written whole), and in
    // tests goes through the harness's capture.
    print!("{line}");
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
pub fn accepted(pattern: &str, correlation_id: &str, id: &str) {
    emit(
        record()
            .dimension(PATTERN, pattern)
            .property("correlationId", correlation_id)
            .property("id", id)
            .metric(&[PATTERN], ACCEPTED, Unit::Count, 1.0),
    );
}

/// One processing attempt. `end_to_end` (acceptance to a terminal state) only for the attempt
/// that finished the work.
pub fn processed(
    pattern: &str,
    outcome: Outcome,
    duration: Duration,
    end_to_end: Option<Duration>,
    correlation_id: &str,
    id: &str,
) {
    let mut record = record()
        .dimension(PATTERN, pattern)
        .dimension(OUTCOME, outcome.as_str())
        .property("correlationId", correlation_id)
        .property("id", id)
        .metric(&[PATTERN, OUTCOME], PROCESSED, Unit::Count, 1.0)
        .metric(
            &[PATTERN],
            PROCESSING_DURATION,
            Unit::Milliseconds,
            millis(duration),
        );
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
    emit(record);
}

/// A message on its way to a dead-letter queue (`work`, `ordered-work` or `callback`), sent
/// directly or left to SQS redrive after its last receive.
pub fn dead_lettered(queue: &str, correlation_id: &str, id: &str) {
    emit(
        record()
            .dimension(QUEUE, queue)
            .property("correlationId", correlation_id)
            .property("id", id)
            .metric(&[QUEUE], DEAD_LETTERED, Unit::Count, 1.0),
    );
}

/// One callback delivery attempt: delivered (with the latency from the job's completion),
/// failed for good, or to be retried.
pub fn callback_attempt(
    delivered: bool,
    gave_up: bool,
    latency: Option<Duration>,
    correlation_id: &str,
    id: &str,
) {
    let mut record = record()
        .property("correlationId", correlation_id)
        .property("id", id)
        .metric(&[], CALLBACK_ATTEMPTS, Unit::Count, 1.0);
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
