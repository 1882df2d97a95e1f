//! Callers' quotas in the table, each one conditional write on the usual path:
//! - `LIMITS#<caller tag>` (`courier_protocol::quota`): an operator's limits for one caller
//!   (`courier quotas set`); read only by the functions.
//! - `RATE#<caller tag>#<unix second>`: the requests of one second, `ADD`ed under the limit;
//!   expired by TTL a minute on.
//! - `QUOTA#<caller tag>#jobs`: `inFlight`, taken (`ADD` under the limit) before a job's claim is
//!   written, which then carries the slot (`quotaSlot`: the caller's tag); the processor gives
//!   it back by removing the claim's `quotaSlot` (conditionally: once) and then decrementing.
//!   The count expires (TTL) a claim's lifetime and a day after its last take, so a caller idle
//!   that long starts again from none whatever a crash between two writes left.
//! - `QUOTA#<caller tag>#connections`: `open`, a map of connection id → the Unix time it stops
//!   counting; a `$connect` also drops the entries past their time.

use super::{condition_held, n, port_error, s};
use crate::application::ports::{PortError, QuotaStore};
use crate::domain::quota::OwnLimits;
use crate::domain::{JobId, Principal};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

/// The claim's attribute that says it holds a job slot, naming its caller's tag.
pub(crate) const QUOTA_SLOT: &str = "quotaSlot";

/// How many times a connection's count is tried when other connects race it.
const CONNECT_TRIES: usize = 3;

#[derive(Clone)]
pub struct DynamoQuotas {
    client: Client,
    table: String,
}

fn jobs_key(tag: &str) -> AttributeValue {
    s(format!("QUOTA#{tag}#jobs"))
}

fn connections_key(owner: &Principal) -> AttributeValue {
    s(format!("QUOTA#{}#connections", owner.tag()))
}

impl DynamoQuotas {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// One slot fewer for the caller `tag` (never below none: a count that lapsed meanwhile
    /// stays gone).
    async fn decrement(&self, tag: &str) -> Result<(), PortError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", jobs_key(tag))
            .update_expression("ADD inFlight :minus")
            .condition_expression("inFlight > :zero")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(give back a job slot)", written).map(|_| ())
    }
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u32> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

#[async_trait]
impl QuotaStore for DynamoQuotas {
    async fn own_limits(&self, owner: &Principal) -> Result<OwnLimits, PortError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(courier_protocol::quota::own_limits_key(owner)))
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(own limits)", e))?;
        let Some(item) = read.item() else {
            return Ok(OwnLimits::default());
        };
        let [jobs, requests, connections, endpoints] = courier_protocol::quota::LIMIT_NAMES;
        Ok(OwnLimits {
            jobs_in_flight: number(item, jobs),
            requests_per_second: number(item, requests),
            connections: number(item, connections),
            webhook_endpoints: number(item, endpoints),
        })
    }

    async fn count_request(
        &self,
        owner: &Principal,
        second: i64,
        limit: u32,
    ) -> Result<bool, PortError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("RATE#{}#{second}", owner.tag())))
            .update_expression("ADD requests :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(requests) OR requests < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(second + 60))
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(count a request)", written)
    }

    async fn take_job_slot(
        &self,
        owner: &Principal,
        _job: &JobId,
        limit: u32,
        lapse_at: i64,
    ) -> Result<bool, PortError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", jobs_key(&owner.tag()))
            .update_expression("ADD inFlight :one SET #ttl = :lapse")
            .condition_expression("attribute_not_exists(inFlight) OR inFlight < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":lapse", n(lapse_at))
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(take a job slot)", written)
    }

    async fn give_back_job_slot(&self, owner: &Principal, _job: &JobId) -> Result<(), PortError> {
        self.decrement(&owner.tag()).await
    }

    async fn release_job(&self, job: &JobId) -> Result<bool, PortError> {
        let removed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                s(super::dynamo_ledger::record_key(
                    &crate::domain::WorkId::Job(job.to_string()),
                )),
            )
            .update_expression("REMOVE #slot")
            .condition_expression("attribute_exists(#slot)")
            .expression_attribute_names("#slot", QUOTA_SLOT)
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        let tag = match removed {
            Ok(output) => output
                .attributes()
                .and_then(|old| old.get(QUOTA_SLOT))
                .and_then(|tag| tag.as_s().ok())
                .cloned(),
            Err(error) => {
                condition_held::<(), _, _>("dynamodb:UpdateItem(release a job slot)", Err(error))?;
                return Ok(false);
            }
        };
        // A crash right here leaves the slot taken until the caller's count lapses.
        match tag {
            Some(tag) => self.decrement(&tag).await.map(|_| true),
            None => Ok(false),
        }
    }

    async fn open_connection(
        &self,
        owner: &Principal,
        connection: &str,
        until: i64,
        now: i64,
        limit: u32,
    ) -> Result<bool, PortError> {
        for _ in 0..CONNECT_TRIES {
            let read = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", connections_key(owner))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| port_error("dynamodb:GetItem(connections)", e))?;
            let open: HashMap<String, i64> = read
                .item()
                .and_then(|item| item.get("open"))
                .and_then(|open| open.as_m().ok())
                .map(|open| {
                    open.iter()
                        .filter_map(|(id, at)| Some((id.clone(), at.as_n().ok()?.parse().ok()?)))
                        .collect()
                })
                .unwrap_or_default();
            let expired: Vec<&String> = open
                .iter()
                .filter(|(_, counted_until)| **counted_until <= now)
                .map(|(id, _)| id)
                .collect();
            if open.len() - expired.len() >= limit as usize {
                return Ok(false);
            }
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", connections_key(owner))
                .expression_attribute_names("#open", "open");
            let request = if read.item().and_then(|i| i.get("open")).is_none() {
                request
                    .update_expression("SET #open = :first")
                    .condition_expression("attribute_not_exists(#open)")
                    .expression_attribute_values(
                        ":first",
                        AttributeValue::M(HashMap::from([(connection.to_owned(), n(until))])),
                    )
            } else {
                // The map as read, give or take those past their time: the count holds unless
                // another connect or disconnect came in between (then read again).
                let mut update = "SET #open.#new = :until".to_owned();
                let mut request = request
                    .expression_attribute_names("#new", connection)
                    .expression_attribute_values(":until", n(until))
                    .condition_expression("size(#open) = :seen")
                    .expression_attribute_values(":seen", n(open.len()));
                if !expired.is_empty() {
                    let names: Vec<String> =
                        (0..expired.len()).map(|i| format!("#gone{i}")).collect();
                    update.push_str(&format!(
                        " REMOVE {}",
                        names
                            .iter()
                            .map(|n| format!("#open.{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    for (name, id) in names.iter().zip(&expired) {
                        request = request.expression_attribute_names(name, id.as_str());
                    }
                }
                request.update_expression(update)
            };
            let written = request.send().await;
            if condition_held("dynamodb:UpdateItem(open a connection)", written)? {
                return Ok(true);
            }
        }
        Err(PortError::new(
            "dynamodb:UpdateItem(open a connection)",
            "other connections of the caller kept changing the count",
        ))
    }

    async fn close_connection(&self, owner: &Principal, connection: &str) -> Result<(), PortError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", connections_key(owner))
            .update_expression("REMOVE #open.#gone")
            .condition_expression("attribute_exists(#open.#gone)")
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#gone", connection)
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(close a connection)", written).map(|_| ())
    }
}
