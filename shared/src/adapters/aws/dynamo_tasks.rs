//! Attempts of jobs whose workers finish later, on their claims (`JOB#<id>`): the `task` map
//! holds the attempt's number, its token's digest, its deadlines, what the worker reported and
//! the work message to run the job again with. Every write is conditional on the job running
//! that attempt; a report's also on its token's digest, so a report that is refused changed
//! nothing.

use super::dynamo_claims::claim_from_item;
use super::dynamo_ledger::{DynamoMessageLedger, reply_to_of};
use super::{n, port_error, s, status_of};
use crate::application::clock::rfc3339;
use crate::application::ports::{
    PortError, ReportAnswer, ReportRefusal, TaskBegin, TaskLedger, TaskView,
};
use crate::domain::{JobId, JobStatus, Reported, TaskState, TaskToken};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use courier_protocol::task::{ReportedErrorKind, TaskReport};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

type Item = HashMap<String, AttributeValue>;

fn key(job: &JobId) -> AttributeValue {
    s(format!("JOB#{job}"))
}

/// A reported outcome as the claim keeps it (JSON text).
fn reported_text(reported: &Reported) -> String {
    match reported {
        Reported::Result(result) => json!({"result": result}),
        Reported::Error { kind, reason } => json!({"error": {"kind": kind, "reason": reason}}),
    }
    .to_string()
}

fn reported_of(text: &str) -> Option<Reported> {
    let value: Value = serde_json::from_str(text).ok()?;
    if let Some(result) = value.get("result") {
        return Some(Reported::Result(result.clone()));
    }
    let error = value.get("error")?;
    Some(Reported::Error {
        kind: serde_json::from_value::<ReportedErrorKind>(error.get("kind")?.clone()).ok()?,
        reason: error.get("reason")?.as_str()?.to_owned(),
    })
}

