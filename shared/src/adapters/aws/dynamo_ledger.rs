//! The processor's writes to a work record — `MSG#<messageId>` for a fire-and-forget message,
//! the claim `JOB#<id>` for a job — moved only forward by conditional writes.
//!
//! `status` is RUNNING while attempts go on, then SUCCEEDED or FAILED, never back. `attempts`
//! counts runs of the job. A message record expires (TTL) after the configured retention; a
//! claim keeps the expiry it was created with.

use super::{
    QUOTA_SLOT, QUOTA_SLOT_GIVEN, job_sources, n, number_of, one_of, port_error, s, status_of,
    timeline, ttl_after,
};
use crate::application::clock::{Clock, rfc3339};
use crate::application::ports::{
    Abandonment, AttemptStart, Ended, Ending, Failure, HeldReceives, Looked, MessageLedger,
    PortError, QuickOutcome, QuotaStore, marks_callback,
};
use crate::domain::lifecycle::job::target;
use crate::domain::quota::JobSlot;
use crate::domain::timeline::capped;
use crate::domain::{
    CallbackStatus, Happening, JobEvent, JobStatus, KeptResult, Pattern, ReplyTo, WorkId,
    WorkMessage,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The table key of the record a unit of work is tracked on: a fire-and-forget message's own
/// record, or the job's claim. The one place (with the claim store's) that spells them.
pub(crate) fn record_key(work: &WorkId) -> String {
    match work {
        WorkId::Message(id) => format!("MSG#{id}"),
        WorkId::Job(id) => format!("JOB#{id}"),
    }
}

/// The held-back receives a record notes (`note_held`), if any.
fn held_receives_of(item: &Item) -> Option<HeldReceives> {
    Some(HeldReceives {
        message_id: item.get("heldOf")?.as_s().ok()?.clone(),
        count: number_of(item, "heldReceives")?,
    })
}

/// A job's work message as its claim keeps it once the job failed: what a rerun sends again.
fn rerun_value(envelope: &WorkMessage) -> AttributeValue {
    s(envelope.to_json())
}

/// How long an expired job's record stays after it is failed, for its callback.
const EXPIRED_KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
pub struct DynamoMessageLedger {
    pub(super) client: Client,
    pub(super) table: String,
    keep_for: Duration,
    pub(super) clock: Arc<dyn Clock>,
    /// Where an ended job's slot is given back (see [`Self::giving_back_slots_to`]).
    slots: Option<Arc<dyn QuotaStore>>,
}

/// The clauses a write that ends a job adds: the job slot its claim holds moves to
/// `quotaSlotGiven` (`:noslot`, the empty text, where it holds none), in the same write.
const SLOT_GIVEN: &str = "#given = if_not_exists(#slot, :noslot)";

/// `expression` (a SET clause, maybe followed by an ADD clause, then maybe a REMOVE clause)
/// that also moves the claim's job slot to `quotaSlotGiven`.
fn giving_back_slot(expression: &str) -> String {
    let set = super::setting_also(expression, SLOT_GIVEN);
    match set.split_once(" REMOVE ") {
        Some((set, removed)) => format!("{set} REMOVE {removed}, #slot"),
        None => format!("{set} REMOVE #slot"),
    }
}

/// The clause a write that ends a job's first round adds where the job has a callback: its
/// delivery marked QUEUED, the start's own mark made in the job's end (the message is left to
/// send). It is made on the condition [`CALLBACK_WAITING`] (bind both: `binding_mark`).
const CALLBACK_MARKED: &str = "callbackState = :queued";

/// The condition a marking write adds. Nothing moves a first round's callback while its job
/// runs, so it fails only for a copy of a first round's message that outlived its round while
/// a later one (a redrive, a rerun) holds the job: that copy's outcome is not the job's.
/// No state at all is WAITING too: the release before kept none for it, and its claims are
/// still in flight across an upgrade.
const CALLBACK_WAITING: &str = "(attribute_not_exists(callbackState) OR callbackState = :waiting)";

/// `expression` that also marks the job's callback QUEUED.
fn marking_callback(expression: &str) -> String {
    super::setting_also(expression, CALLBACK_MARKED)
}

/// Whether a refused marking write found its callback past WAITING: a later round's delivery
/// has started, so the refusal may be the mark's alone (the write is made again without it).
fn callback_moved_on(item: &std::collections::HashMap<String, AttributeValue>) -> bool {
    item.get("callbackState")
        .and_then(|state| state.as_s().ok())
        .is_some_and(|state| state != CallbackStatus::Waiting.as_str())
}

/// Whether a write of `event` on `work` ends a job (a message's record is no job).
fn ends_a_job(work: &WorkId, event: JobEvent) -> bool {
    matches!(work, WorkId::Job(_))
        && matches!(
            event,
            JobEvent::Succeed | JobEvent::Fail | JobEvent::Expire | JobEvent::Abandon
        )
}

/// The slot a write that ended a job moved (from its `ALL_NEW` item): none where the claim
/// held none.
fn slot_moved(item: &std::collections::HashMap<String, AttributeValue>) -> Option<JobSlot> {
    item.get(QUOTA_SLOT_GIVEN)
        .and_then(|given| given.as_s().ok())
        .filter(|given| !given.is_empty())
        .and_then(|given| JobSlot::parse(given))
}

/// One conditional write to a running job's record ([`DynamoMessageLedger::update_running`]).
struct RunningUpdate<'a> {
    event: JobEvent,
    operation: &'static str,
    work: &'a WorkId,
    /// The write marks its job's callback QUEUED ([`marks_callback`]).
    callback: bool,
    expression: &'a str,
    /// Applied only where this holds too (`""`: nothing more).
    also: &'a str,
    names: &'a [(&'a str, &'a str)],
    values: Vec<(&'a str, AttributeValue)>,
    /// What the job's timeline notes of the write.
    happened: &'a [Happening],
}

impl<'a> RunningUpdate<'a> {
    /// `expression` applied where the lifecycle allows `event`, and nothing else.
    fn new(
        event: JobEvent,
        operation: &'static str,
        work: &'a WorkId,
        expression: &'a str,
    ) -> Self {
        Self {
            event,
            operation,
            work,
            callback: false,
            expression,
            also: "",
            names: &[],
            values: Vec::new(),
            happened: &[],
        }
    }
}

/// What a write that ends a job adds to it: the job slot its claim holds moved off (where the
/// ledger gives slots back), and a first round's callback marked QUEUED, on the condition that
/// it still stands WAITING. Every ending write (a leased attempt's, a one-write attempt's)
/// adds them through this.
#[derive(Debug, Clone, Copy)]
struct EndingClauses {
    gives_back_slot: bool,
    marks_callback: bool,
}

impl EndingClauses {
    fn expression(self, expression: &str) -> String {
        let expression = match self.gives_back_slot {
            true => giving_back_slot(expression),
            false => expression.to_owned(),
        };
        match self.marks_callback {
            true => marking_callback(&expression),
            false => expression,
        }
    }

    fn condition(self, condition: String) -> String {
        match self.marks_callback {
            true => format!("{condition} AND {CALLBACK_WAITING}"),
            false => condition,
        }
    }

    /// `request` with the values the clauses use bound.
    fn bind(self, request: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let request = match self.gives_back_slot {
            true => DynamoMessageLedger::binding_slot(request),
            false => request,
        };
        match self.marks_callback {
            true => DynamoMessageLedger::binding_mark(request),
            false => request,
        }
    }
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
            slots: None,
        }
    }

    /// The same ledger, its writes that end a job also giving back the caller's job slot the
    /// claim holds: the write moves it to `quotaSlotGiven` (so it is given back once, by the
    /// delivery whose write ended the job) and that delivery gives the count back. A crash
    /// between the two leaves the slot counted until it drops out, two generations on.
    pub fn giving_back_slots_to(mut self, quotas: Arc<dyn QuotaStore>) -> Self {
        self.slots = Some(quotas);
        self
    }

    /// Whether a write of `event` on `work` ends a job whose slot this ledger gives back.
    fn ends_a_job(&self, work: &WorkId, event: JobEvent) -> bool {
        self.slots.is_some() && ends_a_job(work, event)
    }

    /// The clauses a write of `event` on `work` adds; `callback`: it marks the callback.
    fn ending_clauses(&self, work: &WorkId, event: JobEvent, callback: bool) -> EndingClauses {
        EndingClauses {
            gives_back_slot: self.ends_a_job(work, event),
            marks_callback: callback,
        }
    }

    /// The clauses a success of `envelope`'s work adds (a leased attempt's and a one-write's).
    fn success_clauses(&self, envelope: &WorkMessage) -> EndingClauses {
        self.ending_clauses(
            &WorkId::of(envelope),
            JobEvent::Succeed,
            marks_callback(envelope, JobEvent::Succeed),
        )
    }

    /// What a write with `clauses` that applied answers, from its `ALL_NEW` `item`: the slot
    /// it moved given back.
    async fn ended(&self, clauses: EndingClauses, item: &Item) -> Ended {
        if clauses.gives_back_slot {
            self.give_back_moved(item).await;
        }
        Ended {
            reply_to: reply_to_of(item),
            callback_marked: clauses.marks_callback,
        }
    }

    /// `request` with the names and value [`giving_back_slot`] uses bound.
    fn binding_slot(request: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        request
            .expression_attribute_names("#slot", QUOTA_SLOT)
            .expression_attribute_names("#given", QUOTA_SLOT_GIVEN)
            .expression_attribute_values(":noslot", s(""))
    }

    /// `request` with the values [`CALLBACK_MARKED`] and [`CALLBACK_WAITING`] use bound.
    fn binding_mark(request: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        request
            .expression_attribute_values(":queued", s(CallbackStatus::Queued.as_str()))
            .expression_attribute_values(":waiting", s(CallbackStatus::Waiting.as_str()))
    }

    /// Gives back the slot the winning write that ended a job moved off its claim. A failure is
    /// logged: the job's end stands, and the slot stops counting two generations on.
    async fn give_back_moved(&self, item: &std::collections::HashMap<String, AttributeValue>) {
        let (Some(quotas), Some(slot)) = (&self.slots, slot_moved(item)) else {
            return;
        };
        match quotas.give_back_job_slot(&slot).await {
            Ok(()) => tracing::debug!("the caller's job slot given back"),
            Err(error) => {
                tracing::warn!(%error, "an ended job's slot could not be given back; it stops counting two generations on")
            }
        }
    }

    /// An update that applies only where the job lifecycle allows `event` (`:to` is the state it
    /// leads to). A failed condition means another delivery already finished the message: not
    /// an error, there is nothing left to do. Either way, where the job's frames go now.
    async fn update_running(&self, update: RunningUpdate<'_>) -> Result<Ended, PortError> {
        let RunningUpdate {
            event,
            operation,
            work,
            callback,
            expression,
            also,
            names,
            values,
            happened,
        } = update;
        let (condition, from) = one_of("#status", "from", &job_sources(event));
        let ending = self.ending_clauses(work, event, callback);
        // Kept for the write again without the mark, should the mark be what is refused.
        let unmarked = callback.then(|| values.clone());
        let unmarked_expression = expression;
        let expression = ending.expression(expression);
        // A job's timeline notes what this write does (a message's record keeps none).
        let noted = matches!(work, WorkId::Job(_)) && !happened.is_empty();
        let expression = if noted {
            timeline::appending(&expression)
        } else {
            expression
        };
        let condition = if also.is_empty() {
            condition
        } else {
            format!("{condition} AND {also}")
        };
        let condition = ending.condition(condition);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_key(work)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(target(event).as_str()))
            .expression_attribute_values(":now", s(rfc3339(self.clock.now())))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, name) in names {
            request = request.expression_attribute_names(*placeholder, *name);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        if noted {
            request = timeline::note(request, self.clock.now(), happened);
        }
        match ending.bind(request).send().await {
            Ok(out) => Ok(self
                .ended(ending, &out.attributes.unwrap_or_default())
                .await),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let item = failed.item.unwrap_or_default();
                    if let Some(values) = unmarked.filter(|_| callback_moved_on(&item)) {
                        // A copy of a first round's message ran a later round (a rerun, a
                        // lapsed lease): its outcome is the job's all the same, recorded
                        // without the first round's mark; the start restarts the delivery.
                        tracing::info!(
                            work = work.as_str(),
                            operation,
                            "a later round's callback has moved on; recorded without the mark"
                        );
                        return Box::pin(self.update_running(RunningUpdate {
                            event,
                            operation,
                            work,
                            callback: false,
                            expression: unmarked_expression,
                            also,
                            names,
                            values,
                            happened,
                        }))
                        .await;
                    }
                    if status_of(&item).is_some_and(|status| !status.is_terminal()) {
                        tracing::warn!(
                            work = work.as_str(),
                            operation,
                            "a later round holds the job; this copy's update skipped"
                        );
                    } else {
                        tracing::warn!(
                            work = work.as_str(),
                            operation,
                            "record already terminal; update skipped"
                        );
                    }
                    Ok(Ended::unmarked(reply_to_of(&item)))
                }
                other => Err(port_error(operation, other)),
            },
        }
    }
}

