//! The ordered (FIFO) queue's turns. A connection's jobs share one message group: SQS hands
//! out up to ten of a group at once, and they run one after another
//! (`consumer::handle_ordered_batch`). What keeps that fair to the jobs behind:
//!
//! - A message that runs nothing through no fault of its own — behind a failed message of its
//!   group, or left for a later invocation because too little of this one is left — is
//!   **held**: the receive is noted on the job's record and the message is made visible again
//!   at once (SQS hands it out again only after the message ahead of it).
//! - A message behind others of its group starts only with as much time left as it would have
//!   had at the front of a batch of its own (its type's timeout, or the whole invocation).
//! - The processor counts a message's **own** receives against `MaxReceiveCount`, and ends a
//!   job past them as SQS redrive would (`abandoned.rs`). Only the first message of its group
//!   in a batch can have failed receives of its own (one that failed is first from then on):
//!   its own receives are SQS's count less the held ones. One behind others has none but
//!   this. The queue's own redrive sits far above ([`ORDERED_REDRIVE_AFTER`]): a backstop for
//!   a record that cannot be read.
//!
//! A receive in a batch whose invocation died is not noted: for the first of its group it
//! counts as its own.

use super::Deadline;
use super::attempt::{DEADLINE_MARGIN, longest_run, may_start, working_deadline};
use super::message::{MessageProcessor, ProcessError};
use crate::application::consumer::{Delivery, Turn};
use crate::domain::WorkMessage;
use aws_lambda_events::event::sqs::SqsMessage;
use courier_protocol::queue::QueueMessage;
use tokio::time::Instant;

/// The ordered queue's redrive `maxReceiveCount` (`OrderedWorkQueue` in `template.yaml`). A
/// message's held receives are at most its nine predecessors' own receives in its batches, so
/// with own receives kept to `MaxReceiveCount` (at most 99) plus one, SQS's count stays within
/// ten times that: under this.
pub const ORDERED_REDRIVE_AFTER: u32 = 1000;

impl MessageProcessor {
    /// Handles one message of an ordered batch in its turn.
    pub(super) async fn process_in_turn(
        &self,
        delivery: Delivery,
        turn: Turn,
        deadline: Deadline,
    ) -> Result<(), ProcessError> {
        if !self.has_time_for(&delivery, turn, deadline, Instant::now()) {
            tracing::info!("too little of this invocation is left for it: held for the next");
            match turn {
                Turn::First => {
                    if let Ok(QueueMessage::Work(envelope)) = &delivery.message {
                        self.note_held(&delivery.record, envelope).await;
                    }
                    self.release(delivery.record).await;
                }
                Turn::Behind { .. } => self.hold(delivery).await,
            }
            return Err(ProcessError::OutOfTime);
        }
        let Turn::Behind { .. } = turn else {
            let own = self.own_receives(&delivery).await;
            if own > self.limits.max_receive_count {
                // What SQS redrive would have done at `MaxReceiveCount`, done here.
                return self.settle_abandoned(delivery).await;
            }
            return self.process_counted(delivery, own, deadline).await;
        };
        // Every message ahead of it in this batch has succeeded, so none of its earlier
        // receives was a failure of its own: one that failed would be first of its group from
        // then on. (Receives of a batch whose function died are the exception, and the
        // attempts those runs started still count on the claim.) Should this one not succeed,
        // that is noted, since it will be first from then on.
        let receives = delivery.receive_count();
        let noted = match (&delivery.message, &delivery.record.message_id) {
            (Ok(QueueMessage::Work(envelope)), Some(id)) => Some((envelope.clone(), id.clone())),
            _ => None,
        };
        let result = self.process_counted(delivery, 1, deadline).await;
        if let (Err(error), Some((envelope, id))) = (&result, noted) {
            // Handed back unstarted (or stopped at the function's deadline): not its own.
            let held = match error {
                ProcessError::OutOfTime => receives,
                _ => receives - 1,
            };
            self.note_held_at_least(&envelope, &id, held).await;
        }
        result
    }

