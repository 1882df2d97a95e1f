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
    pub payload: Value,
    /// 1 for the first run, 2 for the first retry, and so on.
    pub attempt: u32,
    /// When courier stops waiting for this attempt (RFC 3339, UTC).
    pub deadline: String,
    pub correlation_id: String,
    /// A key for the target's own downstream calls: the same on every attempt of this job,
    /// different for every job.
    pub idempotency_key: String,
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
            attempt: 2,
            deadline: "2026-12-03T00:00:00Z".into(),
            correlation_id: "c".into(),
            idempotency_key: "k".into(),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"jobId": "j", "type": "resize", "payload": {"w": 1}, "attempt": 2,
                   "deadline": "2026-12-03T00:00:00Z", "correlationId": "c",
                   "idempotencyKey": "k"})
        );
    }
}
