//! What the processor does with one SQS message.
//!
//! 1. Parse the envelope; an unparseable message goes straight to the DLQ with the reason.
//! 2. Start an attempt on the ledger (conditional): a message already SUCCEEDED or FAILED is a
//!    redelivery and is acknowledged without running anything.
//! 3. Run the job. Success is recorded. A permanent failure is sent to the DLQ with its reason,
//!    then recorded FAILED. A transient failure is retried through SQS visibility with backoff;
//!    on the receive that reaches the queue's `maxReceiveCount` it is recorded FAILED and left to
//!    SQS redrive, which moves it to the DLQ.
//!
//! Any store or queue error leaves the message unacknowledged, so SQS delivers it again.
//!
//! A bidirectional job (one with `replyTo`) also tells its WebSocket client: a `progress` frame
//! per progress report, then a `result` or `error` frame once the outcome is recorded. Frames
//! are best effort: the claim, readable by id, is the record of truth.

use super::retry_delay;
use crate::domain::WorkMessage;
use crate::ports::{
    AttemptStart, CallbackStarter, DeadLetter, DeadLetterQueue, Failure, FailureKind,
    MessageLedger, PortError, RetryScheduler,
};
use crate::telemetry::{TraceHeader, record_trace_id};
use crate::websocket::{Delivery, Draft, FrameSender};
use crate::worker::{ProgressSink, WorkContext, WorkError, WorkerRegistry};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use courier_protocol::frames::{FrameKind, error_code};
use courier_protocol::queue::QueueMessage;
use courier_protocol::queue::attribute::{
    CORRELATION_ID as CORRELATION_ID_ATTRIBUTE, MESSAGE_ID as MESSAGE_ID_ATTRIBUTE,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tracing::Instrument;

/// Largest result kept on the record; DynamoDB items stop at 400 KB.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum ProcessError {
    #[error(transparent)]
    Dependency(#[from] PortError),
    #[error("{0}")]
    WillRetry(String),
}

/// When and how often transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

pub struct MessageProcessor {
    registry: Arc<WorkerRegistry>,
    ledger: Arc<dyn MessageLedger>,
    dead_letters: Arc<dyn DeadLetterQueue>,
    retries: Arc<dyn RetryScheduler>,
    callbacks: Arc<dyn CallbackStarter>,
    policy: RetryPolicy,
    /// Set on the processor of the ordered (FIFO) queue, whose jobs came over WebSocket.
    frames: Option<FrameSender>,
}

/// Progress goes onto the message's record (and to a WebSocket client); a failed write is
/// logged, never fatal.
struct JobProgress<'a> {
    processor: &'a MessageProcessor,
    envelope: &'a WorkMessage,
    record_key: &'a str,
}

#[async_trait]
impl ProgressSink for JobProgress<'_> {
    async fn report(&self, percent: u8) {
        if let Err(error) = self
            .processor
            .ledger
            .record_progress(self.record_key, percent)
            .await
        {
            tracing::warn!(%error, percent, "progress not recorded");
        }
        self.processor
            .tell_client(
                self.envelope,
                FrameKind::Progress,
                json!({"percent": percent}),
            )
            .await;
    }
}

/// The pattern a piece of work came in by, as metrics name it.
fn pattern_label(envelope: &WorkMessage) -> &'static str {
    if envelope.has_callback {
        "callback"
    } else {
        envelope.pattern.as_str()
    }
}

/// The dead-letter queue a piece of work ends up in, as metrics name it.
fn queue_label(envelope: &WorkMessage) -> &'static str {
    match envelope.pattern {
        crate::domain::Pattern::Bidirectional => "ordered-work",
        _ => "work",
    }
}

/// From acceptance to now, if the acceptance time is readable.
fn since_accepted(envelope: &WorkMessage) -> Option<Duration> {
    let accepted = crate::clock::parse_rfc3339(&envelope.accepted_at)?;
    let elapsed = time::OffsetDateTime::now_utc() - accepted;
    elapsed.try_into().ok()
}

fn job_failed(failure: &Failure) -> Value {
    json!({"code": error_code::JOB_FAILED, "kind": failure.kind.as_str(), "message": failure.reason})
}

fn attribute<'a>(record: &'a SqsMessage, name: &str) -> Option<&'a str> {
    record
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

