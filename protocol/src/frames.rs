//! The bidirectional pattern's wire format: the frames a WebSocket client sends and receives.
//!
//! Client → server: `{"action": "submit", "requestId": "...", "type": "<job type>", "payload": ...}`.
//! Server → client: `{"requestId", "seq", "kind", "jobId", "data"}` (+ `correlationId`, and
//! `resultRef` when a result is too large for a frame). `seq` is per connection and strictly
//! increasing, so a client can put frames in order and notice a missing one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one action a client sends (besides anything API Gateway routes to `$default`).
pub const SUBMIT_ACTION: &str = "submit";

/// API Gateway's WebSocket frame limit: larger server frames are not sent whole.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// A job submitted over the WebSocket connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitFrame {
    pub action: String,
    pub request_id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(default)]
    pub payload: Value,
    /// Instead of `payload`: an upload of the caller's (`up_…`, `POST /v1/uploads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_ref: Option<String>,
    /// Ties the job's logs, frames and claim to the client's own: 1-128 characters of
    /// letters, digits, `.`, `_`, `:` or `-`, as the HTTP API's `X-Correlation-Id`. Made up
    /// by courier when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The caller's key for this work (1-255 visible ASCII characters), the same keys as the
    /// HTTP API's `Idempotency-Key` on `POST /v1/jobs`: a resubmit under it, on any of the
    /// caller's connections, is the same job, and its remaining frames go to the connection
    /// that asked last. Without it, a resubmit is the same job only on the same connection
    /// (by `requestId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl SubmitFrame {
    pub fn new(request_id: impl Into<String>, job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            action: SUBMIT_ACTION.to_owned(),
            request_id: request_id.into(),
            job_type: job_type.into(),
            payload,
            payload_ref: None,
            correlation_id: None,
            idempotency_key: None,
        }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrameKind {
    /// The job is queued; `jobId` is its claim, readable at `GET /v1/jobs/{jobId}`.
    Accepted,
    /// `data` is `{"percent": n}`.
    Progress,
    /// `data` is the job's result, or null with `resultRef` set when it is too large.
    Result,
    /// `data` is `{"code": "...", "message": "..."}`; see [`error_code`].
    Error,
}

/// Where to read a result that did not fit in a frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultRef {
    /// The claim path on the HTTP API, `/v1/jobs/{jobId}`.
    pub href: String,
    /// Size of the result as JSON, in bytes.
    pub bytes: usize,
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerFrame {
    /// The `requestId` of the submit frame this answers; null for a frame that could not be
    /// tied to one (a malformed frame).
    pub request_id: Option<String>,
    pub seq: u64,
    pub kind: FrameKind,
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_ref: Option<ResultRef>,
}

impl ServerFrame {
    /// Whether this frame ends its request: nothing more will come for its `requestId`.
    pub fn is_final(&self) -> bool {
        matches!(self.kind, FrameKind::Result | FrameKind::Error)
    }

    /// The `code` of an error frame.
    pub fn error_code(&self) -> Option<&str> {
        (self.kind == FrameKind::Error)
            .then(|| self.data.get("code").and_then(Value::as_str))
            .flatten()
    }
}

/// The `code` values of error frames.
pub mod error_code {
    /// The frame is not a JSON object.
    pub const MALFORMED_FRAME: &str = "malformed-frame";
    /// `action` is missing or names no route.
    pub const UNKNOWN_ACTION: &str = "unknown-action";
    /// A submit frame with a missing or wrong field (the message says which).
    pub const INVALID_FRAME: &str = "invalid-frame";
    /// The frame is over the size limit.
    pub const FRAME_TOO_LARGE: &str = "frame-too-large";
    /// `type` names no registered job type.
    pub const UNKNOWN_JOB_TYPE: &str = "unknown-job-type";
    /// The job type refuses this payload (the message says why).
    pub const INVALID_PAYLOAD: &str = "invalid-payload";
    /// The `requestId` was used on this connection for a different job.
    pub const REQUEST_ID_REUSED: &str = "request-id-reused";
    /// The same submit is being accepted right now; its `accepted` frame follows.
    pub const REQUEST_IN_PROGRESS: &str = "request-in-progress";
    /// courier could not record or queue the job; nothing was accepted. Retry later.
    pub const UNAVAILABLE: &str = "unavailable";
    /// A message on a connection with no verified caller (it did not come through the
    /// `$connect` authorizer).
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// The job ran and failed; `message` says why, the claim holds the details.
    pub const JOB_FAILED: &str = "job-failed";
    /// The caller is over a quota (requests per second, jobs in flight): nothing was
    /// accepted; the message says which and when to try again.
    pub const QUOTA_EXCEEDED: &str = "quota-exceeded";
    /// `payloadRef` names no upload of the caller's.
    pub const INVALID_PAYLOAD_REF: &str = "invalid-payload-ref";
    /// The upload is over the size limit.
    pub const PAYLOAD_TOO_LARGE: &str = "payload-too-large";

    /// Every code, in the order above (what `asyncapi.json` documents).
    pub const ALL: [&str; 14] = [
        MALFORMED_FRAME,
        UNKNOWN_ACTION,
        INVALID_FRAME,
        FRAME_TOO_LARGE,
        UNKNOWN_JOB_TYPE,
        INVALID_PAYLOAD,
        REQUEST_ID_REUSED,
        REQUEST_IN_PROGRESS,
        UNAVAILABLE,
        UNAUTHENTICATED,
        JOB_FAILED,
        QUOTA_EXCEEDED,
        INVALID_PAYLOAD_REF,
        PAYLOAD_TOO_LARGE,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_frames_use_the_documented_field_names() {
        let frame = ServerFrame {
            request_id: Some("r1".into()),
            seq: 3,
            kind: FrameKind::Progress,
            job_id: Some("j".into()),
            correlation_id: None,
            data: json!({"percent": 50}),
            result_ref: None,
        };
        let value = serde_json::to_value(&frame).unwrap();
        assert_eq!(
            value,
            json!({"requestId": "r1", "seq": 3, "kind": "progress", "jobId": "j", "data": {"percent": 50}})
        );
        assert!(!frame.is_final());
    }

    #[test]
    fn error_frames_expose_their_code() {
        let frame: ServerFrame = serde_json::from_value(json!({
            "requestId": null, "seq": 1, "kind": "error", "jobId": null,
            "data": {"code": "malformed-frame", "message": "x"}
        }))
        .unwrap();
        assert_eq!(frame.error_code(), Some(error_code::MALFORMED_FRAME));
        assert!(frame.is_final());
    }

    #[test]
    fn submit_frames_carry_the_action() {
        let frame = SubmitFrame::new("r1", "echo", json!(1));
        assert_eq!(
            serde_json::to_value(&frame).unwrap(),
            json!({"action": "submit", "requestId": "r1", "type": "echo", "payload": 1})
        );
    }
}
