//! What courier sends a declared job type's target (a Lambda function's event, an HTTP
//! service's request body) for each attempt, and how a target says an attempt failed for good.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One attempt of a job, as its target receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRequest {
    pub job_id: String,
    /// The job type's name.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The payload; `null` when it is too large to send (`payloadUrl` then).
    pub payload: Value,
    /// A download URL of the payload (JSON), valid for the attempt, when it is too large to
    /// send in the request (a Lambda invocation carries at most 6 MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_url: Option<String>,
    /// 1 for the first run, 2 for the first retry, and so on.
    pub attempt: u32,
    /// When courier stops waiting for this attempt (RFC 3339, UTC).
    pub deadline: String,
    pub correlation_id: String,
    /// A key for the target's own downstream calls: the same on every attempt of this job,
    /// different for every job.
    pub idempotency_key: String,
    /// A type whose worker finishes later: how it reports. Absent for an inline type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskHandle>,
}

/// What a worker that finishes later needs to report on its attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskHandle {
    /// Sent back in the [`TASK_TOKEN_HEADER`] of every report: it names this job's attempt
    /// and nothing else, and is refused once the attempt is over.
    pub token: String,
    /// Where reports go (`POST`).
    pub report_url: String,
    /// The longest the worker may go without a report before the attempt is retried; absent:
    /// only the type's timeout applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
}

/// The header a report carries its task token in (never the URL, so no access log holds it).
pub const TASK_TOKEN_HEADER: &str = "courier-task-token";

/// How a worker says its attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportedErrorKind {
    /// Retried on the type's schedule.
    Transient,
    /// Fails the job at once.
    Permanent,
}

/// One report on an attempt (`POST /v1/tasks/report`): exactly one of these bodies.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskReport {
    /// `{"progress": 0-100, "message"?: "…"}` (also a heartbeat).
    Progress {
        percent: u8,
        message: Option<String>,
    },
    /// `{"heartbeat": true}`.
    Heartbeat,
    /// `{"result": …}`: the job's result.
    Result(Value),
    /// `{"error": {"kind": "transient" | "permanent", "reason": "…"}}`.
    Error {
        kind: ReportedErrorKind,
        reason: String,
    },
}

/// The longest progress message kept.
pub const MAX_PROGRESS_MESSAGE_CHARS: usize = 200;
/// The longest failure reason kept.
pub const MAX_REPORTED_REASON_CHARS: usize = 1000;

/// Why a report's body was refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    pub pointer: String,
    pub message: String,
}

fn refused(pointer: &str, message: impl Into<String>) -> ReportError {
    ReportError {
        pointer: pointer.into(),
        message: message.into(),
    }
}

impl TaskReport {
    /// Reads a report's body: one of the four shapes, nothing more.
    pub fn parse(body: &Value) -> Result<Self, ReportError> {
        let object = body
            .as_object()
            .ok_or_else(|| refused("", "a report is a JSON object"))?;
        let allowed = |keys: &[&str]| match object.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(extra) => Err(refused(&format!("/{extra}"), "not a field of this report")),
            None => Ok(()),
        };
        if let Some(progress) = object.get("progress") {
            allowed(&["progress", "message"])?;
            let percent = progress
                .as_u64()
                .filter(|p| *p <= 100)
                .ok_or_else(|| refused("/progress", "a whole number from 0 to 100"))?;
            let message = match object.get("message") {
                None | Some(Value::Null) => None,
                Some(Value::String(m)) if m.chars().count() <= MAX_PROGRESS_MESSAGE_CHARS => {
                    Some(m.clone())
                }
                Some(_) => {
                    return Err(refused(
                        "/message",
                        format!("a string of at most {MAX_PROGRESS_MESSAGE_CHARS} characters"),
                    ));
                }
            };
            return Ok(Self::Progress {
                percent: percent as u8,
                message,
            });
        }
        if let Some(heartbeat) = object.get("heartbeat") {
            allowed(&["heartbeat"])?;
            return match heartbeat {
                Value::Bool(true) => Ok(Self::Heartbeat),
                _ => Err(refused("/heartbeat", "true")),
            };
        }
        if let Some(result) = object.get("result") {
            allowed(&["result"])?;
            return Ok(Self::Result(result.clone()));
        }
        if let Some(error) = object.get("error") {
            allowed(&["error"])?;
            let error = error
                .as_object()
                .ok_or_else(|| refused("/error", "an object with kind and reason"))?;
            if let Some(extra) = error
                .keys()
                .find(|k| !["kind", "reason"].contains(&k.as_str()))
            {
                return Err(refused(
                    &format!("/error/{extra}"),
                    "not a field of an error",
                ));
            }
            let kind = error
                .get("kind")
                .and_then(|k| serde_json::from_value(k.clone()).ok())
                .ok_or_else(|| refused("/error/kind", "\"transient\" or \"permanent\""))?;
            let reason = error
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.trim().is_empty() && r.chars().count() <= MAX_REPORTED_REASON_CHARS)
                .ok_or_else(|| {
                    refused(
                        "/error/reason",
                        format!(
                            "a non-empty string of at most {MAX_REPORTED_REASON_CHARS} characters"
                        ),
                    )
                })?;
            return Ok(Self::Error {
                kind,
                reason: reason.to_owned(),
            });
        }
        Err(refused(
            "",
            "one of {\"progress\"}, {\"heartbeat\": true}, {\"result\"} or {\"error\"}",
        ))
    }
}

