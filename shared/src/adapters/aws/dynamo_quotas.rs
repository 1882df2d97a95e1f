//! Callers' quotas in the table, each one conditional write on the usual path:
//! - `LIMITS#<caller tag>` (`courier_protocol::quota`): an operator's limits for one caller
//!   (`courier quotas set`); read only by the functions.
//! - `RATE#<caller tag>#<unix second>`: the requests of one second, `ADD`ed under the limit;
//!   expired by TTL a minute on.
//! - `QUOTA#<caller tag>#jobs`: the jobs in flight by generation (`domain::quota::SlotCount`:
//!   `gen`, `cur`, `prev`, and their sum `total`, which a condition can compare), a slot taken
//!   by one conditional write before a job's claim is written, which then carries it
//!   (`quotaSlot`: `<tag>/<generation>/<token>`); given back by removing the claim's `quotaSlot`
//!   (conditionally: once) and decrementing the generation it was taken in. A slot whose
//!   give-back was lost drops out two generations on; the item expires (TTL) after that too.
//! - `QUOTA#<caller tag>#connections`: `open`, a map of connection id → the Unix time it stops
//!   counting; a `$connect` also drops the entries past their time.

use super::{QUOTA_SLOT, QUOTA_SLOT_GIVEN, condition_held, n, number_of, port_error, s};
use crate::application::ports::{PortError, QuotaStore};
use crate::domain::quota::{
    GiveBack, JobSlot, OwnLimits, SlotCount, Take, give_back, take, taken_in,
};
use crate::domain::{JobId, JobStatus, Principal};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::collections::HashMap;

/// How many times a connection's count is tried when other connects race it.
const CONNECT_TRIES: usize = 5;

#[derive(Clone)]
pub struct DynamoQuotas {
    client: Client,
    table: String,
    /// How long a generation of job slots lasts (a claim's lifetime).
    generation_seconds: u64,
}

fn jobs_key(tag: &str) -> AttributeValue {
    s(format!("QUOTA#{tag}#jobs"))
}

fn connections_key(owner: &Principal) -> AttributeValue {
    s(format!("QUOTA#{}#connections", owner.tag()))
}

impl DynamoQuotas {
    pub fn new(client: Client, table: impl Into<String>, generation: std::time::Duration) -> Self {
        Self {
            client,
            table: table.into(),
            generation_seconds: generation.as_secs().max(1),
        }
    }

    /// The caller's count as it stands (strongly consistent), `None` when there is none.
    async fn slot_count(&self, tag: &str) -> Result<Option<SlotCount>, PortError> {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", jobs_key(tag))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(job slots)", e))?;
        Ok(read.item().and_then(slot_count))
    }

    /// One more in generation `generation`, if that is the count's and it is under `limit`:
    /// concurrent takes of one caller do not get in each other's way.
    async fn add_slot(
        &self,
        tag: &str,
        generation: u64,
        limit: u32,
        lapse_at: i64,
    ) -> Result<bool, PortError> {
        let written = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", jobs_key(tag))
            .update_expression("ADD cur :one, #total :one SET #ttl = :ttl")
            .condition_expression("gen = :gen AND #total < :limit")
            .expression_attribute_names("#total", "total")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":gen", n(generation))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(lapse_at))
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(take a job slot)", written)
    }

    /// One conditional write that starts a generation as `how` says, against `seen` (the
    /// count it decided on): false when the count changed meanwhile.
    async fn write_take(
        &self,
        tag: &str,
        seen: Option<SlotCount>,
        generation: u64,
        how: Take,
        limit: u32,
        lapse_at: i64,
    ) -> Result<bool, PortError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", jobs_key(tag))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ttl", n(lapse_at));
        let request = match (how, seen) {
            (Take::Roll, Some(seen)) => request
                .update_expression(
                    "SET gen = :gen, prev = cur, cur = :one, #total = cur + :one, #ttl = :ttl",
                )
                // The old generation's count as it is when written (give-backs to it may come
                // in between): room for one more if it is under the limit.
                .condition_expression("gen = :last AND cur < :limit")
                .expression_attribute_names("#total", "total")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":gen", n(generation))
                .expression_attribute_values(":last", n(seen.generation))
                .expression_attribute_values(":limit", n(limit)),
            (Take::Restart, seen) => {
                let request = request
                    .update_expression(
                        "SET gen = :gen, cur = :one, prev = :zero, #total = :one, #ttl = :ttl",
                    )
                    .expression_attribute_names("#total", "total")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":gen", n(generation));
                match seen {
                    None => request.condition_expression("attribute_not_exists(gen)"),
                    Some(seen) => request
                        .condition_expression("gen = :seen")
                        .expression_attribute_values(":seen", n(seen.generation)),
                }
            }
            _ => return Ok(false),
        };
        condition_held("dynamodb:UpdateItem(take a job slot)", request.send().await)
    }
}

fn slot_count(item: &HashMap<String, AttributeValue>) -> Option<SlotCount> {
    Some(SlotCount {
        generation: number_of(item, "gen")?.into(),
        current: number_of(item, "cur").unwrap_or(0),
        previous: number_of(item, "prev").unwrap_or(0),
    })
}

