//! The processed-message record: `MSG#<messageId>`, moved only forward by conditional writes.
//!
//! `status` is RUNNING while attempts go on, then SUCCEEDED or FAILED, never back. `attempts`
//! counts runs of the job. The record expires (TTL) after the configured retention.

use super::{n, port_error, s, ttl_after};
use crate::clock::{Clock, rfc3339};
use crate::domain::WorkEnvelope;
use crate::ports::{AttemptStart, Failure, MessageLedger, PortError};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub const RUNNING: &str = "RUNNING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";

#[derive(Clone)]
pub struct DynamoMessageLedger {
    client: Client,
    table: String,
    keep_for: Duration,
    clock: Arc<dyn Clock>,
}

impl DynamoMessageLedger {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        keep_for: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            keep_for,
            clock,
        }
    }

    fn pk(message_id: &str) -> AttributeValue {
        s(format!("MSG#{message_id}"))
    }

    /// An update that applies only while the record is RUNNING. A failed condition means another
    /// delivery already finished the message: not an error, there is nothing left to do.
    async fn update_running(
        &self,
        operation: &'static str,
        message_id: &str,
        expression: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), PortError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(message_id))
            .update_expression(expression)
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(RUNNING))
            .expression_attribute_values(":now", s(rfc3339(self.clock.now())));
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    tracing::warn!(
                        message_id,
                        operation,
                        "record already terminal; update skipped"
                    );
                    Ok(())
                }
                other => Err(port_error(operation, other)),
            },
        }
    }
}

#[async_trait]
impl MessageLedger for DynamoMessageLedger {
    async fn start_attempt(&self, envelope: &WorkEnvelope) -> Result<AttemptStart, PortError> {
        let now = self.clock.now();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(&envelope.message_id))
            .update_expression(
                "SET #status = :running, kind = :kind, jobType = :type, correlationId = :cid, \
                 pattern = :pattern, acceptedAt = :accepted, updatedAt = :now, \
                 startedAt = if_not_exists(startedAt, :now), #ttl = :ttl \
                 ADD attempts :one",
            )
            .condition_expression("attribute_not_exists(pk) OR #status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":running", s(RUNNING))
            .expression_attribute_values(":kind", s("message"))
            .expression_attribute_values(":type", s(&envelope.job_type))
            .expression_attribute_values(":cid", s(envelope.correlation_id.as_str()))
            .expression_attribute_values(
                ":pattern",
                s(serde_json::to_value(envelope.pattern)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()),
            )
            .expression_attribute_values(":accepted", s(&envelope.accepted_at))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":ttl", ttl_after(now, self.keep_for))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attempt = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("attempts"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Ok(AttemptStart::Run { attempt })
            }
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    Ok(AttemptStart::AlreadyFinished)
                }
                other => Err(port_error("dynamodb:UpdateItem(start)", other)),
            },
        }
    }

    async fn record_progress(&self, message_id: &str, percent: u8) -> Result<(), PortError> {
        self.update_running(
            "dynamodb:UpdateItem(progress)",
            message_id,
            "SET progress = :p, updatedAt = :now",
            &[],
            vec![(":p", n(percent))],
        )
        .await
    }

    async fn record_success(&self, message_id: &str, result: &Value) -> Result<(), PortError> {
        self.update_running(
            "dynamodb:UpdateItem(succeed)",
            message_id,
            "SET #status = :done, #result = :result, progress = :full, completedAt = :now, \
             updatedAt = :now REMOVE lastError",
            &[("#result", "result")],
            vec![
                (":done", s(SUCCEEDED)),
                (":result", s(result.to_string())),
                (":full", n(100)),
            ],
        )
        .await
    }

    async fn record_failure(&self, message_id: &str, failure: &Failure) -> Result<(), PortError> {
        self.update_running(
            "dynamodb:UpdateItem(fail)",
            message_id,
            "SET #status = :failed, #error = :error, completedAt = :now, updatedAt = :now",
            &[("#error", "error")],
            vec![
                (":failed", s(FAILED)),
                (
                    ":error",
                    AttributeValue::M(
                        [
                            ("kind".to_owned(), s(failure.kind.as_str())),
                            ("reason".to_owned(), s(&failure.reason)),
                        ]
                        .into(),
                    ),
                ),
            ],
        )
        .await
    }

    async fn record_retry(&self, message_id: &str, reason: &str) -> Result<(), PortError> {
        self.update_running(
            "dynamodb:UpdateItem(retry)",
            message_id,
            "SET lastError = :reason, updatedAt = :now",
            &[],
            vec![(":reason", s(reason))],
        )
        .await
    }
}
