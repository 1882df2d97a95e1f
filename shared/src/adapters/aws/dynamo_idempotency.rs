//! Idempotency keys as conditional writes, after the Powertools pattern: one `PutItem` claims a
//! key unless a live record exists; the failed condition returns the old record, so a retry is
//! answered without a second read. The record keeps the job id the key was first taken with: a
//! retry of the same request whose first try died (its lock lapsed) takes the key over with a
//! conditional update and that same id; a key past its window is new, with a new id.

use super::{n, port_error, s, ttl_after};
use crate::application::clock::Clock;
use crate::application::ports::{IdempotencyClaim, IdempotencyStore, PortError, StoredResponse};
use crate::domain::{IdempotencyKey, JobId, Principal};
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

/// A live record, read against a request with the same key.
enum Classified {
    Final(IdempotencyClaim),
    /// The same request, in progress under a lock that has lapsed (its try died): the lock as
    /// read, and the id the key was taken with.
    Lapsed {
        locked_until: String,
        id: Option<JobId>,
    },
}

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

    /// What a live record (the `PutItem`'s condition failed on it) means for this request.
    fn classify(item: &HashMap<String, AttributeValue>, fingerprint: &str, now: i64) -> Classified {
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        if text("fingerprint") != Some(fingerprint) {
            return Classified::Final(IdempotencyClaim::KeyReused);
        }
        if text("status") != Some(COMPLETED) {
            let locked_until = item.get("lockedUntil").and_then(|v| v.as_n().ok());
            return match locked_until.and_then(|n| n.parse::<i64>().ok()) {
                Some(until) if until < now => Classified::Lapsed {
                    locked_until: locked_until.unwrap().to_owned(),
                    id: text("jobId").and_then(|id| JobId::parse(id).ok()),
                },
                _ => Classified::Final(IdempotencyClaim::InProgress),
            };
        }
        let status = item
            .get("responseStatus")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok());
        let headers = text("responseHeaders").and_then(|h| serde_json::from_str(h).ok());
        Classified::Final(match (status, headers, text("responseBody")) {
            (Some(status), Some(headers), Some(body)) => IdempotencyClaim::Replay(StoredResponse {
                status,
                headers,
                body: body.to_owned(),
            }),
            // A completed record missing its response cannot be replayed faithfully.
            _ => IdempotencyClaim::InProgress,
        })
    }

    /// Takes over a lapsed in-progress key for a retry of the same request: only if nobody
    /// else did meanwhile (the lock is still the one read), keeping the record's job id.
    async fn take_over(
        &self,
        pk: AttributeValue,
        locked_until: &str,
        now: time::OffsetDateTime,
    ) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .update_expression("SET lockedUntil = :lock")
            .condition_expression("#status = :in_progress AND lockedUntil = :seen")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":seen", AttributeValue::N(locked_until.to_owned()))
            .expression_attribute_values(":lock", ttl_after(now, IN_PROGRESS_LOCK))
            .send()
            .await;
        super::condition_held("dynamodb:UpdateItem(idempotency takeover)", result)
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
        fresh: &JobId,
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
            .item("jobId", s(fresh.as_str()))
            .item("lockedUntil", ttl_after(now, IN_PROGRESS_LOCK))
            .item("ttl", ttl_after(now, self.keep_for))
            // Free if absent or past its window (TTL deletion is lazy): new work, a new id.
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let item = match result {
            Ok(_) => return Ok(IdempotencyClaim::Acquired { id: fresh.clone() }),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => match failed.item {
                    Some(item) => Some(item),
                    None => self.read(pk.clone()).await?,
                },
                other => return Err(port_error("dynamodb:PutItem(idempotency)", other)),
            },
        };
        // Deleted between the two calls: the client's retry will acquire it.
        let Some(item) = item else {
            return Ok(IdempotencyClaim::InProgress);
        };
        match Self::classify(&item, fingerprint, now.unix_timestamp()) {
            Classified::Final(claim) => Ok(claim),
            Classified::Lapsed { locked_until, id } => {
                if !self.take_over(pk, &locked_until, now).await? {
                    // Another retry took it first: this one waits its turn.
                    return Ok(IdempotencyClaim::InProgress);
                }
                // A record written before keys kept their id named the job by the key.
                let id = id.unwrap_or_else(|| JobId::derive(&[scope, key.as_str()]));
                Ok(IdempotencyClaim::Acquired { id })
            }
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

    async fn unlock(&self, scope: &str, key: &IdempotencyKey) -> Result<(), PortError> {
        // A lock that has already lapsed: the next try of the request takes the key over.
        let lapsed = self.clock.now().unix_timestamp() - 1;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(scope, key))
            .update_expression("SET lockedUntil = :lapsed")
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":lapsed", n(lapsed))
            .send()
            .await;
        // Not in progress any more: completed or gone, nothing to unlock.
        super::condition_held("dynamodb:UpdateItem(idempotency unlock)", result)?;
        Ok(())
    }
}