impl DynamoMessageLedger {
    /// The fields every start writes, on `request`. (DynamoDB refuses a value the expression
    /// does not use: what only one kind of start needs, it adds itself.)
    fn started(
        &self,
        request: UpdateItemFluentBuilder,
        envelope: &WorkMessage,
        lease: Option<Duration>,
    ) -> UpdateItemFluentBuilder {
        let now = self.clock.now();
        let mut request = request
            .table_name(&self.table)
            .key("pk", s(record_key(&WorkId::of(envelope))))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":kind", s("message"))
            .expression_attribute_values(":type", s(&envelope.job_type))
            .expression_attribute_values(":cid", s(envelope.correlation_id.as_str()))
            .expression_attribute_values(":pattern", s(envelope.pattern.as_str()))
            .expression_attribute_values(":accepted", s(&envelope.accepted_at))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":ttl", ttl_after(now, self.keep_for))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        if let Some(lease) = lease {
            request = request
                .expression_attribute_values(":running", s(target(JobEvent::Start).as_str()))
                .expression_attribute_values(":lease", ttl_after(now, lease));
        }
        if let Some(to) = &envelope.reply_to {
            request = request
                .expression_attribute_values(":conn", s(&to.connection_id))
                .expression_attribute_values(":req", s(&to.request_id));
        }
        if let Some(owner) = &envelope.owner {
            request = request
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner.key()));
        }
        request
    }

    /// The SET clauses every start shares; `attempts` is the caller's. A leased start sets
    /// the status RUNNING and the lease; an attempt recorded after it ran (see
    /// [`MessageLedger::record_quick_success`]) sets its own status, and began at `:began`.
    fn started_expression(envelope: &WorkMessage, leased: bool) -> String {
        format!(
            "{running}kind = if_not_exists(kind, :kind), jobType = :type, \
             correlationId = :cid, pattern = :pattern, acceptedAt = :accepted, \
             updatedAt = :now, startedAt = if_not_exists(startedAt, {began}), \
             #ttl = if_not_exists(#ttl, :ttl){lease}{reply_to}{owner}",
            running = if leased { "#status = :running, " } else { "" },
            began = if leased { ":now" } else { ":began" },
            lease = if leased { ", leaseUntil = :lease" } else { "" },
            // Which connection and request a WebSocket job answers: the claim's own if it
            // names them (a resubmit on another connection may have taken its frames over).
            reply_to = if envelope.reply_to.is_some() {
                ", connectionId = if_not_exists(connectionId, :conn), \
                 requestId = if_not_exists(requestId, :req)"
            } else {
                ""
            },
            // Whose work it is (a fire-and-forget record is first written here).
            owner = if envelope.owner.is_some() {
                ", #owner = if_not_exists(#owner, :owner)"
            } else {
                ""
            },
        )
    }

    /// An operator's redrive reopens a FAILED record, once per redrive (so a duplicate of the
    /// redriven message does not run it again), and starts a new round of the retry budget.
    /// The last attempt's worker task goes with its error: the new attempt hands out its own.
    /// `None`: this redrive has already reopened it (or it is not FAILED): start as usual.
    /// The redrive start's request (see [`Self::start_redriven`]).
    fn redrive_request(&self, envelope: &WorkMessage, lease: Duration) -> UpdateItemFluentBuilder {
        let (redrivable, from) = one_of("#status", "redrivable", &job_sources(JobEvent::Redrive));
        let request = self
            .started(self.client.update_item(), envelope, Some(lease))
            .update_expression(Self::noting(
                envelope,
                format!(
                    "SET {}, redrives = :redrive, redriveBase = if_not_exists(attempts, :zero), \
                     attempts = if_not_exists(attempts, :zero) + :one REMOVE #error, task",
                    Self::started_expression(envelope, true)
                ),
            ))
            .condition_expression(of_its_request(
                redrive_condition(envelope.pattern, &redrivable),
                envelope,
            ))
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":redrive", n(envelope.redrive));
        let request = bind_print(request, envelope);
        // Only a claim's condition looks at the clock (its expiry).
        let request = if envelope.pattern == Pattern::FireAndForget {
            request
        } else {
            request.expression_attribute_values(":epoch", n(self.clock.now().unix_timestamp()))
        };
        let request = self.note(
            request,
            envelope,
            &[Happening::Redriven, Happening::AttemptStarted],
        );
        from.into_iter().fold(request, |r, (placeholder, value)| {
            r.expression_attribute_values(placeholder, value)
        })
    }

    async fn start_redriven(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
    ) -> Result<Option<AttemptStart>, PortError> {
        let request = self.redrive_request(envelope, lease);
        match request.send().await {
            Ok(out) => {
                let attributes = out.attributes.unwrap_or_default();
                Ok(Some(AttemptStart::Run {
                    attempt: number_of(&attributes, "attempts").unwrap_or(1),
                    round: 1,
                }))
            }
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(port_error("dynamodb:UpdateItem(redrive)", other)),
            },
        }
    }

    /// The usual start's request (see [`Self::start`]); `seen`: only if no attempt has
    /// started since a look found this many (`Some(None)`: no record, or none started).
    fn start_request(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<Seen>,
    ) -> UpdateItemFluentBuilder {
        let (startable, from) = one_of("#status", "from", &job_sources(JobEvent::Start));
        let request = self
            .started(self.client.update_item(), envelope, Some(lease))
            .update_expression(Self::noting(
                envelope,
                format!(
                    "SET {} ADD attempts :one",
                    Self::started_expression(envelope, true)
                ),
            ))
            .condition_expression(of_its_request(
                with_seen(start_condition(envelope.pattern, &startable), seen),
                envelope,
            ))
            .expression_attribute_values(":epoch", n(self.clock.now().unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = bind_print(bind_seen(request, seen), envelope);
        let request = self.note(request, envelope, &[Happening::AttemptStarted]);
        from.into_iter().fold(request, |r, (placeholder, value)| {
            r.expression_attribute_values(placeholder, value)
        })
    }

    /// An attempt that ran without a lease and succeeded: its start and its success in one
    /// conditional write (see [`MessageLedger::record_quick_success`]). A job's also does what
    /// its success would: gives back its slot and marks its first round's callback QUEUED.
    fn quick_success_request(
        &self,
        envelope: &WorkMessage,
        seen: Seen,
        began: OffsetDateTime,
        result: &KeptResult,
    ) -> UpdateItemFluentBuilder {
        let ending = self.success_clauses(envelope);
        let (startable, from) = one_of("#status", "from", &job_sources(JobEvent::Start));
        let (stored, kept, other) = match result {
            KeptResult::Inline(value) => (value.to_string(), "result", "resultRef"),
            KeptResult::Stored { key, .. } => (key.as_str().to_owned(), "resultRef", "result"),
        };
        let (bytes, no_bytes) = match result {
            KeptResult::Stored { .. } => (", resultBytes = :bytes", ""),
            KeptResult::Inline(_) => ("", ", resultBytes"),
        };
        let expression = Self::noting(
            envelope,
            format!(
                "SET #status = :done, {}, #result = :result{bytes}, progress = :full, \
                 completedAt = :now ADD attempts :one REMOVE lastError, leaseUntil, \
                 #other{no_bytes}",
                Self::started_expression(envelope, false)
            ),
        );
        let condition = of_its_request(
            with_seen(start_condition(envelope.pattern, &startable), Some(seen)),
            envelope,
        );
        let request = ending.bind(self.started(self.client.update_item(), envelope, None));
        let mut request = request
            .update_expression(ending.expression(&expression))
            .condition_expression(ending.condition(condition))
            .expression_attribute_names("#result", kept)
            .expression_attribute_names("#other", other)
            .expression_attribute_values(":done", s(JobStatus::Succeeded.as_str()))
            .expression_attribute_values(":result", s(stored))
            .expression_attribute_values(":full", n(100))
            .expression_attribute_values(":began", s(rfc3339(began)))
            .expression_attribute_values(":epoch", n(self.clock.now().unix_timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let KeptResult::Stored { bytes, .. } = result {
            request = request.expression_attribute_values(":bytes", n(*bytes));
        }
        let request = bind_print(bind_seen(request, Some(seen)), envelope);
        // Its timeline tells both, each at its own time.
        let request = if envelope.pattern == Pattern::FireAndForget {
            request
        } else {
            timeline::note_each(
                request,
                &[
                    (began, Happening::AttemptStarted),
                    (self.clock.now(), Happening::AttemptSucceeded),
                ],
            )
        };
        from.into_iter().fold(request, |r, (placeholder, value)| {
            r.expression_attribute_values(placeholder, value)
        })
    }

    /// `expression` with the timeline's append, where the work has a claim (a fire-and-forget
    /// message's record keeps no timeline). The SET clause comes first; `ADD` and `REMOVE`
    /// clauses after it are kept.
    fn noting(envelope: &WorkMessage, expression: String) -> String {
        if envelope.pattern == Pattern::FireAndForget {
            return expression;
        }
        timeline::appending(&expression)
    }

    /// The values [`Self::noting`]'s append uses, on `request` (where the work has a claim).
    fn note(
        &self,
        request: UpdateItemFluentBuilder,
        envelope: &WorkMessage,
        happened: &[Happening],
    ) -> UpdateItemFluentBuilder {
        if envelope.pattern == Pattern::FireAndForget {
            return request;
        }
        timeline::note(request, self.clock.now(), happened)
    }

    /// Starts an attempt where the lifecycle allows it and no live lease stands in the way
    /// (and, with `seen`, no attempt has started since a look).
    async fn start(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<Seen>,
    ) -> Result<AttemptStart, PortError> {
        let request = self.start_request(envelope, lease, seen);
        match request.send().await {
            Ok(out) => {
                let attributes = out.attributes.unwrap_or_default();
                let attempt = number_of(&attributes, "attempts").unwrap_or(1);
                let base = number_of(&attributes, "redriveBase").unwrap_or(0);
                Ok(AttemptStart::Run {
                    attempt,
                    round: attempt.saturating_sub(base).max(1),
                })
            }
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Ok(self.refused_start(envelope, failed.item).await)
                }
                other => Err(port_error("dynamodb:UpdateItem(start)", other)),
            },
        }
    }

    /// What a refused start found in the `item` it read back (`None` or empty: there is none),
    /// a slot still left on an ended claim given back.
    async fn refused_start(&self, envelope: &WorkMessage, item: Option<Item>) -> AttemptStart {
        let item = item.filter(|item| !item.is_empty());
        let holds_slot = item.as_ref().is_some_and(|i| i.contains_key(QUOTA_SLOT));
        let found = refused(self.standing(envelope, item));
        if holds_slot && matches!(found, AttemptStart::AlreadyFinished { .. }) {
            self.release_left_slot(envelope).await;
        }
        found
    }

    /// A job that ended with its slot still on its claim (a cancel whose give-back was lost:
    /// the cancel is the one ending that is not this ledger's write) has it given back when
    /// its message is delivered and finds it ended. Only then: the usual ended claim holds no
    /// slot, and costs no write here.
    async fn release_left_slot(&self, envelope: &WorkMessage) {
        if let (Some(quotas), WorkId::Job(id)) = (&self.slots, WorkId::of(envelope))
            && let Ok(id) = crate::domain::JobId::parse(&id)
        {
            crate::application::quotas::release(&**quotas, &id).await;
        }
    }

    /// What a start finds on a record (`None`: there is none), as [`AttemptStart`]: the attempt
    /// it would make, or why it makes none.
    fn standing(&self, envelope: &WorkMessage, item: Option<Item>) -> AttemptStart {
        let now = self.clock.now().unix_timestamp();
        // Another request's claim under the same id is not this message's (see
        // [`of_its_request`]).
        let item = item.filter(|old| is_of_its_request(old, envelope));
        let Some(old) = item else {
            // A message's record is made by its first start; a claim must be there.
            return match envelope.pattern {
                Pattern::FireAndForget => AttemptStart::Run {
                    attempt: 1,
                    round: 1,
                },
                _ => AttemptStart::NoClaim,
            };
        };
        let status = status_of(&old);
        let running = status == Some(JobStatus::Running);
        let lease_until = old
            .get("leaseUntil")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|until| *until >= now);
        let unfinished = status.is_some_and(|status| !status.is_terminal());
        // A claim's `ttl` is its `expiresAt` (a message record has its own).
        let expired = envelope.pattern != Pattern::FireAndForget
            && old
                .get("ttl")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|ttl| ttl <= now);
        // A worker that finishes later holds the attempt (it acknowledged it).
        let with_worker = old
            .get("task")
            .and_then(|t| t.as_m().ok())
            .and_then(|t| t.get("awaiting"))
            .and_then(|a| a.as_bool().ok())
            .is_some_and(|a| *a);
        let startable = status.is_some_and(|status| {
            crate::domain::lifecycle::job::transition(status, JobEvent::Start).is_some()
        });
        match lease_until {
            Some(_) if running && with_worker => AttemptStart::WithWorker,
            Some(until) if running => AttemptStart::RunningElsewhere {
                // The lease holds through its last second.
                remaining: Duration::from_secs((until - now + 1) as u64),
            },
            _ if unfinished && expired => AttemptStart::Expired,
            _ if startable => {
                let attempt = number_of(&old, "attempts").unwrap_or(0) + 1;
                let base = number_of(&old, "redriveBase").unwrap_or(0);
                AttemptStart::Run {
                    attempt,
                    round: attempt.saturating_sub(base).max(1),
                }
            }
            _ => AttemptStart::AlreadyFinished {
                ending: ending_of(&old),
                reply_to: reply_to_of(&old),
            },
        }
    }
}

