//! The message courier puts on a work queue: everything the processor needs, nothing else.

use super::CorrelationId;
use crate::telemetry::TraceHeader;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// SQS message attribute names that carry tracing context beside the body.
pub const CORRELATION_ID_ATTRIBUTE: &str = "correlationId";
pub const MESSAGE_ID_ATTRIBUTE: &str = "messageId";
pub const FAILURE_REASON_ATTRIBUTE: &str = "failureReason";
pub const FAILURE_KIND_ATTRIBUTE: &str = "failureKind";

/// Where a bidirectional job's frames go: the connection it came in on, and the client's
/// `requestId` every frame repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyTo {
    pub connection_id: String,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkEnvelope {
    pub message_id: String,
    pub correlation_id: CorrelationId,
    pub pattern: Pattern,
    #[serde(rename = "type")]
    pub job_type: String,
    pub payload: Value,
    /// RFC 3339 acceptance time.
    pub accepted_at: String,
    /// Set for a job whose outcome is posted to a callback URL.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub has_callback: bool,
    /// Set for a job submitted over a WebSocket connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// How many times an operator has sent this work back from its dead-letter queue
    /// (`courier dlq redrive`). A redriven message may run a FAILED record again, once per
    /// redrive; without it, a FAILED record is final.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redrive: u32,
    /// The X-Ray trace of the request that accepted the work. It travels beside the body, as
    /// SQS's `AWSTraceHeader` system attribute, not in it.
    #[serde(skip)]
    pub trace: Option<TraceHeader>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl WorkEnvelope {
    /// The table key of the record this work is tracked on: the processor's own record for a
    /// fire-and-forget message, the claim the caller polls for a job.
    pub fn record_key(&self) -> String {
        match self.pattern {
            Pattern::FireAndForget => format!("MSG#{}", self.message_id),
            Pattern::ClaimCheck | Pattern::Bidirectional => format!("JOB#{}", self.message_id),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope is always serialisable")
    }

    pub fn from_json(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_with_camel_case_fields() {
        let envelope = WorkEnvelope {
            message_id: "m-1".into(),
            correlation_id: CorrelationId::parse("c-1").unwrap(),
            pattern: Pattern::FireAndForget,
            job_type: "echo".into(),
            payload: json!({"x": [1, 2]}),
            accepted_at: "2026-11-23T00:00:00.000Z".into(),
            has_callback: false,
            reply_to: None,
            redrive: 0,
            trace: None,
        };
        let json = envelope.to_json();
        assert!(json.contains(r#""messageId":"m-1""#), "{json}");
        assert!(json.contains(r#""pattern":"fire-and-forget""#), "{json}");
        assert_eq!(WorkEnvelope::from_json(&json).unwrap(), envelope);
    }
}
