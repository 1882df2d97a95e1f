//! What a client's message means: a valid submit, or the precise reason it is not one (which
//! becomes an error frame, never silence).

use crate::domain::correlation::MAX_CORRELATION_ID_LEN;
use crate::domain::idempotency_key::MAX_IDEMPOTENCY_KEY_LEN;
use crate::domain::{CorrelationId, IdempotencyKey};
use courier_protocol::frames::{SUBMIT_ACTION, error_code};
use serde::Deserialize;
use serde_json::Value;

/// Largest message accepted: API Gateway's own WebSocket message limit (128 KB), enforced here
/// too so the local stack behaves the same.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// A `requestId` is 1–128 visible ASCII characters.
pub const MAX_REQUEST_ID_CHARS: usize = 128;

/// A valid submit frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitRequest {
    pub request_id: String,
    pub job_type: String,
    pub payload: Value,
    /// Instead of `payload`: an upload of the caller's.
    pub payload_ref: Option<String>,
    /// The client's own, if it sent one.
    pub correlation_id: Option<CorrelationId>,
    /// The caller's key for this work, shared with `POST /v1/jobs`'s `Idempotency-Key`: a
    /// resubmit under it, on any connection, is the same job.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Why a message was refused; `request_id` is echoed only when it was itself valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub request_id: Option<String>,
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    fn new(request_id: Option<&str>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            request_id: request_id.map(str::to_owned),
            code,
            message: message.into(),
        }
    }
}

fn valid_request_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_REQUEST_ID_CHARS
        && raw.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wire {
    #[allow(dead_code)]
    action: String,
    request_id: String,
    #[serde(rename = "type")]
    job_type: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    payload_ref: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
}