/// How many times a slot is tried when other takes and give-backs of the same caller race it.
const SLOT_TRIES: usize = 5;

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
            jobs_in_flight: number_of(item, jobs),
            requests_per_second: number_of(item, requests),
            connections: number_of(item, connections),
            webhook_endpoints: number_of(item, endpoints),
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
        generation: u64,
        limit: u32,
    ) -> Result<Option<JobSlot>, PortError> {
        let tag = owner.tag();
        // Two generations on, the count has dropped out whole: the item may go then.
        let lapse_at =
            i64::try_from((generation + 3) * self.generation_seconds).unwrap_or(i64::MAX);
        let slot = |generation| JobSlot::taken(tag.clone(), generation);
        // The usual case, without a read: one more in this generation's count.
        if self.add_slot(&tag, generation, limit, lapse_at).await? {
            return Ok(Some(slot(generation)));
        }
        for _ in 0..SLOT_TRIES {
            let seen = self.slot_count(&tag).await?;
            let taken = match take(seen, generation, limit) {
                Take::Full => return Ok(None),
                Take::Add => {
                    let theirs = taken_in(seen, generation, Take::Add);
                    self.add_slot(&tag, theirs, limit, lapse_at)
                        .await?
                        .then_some(theirs)
                }
                how => self
                    .write_take(&tag, seen, generation, how, limit, lapse_at)
                    .await?
                    .then_some(generation),
            };
            if let Some(generation) = taken {
                return Ok(Some(slot(generation)));
            }
        }
        Err(PortError::new(
            "dynamodb:UpdateItem(take a job slot)",
            "the caller's count kept changing",
        ))
    }

    async fn give_back_job_slot(&self, slot: &JobSlot) -> Result<(), PortError> {
        // The usual case, without a read: its own generation is still the count's.
        let mut place = GiveBack::Current;
        for _ in 0..SLOT_TRIES {
            let (attribute, generation) = match place {
                GiveBack::Current => ("cur", slot.generation),
                GiveBack::Previous => ("prev", slot.generation + 1),
                GiveBack::Nowhere => return Ok(()),
            };
            let written = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", jobs_key(&slot.tag))
                .update_expression("ADD #place :minus, #total :minus")
                .condition_expression("gen = :gen AND #place > :zero")
                .expression_attribute_names("#place", attribute)
                .expression_attribute_names("#total", "total")
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":gen", n(generation))
                .send()
                .await;
            if condition_held("dynamodb:UpdateItem(give back a job slot)", written)? {
                return Ok(());
            }
            place = give_back(self.slot_count(&slot.tag).await?, slot.generation);
        }
        Err(PortError::new(
            "dynamodb:UpdateItem(give back a job slot)",
            "the caller's count kept changing",
        ))
    }

    async fn release_job(&self, job: &JobId) -> Result<Option<JobSlot>, PortError> {
        let terminal: Vec<&'static str> = [
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .iter()
        .map(|status| status.as_str())
        .collect();
        let (ended, ended_values) = super::one_of("#status", "ended", &terminal);
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
            // Kept as given back (`quotaSlotGiven`), so a request that took it can tell its
            // slot was its claim's; only once the job has ended (a late release of an earlier
            // run never takes a rerun's slot).
            .update_expression("SET #given = #slot REMOVE #slot")
            .condition_expression(format!("attribute_exists(#slot) AND {ended}"))
            .set_expression_attribute_values(Some(ended_values.into_iter().collect()))
            .expression_attribute_names("#slot", QUOTA_SLOT)
            .expression_attribute_names("#given", QUOTA_SLOT_GIVEN)
            .expression_attribute_names("#status", "status")
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        let slot = match removed {
            Ok(output) => output
                .attributes()
                .and_then(|old| old.get(QUOTA_SLOT))
                .and_then(|slot| slot.as_s().ok())
                .and_then(|slot| JobSlot::parse(slot)),
            Err(error) => {
                condition_held::<(), _, _>("dynamodb:UpdateItem(release a job slot)", Err(error))?;
                return Ok(None);
            }
        };
        // A crash right here leaves the slot counted until it drops out, two generations on.
        if let Some(slot) = &slot {
            self.give_back_job_slot(slot).await?;
        }
        Ok(slot)
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
                // One more, and those past their time gone: refused only if the map (as it is
                // when written, those past their time still in it) would go past the limit
                // meanwhile. Connects of one caller racing each other all get in while there is
                // room.
                let mut update = "SET #open.#new = :until".to_owned();
                let mut request = request
                    .expression_attribute_names("#new", connection)
                    .expression_attribute_values(":until", n(until))
                    .condition_expression("size(#open) < :allowed")
                    .expression_attribute_values(":allowed", n(limit as usize + expired.len()));
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
                    // Those past their time still there: `:allowed` counts them.
                    let still_there: Vec<String> = names
                        .iter()
                        .map(|n| format!(" AND attribute_exists(#open.{n})"))
                        .collect();
                    request = request.condition_expression(format!(
                        "size(#open) < :allowed{}",
                        still_there.concat()
                    ));
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