impl MessageProcessor {
    pub fn new(
        registry: Arc<WorkerRegistry>,
        ledger: Arc<dyn MessageLedger>,
        dead_letters: Arc<dyn DeadLetterQueue>,
        retries: Arc<dyn RetryScheduler>,
        callbacks: Arc<dyn CallbackStarter>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            registry,
            ledger,
            dead_letters,
            retries,
            callbacks,
            policy,
            frames: None,
        }
    }

    /// Sends frames to the WebSocket clients of bidirectional jobs.
    pub fn with_frames(mut self, frames: FrameSender) -> Self {
        self.frames = Some(frames);
        self
    }

    /// Sends one frame to the job's WebSocket client, if it has one. Never fails the message:
    /// a client that left still finds the outcome on the claim.
    async fn tell_client(&self, envelope: &WorkMessage, kind: FrameKind, data: Value) {
        let (Some(frames), Some(to)) = (&self.frames, &envelope.reply_to) else {
            return;
        };
        let draft = Draft {
            request_id: Some(to.request_id.clone()),
            kind,
            job_id: None,
            correlation_id: None,
            data,
        }
        .for_job(&envelope.message_id, envelope.correlation_id.as_str());
        match frames.send(&to.connection_id, draft).await {
            Ok(Delivery::Delivered { seq }) => tracing::debug!(seq, ?kind, "frame sent"),
            Ok(Delivery::NotConnected) => {
                tracing::info!(?kind, "client not connected; the claim keeps the outcome")
            }
            Ok(Delivery::Gone) => {
                tracing::info!(
                    ?kind,
                    "client gone; connection forgotten, the claim keeps the outcome"
                )
            }
            Err(error) => tracing::warn!(%error, ?kind, "frame not sent"),
        }
    }

    /// After a job reaches a terminal state (or on a redelivery that finds it there, in case
    /// the first delivery stopped in between), hand its callback to the notifier.
    async fn start_callback(&self, envelope: &WorkMessage) -> Result<(), ProcessError> {
        if envelope.has_callback {
            self.callbacks.start(envelope).await?;
        }
        Ok(())
    }

    pub async fn process(&self, record: SqsMessage) -> Result<(), ProcessError> {
        let body = record.body.clone().unwrap_or_default();
        let trace = TraceHeader::of_record(&record);
        let parsed = QueueMessage::from_json(&body)
            .map_err(|e| e.to_string())
            .and_then(|m| match m {
                QueueMessage::Work(work) => Ok(work),
                other => Err(format!("a {} message on a work queue", other.kind())),
            });
        let mut envelope = match parsed {
            Ok(envelope) => envelope,
            Err(error) => {
                let letter = DeadLetter {
                    body,
                    message_id: attribute(&record, MESSAGE_ID_ATTRIBUTE).map(str::to_owned),
                    correlation_id: attribute(&record, CORRELATION_ID_ATTRIBUTE).map(str::to_owned),
                    failure: Failure {
                        kind: FailureKind::Unparseable,
                        reason: format!("not a courier envelope: {error}"),
                    },
                    trace,
                };
                tracing::error!(
                    correlation_id = letter.correlation_id.as_deref().unwrap_or("-"),
                    reason = %letter.failure.reason,
                    "unparseable message sent to the dead-letter queue"
                );
                self.dead_letters.dead_letter(&letter).await?;
                let fifo = record
                    .event_source_arn
                    .as_deref()
                    .is_some_and(|arn| arn.ends_with(".fifo"));
                crate::metrics::dead_lettered(
                    if fifo { "ordered-work" } else { "work" },
                    letter.correlation_id.as_deref().unwrap_or("-"),
                    letter.message_id.as_deref().unwrap_or("-"),
                );
                return Ok(());
            }
        };
        envelope.trace_header = trace.as_ref().map(|t| t.as_str().to_owned());
        let span = tracing::info_span!(
            "message",
            correlation_id = %envelope.correlation_id,
            message_id = %envelope.message_id,
            job_type = %envelope.job_type,
            trace_id = tracing::field::Empty,
        );
        record_trace_id(&span, trace.as_ref());
        let result = self
            .process_envelope(&record, &body, &envelope)
            .instrument(span.clone())
            .await;
        if let Err(ProcessError::Dependency(error)) = &result {
            // Logged here, inside the message's span, so the line names its correlation id.
            span.in_scope(
                || tracing::error!(%error, "a dependency failed; SQS delivers the message again"),
            );
        }
        result
    }

    async fn process_envelope(
        &self,
        record: &SqsMessage,
        body: &str,
        envelope: &WorkMessage,
    ) -> Result<(), ProcessError> {
        let attempt = match self.ledger.start_attempt(envelope).await? {
            AttemptStart::Run { attempt } => attempt,
            AttemptStart::AlreadyFinished => {
                tracing::info!("already finished; redelivery acknowledged without running");
                self.start_callback(envelope).await?;
                return Ok(());
            }
        };
        let receive_count: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(attempt);
        tracing::info!(attempt, receive_count, "running job");

        let record_key = crate::domain::record_key(envelope);
        let progress = JobProgress {
            processor: self,
            envelope,
            record_key: &record_key,
        };
        let started = std::time::Instant::now();
        let report = |outcome: crate::metrics::Outcome| {
            let terminal = outcome != crate::metrics::Outcome::Retried;
            crate::metrics::processed(
                pattern_label(envelope),
                outcome,
                started.elapsed(),
                terminal.then(|| since_accepted(envelope)).flatten(),
                envelope.correlation_id.as_str(),
                &envelope.message_id,
            );
        };
        let outcome = match self.registry.get(&envelope.job_type) {
            Some(worker) => {
                let context = WorkContext {
                    attempt,
                    progress: &progress,
                };
                worker.run(&envelope.payload, &context).await
            }
            None => Err(WorkError::Permanent(format!(
                "unknown job type {:?}",
                envelope.job_type
            ))),
        };
        let outcome = outcome.and_then(|result| {
            let size = result.to_string().len();
            if size > MAX_RESULT_BYTES {
                Err(WorkError::Permanent(format!(
                    "result is {size} bytes, over the {MAX_RESULT_BYTES}-byte limit"
                )))
            } else {
                Ok(result)
            }
        });

        match outcome {
            Ok(result) => {
                self.ledger.record_success(&record_key, &result).await?;
                tracing::info!(attempt, "job succeeded");
                report(crate::metrics::Outcome::Succeeded);
                self.tell_client(envelope, FrameKind::Result, result).await;
                self.start_callback(envelope).await
            }
            Err(WorkError::Permanent(reason)) => {
                let failure = Failure {
                    kind: FailureKind::Permanent,
                    reason,
                };
                // Dead-letter first: if recording then fails, the retry finds the record still
                // RUNNING and repeats both, so the DLQ copy is never the one that goes missing.
                self.dead_letters
                    .dead_letter(&DeadLetter {
                        body: body.to_owned(),
                        message_id: Some(envelope.message_id.clone()),
                        correlation_id: Some(envelope.correlation_id.to_string()),
                        failure: failure.clone(),
                        trace: envelope
                            .trace_header
                            .as_deref()
                            .and_then(TraceHeader::parse),
                    })
                    .await?;
                self.ledger.record_failure(&record_key, &failure).await?;
                tracing::warn!(reason = %failure.reason, "job failed permanently; sent to the dead-letter queue");
                report(crate::metrics::Outcome::Failed);
                crate::metrics::dead_lettered(
                    queue_label(envelope),
                    envelope.correlation_id.as_str(),
                    &envelope.message_id,
                );
                self.tell_client(envelope, FrameKind::Error, job_failed(&failure))
                    .await;
                self.start_callback(envelope).await
            }
            Err(WorkError::Transient(reason)) => {
                let last = receive_count >= self.policy.max_receive_count;
                let result = self
                    .retry_later(record, envelope, receive_count, reason)
                    .await;
                // Counted once the outcome is recorded (retry_later fails early otherwise).
                if matches!(result, Err(ProcessError::WillRetry(_))) {
                    if last {
                        report(crate::metrics::Outcome::Failed);
                        crate::metrics::dead_lettered(
                            queue_label(envelope),
                            envelope.correlation_id.as_str(),
                            &envelope.message_id,
                        );
                    } else {
                        report(crate::metrics::Outcome::Retried);
                    }
                }
                result
            }
        }
    }

    /// Makes a message that was not processed visible again at once (best effort).
    pub async fn release(&self, record: SqsMessage) {
        if let (Some(arn), Some(handle)) = (&record.event_source_arn, &record.receipt_handle)
            && let Err(error) = self.retries.retry_after(arn, handle, Duration::ZERO).await
        {
            tracing::warn!(%error, "held-back message stays in flight until its visibility timeout");
        }
    }

    async fn retry_later(
        &self,
        record: &SqsMessage,
        envelope: &WorkMessage,
        receive_count: u32,
        reason: String,
    ) -> Result<(), ProcessError> {
        let last_receive = receive_count >= self.policy.max_receive_count;
        let delay = if last_receive {
            // Redrive happens on the next receive; make that now.
            let failure = Failure {
                kind: FailureKind::RetriesExhausted,
                reason: format!("gave up after {receive_count} attempts; last error: {reason}"),
            };
            self.ledger
                .record_failure(&crate::domain::record_key(envelope), &failure)
                .await?;
            tracing::warn!(%reason, receive_count, "retries exhausted; SQS redrive moves it to the dead-letter queue");
            self.tell_client(envelope, FrameKind::Error, job_failed(&failure))
                .await;
            self.start_callback(envelope).await?;
            Duration::ZERO
        } else {
            self.ledger
                .record_retry(&crate::domain::record_key(envelope), &reason)
                .await?;
            let delay = retry_delay(
                receive_count,
                self.policy.base_delay,
                self.policy.max_delay,
                &mut rand::rng(),
            );
            tracing::warn!(%reason, receive_count, delay_ms = delay.as_millis() as u64, "transient failure; will retry");
            delay
        };
        if let (Some(arn), Some(handle)) = (&record.event_source_arn, &record.receipt_handle) {
            // Best effort: without it SQS retries after the queue's visibility timeout anyway.
            if let Err(error) = self.retries.retry_after(arn, handle, delay).await {
                tracing::warn!(%error, "could not shorten the retry delay");
            }
        }
        Err(ProcessError::WillRetry(reason))
    }
}