pub fn parse(body: &str) -> Result<SubmitRequest, Rejection> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(Rejection::new(
            None,
            error_code::FRAME_TOO_LARGE,
            format!(
                "the message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(body).map_err(|e| {
        Rejection::new(
            None,
            error_code::MALFORMED_FRAME,
            format!("the message is not valid JSON: {e}"),
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(Rejection::new(
            None,
            error_code::MALFORMED_FRAME,
            "a frame must be a JSON object",
        ));
    };
    let request_id = object
        .get("requestId")
        .and_then(Value::as_str)
        .filter(|id| valid_request_id(id));
    match object.get("action") {
        Some(Value::String(action)) if action == SUBMIT_ACTION => {}
        Some(Value::String(action)) => {
            let shown: String = action.chars().take(64).collect();
            return Err(Rejection::new(
                request_id,
                error_code::UNKNOWN_ACTION,
                format!("unknown action {shown:?}; the only action is \"{SUBMIT_ACTION}\""),
            ));
        }
        _ => {
            return Err(Rejection::new(
                request_id,
                error_code::UNKNOWN_ACTION,
                format!(
                    "a frame needs a string \"action\"; the only action is \"{SUBMIT_ACTION}\""
                ),
            ));
        }
    }
    let wire: Wire = serde_json::from_value(value.clone())
        .map_err(|e| Rejection::new(request_id, error_code::INVALID_FRAME, e.to_string()))?;
    if request_id.is_none() {
        return Err(Rejection::new(
            None,
            error_code::INVALID_FRAME,
            format!("requestId must be 1 to {MAX_REQUEST_ID_CHARS} visible ASCII characters"),
        ));
    }
    let correlation_id = match wire.correlation_id.as_deref().map(CorrelationId::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return Err(Rejection::new(
                request_id,
                error_code::INVALID_FRAME,
                format!(
                    "correlationId must be 1 to {MAX_CORRELATION_ID_LEN} characters of letters, \
                     digits, '.', '_', ':' or '-'"
                ),
            ));
        }
    };
    let idempotency_key = match wire.idempotency_key.as_deref().map(IdempotencyKey::parse) {
        None => None,
        Some(Ok(key)) => Some(key),
        Some(Err(_)) => {
            return Err(Rejection::new(
                request_id,
                error_code::INVALID_FRAME,
                format!(
                    "idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
                ),
            ));
        }
    };
    if wire.payload_ref.is_some() && !wire.payload.is_null() {
        return Err(Rejection::new(
            Some(&wire.request_id),
            error_code::INVALID_FRAME,
            "give payload or payloadRef, not both".to_owned(),
        ));
    }
    Ok(SubmitRequest {
        request_id: wire.request_id,
        job_type: wire.job_type,
        payload: wire.payload,
        payload_ref: wire.payload_ref,
        correlation_id,
        idempotency_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(body: &str) -> (&'static str, Option<String>) {
        let rejection = parse(body).unwrap_err();
        (rejection.code, rejection.request_id)
    }

    #[test]
    fn parses_a_submit() {
        let request =
            parse(r#"{"action":"submit","requestId":"r-1","type":"echo","payload":{"a":1}}"#)
                .unwrap();
        assert_eq!(request.request_id, "r-1");
        assert_eq!(request.job_type, "echo");
        assert_eq!(request.correlation_id, None);
        assert_eq!(request.idempotency_key, None);
        assert_eq!(request.payload, json!({"a": 1}));
        let keyed = parse(
            r#"{"action":"submit","requestId":"r-1","type":"echo","idempotencyKey":"order-7"}"#,
        )
        .unwrap();
        assert_eq!(
            keyed.idempotency_key.as_ref().map(IdempotencyKey::as_str),
            Some("order-7")
        );
    }

    #[test]
    fn a_bad_idempotency_key_is_an_invalid_frame() {
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
        for key in [json!(""), json!("has space"), json!(long), json!(7)] {
            let body = json!({"action": "submit", "requestId": "r", "type": "echo",
                              "idempotencyKey": key});
            assert_eq!(
                code(&body.to_string()),
                (error_code::INVALID_FRAME, Some("r".into())),
                "{key}"
            );
        }
    }

    #[test]
    fn names_each_problem_precisely() {
        assert_eq!(code("{not json"), (error_code::MALFORMED_FRAME, None));
        assert_eq!(code("[1]"), (error_code::MALFORMED_FRAME, None));
        assert_eq!(
            code(r#"{"requestId":"r"}"#),
            (error_code::UNKNOWN_ACTION, Some("r".into()))
        );
        assert_eq!(
            code(r#"{"action":"delete","requestId":"r"}"#),
            (error_code::UNKNOWN_ACTION, Some("r".into()))
        );
        assert_eq!(
            code(r#"{"action":"submit","requestId":"r"}"#),
            (error_code::INVALID_FRAME, Some("r".into()))
        );
        assert_eq!(
            code(r#"{"action":"submit","requestId":"r","type":"echo","extra":1}"#),
            (error_code::INVALID_FRAME, Some("r".into()))
        );
        assert_eq!(
            code(r#"{"action":"submit","requestId":"has space","type":"echo"}"#),
            (error_code::INVALID_FRAME, None)
        );
        let long = "r".repeat(MAX_REQUEST_ID_CHARS + 1);
        assert_eq!(
            code(&format!(
                r#"{{"action":"submit","requestId":"{long}","type":"echo"}}"#
            )),
            (error_code::INVALID_FRAME, None)
        );
        let big = format!(
            r#"{{"action":"submit","requestId":"r","type":"echo","payload":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(code(&big), (error_code::FRAME_TOO_LARGE, None));
    }

    #[test]
    fn takes_the_clients_correlation_id_when_it_is_valid() {
        let request = parse(
            r#"{"action":"submit","requestId":"r-1","type":"echo","correlationId":"order-7:a"}"#,
        )
        .unwrap();
        assert_eq!(request.correlation_id.unwrap().as_str(), "order-7:a");
        for bad in ["", "has space", &"a".repeat(129), "é"] {
            let body = json!({"action": "submit", "requestId": "r-1", "type": "echo", "correlationId": bad});
            assert_eq!(
                code(&body.to_string()),
                (error_code::INVALID_FRAME, Some("r-1".to_owned())),
                "{bad:?}"
            );
        }
        let body =
            json!({"action": "submit", "requestId": "r-1", "type": "echo", "correlationId": 7});
        assert_eq!(code(&body.to_string()).0, error_code::INVALID_FRAME);
    }
}
