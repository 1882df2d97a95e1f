//! Every AWS call a function makes, counted per invocation, for the measured cost per million
//! (`courier-e2e --bin cost`, BENCHMARKS.md). Compiled only with the `metering` feature (the
//! local stack's builds); AWS builds count nothing and print nothing.
//!
//! Calls are counted in the HTTPS client every SDK client of a function shares
//! ([`crate::adapters::https`]), so a retried call counts again, as AWS bills it. At the end
//! of each invocation the function prints one line, `{"courierMeter": {...}}`, with the calls
//! by `service.Operation` and the handler's own duration; the measurement reads these lines
//! back from the function's log and leaves them out of the log bytes it prices.
//!
//! Beside the calls, the units AWS bills them in (`units`): DynamoDB's consumed capacity as the
//! table reports it (every DynamoDB client asks for it in metering builds, with its indexes:
//! [`dynamodb_client`]), SQS sends per started 64 KiB of the request, WebSocket posts per started
//! 32 KiB.
//!
//! And the CPU time the process used during the handler (`cpuMs`; of it in the kernel,
//! `systemCpuMs`): on AWS a function gets a share of a vCPU in proportion to its memory (a
//! whole one at 1769 MB), so the cost tool scales the CPU-bound part of the handler's time to
//! the function's size.

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
    static UNITS: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

    pub fn count(operation: String) {
        *CALLS.lock().unwrap().entry(operation).or_default() += 1;
    }

    pub fn add_units(operation: &str, units: f64) {
        *UNITS
            .lock()
            .unwrap()
            .entry(operation.to_owned())
            .or_default() += units;
    }

    pub fn reset() {
        CALLS.lock().unwrap().clear();
        UNITS.lock().unwrap().clear();
    }

    /// The invocation's line: its calls and their billed units since the last reset, how long
    /// the handler took, and the CPU time it used, in all and in the kernel (null where the
    /// process could not say).
    pub fn report(handler: Duration, cpu: Option<(Duration, Duration)>) {
        let calls = std::mem::take(&mut *CALLS.lock().unwrap());
        let units = std::mem::take(&mut *UNITS.lock().unwrap());
        let line = serde_json::json!({
            super::METER_KEY: {
                "calls": calls,
                "units": units,
                "handlerMs": handler.as_secs_f64() * 1e3,
                "cpuMs": cpu.map(|(all, _)| all.as_secs_f64() * 1e3),
                "systemCpuMs": cpu.map(|(_, system)| system.as_secs_f64() * 1e3),
            }
        });
        println!("{line}");
    }
}

/// SQS bills a request per started 64 KiB of its payload.
pub const SQS_CHUNK: usize = 64 * 1024;
/// API Gateway bills a WebSocket message per started 32 KiB.
pub const WEBSOCKET_CHUNK: usize = 32 * 1024;

/// The billed units of a request whose price goes by its size (none for the others, whose
/// units come from their answer or are one a call).
pub fn sized_units(operation: &str, body_bytes: usize) -> Option<f64> {
    let chunk = if operation.starts_with("sqs.SendMessage") {
        SQS_CHUNK
    } else if operation == "apigatewaymanagement.PostToConnection" {
        WEBSOCKET_CHUNK
    } else {
        return None;
    };
    Some(body_bytes.div_ceil(chunk).max(1) as f64)
}

/// A DynamoDB client over `config`; in metering builds every request asks for the capacity it
/// consumes (table and indexes) and the answer's is counted as the call's units.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let builder = aws_sdk_dynamodb::config::Builder::from(config);
    #[cfg(feature = "metering")]
    let builder = builder.interceptor(capacity::ConsumedCapacity);
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

