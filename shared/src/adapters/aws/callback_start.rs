//! Starts a callback delivery: claim `callbackState` WAITING → QUEUED (conditional, and only
//! for a finished job), then one message on the callback queue for the notifier. A start
//! repeated while the delivery is still QUEUED sends the message again (see the callback
//! lifecycle): a crash between the two steps is healed by the work message's redelivery.
//! Usually the first round's mark is made by the write that ended the job (the ledger's):
//! then only the message is sent (`queue_marked`). A claim written while WAITING was no
//! `callbackState` at all (the release before) reads as WAITING, so a claim from it starts.
//! A job that ended again after a redrive or a rerun restarts its delivery as a new round
//! (`callbackRound` = the job's `redrives`), once per round, whatever became of the last.

use super::sqs::{string_attribute, with_trace};
use super::{callback_sources, condition_held, n, one_of, port_error, s};
use crate::application::ports::{CallbackStarter, PortError};
use crate::domain::lifecycle::callback::target;
use crate::domain::{CallbackEvent, CallbackStatus, JobStatus, WorkMessage};
use async_trait::async_trait;
use courier_protocol::queue::CallbackMessage;
use courier_protocol::queue::attribute::CORRELATION_ID as CORRELATION_ID_ATTRIBUTE;

#[derive(Clone)]
pub struct QueuedCallbackStarter {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl QueuedCallbackStarter {
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        sqs: aws_sdk_sqs::Client,
        queue_url: impl Into<String>,
    ) -> Self {
        Self {
            dynamodb,
            table: table.into(),
            sqs,
            queue_url: queue_url.into(),
        }
    }

    /// A new round for the new outcome of a reopened job: from RETRYING, DELIVERED or FAILED,
    /// only while the delivery's round is behind the job's redrives (so once per round).
    async fn restart(&self, key: &str) -> Result<bool, PortError> {
        let event = CallbackEvent::Restart;
        let (restartable, from) = one_of("callbackState", "from", &callback_sources(event));
        let (finished, done) = finished();
        let request = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression(
                "SET callbackState = :to, callbackAttempts = :zero, callbackRound = redrives \
                 REMOVE callbackLastStatus, callbackLastError, callbackNextAttemptAt, \
                 callbackDeliveredAt, callbackRedrives",
            )
            .condition_expression(format!(
                "{restartable} AND {finished} AND (callbackRound < redrives OR \
                 (attribute_not_exists(callbackRound) AND redrives > :zero))"
            ))
            .set_expression_attribute_values(Some(from.into_iter().chain(done).collect()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(target(event).as_str()))
            .expression_attribute_values(":zero", n(0));
        condition_held(
            "dynamodb:UpdateItem(callback restart)",
            request.send().await,
        )
    }

    /// Applies a callback lifecycle event to the claim; `false` when the table refuses it
    /// from the stored state. Starting also needs the job to be finished.
    async fn apply(&self, key: &str, event: CallbackEvent) -> Result<bool, PortError> {
        let (mut condition, from) = callback_in(event);
        let mut request = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET callbackState = :to")
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_values(":to", s(target(event).as_str()));
        if event == CallbackEvent::Start {
            let (finished, values) = finished();
            condition = format!("{condition} AND {finished}");
            request = request.expression_attribute_names("#status", "status");
            for (placeholder, value) in values {
                request = request.expression_attribute_values(placeholder, value);
            }
        }
        condition_held(
            "dynamodb:UpdateItem(callback start)",
            request.condition_expression(condition).send().await,
        )
    }
}

/// The condition that the callback stands where `event` may start from, and the values it
/// binds. WAITING is also the absence of `callbackState`: claims written by the release that
/// kept no state for WAITING are still in flight across an upgrade.
fn callback_in(
    event: CallbackEvent,
) -> (
    String,
    Vec<(String, aws_sdk_dynamodb::types::AttributeValue)>,
) {
    let sources = callback_sources(event);
    let (condition, values) = one_of("callbackState", "from", &sources);
    if sources.contains(&CallbackStatus::Waiting.as_str()) {
        (
            format!("(attribute_not_exists(callbackState) OR {condition})"),
            values,
        )
    } else {
        (condition, values)
    }
}

/// The condition that the job is finished, and the values it binds.
fn finished() -> (
    String,
    Vec<(String, aws_sdk_dynamodb::types::AttributeValue)>,
) {
    let terminal: Vec<&'static str> = JobStatus::ALL
        .into_iter()
        .filter(|s| s.is_terminal())
        .map(JobStatus::as_str)
        .collect();
    one_of("#status", "done", &terminal)
}

#[async_trait]
impl CallbackStarter for QueuedCallbackStarter {
    async fn start(&self, envelope: &WorkMessage) -> Result<(), PortError> {
        let key = super::dynamo_ledger::record_key(&crate::domain::WorkId::of(envelope));
        if !self.apply(&key, CallbackEvent::Start).await? && !self.restart(&key).await? {
            // Taken by the notifier already, this round (or the job is not finished).
            return Ok(());
        }
        self.queue_marked(envelope).await
    }

    async fn queue_marked(&self, envelope: &WorkMessage) -> Result<(), PortError> {
        crate::crash_point!("callback.after-mark", &envelope.correlation_id);
        let body = CallbackMessage {
            job_id: envelope.message_id.clone(),
            correlation_id: envelope.correlation_id.to_string(),
            redrive: 0,
        }
        .to_json();
        let mut request = self.sqs.send_message().queue_url(&self.queue_url);
        // Fair queues: one caller's pile of callbacks (a slow endpoint's retries) does not
        // hold up another caller's.
        if let Some(owner) = &envelope.owner {
            request = request.message_group_id(owner.tag());
        }
        let sent = with_trace(request, envelope.trace_header.as_deref())
            .message_body(body)
            .message_attributes(
                CORRELATION_ID_ATTRIBUTE,
                string_attribute(envelope.correlation_id.as_str()),
            )
            .send()
            .await;
        // Unsent, the work message's retry starts it again: QUEUED may start again.
        sent.map_err(|e| port_error("sqs:SendMessage(callback)", e))?;
        tracing::debug!(job_id = %envelope.message_id, "callback delivery queued");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_takes_a_claim_with_no_callback_state_as_waiting() {
        let (condition, values) = callback_in(CallbackEvent::Start);
        assert_eq!(
            condition,
            "(attribute_not_exists(callbackState) OR callbackState IN (:from0, :from1))"
        );
        assert_eq!(values.len(), 2);
        // No other event starts from WAITING: absent is no state of theirs.
        let (restart, _) = callback_in(CallbackEvent::Restart);
        assert!(!restart.contains("attribute_not_exists"), "{restart}");
    }
}
