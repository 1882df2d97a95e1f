//! The SQS-triggered side: one message at a time through the worker registry, one batch at a
//! time back to SQS as partial batch failures.

mod backoff;
mod batch;
mod message;

pub use backoff::retry_delay;
pub use batch::{BATCH_CONCURRENCY, Ordered, handle_batch, handle_ordered_batch};
pub use message::{MAX_RESULT_BYTES, MessageProcessor, ProcessError, RetryPolicy};

pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

impl MessageProcessor {
    /// The Lambda handler body: every record of the batch, failures reported per message.
    pub async fn handle_event(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_batch(event, |record| self.process(record)).await
    }

    /// The same for a FIFO queue: each message group in order.
    pub async fn handle_ordered_event(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_ordered_batch(
            event,
            |record| self.process(record),
            |record| self.release(record),
        )
        .await
    }
}

/// The processor function's two sources: the standard work queue (fire and forget, claim
/// check) and the FIFO queue of jobs submitted over WebSocket, each with its own dead-letter
/// queue; the FIFO side also sends frames.
pub struct WorkConsumer {
    pub standard: MessageProcessor,
    pub ordered: MessageProcessor,
}

impl WorkConsumer {
    /// One event comes from one queue; a FIFO queue's ARN ends in `.fifo`.
    pub async fn handle_event(&self, event: SqsEvent) -> SqsBatchResponse {
        let fifo = event
            .records
            .first()
            .and_then(|r| r.event_source_arn.as_deref())
            .is_some_and(|arn| arn.ends_with(".fifo"));
        if fifo {
            self.ordered.handle_ordered_event(event).await
        } else {
            self.standard.handle_event(event).await
        }
    }
}

#[cfg(test)]
mod tests;
