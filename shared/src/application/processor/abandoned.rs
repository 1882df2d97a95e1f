//! What the processor does with a message SQS redrive gave up on.
//!
//! A work queue's redrive policy moves a message received `maxReceiveCount` times and never
//! deleted into the queue's dead-letter inbox. No delivery recorded an outcome — each one
//! crashed, timed out or met a dependency error — so its job may still be PENDING or RUNNING.
//! Read from the inbox, the job is ended here:
//!
//! 1. The job becomes FAILED (`dead-lettered`), unless a delivery holds its lease (that run
//!    records its own outcome; the letter is looked at again once the lease lapses) or it had
//!    ended already.
//! 2. The letter goes on, with the reason, to the operators' dead-letter queue, where it can
//!    be listed and redriven.
//! 3. The WebSocket client gets the error frame and the callback starts, as for any failure.
//!
//! Each step can be repeated: a crash anywhere brings the letter back, and a job found FAILED
//! as `dead-lettered` has the remaining steps done again.

use super::message::{MessageProcessor, Opened, ProcessError, about, queue_label};
use crate::application::consumer::Delivery;
use crate::application::ports::{Abandonment, Ended, Failure, FailureKind};
use crate::domain::{JobStatus, WorkMessage};
use aws_lambda_events::event::sqs::SqsMessage;
use courier_protocol::queue::QueueMessage;
use tracing::Instrument;

impl MessageProcessor {
    /// Handles one letter from a work queue's dead-letter inbox.
    pub async fn settle_abandoned(&self, delivery: Delivery) -> Result<(), ProcessError> {
        let receive_count = delivery.receive_count();
        let Delivery { record, message } = delivery;
        // A task check SQS gave up on (its looks kept meeting a dependency error) is an
        // attempt's timer: it goes on, later, rather than leave the attempt with none.
        let message = match message {
            Ok(QueueMessage::TaskCheck(check)) => return self.resume_task_check(&check).await,
            other => other,
        };
        let Some(Opened {
            body,
            envelope,
            span,
        }) = self.open(&record, message).await?
        else {
            return Ok(());
        };
        let result = self
            .settle_abandoned_job(&record, &body, &envelope)
            .instrument(span.clone())
            .await;
        if let Err(ProcessError::Dependency(error)) = &result {
            // A moved message may keep the receives it had on its work queue: count from there.
            let tries = receive_count
                .saturating_sub(self.limits.max_receive_count)
                .max(1);
            let delay = self.limits.retry.delay(tries, &mut rand::rng());
            self.back_off(&span, &record, error, delay).await;
        }
        result
    }

    async fn settle_abandoned_job(
        &self,
        record: &SqsMessage,
        body: &str,
        envelope: &WorkMessage,
    ) -> Result<(), ProcessError> {
        let failure = Failure {
            kind: FailureKind::DeadLettered,
            reason: format!(
                "dead-lettered after {} receives with no outcome recorded",
                self.limits.max_receive_count
            ),
        };
        let to = match self.ledger.abandon(envelope, &failure).await? {
            Abandonment::Abandoned(ended) => {
                tracing::warn!(reason = %crate::telemetry::capped(&failure.reason), "job failed: SQS gave up on its message");
                self.report(envelope, crate::metrics::Outcome::Failed, None);
                ended
            }
            Abandonment::Ended {
                status: JobStatus::Failed,
                failure_kind,
                reply_to,
            } if failure_kind.as_deref() == Some(FailureKind::DeadLettered.as_str()) => {
                tracing::info!("failed by an earlier try at this letter; finishing its steps");
                Ended::unmarked(reply_to)
            }
            Abandonment::Ended { status, .. } => {
                // Whoever ended it dead-lettered it too if it failed; only an interrupted
                // callback start may be left to finish.
                tracing::info!(%status, "the job had ended; nothing to dead-letter");
                self.start_callback(envelope, false).await?;
                return Ok(());
            }
            Abandonment::Leased { remaining } => {
                return Err(self.wait_out_lease(record, remaining).await);
            }
            Abandonment::Missing => {
                // Nothing left to fail or to call back; operators still see the letter.
                tracing::warn!("no claim for the dead-lettered job (expired?); letter kept");
                self.dead_letters
                    .dead_letter(&self.letter(body, envelope, &failure))
                    .await?;
                return Ok(());
            }
        };
        crate::crash_point!("processor.after-abandon", &envelope.correlation_id);
        self.dead_letters
            .dead_letter(&self.letter(body, envelope, &failure))
            .await?;
        crate::metrics::dead_lettered(queue_label(envelope), about(envelope));
        self.announce_failure(envelope, &to, &failure).await
    }
}