/// The prefix of an error message that fails a job for good, whatever the runtime: a Lambda
/// function raises (or throws) an error whose message starts with it; the rest of the
/// message is the job's failure reason. Any other error is transient and retried.
pub const PERMANENT_ERROR_PREFIX: &str = "courier:permanent:";

/// The error type a function may raise instead of the prefix; AWS reports an unhandled
/// error's class name as its type (the emulator reports every one as `Runtime.HandlerError`,
/// so the prefix is what works everywhere).
pub const PERMANENT_ERROR_TYPE: &str = "PermanentError";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_is_camel_case_with_the_type_named_type() {
        let request = TaskRequest {
            job_id: "j".into(),
            job_type: "resize".into(),
            payload: json!({"w": 1}),
            payload_url: None,
            attempt: 2,
            deadline: "2026-12-03T00:00:00Z".into(),
            correlation_id: "c".into(),
            idempotency_key: "k".into(),
            task: None,
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"jobId": "j", "type": "resize", "payload": {"w": 1}, "attempt": 2,
                   "deadline": "2026-12-03T00:00:00Z", "correlationId": "c",
                   "idempotencyKey": "k"})
        );
    }

    #[test]
    fn a_report_is_one_of_four_bodies_and_nothing_else() {
        assert_eq!(
            TaskReport::parse(&json!({"progress": 30, "message": "encoding"})),
            Ok(TaskReport::Progress {
                percent: 30,
                message: Some("encoding".into())
            })
        );
        assert_eq!(
            TaskReport::parse(&json!({"heartbeat": true})),
            Ok(TaskReport::Heartbeat)
        );
        assert_eq!(
            TaskReport::parse(&json!({"result": {"ok": 1}})),
            Ok(TaskReport::Result(json!({"ok": 1})))
        );
        assert_eq!(
            TaskReport::parse(&json!({"error": {"kind": "permanent", "reason": "bad input"}})),
            Ok(TaskReport::Error {
                kind: ReportedErrorKind::Permanent,
                reason: "bad input".into()
            })
        );
        let cases = [
            (json!([]), ""),
            (json!({}), ""),
            (json!({"progress": 101}), "/progress"),
            (json!({"progress": 5.5}), "/progress"),
            (json!({"progress": 5, "result": 1}), "/result"),
            (
                json!({"progress": 5, "message": "x".repeat(201)}),
                "/message",
            ),
            (json!({"heartbeat": false}), "/heartbeat"),
            (
                json!({"error": {"kind": "fatal", "reason": "x"}}),
                "/error/kind",
            ),
            (
                json!({"error": {"kind": "transient", "reason": " "}}),
                "/error/reason",
            ),
            (
                json!({"error": {"kind": "transient", "reason": "x", "code": 1}}),
                "/error/code",
            ),
            (json!({"result": 1, "extra": 2}), "/extra"),
        ];
        for (body, pointer) in cases {
            assert_eq!(
                TaskReport::parse(&body).map_err(|e| e.pointer),
                Err(pointer.to_owned()),
                "{body}"
            );
        }
    }
}