#[cfg(feature = "metering")]
mod capacity {
    use aws_sdk_dynamodb::operation::{
        batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
        delete_item::{DeleteItemInput, DeleteItemOutput},
        get_item::{GetItemInput, GetItemOutput},
        put_item::{PutItemInput, PutItemOutput},
        query::{QueryInput, QueryOutput},
        update_item::{UpdateItemInput, UpdateItemOutput},
    };
    use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
    use aws_smithy_runtime_api::box_error::BoxError;
    use aws_smithy_runtime_api::client::interceptors::Intercept;
    use aws_smithy_runtime_api::client::interceptors::context::{
        AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    };
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_types::config_bag::ConfigBag;

    #[derive(Debug)]
    pub struct ConsumedCapacity;

    /// Each operation courier calls: its name, whether it writes, its input (and the key
    /// that names the item: its `pk`) and output, and how the output reports capacity.
    macro_rules! operations {
        ($($name:literal, $writes:literal: $input:ty => $output:ty,
            pk $pk:expr, capacity $capacity:expr;)*) => {
            fn ask(input: &mut aws_smithy_runtime_api::client::interceptors::context::Input)
                -> Option<Asked> {
                $(if let Some(input) = input.downcast_mut::<$input>() {
                    input.return_consumed_capacity = Some(ReturnConsumedCapacity::Indexes);
                    let pk: fn(&$input) -> Option<&AttributeValue> = $pk;
                    return Some(Asked {
                        operation: $name,
                        writes: $writes,
                        kind: kind(pk(input)),
                    });
                })*
                None
            }
            fn capacity(output: &aws_smithy_runtime_api::client::interceptors::context::Output)
                -> Vec<Capacity> {
                $(if let Some(output) = output.downcast_ref::<$output>() {
                    let capacity: fn(&$output) -> Vec<Capacity> = $capacity;
                    return capacity(output);
                })*
                Vec::new()
            }
        };
    }

    /// What a request was, kept for its answer.
    #[derive(Debug, Clone)]
    struct Asked {
        operation: &'static str,
        writes: bool,
        /// The item's kind: its `pk` up to the first `#` (`JOB`, `MSG`, `QUOTA`, `RATE`…).
        kind: String,
    }

    impl aws_smithy_types::config_bag::Storable for Asked {
        type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
    }

    fn kind(pk: Option<&AttributeValue>) -> String {
        pk.and_then(|pk| pk.as_s().ok())
            .map(|pk| pk.split('#').next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| "other".to_owned())
    }

    type Capacity = aws_sdk_dynamodb::types::ConsumedCapacity;

    fn one(capacity: Option<&Capacity>) -> Vec<Capacity> {
        capacity.cloned().into_iter().collect()
    }

    operations! {
        "dynamodb.PutItem", true: PutItemInput => PutItemOutput,
            pk |i| i.item.as_ref()?.get("pk"), capacity |o| one(o.consumed_capacity());
        "dynamodb.UpdateItem", true: UpdateItemInput => UpdateItemOutput,
            pk |i| i.key.as_ref()?.get("pk"), capacity |o| one(o.consumed_capacity());
        "dynamodb.DeleteItem", true: DeleteItemInput => DeleteItemOutput,
            pk |i| i.key.as_ref()?.get("pk"), capacity |o| one(o.consumed_capacity());
        "dynamodb.GetItem", false: GetItemInput => GetItemOutput,
            pk |i| i.key.as_ref()?.get("pk"), capacity |o| one(o.consumed_capacity());
        "dynamodb.Query", false: QueryInput => QueryOutput,
            pk |_| None, capacity |o| one(o.consumed_capacity());
        "dynamodb.BatchGetItem", false: BatchGetItemInput => BatchGetItemOutput,
            pk |_| None, capacity |o| o.consumed_capacity().to_vec();
    }