fn epoch(at: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn task_of(item: &Item) -> Option<TaskState> {
    let task = item.get("task")?.as_m().ok()?;
    let number = |name: &str| task.get(name)?.as_n().ok()?.parse::<i64>().ok();
    let text = |name: &str| task.get(name)?.as_s().ok().cloned();
    Some(TaskState {
        attempt: u32::try_from(number("attempt")?).ok()?,
        round: number("round")
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1),
        digest: text("digest")?,
        awaiting: task
            .get("awaiting")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        last_heard: epoch(number("lastHeard")?),
        heartbeat: number("heartbeat").map(|h| Duration::from_secs(h.max(0) as u64)),
        attempt_by: epoch(number("attemptBy")?),
        reported: text("reported").as_deref().and_then(reported_of),
        envelope: text("envelope")?,
        settled: task
            .get("settled")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}

/// Why a report's condition did not hold, from the claim as it was.
fn refusal(old: Option<&Item>, token: &TaskToken, report: &Reported, now: i64) -> ReportAnswer {
    let Some(task) = old.and_then(task_of) else {
        return ReportAnswer::Refused(ReportRefusal::Unknown);
    };
    let old = old.expect("a task is on a claim");
    if task.attempt == token.attempt && task.digest != token.digest {
        return ReportAnswer::Refused(ReportRefusal::Unknown);
    }
    if task.attempt != token.attempt {
        return ReportAnswer::Refused(ReportRefusal::Stale);
    }
    if status_of(old).is_some_and(|s| s.is_terminal()) {
        return ReportAnswer::Refused(ReportRefusal::Finished);
    }
    if task.attempt_by.unix_timestamp() <= now {
        return ReportAnswer::Refused(ReportRefusal::Expired);
    }
    match &task.reported {
        // The same outcome again (a worker retrying its report): recorded already.
        Some(earlier) if reported_text(earlier) == reported_text(report) => {
            ReportAnswer::Recorded {
                claim: claim_from_item(old).map(Box::new),
                settle: true,
            }
        }
        Some(_) => ReportAnswer::Refused(ReportRefusal::AlreadyReported),
        None => ReportAnswer::Refused(ReportRefusal::Stale),
    }
}

/// What may be reported on an attempt: it is the job's running one, the token's, not past
/// its deadline, and has not reported its outcome.
const REPORTABLE: &str = "#status = :running AND task.attempt = :attempt \
    AND task.digest = :digest AND task.attemptBy > :epoch AND attribute_not_exists(task.reported) \
    AND #ttl > :epoch";

#[async_trait]
impl TaskLedger for DynamoMessageLedger {
    async fn begin(&self, job: &JobId, begin: &TaskBegin) -> Result<bool, PortError> {
        let now = self.clock.now();
        let mut task = HashMap::from([
            ("attempt".to_owned(), n(begin.attempt)),
            ("round".to_owned(), n(begin.round)),
            ("digest".to_owned(), s(&begin.digest)),
            ("awaiting".to_owned(), AttributeValue::Bool(false)),
            ("lastHeard".to_owned(), n(now.unix_timestamp())),
            ("attemptBy".to_owned(), n(begin.attempt_by.unix_timestamp())),
            ("envelope".to_owned(), s(&begin.envelope)),
        ]);
        if let Some(heartbeat) = begin.heartbeat {
            task.insert("heartbeat".to_owned(), n(heartbeat.as_secs()));
        }
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(job))
            .update_expression("SET task = :task, updatedAt = :now")
            // An earlier attempt's reported outcome is its to settle, never overwritten.
            .condition_expression(
                "#status = :running AND attempts = :attempt AND attribute_not_exists(task.reported)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":task", AttributeValue::M(task))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(begin.attempt))
            .send()
            .await;
        super::condition_held("dynamodb:UpdateItem(task begin)", update)
    }

    async fn acknowledged(
        &self,
        job: &JobId,
        attempt: u32,
        attempt_by: OffsetDateTime,
    ) -> Result<bool, PortError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(job))
            // The heartbeat counts from the acknowledgement, not from the handover.
            .update_expression(
                "SET task.awaiting = :yes, leaseUntil = :by, task.lastHeard = :epoch",
            )
            .condition_expression("#status = :running AND task.attempt = :attempt")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":by", n(attempt_by.unix_timestamp()))
            .expression_attribute_values(":epoch", n(self.clock.now().unix_timestamp()))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .send()
            .await;
        super::condition_held("dynamodb:UpdateItem(task acknowledged)", update)
    }

    async fn report(
        &self,
        token: &TaskToken,
        report: &TaskReport,
    ) -> Result<ReportAnswer, PortError> {
        let now = self.clock.now();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(&token.job_id))
            .condition_expression(REPORTABLE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(token.attempt))
            .expression_attribute_values(":digest", s(&token.digest))
            .expression_attribute_values(":epoch", n(now.unix_timestamp()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let outcome = match report {
            TaskReport::Progress { percent, message } => {
                request = request.expression_attribute_values(":p", n(percent));
                request = match message {
                    Some(message) => request
                        .update_expression(
                            "SET progress = :p, progressMessage = :m, updatedAt = :now, \
                             task.lastHeard = :epoch",
                        )
                        .expression_attribute_values(":m", s(message)),
                    None => request.update_expression(
                        "SET progress = :p, updatedAt = :now, task.lastHeard = :epoch \
                         REMOVE progressMessage",
                    ),
                };
                None
            }
            TaskReport::Heartbeat => {
                request =
                    request.update_expression("SET updatedAt = :now, task.lastHeard = :epoch");
                None
            }
            TaskReport::Result(result) => Some(Reported::Result(result.clone())),
            TaskReport::Error { kind, reason } => Some(Reported::Error {
                kind: *kind,
                reason: reason.clone(),
            }),
        };
        if let Some(reported) = &outcome {
            request = request
                .update_expression(
                    "SET task.reported = :reported, task.lastHeard = :epoch, updatedAt = :now",
                )
                .expression_attribute_values(":reported", s(reported_text(reported)));
        }
        match request.send().await {
            Ok(out) => Ok(ReportAnswer::Recorded {
                claim: claim_from_item(&out.attributes.unwrap_or_default()).map(Box::new),
                settle: outcome.is_some(),
            }),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let old = failed.item.filter(|item| !item.is_empty());
                    // A heartbeat or progress counts as no outcome: only a repeated outcome
                    // is the same as the one recorded.
                    let reported = outcome.unwrap_or(Reported::Result(Value::Null));
                    let answer = refusal(old.as_ref(), token, &reported, now.unix_timestamp());
                    Ok(match (answer, report) {
                        (
                            ReportAnswer::Recorded { .. },
                            TaskReport::Progress { .. } | TaskReport::Heartbeat,
                        ) => ReportAnswer::Refused(ReportRefusal::AlreadyReported),
                        (answer, _) => answer,
                    })
                }
                other => Err(port_error("dynamodb:UpdateItem(task report)", other)),
            },
        }
    }

    async fn task(&self, job: &JobId) -> Result<Option<TaskView>, PortError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", key(job))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(task)", e))?
            .item;
        Ok(item.map(|item| TaskView {
            running: status_of(&item) == Some(JobStatus::Running),
            task: task_of(&item),
            reply_to: reply_to_of(&item),
            ending: claim_from_item(&item)
                .as_ref()
                .and_then(crate::application::ports::Ending::of),
        }))
    }

    async fn release(&self, job: &JobId, attempt: u32) -> Result<bool, PortError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(job))
            .update_expression("SET task.awaiting = :no REMOVE leaseUntil")
            .condition_expression(
                "#status = :running AND task.attempt = :attempt AND attribute_not_exists(task.reported)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(attempt))
            .send()
            .await;
        super::condition_held("dynamodb:UpdateItem(task release)", update)
    }

    async fn retire(&self, job: &JobId, attempt: u32, reason: &str) -> Result<bool, PortError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(job))
            .update_expression(format!(
                "SET lastError = :reason, updatedAt = :now, {} REMOVE task, leaseUntil",
                super::timeline::APPEND
            ))
            // A result reported since the look read the claim is settled, not thrown away.
            .condition_expression(
                "#status = :running AND task.attempt = :attempt AND attribute_not_exists(task.reported)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":reason", super::bounded_reason(reason))
            .expression_attribute_values(":now", s(rfc3339(self.clock.now())))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(attempt));
        let happened = crate::domain::Happening::AttemptFailed {
            // A missed deadline or heartbeat, or the worker's own transient error.
            failure_kind: "transient".into(),
            reason: crate::domain::timeline::capped(reason),
            will_retry: true,
        };
        let update = super::timeline::note(update, self.clock.now(), &[happened])
            .send()
            .await;
        super::condition_held("dynamodb:UpdateItem(task retire)", update)
    }

    async fn settled(&self, job: &JobId, attempt: u32) -> Result<(), PortError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(job))
            .update_expression("SET task.settled = :yes")
            .condition_expression("task.attempt = :attempt")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":attempt", n(attempt))
            .send()
            .await;
        super::condition_held("dynamodb:UpdateItem(task settled)", update).map(drop)
    }

    async fn rearm(
        &self,
        job: &JobId,
        attempt: u32,
        due: Option<i64>,
        next: i64,
    ) -> Result<bool, PortError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", key(job))
            .update_expression("SET task.due = :next")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":next", n(next))
            .expression_attribute_values(":running", s(JobStatus::Running.as_str()))
            .expression_attribute_values(":attempt", n(attempt));
        request = match due {
            // Also ours when the claim names `next` already: this very move, made by a look
            // whose send failed, and repeated by its redelivery.
            Some(due) => request
                .condition_expression(
                    "#status = :running AND task.attempt = :attempt \
                     AND (task.due = :due OR task.due = :next)",
                )
                .expression_attribute_values(":due", n(due)),
            None => request.condition_expression(
                "#status = :running AND task.attempt = :attempt \
                 AND (attribute_not_exists(task.due) OR task.due = :next)",
            ),
        };
        super::condition_held("dynamodb:UpdateItem(task timer)", request.send().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_outcome_reads_back_as_it_was_written() {
        for reported in [
            Reported::Result(json!({"a": [1, null]})),
            Reported::Result(Value::Null),
            Reported::Error {
                kind: ReportedErrorKind::Permanent,
                reason: "bad".into(),
            },
        ] {
            assert_eq!(reported_of(&reported_text(&reported)), Some(reported));
        }
    }
}