    /// Holds back a message behind others of its group, which runs nothing now: none of its
    /// receives so far was its own failure (see [`Self::process_in_turn`]), which is noted
    /// (best effort: one not noted counts as its own), and it is made visible again at once.
    pub(super) async fn hold(&self, delivery: Delivery) {
        if let (Ok(QueueMessage::Work(envelope)), Some(id)) =
            (&delivery.message, &delivery.record.message_id)
        {
            self.note_held_at_least(envelope, id, delivery.receive_count())
                .await;
        }
        self.release(delivery.record).await;
    }

    async fn note_held_at_least(&self, envelope: &WorkMessage, id: &str, count: u32) {
        if count == 0 {
            return;
        }
        if let Err(error) = self.ledger.note_held_at_least(envelope, id, count).await {
            tracing::warn!(%error, correlation_id = %envelope.correlation_id, "held-back receives not noted: they count as the message's own");
        }
    }

    /// Notes a receive of an ordered-queue message that ran nothing through no fault of its own
    /// (on the standard queue, SQS counts every receive).
    pub(super) async fn note_held_if_ordered(&self, record: &SqsMessage, envelope: &WorkMessage) {
        let ordered = record
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(".fifo"));
        if ordered {
            self.note_held(record, envelope).await;
        }
    }

    async fn note_held(&self, record: &SqsMessage, envelope: &WorkMessage) {
        let Some(id) = &record.message_id else {
            return;
        };
        if let Err(error) = self.ledger.note_held(envelope, id).await {
            tracing::warn!(%error, correlation_id = %envelope.correlation_id, "a held-back receive was not noted: it counts as the message's own");
        }
    }

    /// Deletes a finished group's messages before the batch answers (best effort: the event
    /// source deletes them then anyway), so its connection's next jobs need not wait for the
    /// rest of the batch.
    pub(super) async fn acknowledge(&self, records: Vec<SqsMessage>) {
        let Some(arn) = records.first().and_then(|r| r.event_source_arn.clone()) else {
            return;
        };
        let handles: Vec<String> = records
            .into_iter()
            .filter_map(|r| r.receipt_handle)
            .collect();
        if let Err(error) = self.retries.acknowledge(&arn, &handles).await {
            tracing::warn!(%error, "finished messages are deleted when the batch answers instead");
        }
    }

    /// Whether the invocation has time left to start this message: always for the first of
    /// its group; behind others, as much as it would have had at the front of its own batch.
    fn has_time_for(
        &self,
        delivery: &Delivery,
        turn: Turn,
        deadline: Deadline,
        now: Instant,
    ) -> bool {
        if !may_start(deadline, now) {
            return false;
        }
        let (Turn::Behind { fresh }, Some(cutoff)) = (turn, working_deadline(deadline)) else {
            return true;
        };
        let Ok(QueueMessage::Work(envelope)) = &delivery.message else {
            return true;
        };
        let Some(job) = self.registry.get(&envelope.job_type) else {
            return true;
        };
        let needed = longest_run(job.as_ref()).min(fresh.saturating_sub(DEADLINE_MARGIN));
        cutoff.saturating_duration_since(now) >= needed
    }

    /// The message's own receives: SQS's count, less the held ones. The record is read only
    /// once SQS's count passes `MaxReceiveCount` (below it, the own count can only be lower);
    /// if it cannot be read, SQS's count stands and the message is handled as usual.
    async fn own_receives(&self, delivery: &Delivery) -> u32 {
        let receives = delivery.receive_count();
        if receives <= self.limits.max_receive_count {
            return receives;
        }
        let (Ok(QueueMessage::Work(envelope)), Some(id)) =
            (&delivery.message, &delivery.record.message_id)
        else {
            return receives;
        };
        match self.ledger.look(envelope).await {
            Ok(looked) => receives.saturating_sub(looked.held_receives_of(id)),
            Err(error) => {
                tracing::warn!(%error, correlation_id = %envelope.correlation_id, "held receives not read: SQS's count stands");
                // Not past the limit on that account alone, nor on its last receive (which
                // backs off none): the handling meets the same dependency and backs off in
                // full, or goes on as usual.
                receives.min(self.limits.max_receive_count.saturating_sub(1))
            }
        }
    }
}