    /// Counts a request's units: by operation (the bill's line), and by what they were spent
    /// on — the item's kind (`dynamodb write JOB`) and the indexes' share (`dynamodb write
    /// index`) — so a feature's writes can be priced as its own line.
    fn count(asked: &Asked, capacity: &[Capacity]) {
        let total: f64 = capacity.iter().filter_map(|c| c.capacity_units()).sum();
        let indexes: f64 = capacity
            .iter()
            .flat_map(|c| c.global_secondary_indexes().into_iter().flatten())
            .filter_map(|(_, c)| c.capacity_units())
            .sum();
        let rw = if asked.writes { "write" } else { "read" };
        super::counting::add_units(asked.operation, total);
        super::counting::add_units(&format!("dynamodb {rw} {}", asked.kind), total - indexes);
        if indexes > 0.0 {
            super::counting::add_units(&format!("dynamodb {rw} index"), indexes);
        }
    }

    impl Intercept for ConsumedCapacity {
        fn name(&self) -> &'static str {
            "courier-consumed-capacity"
        }

        fn modify_before_serialization(
            &self,
            context: &mut BeforeSerializationInterceptorContextMut<'_>,
            _: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            if let Some(asked) = ask(context.input_mut()) {
                cfg.interceptor_state().store_put(asked);
            }
            Ok(())
        }

        /// A refused write (a condition that failed) reports no capacity, yet AWS bills it:
        /// counted as one unit, the least it can be.
        fn read_after_deserialization(
            &self,
            context: &AfterDeserializationInterceptorContextRef<'_>,
            _: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let Some(asked) = cfg.load::<Asked>() else {
                return Ok(());
            };
            match context.output_or_error() {
                Ok(output) => count(asked, &capacity(output)),
                Err(_) => count(asked, &[Capacity::builder().capacity_units(1.0).build()]),
            }
            Ok(())
        }
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
        let body = request.body().bytes().unwrap_or_default();
        let operation = operation(
            request.method(),
            &path,
            request.headers().get("x-amz-target"),
            body,
        );
        if let Some(units) = sized_units(&operation, body.len()) {
            counting::add_units(&operation, units);
        }
        counting::count(operation);
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
    let cpu_before = process_cpu_time();
    let outcome = handling.await;
    let cpu = cpu_before.zip(process_cpu_time()).map(|(before, after)| {
        (
            after.0.saturating_sub(before.0),
            after.1.saturating_sub(before.1),
        )
    });
    counting::report(started.elapsed(), cpu);
    outcome
}

/// The CPU time every thread of this process has used so far, ended ones included: in all
/// (user and system), and in the kernel (system). A function instance handles one invocation
/// at a time, so the difference across a handler is its own.
#[cfg(feature = "metering")]
fn process_cpu_time() -> Option<(std::time::Duration, std::time::Duration)> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given and reads nothing.
    let usage = match unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } {
        // SAFETY: a return of 0 means the struct was filled in.
        0 => unsafe { usage.assume_init() },
        _ => return None,
    };
    let of = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    Some((of(usage.ru_utime) + of(usage.ru_stime), of(usage.ru_stime)))
}

#[cfg(not(feature = "metering"))]
pub fn invocation<F: std::future::Future>(handling: F) -> F {
    handling
}

/// How long a metered queue consumer waits after its last line before it answers. The local
/// emulator files a function's output under an invocation only while it keeps arriving a few
/// milliseconds after the answer; a line still in the pipe then (a batch's gathered metrics
/// record, written last) is filed under the next invocation, and the measurement, which reads
/// the lines by invocation, would count it in the wrong window.
#[cfg(feature = "metering")]
const EMULATOR_OUTPUT_DRAIN: std::time::Duration = std::time::Duration::from_millis(20);

/// [`invocation`] for the SQS-triggered functions, whose last line is their batch's gathered
/// metrics: each invocation's lines stay its own on the local emulator (metered builds only;
/// the pause is not part of the handler time the line reports).
#[cfg(feature = "metering")]
pub async fn batch_invocation<T>(handling: impl std::future::Future<Output = T>) -> T {
    let outcome = invocation(handling).await;
    tokio::time::sleep(EMULATOR_OUTPUT_DRAIN).await;
    outcome
}

#[cfg(not(feature = "metering"))]
pub fn batch_invocation<F: std::future::Future>(handling: F) -> F {
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
