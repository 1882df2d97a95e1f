//! The SQS-triggered side: one message at a time through the job registry, one batch at a
//! time back to SQS as partial batch failures.

mod attempt;
mod message;

pub use attempt::{
    AttemptOutcome, CANCEL_GRACE, DEADLINE_MARGIN, lease_for, may_start, run_attempt,
};

pub use message::{MessageProcessor, ProcessError, RetryPolicy};

/// The function's deadline as an instant; `None`: no deadline (tests, benches).
pub type Deadline = Option<tokio::time::Instant>;

use crate::application::consumer::{
    SqsBatchResponse, SqsEvent, handle_batch, handle_ordered_batch,
};

impl MessageProcessor {
    /// The Lambda handler body: every record of the batch, failures reported per message.
    pub async fn handle_event(&self, event: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
        handle_batch(event, |record| self.process(record, deadline)).await
    }

    /// The same for a FIFO queue: each message group in order.
    pub async fn handle_ordered_event(
        &self,
        event: SqsEvent,
        deadline: Deadline,
    ) -> SqsBatchResponse {
        handle_ordered_batch(
            event,
            |record| self.process(record, deadline),
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
    /// One event comes from one queue; a FIFO queue's ARN ends in `.fifo`. `deadline` is the
    /// invocation's (from the Lambda context): the batch is answered before it.
    pub async fn handle_event(
        &self,
        event: SqsEvent,
        deadline: std::time::SystemTime,
    ) -> SqsBatchResponse {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let deadline = Some(tokio::time::Instant::now() + left);
        let fifo = event
            .records
            .first()
            .and_then(|r| r.event_source_arn.as_deref())
            .is_some_and(|arn| arn.ends_with(".fifo"));
        if fifo {
            self.ordered.handle_ordered_event(event, deadline).await
        } else {
            self.standard.handle_event(event, deadline).await
        }
    }
}

#[cfg(test)]
mod tests;
