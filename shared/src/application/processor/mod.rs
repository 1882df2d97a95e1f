//! The SQS-triggered side: one message at a time through the job registry, one batch at a
//! time back to SQS as partial batch failures.

mod abandoned;
mod admission;
mod attempt;
mod decision;
mod message;
mod ordered;
mod tasks;
mod unleased;

pub use attempt::{
    AttemptOutcome, CANCEL_GRACE, DEADLINE_MARGIN, lease_for, may_start, run_attempt,
};

pub use admission::{DueAdmission, WAIT_FOR_SLOT};
pub use message::{Limits, MessageProcessor, ProcessError, ScheduleRuns, Tasks};
pub use ordered::ORDERED_REDRIVE_AFTER;
pub use unleased::LEASE_AFTER;

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
            deadline,
            |delivery, turn| self.process_in_turn(delivery, turn, deadline),
            |delivery| self.hold(delivery),
            |records| self.acknowledge(records),
        )
        .await
    }
}

impl MessageProcessor {
    /// The same for a work queue's dead-letter inbox: every letter's job is ended (see
    /// `abandoned.rs`). A FIFO inbox is read in group order, like its work queue.
    pub async fn handle_abandoned_event(&self, event: SqsEvent, ordered: bool) -> SqsBatchResponse {
        if ordered {
            handle_ordered_batch(
                event,
                None,
                |delivery, _| self.settle_abandoned(delivery),
                |delivery| self.release(delivery.record),
                |records| self.acknowledge(records),
            )
            .await
        } else {
            handle_batch(event, |record| self.settle_abandoned(record)).await
        }
    }
}

/// The processor function's sources: the standard work queue (fire and forget, claim check)
/// and the FIFO queue of jobs submitted over WebSocket, each with its own dead-letter queue;
/// and each queue's dead-letter inbox, where SQS redrive puts a message it gave up on. The FIFO
/// side also sends frames.
pub struct WorkConsumer {
    pub standard: MessageProcessor,
    pub ordered: MessageProcessor,
    /// The queue names of the two dead-letter inboxes: an event names its queue by ARN.
    pub inboxes: Inboxes,
}

pub struct Inboxes {
    pub standard: String,
    pub ordered: String,
}

/// Which queue an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Standard,
    Ordered,
    StandardInbox,
    OrderedInbox,
}

impl Inboxes {
    fn source_of(&self, queue_arn: Option<&str>) -> Source {
        let name = queue_arn
            .and_then(|arn| arn.rsplit(':').next())
            .unwrap_or("");
        if name == self.standard {
            Source::StandardInbox
        } else if name == self.ordered {
            Source::OrderedInbox
        } else if name.ends_with(".fifo") {
            Source::Ordered
        } else {
            Source::Standard
        }
    }
}

impl WorkConsumer {
    /// One event comes from one queue. `deadline` is the invocation's (from the Lambda
    /// context): the batch is answered before it.
    pub async fn handle_event(
        &self,
        event: SqsEvent,
        deadline: std::time::SystemTime,
    ) -> SqsBatchResponse {
        let left = deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        let deadline = Some(tokio::time::Instant::now() + left);
        let arn = event
            .records
            .first()
            .and_then(|r| r.event_source_arn.as_deref());
        match self.inboxes.source_of(arn) {
            Source::Standard => self.standard.handle_event(event, deadline).await,
            Source::Ordered => self.ordered.handle_ordered_event(event, deadline).await,
            Source::StandardInbox => self.standard.handle_abandoned_event(event, false).await,
            Source::OrderedInbox => self.ordered.handle_abandoned_event(event, true).await,
        }
    }
}

#[cfg(test)]
mod routing_tests {
    use super::*;

    #[test]
    fn an_event_goes_to_the_handler_of_its_queue() {
        let inboxes = Inboxes {
            standard: "stack-WorkDeadLetterInbox-AB12".into(),
            ordered: "stack-ordered-work-inbox.fifo".into(),
        };
        let arn = |name: &str| format!("arn:aws:sqs:eu-west-1:000000000000:{name}");
        let cases = [
            ("stack-WorkQueue-XY34", Source::Standard),
            ("stack-ordered-work.fifo", Source::Ordered),
            ("stack-WorkDeadLetterInbox-AB12", Source::StandardInbox),
            ("stack-ordered-work-inbox.fifo", Source::OrderedInbox),
        ];
        for (name, source) in cases {
            assert_eq!(inboxes.source_of(Some(&arn(name))), source, "{name}");
        }
    }
}

#[cfg(test)]
mod tests;
