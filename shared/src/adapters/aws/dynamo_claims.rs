//! Claim records (`JOB#<id>`) as the HTTP API creates, reads and cancels them. The processor's
//! writes to the same items live in the ledger adapter.

use super::{callback_sources, condition_held, job_sources, n, one_of, port_error, s};
use crate::application::clock::{Clock, parse_rfc3339, rfc3339};
use crate::application::ports::{
    CancelOutcome, ClaimStore, Created, JobFilter, ListPosition, Page, PortError, RerunSource,
    TakeOver, Withdrawal,
};
use crate::domain::timeline::{self, DeliveryOutcome};
use crate::domain::{
    CallbackEvent, CallbackState, CallbackStatus, Claim, CorrelationId, EndpointId, Happening,
    JobEvent, JobFailure, JobId, JobStatus, Pattern, Principal, ReplyTo,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoClaimStore {
    client: Client,
    table: String,
    /// When the timeline's events happen.
    clock: Arc<dyn Clock>,
}

impl DynamoClaimStore {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    fn pk(id: &JobId) -> AttributeValue {
        s(format!("JOB#{id}"))
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn instant(item: &Item, name: &str) -> Option<OffsetDateTime> {
    text(item, name).and_then(parse_rfc3339)
}

/// Which request wrote a claim whose id it derives (`Claim::request_print`).
const REQUEST_PRINT: &str = "requestPrint";

/// Set once a later try of the claim's request took it over (`ClaimStore::take_over`).
const TAKEN_OVER: &str = "takenOver";

/// What a claim's view reads (a list reads no more: not the failed job's kept message, nor
/// the timeline).
const CLAIM_VIEW_FIELDS: &[&str] = &[
    "pk",
    "jobType",
    "status",
    "progress",
    "attempts",
    "correlationId",
    "owner",
    "createdAt",
    "updatedAt",
    "startedAt",
    "completedAt",
    "expiresAt",
    "runAt",
    "result",
    "resultRef",
    "resultBytes",
    "error",
    "callbackEndpoint",
    "callbackState",
    "callbackAttempts",
    "callbackLastStatus",
    "callbackLastError",
    "callbackNextAttemptAt",
    "callbackDeliveredAt",
    "callbackRound",
];

/// Maps a stored item back to a claim; `None` if it is not a well-formed claim.
pub(crate) fn claim_from_item(item: &Item) -> Option<Claim> {
    let id = JobId::parse(text(item, "pk")?.strip_prefix("JOB#")?).ok()?;
    let error = item
        .get("error")
        .and_then(|v| v.as_m().ok())
        .map(|m| JobFailure {
            kind: text(m, "kind").unwrap_or("unknown").to_owned(),
            reason: text(m, "reason").unwrap_or("").to_owned(),
        });
    Some(Claim {
        id,
        job_type: text(item, "jobType")?.to_owned(),
        status: JobStatus::parse(text(item, "status")?)?,
        progress: number(item, "progress").unwrap_or(0).min(100) as u8,
        attempts: number(item, "attempts").unwrap_or(0) as u32,
        correlation_id: CorrelationId::parse(text(item, "correlationId")?).ok()?,
        owner: text(item, "owner").and_then(Principal::parse_key),
        slot: text(item, super::QUOTA_SLOT).map(str::to_owned),
        slot_given_back: text(item, super::QUOTA_SLOT_GIVEN).map(str::to_owned),
        request_print: text(item, REQUEST_PRINT).map(str::to_owned),
        created_at: instant(item, "createdAt")?,
        updated_at: instant(item, "updatedAt")?,
        started_at: instant(item, "startedAt"),
        completed_at: instant(item, "completedAt"),
        expires_at: instant(item, "expiresAt")?,
        run_at: instant(item, "runAt"),
        result: text(item, "result").and_then(|r| serde_json::from_str(r).ok()),
        result_ref: text(item, "resultRef").and_then(crate::domain::BlobKey::parse),
        result_bytes: number(item, "resultBytes"),
        error,
        callback: text(item, "callbackEndpoint")
            .and_then(|id| EndpointId::parse(id).ok())
            .map(|endpoint_id| CallbackState {
                endpoint_id,
                state: text(item, "callbackState")
                    .and_then(CallbackStatus::parse)
                    .unwrap_or(CallbackStatus::Waiting),
                attempts: number(item, "callbackAttempts").unwrap_or(0) as u32,
                last_status: number(item, "callbackLastStatus").map(|s| s as u16),
                last_error: text(item, "callbackLastError").map(str::to_owned),
                next_attempt_at: text(item, "callbackNextAttemptAt").map(str::to_owned),
                delivered_at: text(item, "callbackDeliveredAt").map(str::to_owned),
                round: number(item, "callbackRound").unwrap_or(0) as u32,
            }),
        reply_to: match (text(item, "connectionId"), text(item, "requestId")) {
            (Some(connection_id), Some(request_id)) => Some(ReplyTo {
                connection_id: connection_id.to_owned(),
                request_id: request_id.to_owned(),
            }),
            _ => None,
        },
        events: super::timeline::read(item),
    })
}

#[async_trait]
impl ClaimStore for DynamoClaimStore {
    async fn create(&self, claim: &Claim) -> Result<Created, PortError> {
        let created = rfc3339(claim.created_at);
        let mut request = self.client.put_item();
        if let Some(owner) = &claim.owner {
            request = request.item("owner", s(owner.key()));
        }
        if let Some(callback) = &claim.callback {
            request = request
                .item("callbackEndpoint", s(callback.endpoint_id.as_str()))
                .item("callbackState", s(callback.state.as_str()))
                .item("callbackAttempts", n(0));
        }
        if let Some(to) = &claim.reply_to {
            request = request
                .item("connectionId", s(&to.connection_id))
                .item("requestId", s(&to.request_id));
        }
        if let Some(run_at) = claim.run_at {
            request = request.item("runAt", s(rfc3339(run_at)));
        }
        if let Some(print) = &claim.request_print {
            request = request.item(REQUEST_PRINT, s(print));
        }
        if let Some(slot) = &claim.slot {
            // The caller's job slot it holds (`DynamoQuotas::release_job` gives it back).
            request = request.item(super::QUOTA_SLOT, s(slot));
        }
        if claim.owner.is_some() {
            // Listed among its owner's jobs (the `ByOwner` index).
            request = request.item(
                super::listing::LISTED_AT,
                s(super::listing::key(
                    super::listing::Listed::Jobs,
                    &created,
                    claim.id.as_str(),
                )),
            );
        }
        if !claim.events.is_empty() {
            let events = claim
                .events
                .iter()
                .map(|e| s(serde_json::to_string(e).expect("a happening serialises")))
                .collect();
            request = request.item("events", AttributeValue::L(events));
        }
        let written = request
            .table_name(&self.table)
            .item("pk", Self::pk(&claim.id))
            .item("kind", s("job"))
            .item("status", s(claim.status.as_str()))
            .item("jobType", s(&claim.job_type))
            .item("correlationId", s(claim.correlation_id.as_str()))
            .item("pattern", s(Pattern::ClaimCheck.as_str()))
            .item("acceptedAt", s(&created))
            .item("createdAt", s(&created))
            .item("updatedAt", s(&created))
            .item("expiresAt", s(rfc3339(claim.expires_at)))
            .item("ttl", n(claim.expires_at.unix_timestamp()))
            .item("progress", n(0))
            .item("attempts", n(0))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(Created::New),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(Created::AlreadyThere),
                other => Err(port_error("dynamodb:PutItem(claim)", other)),
            },
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Claim>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            // A caller polling right after its 202 must see the claim.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(claim)", e))?;
        Ok(out.item.as_ref().and_then(claim_from_item))
    }

    async fn cancel(
        &self,
        id: &JobId,
        owner: &Principal,
        now: OffsetDateTime,
    ) -> Result<CancelOutcome, PortError> {
        let stamp = rfc3339(now);
        let (cancellable, from) = one_of("#status", "from", &job_sources(JobEvent::Cancel));
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .update_expression(format!(
                "SET #status = :to, completedAt = :now, updatedAt = :now, {}",
                super::timeline::APPEND
            ))
            // Timestamps share one fixed-width UTC format, so they compare as strings.
            .condition_expression(format!(
                "{cancellable} AND expiresAt > :now AND #owner = :owner"
            ))
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner.key()))
            .expression_attribute_values(
                ":to",
                s(crate::domain::lifecycle::job::target(JobEvent::Cancel).as_str()),
            )
            .expression_attribute_values(":now", s(&stamp))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = super::timeline::note(request, now, &[Happening::Cancelled])
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .attributes
                .as_ref()
                .and_then(claim_from_item)
                .map_or(CancelOutcome::NotFound, CancelOutcome::Cancelled)),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let claim = match failed.item {
                        Some(item) => claim_from_item(&item),
                        None => self.get(id).await?,
                    };
                    Ok(match claim {
                        Some(claim) if claim.visible_to(owner, now) => {
                            CancelOutcome::TooLate(claim)
                        }
                        _ => CancelOutcome::NotFound,
                    })
                }
                other => Err(port_error("dynamodb:UpdateItem(cancel)", other)),
            },
        }
    }

    async fn withdraw(&self, id: &JobId) -> Result<Withdrawal, PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            // Absent already, or never started and taken over by no other try: a started
            // claim's message was queued after all, a taken-over one may have been answered on.
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :pending AND attempts = :none \
                 AND attribute_not_exists(#taken))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#taken", TAKEN_OVER)
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":none", n(0))
            .send()
            .await;
        Ok(
            match condition_held("dynamodb:DeleteItem(claim withdrawal)", result)? {
                true => Withdrawal::Withdrawn,
                false => Withdrawal::Started,
            },
        )
    }

    async fn list(
        &self,
        owner: &Principal,
        filter: &JobFilter,
        after: Option<&ListPosition>,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Page<Claim>, PortError> {
        if filter.window_is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        // A claim swept late by TTL, or of another status or type, is passed over.
        let admit = |item: &HashMap<String, AttributeValue>| {
            claim_from_item(item)
                .filter(|claim| claim.owner.as_ref() == Some(owner) && filter.admits(claim, now))
        };
        let query = super::listing::ListQuery {
            kind: super::listing::Listed::Jobs,
            owner,
            from: filter.created_from.map(rfc3339),
            until: filter.created_until.map(rfc3339),
            admit: &admit,
            fields: CLAIM_VIEW_FIELDS,
            after,
            limit,
        };
        let (items, next) = super::listing::page(&self.client, &self.table, query).await?;
        Ok(Page { items, next })
    }

    async fn rerun_source(&self, id: &JobId) -> Result<Option<RerunSource>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .projection_expression("pk, rerun, redrives, events")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(rerun)", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let message = text(&item, "rerun").and_then(|body| {
            match courier_protocol::queue::QueueMessage::from_json(body) {
                Ok(courier_protocol::queue::QueueMessage::Work(work)) => Some(work),
                _ => None,
            }
        });
        Ok(Some(RerunSource {
            message,
            redrives: number(&item, "redrives").unwrap_or(0) as u32,
            events: item
                .get("events")
                .and_then(|v| v.as_l().ok())
                .map_or(0, Vec::len),
        }))
    }

    async fn carry_slot(
        &self,
        id: &JobId,
        slot: &str,
        replacing: Option<&str>,
    ) -> Result<bool, PortError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .update_expression("SET #slot = :slot")
            .expression_attribute_names("#slot", super::QUOTA_SLOT)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":slot", s(slot))
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()));
        let request = match replacing {
            Some(old) => request
                .condition_expression("#status = :pending AND #slot = :old")
                .expression_attribute_values(":old", s(old)),
            None => {
                request.condition_expression("#status = :pending AND attribute_not_exists(#slot)")
            }
        };
        let result = request.send().await;
        condition_held("dynamodb:UpdateItem(carry a job slot)", result)
    }

    async fn rerun(
        &self,
        id: &JobId,
        owner: &Principal,
        redrive: u32,
        slot: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, PortError> {
        let (rerunnable, from) = one_of("#status", "from", &job_sources(JobEvent::Rerun));
        // The job slot the rerun took, carried until the job ends again.
        let (set_slot, slot_value) = match slot {
            // An earlier run's slot not given back yet stays (it is given back when this run
            // ends); the one the rerun took is then given back by the rerun.
            Some(slot) => (", #slot = if_not_exists(#slot, :slot)", Some(s(slot))),
            None => ("", None),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            // The budget counts from here, as after a redrive; the message kept for a rerun
            // goes (a failure keeps it again), and so does the last attempt's worker task (the
            // new attempt hands out its own). Its callback restarts when the rerun ends.
            .update_expression(format!(
                "SET #status = :to, redrives = :redrive, redriveBase = attempts, \
                 updatedAt = :now{set_slot}, {} REMOVE #error, completedAt, rerun, leaseUntil, task",
                super::timeline::APPEND
            ))
            .condition_expression(format!(
                "{rerunnable} AND #owner = :owner AND expiresAt > :now AND \
                 (attribute_not_exists(redrives) OR redrives < :redrive)"
            ))
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(
                ":to",
                s(crate::domain::lifecycle::job::target(JobEvent::Rerun).as_str()),
            )
            .expression_attribute_values(":owner", s(owner.key()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":redrive", n(redrive));
        let result = match slot_value {
            Some(value) => result
                .expression_attribute_names("#slot", super::QUOTA_SLOT)
                .expression_attribute_values(":slot", value),
            None => result,
        };
        let result = super::timeline::note(result, now, &[Happening::Redriven])
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(rerun)", result)
    }

    async fn take_over(&self, id: &JobId) -> Result<TakeOver, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .update_expression("SET #taken = :yes")
            .condition_expression(
                "attribute_exists(pk) AND #status = :pending AND attempts = :none",
            )
            .expression_attribute_names("#taken", TAKEN_OVER)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":pending", s(JobStatus::Pending.as_str()))
            .expression_attribute_values(":none", n(0))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(TakeOver::TakenOver {
                // The ledger's note of a held-back receive of its message (`heldOf`).
                held: out
                    .attributes
                    .is_some_and(|item| item.contains_key("heldOf")),
            }),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => Ok(match failed.item {
                    Some(_) => TakeOver::Started,
                    None => TakeOver::Gone,
                }),
                other => Err(port_error("dynamodb:UpdateItem(claim take-over)", other)),
            },
        }
    }

    async fn redirect(
        &self,
        id: &JobId,
        owner: &Principal,
        to: &ReplyTo,
    ) -> Result<Option<Claim>, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .update_expression("SET connectionId = :conn, requestId = :req")
            .condition_expression("attribute_exists(pk) AND #owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner.key()))
            .expression_attribute_values(":conn", s(&to.connection_id))
            .expression_attribute_values(":req", s(&to.request_id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.attributes.as_ref().and_then(claim_from_item)),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(port_error("dynamodb:UpdateItem(redirect)", other)),
            },
        }
    }
}

