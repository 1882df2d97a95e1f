//! Every AWS call a function makes, counted per invocation, for the measured cost per million
//! (`courier-e2e --bin cost`, BENCHMARKS.md). Compiled only with the `metering` feature (the
//! local stack's builds); AWS builds count nothing and print nothing.
//!
//! Calls are counted in the HTTPS client every SDK client of a function shares
//! ([`crate::adapters::https`]), so a retried call counts again, as AWS bills it. At the end
//! of each invocation the function prints one line, `{"courierMeter": {...}}`, with the calls
//! by `service.Operation` and the handler's own duration; the measurement reads these lines
//! back from the function's log and leaves them out of the log bytes it prices.

/// The key of the line each invocation prints.
pub const METER_KEY: &str = "courierMeter";

/// The `service.Operation` an SDK request is, from its `X-Amz-Target` (the JSON protocols of
/// DynamoDB, SQS and KMS) or its path (the API Gateway Management API's REST routes). An SQS
/// call on a FIFO queue (priced higher) is marked `@fifo`, from the queue URL in its body.
pub fn operation(method: &str, path: &str, target: Option<&str>, body: &[u8]) -> String {
    if let Some((prefix, operation)) = target.and_then(|t| t.split_once('.')) {
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "TrentService" => "kms",
            other => other,
        };
        let on_fifo = service == "sqs"
            && serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|b| Some(b.get("QueueUrl")?.as_str()?.ends_with(".fifo")))
                .unwrap_or(false);
        return format!(
            "{service}.{operation}{}",
            if on_fifo { "@fifo" } else { "" }
        );
    }
    if path.contains("/@connections/") {
        let operation = match method {
            "POST" => "PostToConnection",
            "DELETE" => "DeleteConnection",
            _ => "GetConnection",
        };
        return format!("apigatewaymanagement.{operation}");
    }
    format!("unknown.{method} {path}")
}

#[cfg(feature = "metering")]
mod counting {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::Duration;

    static CALLS: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());

    pub fn count(operation: String) {
        *CALLS.lock().unwrap().entry(operation).or_default() += 1;
    }

    pub fn reset() {
        CALLS.lock().unwrap().clear();
    }

    /// The invocation's line: its calls since the last reset and how long the handler took.
    pub fn report(handler: Duration) {
        let calls = std::mem::take(&mut *CALLS.lock().unwrap());
        let line = serde_json::json!({
            super::METER_KEY: {
                "calls": calls,
                "handlerMs": handler.as_secs_f64() * 1e3,
            }
        });
        println!("{line}");
    }
}

/// Counts one SDK request (a no-op without the `metering` feature).
pub fn count_request(request: &aws_smithy_runtime_api::client::orchestrator::HttpRequest) {
    #[cfg(feature = "metering")]
    {
        let path = request
            .uri()
            .parse::<http::Uri>()
            .map(|uri| uri.path().to_owned())
            .unwrap_or_default();
        counting::count(operation(
            request.method(),
            &path,
            request.headers().get("x-amz-target"),
            request.body().bytes().unwrap_or_default(),
        ));
    }
    #[cfg(not(feature = "metering"))]
    let _ = request;
}

/// One invocation's handling, metered: counting starts afresh (one invocation at a time per
/// instance, so anything counted before is not its own) and the line is printed at its end.
/// Without the `metering` feature, the future itself.
#[cfg(feature = "metering")]
pub async fn invocation<T>(handling: impl std::future::Future<Output = T>) -> T {
    counting::reset();
    let started = std::time::Instant::now();
    let outcome = handling.await;
    counting::report(started.elapsed());
    outcome
}

#[cfg(not(feature = "metering"))]
pub fn invocation<F: std::future::Future>(handling: F) -> F {
    handling
}

/// The HTTP function's router with every request metered as one invocation.
#[cfg(feature = "metering")]
pub fn router(app: axum::Router) -> axum::Router {
    app.layer(axum::middleware::from_fn(
        |request: axum::extract::Request, next: axum::middleware::Next| {
            invocation(next.run(request))
        },
    ))
}

#[cfg(not(feature = "metering"))]
pub fn router(app: axum::Router) -> axum::Router {
    app
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_is_named_by_its_target_or_its_route() {
        let standard = br#"{"QueueUrl":"http://q/000000000000/work","MessageBody":"x.fifo"}"#;
        let fifo = br#"{"QueueUrl":"http://q/000000000000/ordered.fifo","MessageBody":"{}"}"#;
        /// method, path, X-Amz-Target, body, what it is called
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a [u8], &'a str);
        let cases: [Case; 7] = [
            (
                "POST",
                "/",
                Some("DynamoDB_20120810.PutItem"),
                b"{}",
                "dynamodb.PutItem",
            ),
            (
                "POST",
                "/",
                Some("AmazonSQS.SendMessage"),
                standard,
                "sqs.SendMessage",
            ),
            (
                "POST",
                "/",
                Some("AmazonSQS.SendMessage"),
                fifo,
                "sqs.SendMessage@fifo",
            ),
            (
                "POST",
                "/",
                Some("TrentService.Decrypt"),
                b"{}",
                "kms.Decrypt",
            ),
            (
                "POST",
                "/local/@connections/abc%3D",
                None,
                b"{}",
                "apigatewaymanagement.PostToConnection",
            ),
            (
                "DELETE",
                "/@connections/abc",
                None,
                b"",
                "apigatewaymanagement.DeleteConnection",
            ),
            ("GET", "/elsewhere", None, b"", "unknown.GET /elsewhere"),
        ];
        for (method, path, target, body, expected) in cases {
            assert_eq!(
                operation(method, path, target, body),
                expected,
                "{method} {path}"
            );
        }
    }
}
