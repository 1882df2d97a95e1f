//! The messages courier puts on its SQS queues: one tagged enum, so every consumer (the
//! processor, the notifier, `courier dlq`) parses a body the same way.
//!
//! ```json
//! {"kind": "work", "messageId": "…", "correlationId": "…", "pattern": "claim-check", "type": "echo", "payload": {}, "acceptedAt": "…"}
//! {"kind": "callback", "jobId": "…", "correlationId": "…"}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// SQS message attribute names that carry context beside the body.
pub mod attribute {
    pub const CORRELATION_ID: &str = "correlationId";
    pub const MESSAGE_ID: &str = "messageId";
    /// Set on a dead letter: why it was dead-lettered.
    pub const FAILURE_REASON: &str = "failureReason";
    /// Set on a dead letter: `permanent`, `retries-exhausted`, `timeout`, `unparseable` or
    /// `dead-lettered`.
    pub const FAILURE_KIND: &str = "failureKind";
    /// Set on a job's work message whose id its request derives: the request's print
    /// (`WorkMessage::request_print`). An attribute, not in the body, so a processor of the
    /// release before reads the message as it always did.
    pub const REQUEST_PRINT: &str = "requestPrint";
}

/// Any message on a courier queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
// Parsed once per delivery and dropped: boxing the work message would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum QueueMessage {
    /// Accepted work, on the work queue (or the FIFO queue for WebSocket jobs).
    Work(WorkMessage),
    /// A finished job whose outcome is to be posted, on the callback queue.
    Callback(CallbackMessage),
    /// A look at an attempt a worker finishes later (reported, or past a deadline?), on the
    /// work queue: sent when its worker reports an outcome, and as its timer.
    TaskCheck(TaskCheck),
    /// A firing of a caller's recurring schedule, on the work queue (sent by the scheduler):
    /// one job of the schedule's, made by the processor.
    ScheduleRun(ScheduleRun),
}

/// What a schedule sends at each firing: everything its job needs (the schedule was checked
/// when it was made), so the run reads nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleRun {
    pub schedule_id: String,
    pub owner: crate::principal::Principal,
    pub job: crate::rest::ScheduledJob,
    /// The firing's time, as the scheduler fills it in (`<aws.scheduler.scheduled-time>`): one
    /// job per firing, however often it is delivered. An emulator may leave the placeholder.
    pub scheduled_at: String,
}

impl QueueMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a queue message is always serialisable")
    }

    pub fn from_json(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The tag: `work` or `callback`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Work(_) => "work",
            Self::Callback(_) => "callback",
            Self::TaskCheck(_) => "task-check",
            Self::ScheduleRun(_) => "schedule-run",
        }
    }

    /// The courier id it is about: the message (or job) id of work, the job id of a callback.
    pub fn subject_id(&self) -> &str {
        match self {
            Self::Work(work) => &work.message_id,
            Self::Callback(callback) => &callback.job_id,
            Self::TaskCheck(check) => &check.job_id,
            Self::ScheduleRun(run) => &run.schedule_id,
        }
    }

    /// How many times an operator has sent it back from its dead-letter queue.
    pub fn redrive(&self) -> u32 {
        match self {
            Self::Work(work) => work.redrive,
            Self::Callback(callback) => callback.redrive,
            Self::TaskCheck(_) | Self::ScheduleRun(_) => 0,
        }
    }

    /// Marks one more redrive (`courier dlq redrive`).
    pub fn redriven(mut self) -> Self {
        match &mut self {
            Self::Work(work) => work.redrive += 1,
            Self::Callback(callback) => callback.redrive += 1,
            Self::TaskCheck(_) | Self::ScheduleRun(_) => {}
        }
        self
    }
}

/// The tagged form of one message, serialised without copying it into a [`QueueMessage`].
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum Tagged<'a> {
    Work(&'a WorkMessage),
    Callback(&'a CallbackMessage),
    TaskCheck(&'a TaskCheck),
}

impl WorkMessage {
    /// The queue body: this message as a [`QueueMessage::Work`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Tagged::Work(self)).expect("serialisable")
    }
}

impl CallbackMessage {
    /// The queue body: this message as a [`QueueMessage::Callback`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Tagged::Callback(self)).expect("serialisable")
    }
}

/// Which asynchronous pattern accepted the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    FireAndForget,
    ClaimCheck,
    /// A job submitted over a WebSocket connection: a claim, plus frames pushed to the caller.
    Bidirectional,
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FireAndForget => "fire-and-forget",
            Self::ClaimCheck => "claim-check",
            Self::Bidirectional => "bidirectional",
        }
    }
}

/// Where a bidirectional job's frames go: the connection it came in on, and the client's
/// `requestId` every frame repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyTo {
    pub connection_id: String,
    pub request_id: String,
}

