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

/// Why an `Invoke` failed, as the job's reason: the error's code only (its message names
/// accounts, roles and ARNs, which are the operator's, in the log line, not the caller's).
fn invoke_failed(
    function: &str,
    error: &aws_sdk_lambda::error::SdkError<
        aws_sdk_lambda::operation::invoke::InvokeError,
        aws_smithy_runtime_api::http::Response,
    >,
) -> JobError {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    tracing::warn!(
        function,
        error = %aws_sdk_lambda::error::DisplayErrorContext(error),
        "a target function could not be invoked"
    );
    let Some(service) = error.as_service_error() else {
        return JobError::transient("the function could not be reached");
    };
    let code = service.code().unwrap_or("an error");
    let reason = format!("the function could not be invoked ({code})");
    if let aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(throttled) =
        service
    {
        let after = throttled
            .retry_after_seconds()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1);
        return JobError::retry_after(reason, Duration::from_secs(after.max(1)));
    }
    // Too large a request or answer is the same on every attempt.
    if service.is_request_too_large_exception() || code == "ResponseSizeTooLarge" {
        return JobError::permanent(reason);
    }
    JobError::transient(reason)
}

/// An unhandled error as every Lambda runtime reports it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FunctionError {
    error_message: String,
    error_type: String,
}

/// The most of a function's error message kept as the job's reason.
const REASON_CHARS: usize = 1000;

/// The largest answer read at all: what a job may keep, and room for the JSON around it.
/// Anything larger fails the job before it is parsed (a target cannot make the processor
/// hold megabytes per job).
fn readable(limit: usize) -> usize {
    limit.saturating_mul(2).max(8 * 1024)
}

fn capped(text: &str) -> String {
    text.chars().take(REASON_CHARS).collect()
}

/// What a function's answer means: its return value is the result; an error whose message
/// starts with [`PERMANENT_ERROR_PREFIX`] (or of type [`PERMANENT_ERROR_TYPE`], as AWS names
/// it) fails the job for good with the rest of the message as its reason; any other error is
/// transient. `limit`: the largest result a job keeps.
pub fn outcome(
    function_error: Option<&str>,
    payload: &[u8],
    limit: usize,
) -> Result<Value, JobError> {
    if payload.len() > readable(limit) {
        return Err(JobError::permanent(format!(
            "the function answered {} bytes, over the {limit}-byte limit of a result",
            payload.len()
        )));
    }
    if function_error.is_none() {
        return serde_json::from_slice(payload)
            .map_err(|e| JobError::permanent(format!("the function's answer is not JSON: {e}")));
    }
    let error: FunctionError = serde_json::from_slice(payload).unwrap_or_default();
    let message = capped(error.error_message.trim());
    let message = message.as_str();
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
    let kind = capped(kind);
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
        // is left after that waits as long as Lambda says, on the job's own schedule.
        let answer = self
            .lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(body))
            .send()
            .await
            .map_err(|error| invoke_failed(function, &error))?;
        let payload = answer.payload().map_or(&b"null"[..], |p| p.as_ref());
        // The largest result any job keeps (a type's own limit is applied after).
        outcome(
            answer.function_error(),
            payload,
            courier_jobs::api::MAX_RESULT_BYTES,
        )
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

    const LIMIT: usize = 64 * 1024;

    #[test]
    fn a_return_value_is_the_result() {
        assert_eq!(outcome(None, br#"{"w": 2}"#, LIMIT), Ok(json!({"w": 2})));
        assert_eq!(outcome(None, b"null", LIMIT), Ok(Value::Null));
        assert!(matches!(
            outcome(None, b"<html>", LIMIT),
            Err(JobError::Permanent(_))
        ));
    }

    /// A target cannot make the processor parse megabytes: what no job could keep is refused
    /// unread, answer or error alike; a long error message is cut.
    #[test]
    fn an_answer_too_large_to_keep_is_refused_before_it_is_read() {
        let huge = format!("[{}0]", "0,".repeat(3 * 1024 * 1024));
        match outcome(None, huge.as_bytes(), LIMIT) {
            Err(JobError::Permanent(reason)) => assert!(reason.contains("over the"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let shouting = error("Runtime.HandlerError", &"x".repeat(300_000));
        assert!(matches!(
            outcome(Some("Unhandled"), &shouting, LIMIT),
            Err(JobError::Permanent(_))
        ));
        let long = error(
            "Runtime.HandlerError",
            &format!("courier:permanent: {}", "y".repeat(5000)),
        );
        match outcome(Some("Unhandled"), &long, LIMIT) {
            Err(JobError::Permanent(reason)) => {
                assert!(reason.len() <= REASON_CHARS, "{}", reason.len())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_marked_error_fails_for_good_in_any_runtime() {
        let emulator = error("Runtime.HandlerError", "courier:permanent: no such image");
        assert_eq!(
            outcome(Some("Unhandled"), &emulator, LIMIT),
            Err(JobError::permanent("no such image"))
        );
        let aws = error("PermanentError", "no such image");
        assert_eq!(
            outcome(Some("Unhandled"), &aws, LIMIT),
            Err(JobError::permanent("no such image"))
        );
    }

    #[test]
    fn any_other_error_is_transient_and_says_what_it_was() {
        let crashed = error("Runtime.HandlerError", "connection reset");
        assert_eq!(
            outcome(Some("Unhandled"), &crashed, LIMIT),
            Err(JobError::transient(
                "the function failed (Runtime.HandlerError): connection reset"
            ))
        );
        assert!(matches!(
            outcome(Some("Unhandled"), b"not json", LIMIT),
            Err(JobError::Transient(_))
        ));
    }
}