type Item = std::collections::HashMap<String, AttributeValue>;

/// What a refused start found, never a `Run`: a record that reads as startable refused the
/// write because an attempt started since the look (or a lease ended on the very second):
/// looked at again after a moment, as behind a lease.
pub(crate) fn refused(found: AttemptStart) -> AttemptStart {
    match found {
        AttemptStart::Run { .. } => AttemptStart::RunningElsewhere {
            remaining: Duration::from_secs(1),
        },
        other => other,
    }
}

/// How many attempts a look found on a record (`None`: no record, or none recorded).
type Seen = Option<u32>;

/// The claim's attribute naming the request that wrote it (`Claim::request_print`).
const REQUEST_PRINT: &str = "requestPrint";

/// `condition`, and the claim is the one the message's request wrote, for a message that
/// names its request (a job whose id its request derives): a message left from a try whose
/// claim was withdrawn finds a later request's claim under the same id, and is not its.
fn of_its_request(condition: String, envelope: &WorkMessage) -> String {
    match envelope.request_print {
        Some(_) => format!("({condition}) AND {REQUEST_PRINT} = :print"),
        None => condition,
    }
}

fn bind_print(request: UpdateItemFluentBuilder, envelope: &WorkMessage) -> UpdateItemFluentBuilder {
    match &envelope.request_print {
        Some(print) => request.expression_attribute_values(":print", s(print)),
        None => request,
    }
}