/// Accepted work: everything the processor needs, nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkMessage {
    /// The fire-and-forget message id, or the job id of a job.
    pub message_id: String,
    pub correlation_id: String,
    pub pattern: Pattern,
    #[serde(rename = "type")]
    pub job_type: String,
    /// The payload; `null` when it is held in the stack's bucket instead (`payloadRef`).
    pub payload: Value,
    /// Where the payload is, when it is too large to travel on the queue or was uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<PayloadRef>,
    /// RFC 3339 acceptance time.
    pub accepted_at: String,
    /// Set for a job whose outcome is posted to a callback URL.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_callback: bool,
    /// Set for a job submitted over a WebSocket connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// Who submitted it (absent only on work accepted before callers were authenticated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::principal::Principal>,
    /// How many times an operator has sent this work back from its dead-letter queue. A
    /// redriven message may run a FAILED record again, once per redrive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redrive: u32,
    /// Set for work for later (`runAt`, a schedule's run): it takes its caller's job slot when
    /// it comes due, not when it was accepted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub slot_when_due: bool,
    /// For a job whose id its request derives (a WebSocket submit keyed by its `requestId`):
    /// the request's print, as its claim keeps it. A message runs only the claim of its own
    /// request: one left from a try whose claim was withdrawn must not run a later request's
    /// under the same id. It travels beside the body, as the `requestPrint` message attribute
    /// ([`attribute::REQUEST_PRINT`]), not in it.
    #[serde(skip)]
    pub request_print: Option<String>,
    /// The X-Ray trace header of the request that accepted the work. It travels beside the
    /// body, as SQS's `AWSTraceHeader` system attribute, not in it.
    #[serde(skip)]
    pub trace_header: Option<String>,
}

/// A payload held in the stack's bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayloadRef {
    /// The object's key.
    pub key: String,
    /// Set for an uploaded payload: its type's schema is checked when it is read, before the
    /// first attempt (an inline payload's was checked at acceptance).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unchecked: bool,
}

/// A finished job whose outcome the notifier is to post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallbackMessage {
    pub job_id: String,
    pub correlation_id: String,
    /// Set by `courier dlq redrive`: a FAILED callback may be delivered again, once per redrive.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redrive: u32,
}

/// A look at one attempt of a job whose worker finishes later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskCheck {
    pub job_id: String,
    pub attempt: u32,
    pub correlation_id: String,
    /// The timer's own mark (Unix seconds it was due): of two timers of one attempt, only the
    /// one the claim names goes on. Absent on a check a report asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<i64>,
}

impl TaskCheck {
    /// The queue body: this check as a [`QueueMessage::TaskCheck`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Tagged::TaskCheck(self)).expect("serialisable")
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn work() -> WorkMessage {
        WorkMessage {
            message_id: "m-1".into(),
            correlation_id: "c-1".into(),
            pattern: Pattern::FireAndForget,
            job_type: "echo".into(),
            payload: json!({"x": [1, 2]}),
            payload_ref: None,
            accepted_at: "2026-11-23T00:00:00.000Z".into(),
            has_callback: false,
            reply_to: None,
            redrive: 0,
            owner: None,
            slot_when_due: false,
            request_print: None,
            trace_header: None,
        }
    }

    #[test]
    fn work_round_trips_tagged_with_camel_case_fields() {
        let message = QueueMessage::Work(work());
        let json = message.to_json();
        assert!(
            json.starts_with(r#"{"kind":"work","messageId":"m-1""#),
            "{json}"
        );
        assert!(json.contains(r#""pattern":"fire-and-forget""#), "{json}");
        assert_eq!(QueueMessage::from_json(&json).unwrap(), message);
    }

    #[test]
    fn borrowed_and_owned_forms_serialise_alike() {
        let work = work();
        assert_eq!(work.to_json(), QueueMessage::Work(work.clone()).to_json());
    }

    #[test]
    fn callbacks_are_tagged_and_redrives_count() {
        let message = QueueMessage::Callback(CallbackMessage {
            job_id: "j".into(),
            correlation_id: "c".into(),
            redrive: 0,
        });
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            json!({"kind": "callback", "jobId": "j", "correlationId": "c"})
        );
        let again = message.redriven().redriven();
        assert_eq!(again.redrive(), 2);
        assert_eq!(again.subject_id(), "j");
    }

    #[test]
    fn untagged_unknown_and_extra_fields_are_refused() {
        for body in [
            r#"{"jobId":"j","correlationId":"c"}"#,
            r#"{"kind":"other","jobId":"j","correlationId":"c"}"#,
            r#"{"kind":"callback","jobId":"j","correlationId":"c","extra":1}"#,
            "not json",
        ] {
            assert!(QueueMessage::from_json(body).is_err(), "{body}");
        }
    }
}
