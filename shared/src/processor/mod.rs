//! The SQS-triggered side: one message at a time through the worker registry, one batch at a
//! time back to SQS as partial batch failures.

mod backoff;
mod batch;
mod message;

pub use backoff::retry_delay;
pub use batch::{BATCH_CONCURRENCY, handle_batch};
pub use message::{MAX_RESULT_BYTES, MessageProcessor, ProcessError, RetryPolicy};

pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

impl MessageProcessor {
    /// The Lambda handler body: every record of the batch, failures reported per message.
    pub async fn handle_event(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_batch(event, |record| self.process(record)).await
    }
}

#[cfg(test)]
mod tests;