/// Whether a record found is the message's own request's (see [`of_its_request`]).
fn is_of_its_request(item: &Item, envelope: &WorkMessage) -> bool {
    envelope
        .request_print
        .as_ref()
        .is_none_or(|print| item.get(REQUEST_PRINT).and_then(|v| v.as_s().ok()) == Some(print))
}

/// `condition`, and no attempt started since the look that saw `seen`.
fn with_seen(condition: String, seen: Option<Seen>) -> String {
    match seen {
        None => condition,
        Some(Some(_)) => format!("({condition}) AND attempts = :seen"),
        Some(None) => format!("({condition}) AND attribute_not_exists(attempts)"),
    }
}

fn bind_seen(request: UpdateItemFluentBuilder, seen: Option<Seen>) -> UpdateItemFluentBuilder {
    match seen {
        Some(Some(attempts)) => request.expression_attribute_values(":seen", n(attempts)),
        _ => request,
    }
}

/// When an attempt may start: the record's status allows `Start` (`startable`) and no other
/// delivery holds the lease. A fire-and-forget record may not exist yet; a claim must exist and
/// not have expired (a job nobody can read any more is not worth running).
fn start_condition(pattern: Pattern, startable: &str) -> String {
    let free = format!("{startable} AND (attribute_not_exists(leaseUntil) OR leaseUntil < :epoch)");
    match pattern {
        Pattern::FireAndForget => format!("attribute_not_exists(pk) OR {free}"),
        Pattern::ClaimCheck | Pattern::Bidirectional => {
            format!("attribute_exists(pk) AND {free} AND #ttl > :epoch")
        }
    }
}

