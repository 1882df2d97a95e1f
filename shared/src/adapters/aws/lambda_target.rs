//! A declared job type's Lambda target: one synchronous `Invoke` per attempt, and what the
//! function's answer means for the job (`outcome`, pure).

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use courier_jobs::JobError;
use courier_jobs::declared::Target;
use courier_jobs::remote::TargetCaller;
use courier_protocol::task::{PERMANENT_ERROR_PREFIX, PERMANENT_ERROR_TYPE, TaskRequest};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Invokes Lambda targets.
pub struct LambdaTargets {
    lambda: aws_sdk_lambda::Client,
}

impl LambdaTargets {
    pub fn new(lambda: aws_sdk_lambda::Client) -> Self {
        Self { lambda }
    }
}

/// An unhandled error as every Lambda runtime reports it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FunctionError {
    error_message: String,
    error_type: String,
}

/// What a function's answer means: its return value is the result; an error whose message
/// starts with [`PERMANENT_ERROR_PREFIX`] (or of type [`PERMANENT_ERROR_TYPE`], as AWS names
/// it) fails the job for good with the rest of the message as its reason; any other error is
/// transient.
pub fn outcome(function_error: Option<&str>, payload: &[u8]) -> Result<Value, JobError> {
    if function_error.is_none() {
        return serde_json::from_slice(payload)
            .map_err(|e| JobError::permanent(format!("the function's answer is not JSON: {e}")));
    }
    let error: FunctionError = serde_json::from_slice(payload).unwrap_or_default();
    let message = error.error_message.trim();
    if let Some(reason) = message.strip_prefix(PERMANENT_ERROR_PREFIX) {
        return Err(JobError::permanent(reason.trim()));
    }
    if error.error_type == PERMANENT_ERROR_TYPE {
        return Err(JobError::permanent(message));
    }
    let kind = match error.error_type.as_str() {
        "" => function_error.unwrap_or("Unhandled"),
        kind => kind,
    };
    Err(JobError::transient(format!(
        "the function failed ({kind}): {message}"
    )))
}

#[async_trait]
impl TargetCaller for LambdaTargets {
    async fn call(
        &self,
        target: &Target,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<Value, JobError> {
        let Target::Lambda(function) = target else {
            return Err(JobError::permanent(format!(
                "not a Lambda target: {target:?}"
            )));
        };
        let _ = timeout; // the attempt's own timeout bounds the call
        let body = serde_json::to_vec(request).expect("a task request is JSON");
        // The SDK retries throttling (`TooManyRequestsException`) itself, with backoff; what
        // is left after that is a transient failure, on the job's own schedule.
        let answer = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|error| {
                let permanent = error
                    .as_service_error()
                    .is_some_and(|e| e.is_request_too_large_exception());
                let reason = format!(
                    "invoking {function}: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(&error)
                );
                match permanent {
                    true => JobError::permanent(reason),
                    false => JobError::transient(reason),
                }
            })?;
        let payload = answer.payload().map_or(&b"null"[..], |p| p.as_ref());
        outcome(answer.function_error(), payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(kind: &str, message: &str) -> Vec<u8> {
        json!({"errorType": kind, "errorMessage": message, "stackTrace": []})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_return_value_is_the_result() {
        assert_eq!(outcome(None, br#"{"w": 2}"#), Ok(json!({"w": 2})));
        assert_eq!(outcome(None, b"null"), Ok(Value::Null));
        assert!(matches!(
            outcome(None, b"<html>"),
            Err(JobError::Permanent(_))
        ));
    }

    #[test]
    fn a_marked_error_fails_for_good_in_any_runtime() {
        let emulator = error("Runtime.HandlerError", "courier:permanent: no such image");
        assert_eq!(
            outcome(Some("Unhandled"), &emulator),
            Err(JobError::permanent("no such image"))
        );
        let aws = error("PermanentError", "no such image");
        assert_eq!(
            outcome(Some("Unhandled"), &aws),
            Err(JobError::permanent("no such image"))
        );
    }

    #[test]
    fn any_other_error_is_transient_and_says_what_it_was() {
        let crashed = error("Runtime.HandlerError", "connection reset");
        assert_eq!(
            outcome(Some("Unhandled"), &crashed),
            Err(JobError::transient(
                "the function failed (Runtime.HandlerError): connection reset"
            ))
        );
        assert!(matches!(
            outcome(Some("Unhandled"), b"not json"),
            Err(JobError::Transient(_))
        ));
    }
}
