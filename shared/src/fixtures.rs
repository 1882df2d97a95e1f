//! Values the library's unit tests build again and again.

use crate::domain::{Pattern, WorkMessage};

/// A first-round work message with nothing optional: no callback, no owner, no trace, its
/// payload inline. Tests set what they are about with struct update syntax.
pub fn work_message(
    message_id: impl Into<String>,
    pattern: Pattern,
    job_type: impl Into<String>,
    payload: serde_json::Value,
) -> WorkMessage {
    WorkMessage {
        message_id: message_id.into(),
        correlation_id: "corr-fixture".into(),
        pattern,
        job_type: job_type.into(),
        payload,
        payload_ref: None,
        accepted_at: "2026-11-23T12:00:00.000Z".into(),
        has_callback: false,
        reply_to: None,
        redrive: 0,
        owner: None,
        slot_when_due: false,
        request_print: None,
        trace_header: None,
    }
}