/// When an operator's redrive may reopen a record: it is `redrivable` (FAILED), this redrive
/// has not run it yet, and a claim has not expired.
fn redrive_condition(pattern: Pattern, redrivable: &str) -> String {
    let fresh = format!(
        "attribute_exists(pk) AND {redrivable} AND (attribute_not_exists(redrives) OR redrives < :redrive)"
    );
    match pattern {
        Pattern::FireAndForget => fresh,
        Pattern::ClaimCheck | Pattern::Bidirectional => format!("{fresh} AND #ttl > :epoch"),
    }
}

/// The connection and request a record's frames go to, if it names them.
pub(super) fn reply_to_of(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Option<ReplyTo> {
    let text = |name: &str| item.get(name)?.as_s().ok().cloned();
    Some(ReplyTo {
        connection_id: text("connectionId")?,
        request_id: text("requestId")?,
    })
}

/// How a terminal record ended; `None` for one still going (or unreadable).
fn ending_of(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Ending> {
    // Only a claim has frames to send again; a message's record is no claim.
    super::dynamo_claims::claim_from_item(item)
        .as_ref()
        .and_then(Ending::of)
}

/// When a dead-lettered job may be abandoned: its status allows `Abandon` and no delivery holds
/// its lease. A fire-and-forget message that never started has no record yet; a claim must
/// exist.
fn abandon_condition(pattern: Pattern, abandonable: &str) -> String {
    let free =
        format!("{abandonable} AND (attribute_not_exists(leaseUntil) OR leaseUntil < :epoch)");
    match pattern {
        Pattern::FireAndForget => format!("attribute_not_exists(pk) OR {free}"),
        Pattern::ClaimCheck | Pattern::Bidirectional => format!("attribute_exists(pk) AND {free}"),
    }
}

fn failure_value(failure: &Failure) -> AttributeValue {
    AttributeValue::M(
        [
            ("kind".to_owned(), s(failure.kind.as_str())),
            ("reason".to_owned(), super::bounded_reason(&failure.reason)),
        ]
        .into(),
    )
}

/// What a refused abandonment found in the record it read back.
fn abandonment_of(
    old: &std::collections::HashMap<String, AttributeValue>,
    now: i64,
) -> Abandonment {
    let text = |name: &str| old.get(name).and_then(|v| v.as_s().ok()).cloned();
    let Some(status) = text("status").as_deref().and_then(JobStatus::parse) else {
        return Abandonment::Missing;
    };
    if status.is_terminal() {
        let failure_kind = old
            .get("error")
            .and_then(|v| v.as_m().ok())
            .and_then(|m| m.get("kind"))
            .and_then(|v| v.as_s().ok())
            .cloned();
        return Abandonment::Ended {
            status,
            failure_kind,
            reply_to: reply_to_of(old),
        };
    }
    let until = old
        .get("leaseUntil")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(now);
    // A lease read back as lapsed cannot have refused the write: the next try will pass.
    Abandonment::Leased {
        remaining: Duration::from_secs(until.saturating_sub(now).max(1) as u64),
    }
}

#[async_trait]
impl MessageLedger for DynamoMessageLedger {
    async fn start_attempt(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
    ) -> Result<AttemptStart, PortError> {
        if envelope.redrive > 0
            && let Some(start) = self.start_redriven(envelope, lease).await?
        {
            return Ok(start);
        }
        self.start(envelope, lease, None).await
    }

    async fn look(&self, envelope: &WorkMessage) -> Result<Looked, PortError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(record_key(&WorkId::of(envelope))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(look)", e.into_service_error()))?
            .item;
        let seen = item.as_ref().and_then(|item| number_of(item, "attempts"));
        let held = item.as_ref().and_then(held_receives_of);
        Ok(Looked {
            start: self.standing(envelope, item),
            seen,
            held,
        })
    }

    async fn note_held(&self, envelope: &WorkMessage, message_id: &str) -> Result<(), PortError> {
        // A message held once is usually held again: adding to its count is tried first.
        let added = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_key(&WorkId::of(envelope))))
            .update_expression("ADD heldReceives :one")
            // Noted only on its own request's claim (see [`of_its_request`]).
            .condition_expression(of_its_request("heldOf = :m".to_owned(), envelope))
            .expression_attribute_values(":m", s(message_id))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let added = bind_print(added, envelope).send().await;
        let there = match added {
            Ok(_) => return Ok(()),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    failed.item.is_some_and(|item| !item.is_empty())
                }
                other => return Err(port_error("dynamodb:UpdateItem(held)", other)),
            },
        };
        match there {
            // The count was another message's, or none: this one's starts at one.
            true => self.note_held_at_least(envelope, message_id, 1).await,
            false => Ok(()), // no record to note it on
        }
    }

    async fn note_held_at_least(
        &self,
        envelope: &WorkMessage,
        message_id: &str,
        count: u32,
    ) -> Result<(), PortError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_key(&WorkId::of(envelope))))
            .update_expression("SET heldOf = :m, heldReceives = :n")
            .condition_expression(of_its_request(
                "attribute_exists(pk) AND (attribute_not_exists(heldOf) OR heldOf <> :m OR heldReceives < :n)"
                    .to_owned(),
                envelope,
            ))
            .expression_attribute_values(":m", s(message_id))
            .expression_attribute_values(":n", n(count));
        match bind_print(request, envelope).send().await {
            Ok(_) => Ok(()),
            Err(error) => match error.into_service_error() {
                // No record, or as many noted already.
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(()),
                other => Err(port_error("dynamodb:UpdateItem(held)", other)),
            },
        }
    }

    async fn start_seen(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<u32>,
    ) -> Result<AttemptStart, PortError> {
        self.start(envelope, lease, Some(seen)).await
    }

    async fn record_quick_success(
        &self,
        envelope: &WorkMessage,
        seen: Option<u32>,
        began: OffsetDateTime,
        result: &KeptResult,
    ) -> Result<QuickOutcome, PortError> {
        let request = self.quick_success_request(envelope, seen, began, result);
        match request.send().await {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let ended = self.ended(self.success_clauses(envelope), &item).await;
                Ok(QuickOutcome::Recorded(ended))
            }
            Err(error) => match error.into_service_error() {
                // Whatever refused it (a start, a cancel, the claim withdrawn, a later round's
                // callback), this run's outcome is not recorded: a run that may record it is a
                // leased one, after what a start finds now.
                UpdateItemError::ConditionalCheckFailedException(failed) => Ok(
                    QuickOutcome::Refused(self.refused_start(envelope, failed.item).await),
                ),
                other => Err(port_error("dynamodb:UpdateItem(quick success)", other)),
            },
        }
    }

    async fn record_progress(
        &self,
        work: &WorkId,
        percent: u8,
        milestone: Option<u8>,
    ) -> Result<Option<ReplyTo>, PortError> {
        let noted: Vec<Happening> = milestone
            .map(|percent| Happening::Progress { percent })
            .into_iter()
            .collect();
        self.update_running(RunningUpdate {
            values: vec![(":p", n(percent))],
            happened: &noted,
            ..RunningUpdate::new(
                JobEvent::Progress,
                "dynamodb:UpdateItem(progress)",
                work,
                "SET #status = :to, progress = :p, updatedAt = :now",
            )
        })
        .await
        .map(|ended| ended.reply_to)
    }

    async fn record_success(
        &self,
        envelope: &WorkMessage,
        result: &KeptResult,
    ) -> Result<Ended, PortError> {
        // One or the other (`#other` removed): a rerun's result replaces an earlier one of
        // either kind.
        let (value, names): (String, &[(&str, &str)]) = match result {
            KeptResult::Inline(value) => (
                value.to_string(),
                &[("#result", "result"), ("#other", "resultRef")],
            ),
            KeptResult::Stored { key, .. } => (
                key.as_str().to_owned(),
                &[("#result", "resultRef"), ("#other", "result")],
            ),
        };
        let mut values = vec![(":result", s(value)), (":full", n(100))];
        let expression = match result {
            KeptResult::Stored { bytes, .. } => {
                values.push((":bytes", n(*bytes)));
                "SET #status = :to, #result = :result, resultBytes = :bytes, progress = :full, \
                 completedAt = :now, updatedAt = :now REMOVE lastError, leaseUntil, #other"
            }
            KeptResult::Inline(_) => {
                "SET #status = :to, #result = :result, progress = :full, completedAt = :now, \
                 updatedAt = :now REMOVE lastError, leaseUntil, #other, resultBytes"
            }
        };

        self.update_running(RunningUpdate {
            callback: marks_callback(envelope, JobEvent::Succeed),
            names,
            values,
            happened: &[Happening::AttemptSucceeded],
            ..RunningUpdate::new(
                JobEvent::Succeed,
                "dynamodb:UpdateItem(succeed)",
                &WorkId::of(envelope),
                expression,
            )
        })
        .await
    }

    async fn record_failure(
        &self,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Ended, PortError> {
        let work = WorkId::of(envelope);
        let (expression, values) = match &work {
            // A claim keeps the job's message, so its owner can run it again (a rerun).
            WorkId::Job(_) => (
                "SET #status = :to, #error = :error, rerun = :rerun, completedAt = :now, \
                 updatedAt = :now REMOVE leaseUntil",
                vec![
                    (":error", failure_value(failure)),
                    (":rerun", rerun_value(envelope)),
                ],
            ),
            WorkId::Message(_) => (
                "SET #status = :to, #error = :error, completedAt = :now, updatedAt = :now \
                 REMOVE leaseUntil",
                vec![(":error", failure_value(failure))],
            ),
        };
        self.update_running(RunningUpdate {
            callback: marks_callback(envelope, JobEvent::Fail),
            names: &[("#error", "error")],
            values,
            happened: &[Happening::AttemptFailed {
                failure_kind: failure.kind.as_str().into(),
                reason: capped(&failure.reason),
                will_retry: false,
            }],
            ..RunningUpdate::new(
                JobEvent::Fail,
                "dynamodb:UpdateItem(fail)",
                &work,
                expression,
            )
        })
        .await
    }

    async fn expire(&self, envelope: &WorkMessage, failure: &Failure) -> Result<Ended, PortError> {
        let now = self.clock.now();
        self.update_running(RunningUpdate {
            // Its callback is started as for any ended job (a rare path: no write saved), so
            // `callback` stays false. Never a job a live run holds: that run records its own
            // outcome.
            also: "(attribute_not_exists(leaseUntil) OR leaseUntil < :epoch)",
            names: &[("#error", "error"), ("#ttl", "ttl")],
            values: vec![
                (":error", failure_value(failure)),
                (":keep", ttl_after(now, EXPIRED_KEPT_FOR)),
                (":epoch", n(now.unix_timestamp())),
            ],
            happened: &[Happening::Expired {
                reason: capped(&failure.reason),
            }],
            ..RunningUpdate::new(
                JobEvent::Expire,
                "dynamodb:UpdateItem(expire)",
                &WorkId::of(envelope),
                // The record outlives its expiry by a day so its callback can still be sent
                // (GET answers 404 past `expiresAt` all the same).
                "SET #status = :to, #error = :error, completedAt = :now, updatedAt = :now, \
                 #ttl = :keep REMOVE leaseUntil",
            )
        })
        .await
    }

    async fn record_retry(&self, work: &WorkId, reason: &str) -> Result<(), PortError> {
        self.update_running(RunningUpdate {
            values: vec![(":reason", super::bounded_reason(reason))],
            happened: &[Happening::AttemptFailed {
                failure_kind: "transient".into(),
                reason: capped(reason),
                will_retry: true,
            }],
            ..RunningUpdate::new(
                JobEvent::Progress,
                "dynamodb:UpdateItem(retry)",
                work,
                // The retry (a later delivery) may start at once: the lease goes.
                "SET #status = :to, lastError = :reason, updatedAt = :now REMOVE leaseUntil",
            )
        })
        .await
        .map(|_| ())
    }

    async fn abandon(
        &self,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Abandonment, PortError> {
        let now = self.clock.now();
        let (abandonable, from) = one_of("#status", "from", &job_sources(JobEvent::Abandon));
        let ends_a_job = self.ends_a_job(&WorkId::of(envelope), JobEvent::Abandon);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(record_key(&WorkId::of(envelope))))
            // A fire-and-forget message that never started gets the record its start would
            // have written.
            .update_expression(Self::noting(
                envelope,
                format!(
                    "SET #status = :to, #error = :error, completedAt = :now, updatedAt = :now, \
                     kind = if_not_exists(kind, :kind), jobType = if_not_exists(jobType, :type), \
                     correlationId = if_not_exists(correlationId, :cid), \
                     pattern = if_not_exists(pattern, :pattern), \
                     acceptedAt = if_not_exists(acceptedAt, :accepted), \
                     attempts = if_not_exists(attempts, :zero), \
                     #ttl = if_not_exists(#ttl, :ttl){owner}{rerun}{slot} REMOVE leaseUntil{moved}",
                    slot = if ends_a_job {
                        format!(", {SLOT_GIVEN}")
                    } else {
                        String::new()
                    },
                    moved = if ends_a_job { ", #slot" } else { "" },
                    owner = if envelope.owner.is_some() {
                        ", #owner = if_not_exists(#owner, :owner)"
                    } else {
                        ""
                    },
                    // A claim keeps the job's message, so its owner can run it again.
                    rerun = if envelope.pattern == Pattern::FireAndForget {
                        ""
                    } else {
                        ", rerun = :rerun"
                    },
                ),
            ))
            .condition_expression(of_its_request(
                abandon_condition(envelope.pattern, &abandonable),
                envelope,
            ))
            .set_expression_attribute_values(Some(from.into_iter().collect()))
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":to", s(target(JobEvent::Abandon).as_str()))
            .expression_attribute_values(":error", failure_value(failure))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":kind", s("message"))
            .expression_attribute_values(":type", s(&envelope.job_type))
            .expression_attribute_values(":cid", s(envelope.correlation_id.as_str()))
            .expression_attribute_values(":pattern", s(envelope.pattern.as_str()))
            .expression_attribute_values(":accepted", s(&envelope.accepted_at))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":ttl", ttl_after(now, self.keep_for))
            .expression_attribute_values(":epoch", n(now.unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match &envelope.owner {
            Some(owner) => request
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner.key())),
            None => request,
        };
        let request = match envelope.pattern {
            Pattern::FireAndForget => request,
            _ => self
                .note(
                    request,
                    envelope,
                    &[Happening::DeadLettered {
                        reason: capped(&failure.reason),
                    }],
                )
                .expression_attribute_values(":rerun", rerun_value(envelope)),
        };
        let request = match ends_a_job {
            true => Self::binding_slot(request),
            false => request,
        };
        match bind_print(request, envelope).send().await {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                if ends_a_job {
                    self.give_back_moved(&item).await;
                }
                // Its callback is started as for any ended job (a rare path: no write saved).
                Ok(Abandonment::Abandoned(Ended::unmarked(reply_to_of(&item))))
            }
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let old = failed.item.unwrap_or_default();
                    Ok(match is_of_its_request(&old, envelope) {
                        true => abandonment_of(&old, now.unix_timestamp()),
                        // Another request's claim under the same id: none of this message's.
                        false => Abandonment::Missing,
                    })
                }
                other => Err(port_error("dynamodb:UpdateItem(abandon)", other)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_rounds_end_marks_its_callback_in_its_own_clauses() {
        assert_eq!(
            marking_callback(&giving_back_slot("SET #status = :to REMOVE leaseUntil")),
            format!("SET #status = :to, {SLOT_GIVEN}, {CALLBACK_MARKED} REMOVE leaseUntil, #slot")
        );
        assert_eq!(
            marking_callback("SET #status = :to"),
            format!("SET #status = :to, {CALLBACK_MARKED}")
        );
        let mut envelope = crate::fixtures::work_message(
            "job-1",
            Pattern::ClaimCheck,
            "echo",
            serde_json::Value::Null,
        );
        assert!(
            !marks_callback(&envelope, JobEvent::Succeed),
            "no callback, nothing to mark"
        );
        envelope.has_callback = true;
        assert!(marks_callback(&envelope, JobEvent::Succeed));
        assert!(marks_callback(&envelope, JobEvent::Fail));
        // An expiry's delivery is started as any ended job's.
        assert!(!marks_callback(&envelope, JobEvent::Expire));
        // A redrive's or a rerun's round restarts the delivery from where the last one left.
        envelope.redrive = 1;
        assert!(!marks_callback(&envelope, JobEvent::Succeed));
    }

    #[test]
    fn a_refused_mark_is_written_again_without_it_only_once_the_callback_moved_on() {
        let with = |state: Option<&str>| {
            let mut item = std::collections::HashMap::new();
            item.insert("status".to_owned(), s("RUNNING"));
            if let Some(state) = state {
                item.insert("callbackState".to_owned(), s(state));
            }
            item
        };
        assert!(callback_moved_on(&with(Some("QUEUED"))));
        assert!(callback_moved_on(&with(Some("DELIVERED"))));
        // WAITING or no state: the mark held, so the status is what refused the write.
        assert!(!callback_moved_on(&with(Some("WAITING"))));
        assert!(!callback_moved_on(&with(None)));
    }

    #[test]
    fn an_ending_write_moves_the_claims_slot_in_its_own_clauses() {
        assert_eq!(
            giving_back_slot("SET #status = :to REMOVE leaseUntil, #other"),
            format!("SET #status = :to, {SLOT_GIVEN} REMOVE leaseUntil, #other, #slot")
        );
        assert_eq!(
            giving_back_slot("SET #status = :to"),
            format!("SET #status = :to, {SLOT_GIVEN} REMOVE #slot")
        );
        // Then the timeline's clause, in the SET clause too.
        let both = timeline::appending(&giving_back_slot("SET a = :a REMOVE b"));
        assert_eq!(
            both,
            format!(
                "SET a = :a, {SLOT_GIVEN}, {} REMOVE b, #slot",
                timeline::APPEND
            )
        );
        let slot = JobSlot::taken("tag".into(), 7);
        let moved = |given: &str| {
            slot_moved(&std::collections::HashMap::from([(
                QUOTA_SLOT_GIVEN.to_owned(),
                s(given),
            )]))
        };
        assert_eq!(moved(&slot.to_string()), Some(slot));
        assert_eq!(moved(""), None, "the claim held none");
        assert_eq!(slot_moved(&Default::default()), None);
    }

    /// The exact conditions sent, none with a doubled parenthesis (DynamoDB refuses those).
    #[test]
    fn start_conditions_read_as_intended() {
        let startable = "#status IN (:from0, :from1)";
        let redrivable = "#status IN (:redrivable0)";
        let lease = "(attribute_not_exists(leaseUntil) OR leaseUntil < :epoch)";
        let fresh = "(attribute_not_exists(redrives) OR redrives < :redrive)";
        let cases = [
            (
                start_condition(Pattern::FireAndForget, startable),
                format!("attribute_not_exists(pk) OR {startable} AND {lease}"),
            ),
            (
                start_condition(Pattern::ClaimCheck, startable),
                format!("attribute_exists(pk) AND {startable} AND {lease} AND #ttl > :epoch"),
            ),
            (
                redrive_condition(Pattern::FireAndForget, redrivable),
                format!("attribute_exists(pk) AND {redrivable} AND {fresh}"),
            ),
            (
                redrive_condition(Pattern::Bidirectional, redrivable),
                format!("attribute_exists(pk) AND {redrivable} AND {fresh} AND #ttl > :epoch"),
            ),
        ];
        let abandonable = "#status IN (:from0, :from1)";
        let cases = cases.into_iter().chain([
            (
                abandon_condition(Pattern::FireAndForget, abandonable),
                format!("attribute_not_exists(pk) OR {abandonable} AND {lease}"),
            ),
            (
                abandon_condition(Pattern::ClaimCheck, abandonable),
                format!("attribute_exists(pk) AND {abandonable} AND {lease}"),
            ),
        ]);
        for (built, expected) in cases {
            assert_eq!(built, expected);
            // A parenthesis right inside another, closing together: redundant.
            assert!(!redundant(&built), "{built}");
        }
        assert!(redundant("a AND ((b))"));
    }

    /// A ledger whose requests are built, never sent.
    fn offline_ledger() -> DynamoMessageLedger {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        DynamoMessageLedger::new(
            Client::from_conf(config),
            "table",
            Duration::from_secs(60),
            Arc::new(crate::application::clock::SystemClock),
        )
    }

    /// A message left from a try whose claim was withdrawn finds a later request's claim under
    /// the same derived id: its start is conditioned on, and its refusal read as, the claim
    /// of its own request.
    #[test]
    fn a_message_that_names_its_request_starts_only_that_requests_claim() {
        let ledger = offline_ledger();
        let mut envelope = crate::fixtures::work_message(
            "j",
            Pattern::Bidirectional,
            "echo",
            serde_json::Value::Null,
        );
        envelope.request_print = Some("print-a".into());
        let lease = Duration::from_secs(10);
        for request in [
            ledger.start_request(&envelope, lease, None),
            ledger.redrive_request(&envelope, lease),
        ] {
            let input = request.as_input();
            let condition = input.get_condition_expression().clone().unwrap();
            assert!(
                condition.ends_with(" AND requestPrint = :print"),
                "{condition}"
            );
            assert_eq!(
                input.get_expression_attribute_values().as_ref().unwrap()[":print"],
                s("print-a")
            );
        }
        let claim_of = |print: &str| Item::from([(REQUEST_PRINT.to_owned(), s(print))]);
        assert!(is_of_its_request(&claim_of("print-a"), &envelope));
        assert!(!is_of_its_request(&claim_of("print-b"), &envelope));
        assert!(!is_of_its_request(&Item::new(), &envelope));
        // Found refusing the start, another request's claim is no claim of this message's.
        let now = ledger.clock.now().unix_timestamp();
        let other = Item::from([
            (REQUEST_PRINT.to_owned(), s("print-b")),
            ("status".to_owned(), s("PENDING")),
            ("ttl".to_owned(), n(now + 3600)),
        ]);
        assert_eq!(
            ledger.standing(&envelope, Some(other)),
            AttemptStart::NoClaim
        );
        envelope.request_print = None;
        let any = Item::from([(REQUEST_PRINT.to_owned(), s("print-b"))]);
        assert!(is_of_its_request(&any, &envelope), "a message naming none");
    }

    /// DynamoDB refuses a request whose expressions leave a placeholder it was given unused,
    /// or use one it was not given: every start request, each kind of work, both ways round.
    #[test]
    fn start_requests_use_exactly_the_placeholders_they_bind() {
        let ledger = offline_ledger();
        for pattern in [
            Pattern::FireAndForget,
            Pattern::ClaimCheck,
            Pattern::Bidirectional,
        ] {
            let envelope = WorkMessage {
                message_id: "m".into(),
                correlation_id: "c".into(),
                pattern,
                job_type: "echo".into(),
                payload: serde_json::Value::Null,
                payload_ref: None,
                accepted_at: "2026-11-30T00:00:00.000Z".into(),
                has_callback: false,
                reply_to: (pattern == Pattern::Bidirectional).then(|| crate::domain::ReplyTo {
                    connection_id: "conn".into(),
                    request_id: "r".into(),
                }),
                redrive: 1,
                owner: Some(crate::domain::Principal::new("https://issuer", "alice")),
                slot_when_due: false,
                request_print: None,
                trace_header: None,
            };
            let lease = Duration::from_secs(10);
            let began = time::OffsetDateTime::now_utc();
            let inline = KeptResult::Inline(serde_json::json!({"ok": true}));
            let held = KeptResult::Stored {
                key: crate::domain::BlobKey::result(None, "j"),
                bytes: 70_000,
            };
            for request in [
                ledger.start_request(&envelope, lease, None),
                ledger.start_request(&envelope, lease, Some(None)),
                ledger.start_request(&envelope, lease, Some(Some(2))),
                ledger.redrive_request(&envelope, lease),
                ledger.quick_success_request(&envelope, None, began, &inline),
                ledger.quick_success_request(&envelope, Some(3), began, &held),
            ] {
                assert_placeholders_bound(&request, &format!("{pattern:?}"));
            }
        }
    }

    /// The request's expressions use exactly the placeholders it binds.
    fn assert_placeholders_bound(request: &UpdateItemFluentBuilder, what: &str) {
        let input = request.as_input();
        let expressions = format!(
            "{} {}",
            input.get_update_expression().as_deref().unwrap_or(""),
            input.get_condition_expression().as_deref().unwrap_or("")
        );
        let bound: std::collections::BTreeSet<String> = input
            .get_expression_attribute_values()
            .as_ref()
            .unwrap()
            .keys()
            .chain(
                input
                    .get_expression_attribute_names()
                    .as_ref()
                    .unwrap()
                    .keys(),
            )
            .cloned()
            .collect();
        let used: std::collections::BTreeSet<String> = expressions
            .split(|c: char| !(c.is_alphanumeric() || c == ':' || c == '#'))
            .filter(|t| t.starts_with(':') || t.starts_with('#'))
            .map(str::to_owned)
            .collect();
        assert_eq!(bound, used, "{what}: {expressions}");
    }

    /// A job's one-write start and success does what its success would: it gives back the
    /// caller's slot, marks a first round's callback QUEUED (while it stands WAITING), and
    /// starts only the claim of the message's own request.
    #[test]
    fn a_jobs_quick_success_ends_it_as_its_success_would() {
        let ledger = offline_ledger()
            .giving_back_slots_to(Arc::new(crate::adapters::memory::InMemoryQuotas::default()));
        let mut envelope = crate::fixtures::work_message(
            "j",
            Pattern::ClaimCheck,
            "echo",
            serde_json::Value::Null,
        );
        envelope.has_callback = true;
        envelope.request_print = Some("print-a".into());
        let inline = KeptResult::Inline(serde_json::json!({"ok": true}));
        let request =
            ledger.quick_success_request(&envelope, None, OffsetDateTime::now_utc(), &inline);
        assert_placeholders_bound(&request, "a job's quick success");
        let input = request.as_input();
        let expression = input.get_update_expression().clone().unwrap();
        let condition = input.get_condition_expression().clone().unwrap();
        assert!(expression.contains(SLOT_GIVEN), "{expression}");
        assert!(expression.contains(CALLBACK_MARKED), "{expression}");
        assert!(expression.ends_with(", #slot"), "{expression}");
        assert!(
            expression.contains(" ADD attempts :one REMOVE "),
            "{expression}"
        );
        assert!(condition.contains(CALLBACK_WAITING), "{condition}");
        assert!(condition.contains("requestPrint = :print"), "{condition}");
        assert!(!redundant(&condition), "{condition}");
        // A fire-and-forget message's record holds no slot and no callback.
        let message = WorkMessage {
            pattern: Pattern::FireAndForget,
            has_callback: false,
            request_print: None,
            ..envelope
        };
        let request =
            ledger.quick_success_request(&message, None, OffsetDateTime::now_utc(), &inline);
        assert_placeholders_bound(&request, "a message's quick success");
        let expression = request.as_input().get_update_expression().clone().unwrap();
        assert!(!expression.contains(SLOT_GIVEN), "{expression}");
    }

    /// Whether some parenthesised expression is nothing but another parenthesised expression.
    fn redundant(expression: &str) -> bool {
        let bytes = expression.as_bytes();
        let mut opened = Vec::new();
        let mut pairs = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            match b {
                b'(' => opened.push(i),
                b')' => pairs.push((opened.pop().unwrap(), i)),
                _ => {}
            }
        }
        pairs
            .iter()
            .any(|(open, close)| pairs.contains(&(open + 1, close - 1)))
    }
}
