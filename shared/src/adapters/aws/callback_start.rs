//! Starts a callback delivery: claim `callbackState` WAITING → QUEUED (conditional, and only
//! for a finished job), then one message on the callback queue for the notifier. A start
//! repeated while the delivery is still QUEUED sends the message again (see the callback
//! lifecycle): a crash between the two steps is healed by the work message's redelivery.

use super::sqs::{string_attribute, with_trace};
use super::{callback_sources, condition_held, one_of, port_error, s};
use crate::application::ports::{CallbackStarter, PortError};
use crate::domain::lifecycle::callback::target;
use crate::domain::{CallbackEvent, JobStatus, WorkMessage};
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

    /// Applies a callback lifecycle event to the claim; `false` when the table refuses it
    /// from the stored state. Starting also needs the job to be finished.
    async fn apply(&self, key: &str, event: CallbackEvent) -> Result<bool, PortError> {
        let (mut condition, from) = one_of("callbackState", "from", &callback_sources(event));
        let mut request = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET callbackState = :to")
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_values(":to", s(target(event).as_str()));
        if event == CallbackEvent::Start {
            let terminal: Vec<&'static str> = JobStatus::ALL
                .into_iter()
                .filter(|s| s.is_terminal())
                .map(JobStatus::as_str)
                .collect();
            let (finished, values) = one_of("#status", "done", &terminal);
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

#[async_trait]
impl CallbackStarter for QueuedCallbackStarter {
    async fn start(&self, envelope: &WorkMessage) -> Result<(), PortError> {
        let key = super::dynamo_ledger::record_key(&crate::domain::WorkId::of(envelope));
        if !self.apply(&key, CallbackEvent::Start).await? {
            return Ok(()); // Taken by the notifier already (or the job is not finished).
        }
        crate::crash_point!("callback.after-mark", &envelope.correlation_id);
        let body = CallbackMessage {
            job_id: envelope.message_id.clone(),
            correlation_id: envelope.correlation_id.to_string(),
            redrive: 0,
        }
        .to_json();
        let request = self.sqs.send_message().queue_url(&self.queue_url);
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
