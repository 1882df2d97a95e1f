//! A declared job type's HTTP target, decided without I/O: the signed request each attempt is
//! (Standard Webhooks, with the target's own secrets) and what the service's answer means for
//! the job. The HTTP adapter (`adapters/http_target.rs`) sends it.

use courier_jobs::JobError;
use courier_protocol::task::TaskRequest;
use courier_protocol::webhook::{Secret, signature_header};
use serde_json::Value;
use std::time::Duration;

/// An attempt's request: the task as JSON, signed.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRequest {
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// The `webhook-id` of an attempt: one message per attempt (a receiver that deduplicates by
/// it still sees every retry), the same if one attempt's request is sent again.
pub fn message_id(request: &TaskRequest) -> String {
    format!("task_{}_{}", request.job_id, request.attempt)
}

/// The signed request for `request`, at `timestamp` (Unix seconds).
pub fn signed(request: &TaskRequest, secrets: &[Secret], timestamp: i64) -> TargetRequest {
    let body = serde_json::to_vec(request).expect("a task request is JSON");
    let id = message_id(request);
    let signature = signature_header(secrets, &id, timestamp, &body);
    TargetRequest {
        headers: vec![
            ("content-type", "application/json".into()),
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
            ("x-correlation-id", request.correlation_id.clone()),
            ("idempotency-key", request.idempotency_key.clone()),
        ],
        body,
    }
}

/// The most of a service's refusal kept as the job's reason.
const REASON_CHARS: usize = 1000;

/// A refusal's reason: its problem detail (RFC 9457 `detail`, else `title`), else its text.
fn reason_of(status: u16, body: &[u8]) -> String {
    let problem: Option<Value> = serde_json::from_slice(body).ok();
    let said = problem
        .as_ref()
        .and_then(|p| p.get("detail").or_else(|| p.get("title")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let said: String = said.chars().take(REASON_CHARS).collect();
    match said.is_empty() {
        true => format!("the service answered {status}"),
        false => said,
    }
}

/// What the service's answer means: 2xx with JSON is the result; 408, 429 and 5xx are
/// transient (after `Retry-After`, when it says), and so are 401, 403 and 404 — an endpoint
/// or a secret not in place yet (a deploy ahead of its service, a rotation under way), which
/// a retry may find fixed; any other answer fails the job for good, a 4xx with the service's
/// own reason. A 5xx's body is not kept: it is the service's inside (a stack trace), not a
/// reason for the caller.
pub fn outcome(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Result<Value, JobError> {
    match status {
        // An empty answer (a 202 or 204 acknowledging a worker that finishes later) is null.
        200..=299 if body.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
        200..=299 => serde_json::from_slice(body).map_err(|e| {
            JobError::permanent(format!("the service answered {status} without JSON: {e}"))
        }),
        401 | 403 | 404 | 408 | 429 | 500..=599 => {
            let reason = match status {
                500..=599 => format!("the service answered {status}"),
                _ => format!("the service answered {status}: {}", reason_of(status, body)),
            };
            Err(match retry_after {
                Some(after) => JobError::retry_after(reason, after),
                None => JobError::transient(reason),
            })
        }
        300..=399 => Err(JobError::permanent(format!(
            "the service answered {status}; redirects are not followed"
        ))),
        _ => Err(JobError::permanent(reason_of(status, body))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> TaskRequest {
        TaskRequest {
            job_id: "j1".into(),
            job_type: "transcode".into(),
            payload: json!({"a": 1}),
            payload_url: None,
            attempt: 2,
            deadline: "2026-12-03T00:00:00Z".into(),
            correlation_id: "c1".into(),
            idempotency_key: "k1".into(),
            task: None,
        }
    }

    #[test]
    fn an_attempt_is_signed_with_every_secret_and_names_itself() {
        let secrets = Secret::parse_list(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        )
        .unwrap();
        let signed = signed(&request(), &secrets, 1_700_000_000);
        let header = |name: &str| {
            signed
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(header("webhook-id"), "task_j1_2");
        assert_eq!(header("webhook-timestamp"), "1700000000");
        assert_eq!(header("idempotency-key"), "k1");
        assert_eq!(header("webhook-signature").split(' ').count(), 2);
        let get = |name: &str| {
            signed
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        for secret in &secrets {
            assert_eq!(
                courier_protocol::webhook::verify_headers(
                    secret,
                    get,
                    &signed.body,
                    1_700_000_000,
                    300
                ),
                Ok("task_j1_2".into())
            );
        }
        let sent: TaskRequest = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(sent, request());
    }

    #[test]
    fn a_2xx_with_json_is_the_result() {
        assert_eq!(outcome(200, None, br#"{"ok": 1}"#), Ok(json!({"ok": 1})));
        assert_eq!(
            outcome(202, None, b""),
            Ok(Value::Null),
            "an acknowledgement"
        );
        assert!(matches!(
            outcome(200, None, b"<html>"),
            Err(JobError::Permanent(_))
        ));
    }

    #[test]
    fn busy_or_broken_services_are_retried_after_what_they_say() {
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            outcome(
                503,
                after,
                b"Traceback (most recent call last): secret stuff"
            ),
            Err(JobError::retry_after(
                "the service answered 503",
                Duration::from_secs(3)
            )),
            "a 5xx's body stays the service's"
        );
        for status in [401, 403, 404, 408, 429, 500, 502] {
            assert!(
                matches!(outcome(status, None, b"busy"), Err(JobError::Transient(_))),
                "{status}"
            );
        }
    }

    #[test]
    fn a_refusal_fails_for_good_with_the_services_reason() {
        let problem = br#"{"type": "about:blank", "title": "Unprocessable", "detail": "the codec is unknown"}"#;
        assert_eq!(
            outcome(422, None, problem),
            Err(JobError::permanent("the codec is unknown"))
        );
        assert_eq!(
            outcome(400, None, b"  plain words \n"),
            Err(JobError::permanent("plain words"))
        );
        assert_eq!(
            outcome(410, None, b""),
            Err(JobError::permanent("the service answered 410"))
        );
        assert!(matches!(
            outcome(302, None, b""),
            Err(JobError::Permanent(_))
        ));
        let long = "x".repeat(5000);
        match outcome(400, None, long.as_bytes()) {
            Err(JobError::Permanent(reason)) => assert_eq!(reason.len(), REASON_CHARS),
            other => panic!("{other:?}"),
        }
    }
}
