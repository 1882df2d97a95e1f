//! Idempotency keys as conditional writes, after the Powertools pattern: one `PutItem` claims a
//! key unless a live record exists; the failed condition returns the old record, so a retry is
//! answered without a second read.

use super::{n, port_error, s, ttl_after};
use crate::application::clock::Clock;
use crate::application::ports::{IdempotencyClaim, IdempotencyStore, PortError, StoredResponse};
use crate::domain::{IdempotencyKey, Principal};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETED: &str = "COMPLETED";

/// An invocation that claimed a key and died frees it after this long, so the client's retry is
/// not locked out until the TTL. Longer than the HTTP function's timeout.
pub const IN_PROGRESS_LOCK: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
    keep_for: Duration,
    clock: Arc<dyn Clock>,
}

impl DynamoIdempotencyStore {
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

    fn pk(scope: &str, key: &IdempotencyKey) -> AttributeValue {
        s(format!("IDEM#{scope}#{key}"))
    }

    fn classify(item: &HashMap<String, AttributeValue>, fingerprint: &str) -> IdempotencyClaim {
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        if text("fingerprint") != Some(fingerprint) {
            return IdempotencyClaim::KeyReused;
        }
        if text("status") != Some(COMPLETED) {
            return IdempotencyClaim::InProgress;
        }
        let status = item
            .get("responseStatus")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok());
        let headers = text("responseHeaders").and_then(|h| serde_json::from_str(h).ok());
        match (status, headers, text("responseBody")) {
            (Some(status), Some(headers), Some(body)) => IdempotencyClaim::Replay(StoredResponse {
                status,
                headers,
                body: body.to_owned(),
            }),
            // A completed record missing its response cannot be replayed faithfully.
            _ => IdempotencyClaim::InProgress,
        }
    }

    /// Fallback for stores that do not return the old item on a failed condition.
    async fn read(
        &self,
        pk: AttributeValue,
    ) -> Result<Option<HashMap<String, AttributeValue>>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(idempotency)", e))?;
        Ok(out.item)
    }
}

#[async_trait]
impl IdempotencyStore for DynamoIdempotencyStore {
    async fn acquire(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        owner: &Principal,
    ) -> Result<IdempotencyClaim, PortError> {
        let now = self.clock.now();
        let pk = Self::pk(scope, key);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", pk.clone())
            .item("kind", s("idempotency"))
            .item("status", s(IN_PROGRESS))
            .item("fingerprint", s(fingerprint))
            .item("owner", s(owner.key()))
            .item("lockedUntil", ttl_after(now, IN_PROGRESS_LOCK))
            .item("ttl", ttl_after(now, self.keep_for))
            // Free if absent, expired (TTL deletion is lazy) or abandoned mid-flight.
            .condition_expression(
                "attribute_not_exists(pk) OR #ttl < :now OR (#status = :in_progress AND lockedUntil < :now)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(IdempotencyClaim::Acquired),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let item = match failed.item {
                        Some(item) => Some(item),
                        None => self.read(pk).await?,
                    };
                    Ok(match item {
                        Some(item) => Self::classify(&item, fingerprint),
                        // Deleted between the two calls: the client's retry will acquire it.
                        None => IdempotencyClaim::InProgress,
                    })
                }
                other => Err(port_error("dynamodb:PutItem(idempotency)", other)),
            },
        }
    }

    async fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(scope, key))
            .update_expression(
                "SET #status = :completed, responseStatus = :code, responseHeaders = :headers, responseBody = :body REMOVE lockedUntil",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":code", n(response.status))
            .expression_attribute_values(":body", s(&response.body))
            .expression_attribute_values(
                ":headers",
                s(serde_json::to_string(&response.headers).expect("headers serialise")),
            )
            .send()
            .await
            .map_err(|e| port_error("dynamodb:UpdateItem(idempotency)", e))?;
        Ok(())
    }

    async fn release(&self, scope: &str, key: &IdempotencyKey) -> Result<(), PortError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::pk(scope, key))
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await
            .map_err(|e| port_error("dynamodb:DeleteItem(idempotency)", e))?;
        Ok(())
    }
}