#[async_trait]
impl crate::application::ports::CallbackLedger for DynamoClaimStore {
    async fn record(
        &self,
        job: &JobId,
        update: &crate::application::ports::CallbackUpdate,
    ) -> Result<bool, PortError> {
        let mut set = vec!["callbackState = :state", "callbackAttempts = :attempts"];
        let mut remove = Vec::new();
        let (condition, from) = one_of("callbackState", "from", &callback_sources(update.event));
        let condition = match update.follows {
            Some(_) => format!("{condition} AND callbackAttempts = :follows"),
            None => condition,
        };
        // Only the round it is about: a late copy of an earlier round's delivery never settles
        // the job's next outcome's.
        let condition = format!(
            "{condition} AND (attribute_not_exists(callbackRound) OR callbackRound = :round)"
        );
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(job))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_values(":state", s(update.state().as_str()))
            .expression_attribute_values(":attempts", n(update.attempts))
            .expression_attribute_values(":round", n(update.round));
        if let Some(follows) = update.follows {
            request = request.expression_attribute_values(":follows", n(follows));
        }
        let optional = [
            ("callbackLastStatus", ":status", update.last_status.map(n)),
            (
                "callbackLastError",
                ":error",
                update.last_error.as_deref().map(s),
            ),
            (
                "callbackNextAttemptAt",
                ":next",
                update.next_attempt_at.as_deref().map(s),
            ),
            (
                "callbackDeliveredAt",
                ":delivered",
                update.delivered_at.as_deref().map(s),
            ),
        ];
        let mut assignments = Vec::new();
        for (attribute, placeholder, value) in optional {
            match value {
                Some(value) => {
                    assignments.push(format!("{attribute} = {placeholder}"));
                    request = request.expression_attribute_values(placeholder, value);
                }
                None => remove.push(attribute),
            }
        }
        set.extend(assignments.iter().map(String::as_str));
        let happened = match update.follows {
            // A POST was made: its answer.
            Some(_) => Happening::CallbackAttempt {
                endpoint_id: None,
                destination_id: None,
                outcome: match update.event {
                    CallbackEvent::Deliver => DeliveryOutcome::Delivered,
                    CallbackEvent::Retry => DeliveryOutcome::Retrying,
                    _ => DeliveryOutcome::Failed,
                },
                status: update.last_status,
                error: update.last_error.as_deref().map(timeline::capped),
                duration_ms: update.duration_ms,
                next_attempt_at: update.next_attempt_at.clone(),
            },
            None => Happening::CallbackGivenUp {
                endpoint_id: None,
                destination_id: None,
                reason: timeline::capped(update.last_error.as_deref().unwrap_or("")),
            },
        };
        request = super::timeline::note(request, self.clock.now(), &[happened]);
        set.push(super::timeline::APPEND);
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    tracing::warn!(
                        "callback settled, or another attempt recorded since; update skipped"
                    );
                    Ok(false)
                }
                other => Err(port_error("dynamodb:UpdateItem(callback)", other)),
            },
        }
    }

    async fn reopen(&self, job: &JobId, redrive: u32) -> Result<bool, PortError> {
        let (reopenable, from) = one_of(
            "callbackState",
            "from",
            &callback_sources(CallbackEvent::Reopen),
        );
        let reopened = crate::domain::lifecycle::callback::target(CallbackEvent::Reopen);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(job))
            .update_expression(format!(
                "SET callbackState = :to, callbackRedrives = :redrive, callbackAttempts = :zero, \
                 {} REMOVE callbackNextAttemptAt",
                super::timeline::APPEND
            ))
            .condition_expression(format!(
                "{reopenable} AND \
                 (attribute_not_exists(callbackRedrives) OR callbackRedrives < :redrive)"
            ))
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_values(":to", s(reopened.as_str()))
            .expression_attribute_values(":redrive", n(redrive))
            .expression_attribute_values(":zero", n(0));
        let result =
            super::timeline::note(result, self.clock.now(), &[Happening::CallbackRedriven])
                .send()
                .await;
        condition_held("dynamodb:UpdateItem(reopen callback)", result)
    }
}
