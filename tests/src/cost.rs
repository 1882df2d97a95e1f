//! The measured bill: what a run of requests made the functions do (their meter lines and log
//! bytes, read back from the local stack's CloudWatch Logs) priced at AWS list prices. The
//! `cost` binary drives the requests; this module is the arithmetic, unit-tested.

use serde_json::Value;
use std::collections::BTreeMap;

/// us-east-1 list prices (checked 2026-11), arm64 functions.
#[derive(Debug, Clone, Copy)]
pub struct Prices {
    /// HTTP API, per request (first 300 M a month).
    pub http_api_request: f64,
    /// WebSocket API, per message in either direction (first billion a month).
    pub websocket_message: f64,
    pub lambda_request: f64,
    /// Lambda arm64, per GB-second.
    pub lambda_gb_second: f64,
    /// The functions' memory (template.yaml `MemorySize`), in GB.
    pub lambda_memory_gb: f64,
    pub sqs_standard_request: f64,
    pub sqs_fifo_request: f64,
    /// DynamoDB on demand, per write request unit (an item up to 1 KB).
    pub dynamodb_write: f64,
    /// DynamoDB on demand, per read request unit (a strongly consistent read up to 4 KB).
    pub dynamodb_read: f64,
    pub kms_request: f64,
    /// EventBridge custom events, per event (an entry up to 64 KB).
    pub eventbridge_event: f64,
    /// CloudWatch Logs ingestion (standard class), per GB.
    pub log_gb: f64,
}

pub const LIST_PRICES: Prices = Prices {
    http_api_request: 1.00e-6,
    websocket_message: 1.00e-6,
    lambda_request: 0.20e-6,
    lambda_gb_second: 0.000_013_333_4,
    lambda_memory_gb: 0.25,
    sqs_standard_request: 0.40e-6,
    sqs_fifo_request: 0.50e-6,
    dynamodb_write: 0.625e-6,
    dynamodb_read: 0.125e-6,
    kms_request: 3.00e-6,
    eventbridge_event: 1.00e-6,
    log_gb: 0.50,
};

/// CloudWatch Logs counts each event as its message plus 26 bytes.
pub const LOG_EVENT_OVERHEAD: u64 = 26;

/// The queue a pattern's SQS-triggered invocations read (the event source mapping's receives
/// and deletes are billed at its price).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Standard,
    Fifo,
}

/// What one function did during a run, from its log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FunctionUsage {
    pub invocations: u64,
    /// Handler time, each invocation rounded up to Lambda's 1 ms billing granularity.
    pub billed_ms: u64,
    /// AWS calls by `service.Operation`.
    pub calls: BTreeMap<String, u64>,
    /// courier's own log lines: events and bytes (meter lines left out: AWS builds print none).
    pub log_events: u64,
    pub log_bytes: u64,
    /// The runtime's START/END/REPORT lines (the template's `SystemLogLevel: WARN` keeps them
    /// out of CloudWatch on AWS; the emulator writes them regardless).
    pub platform_log_bytes: u64,
}

impl FunctionUsage {
    /// Reads one function's log events (their messages).
    pub fn from_log<'a>(messages: impl IntoIterator<Item = &'a str>) -> Self {
        let mut usage = Self::default();
        for message in messages {
            let meter = serde_json::from_str::<Value>(message)
                .ok()
                .and_then(|line| line.get("courierMeter").cloned());
            if let Some(meter) = meter {
                usage.invocations += 1;
                usage.billed_ms +=
                    meter["handlerMs"].as_f64().unwrap_or(0.0).ceil().max(1.0) as u64;
                if let Some(calls) = meter["calls"].as_object() {
                    for (operation, count) in calls {
                        *usage.calls.entry(operation.clone()).or_default() +=
                            count.as_u64().unwrap_or(0);
                    }
                }
            } else if is_platform_line(message) {
                usage.platform_log_bytes += message.len() as u64;
            } else {
                usage.log_events += 1;
                usage.log_bytes += message.len() as u64;
            }
        }
        usage
    }
}

/// Lambda's own lines, in text (`REPORT RequestId: …`) or JSON (`{"type": "platform.report"}`)
/// log format.
fn is_platform_line(message: &str) -> bool {
    ["START RequestId:", "END RequestId:", "REPORT RequestId:"]
        .iter()
        .any(|prefix| message.starts_with(prefix))
        || serde_json::from_str::<Value>(message).is_ok_and(|line| {
            line["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("platform."))
        })
}

/// A whole run of one pattern.
#[derive(Debug, Clone)]
pub struct Run {
    pub requests: u64,
    /// HTTP API requests the client made.
    pub api_requests: u64,
    /// WebSocket frames the client sent (those the functions post are counted as calls).
    pub websocket_frames_sent: u64,
    /// Which functions are SQS-triggered, and the kind of queue they read in this pattern.
    pub sqs_triggered: BTreeMap<String, QueueKind>,
    pub functions: BTreeMap<String, FunctionUsage>,
    /// Entries written to the table's `ByOwner` index (one per claim or endpoint created): a
    /// write DynamoDB bills beside the item's own, which no call shows.
    pub index_writes: u64,
}

/// One priced line of a bill, per million requests.
#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    pub name: &'static str,
    /// Units per request (calls, messages, bytes…), for the table.
    pub per_request: f64,
    pub dollars_per_million: f64,
}

impl Run {
    fn per_request(&self, total: f64) -> f64 {
        total / self.requests as f64
    }

    fn calls(&self, matches: impl Fn(&str) -> bool) -> u64 {
        self.functions
            .values()
            .flat_map(|f| f.calls.iter())
            .filter(|(operation, _)| matches(operation))
            .map(|(_, count)| count)
            .sum()
    }

    /// Every AWS call no line item below prices: a new kind of call must be priced, not lost.
    pub fn unpriced_calls(&self) -> Vec<String> {
        self.functions
            .values()
            .flat_map(|f| f.calls.keys())
            .filter(|operation| !is_priced(operation))
            .cloned()
            .collect()
    }

    /// The bill, line by line, per million requests.
    pub fn bill(&self, prices: &Prices) -> Vec<LineItem> {
        let million = 1e6;
        let mut items = Vec::new();
        let mut item = |name, units: f64, price: f64| {
            let per_request = self.per_request(units);
            items.push(LineItem {
                name,
                per_request,
                dollars_per_million: per_request * price * million,
            });
        };
        item(
            "HTTP API requests",
            self.api_requests as f64,
            prices.http_api_request,
        );
        let posted = self.calls(|o| o == "apigatewaymanagement.PostToConnection");
        item(
            "WebSocket messages",
            (self.websocket_frames_sent + posted) as f64,
            prices.websocket_message,
        );
        let invocations: u64 = self.functions.values().map(|f| f.invocations).sum();
        item(
            "Lambda invocations",
            invocations as f64,
            prices.lambda_request,
        );
        let billed_ms: u64 = self.functions.values().map(|f| f.billed_ms).sum();
        item(
            "Lambda GB-seconds",
            billed_ms as f64 / 1000.0 * prices.lambda_memory_gb,
            prices.lambda_gb_second,
        );
        let sends = |fifo: bool| {
            self.calls(|o| o.starts_with("sqs.") && o.ends_with("@fifo") == fifo) as f64
        };
        // The event source mapping receives a batch and deletes it: two requests per invocation.
        let polls = |kind: QueueKind| {
            self.sqs_triggered
                .iter()
                .filter(|(_, k)| **k == kind)
                .filter_map(|(function, _)| self.functions.get(function))
                .map(|f| 2 * f.invocations)
                .sum::<u64>() as f64
        };
        item(
            "SQS standard requests",
            sends(false) + polls(QueueKind::Standard),
            prices.sqs_standard_request,
        );
        item(
            "SQS FIFO requests",
            sends(true) + polls(QueueKind::Fifo),
            prices.sqs_fifo_request,
        );
        item(
            "DynamoDB writes",
            self.calls(is_dynamodb_write) as f64,
            prices.dynamodb_write,
        );
        item(
            "DynamoDB index writes",
            self.index_writes as f64,
            prices.dynamodb_write,
        );
        item(
            "DynamoDB reads",
            self.calls(is_dynamodb_read) as f64,
            prices.dynamodb_read,
        );
        item(
            "KMS requests",
            self.calls(|o| o.starts_with("kms.")) as f64,
            prices.kms_request,
        );
        // Job state events (JobEvents=enabled) and bus destinations: a call carries one event
        // or more (up to ten); priced at one each, the least it can be.
        item(
            "EventBridge events",
            self.calls(|o| o == "AWSEvents.PutEvents") as f64,
            prices.eventbridge_event,
        );
        let log_bytes: u64 = self
            .functions
            .values()
            .map(|f| f.log_bytes + LOG_EVENT_OVERHEAD * f.log_events)
            .sum();
        item("log bytes", log_bytes as f64, prices.log_gb / 1e9);
        items
    }

    pub fn total(&self, prices: &Prices) -> f64 {
        self.bill(prices)
            .iter()
            .map(|i| i.dollars_per_million)
            .sum()
    }
}

/// An item's size as DynamoDB bills it: each attribute's name and value in bytes (strings and
/// binaries their length, numbers about a byte per two digits plus one, lists and maps 3 bytes
/// plus a byte per element).
pub fn item_bytes(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_bytes(value))
        .sum()
}

fn value_bytes(value: &aws_sdk_dynamodb::types::AttributeValue) -> u64 {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    match value {
        V::S(text) => text.len() as u64,
        V::N(number) => {
            let digits = number.chars().filter(char::is_ascii_digit).count() as u64;
            digits.div_ceil(2) + 1
        }
        V::B(blob) => blob.as_ref().len() as u64,
        V::Bool(_) | V::Null(_) => 1,
        V::L(list) => 3 + list.iter().map(|v| value_bytes(v) + 1).sum::<u64>(),
        V::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() as u64 + value_bytes(v) + 1)
                .sum::<u64>()
        }
        _ => 0,
    }
}

fn is_dynamodb_write(operation: &str) -> bool {
    matches!(
        operation,
        "dynamodb.PutItem" | "dynamodb.UpdateItem" | "dynamodb.DeleteItem"
    )
}

fn is_dynamodb_read(operation: &str) -> bool {
    matches!(operation, "dynamodb.GetItem" | "dynamodb.Query")
}

fn is_priced(operation: &str) -> bool {
    is_dynamodb_write(operation)
        || is_dynamodb_read(operation)
        || operation.starts_with("sqs.")
        || operation.starts_with("kms.")
        || operation == "AWSEvents.PutEvents"
        || operation == "apigatewaymanagement.PostToConnection"
        // Free: a gone connection is deleted once, not per request.
        || operation == "apigatewaymanagement.DeleteConnection"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(calls: Value, ms: f64) -> String {
        serde_json::json!({"courierMeter": {"calls": calls, "handlerMs": ms}}).to_string()
    }

    #[test]
    fn a_log_is_read_into_invocations_calls_and_bytes() {
        let lines = [
            "START RequestId: r Version: $LATEST".to_owned(),
            r#"{"level":"INFO","message":"accepted"}"#.to_owned(),
            meter(
                serde_json::json!({"sqs.SendMessage": 1, "dynamodb.PutItem": 1}),
                2.2,
            ),
            "END RequestId: r".to_owned(),
            r#"{"time":"t","type":"platform.report","record":{}}"#.to_owned(),
            meter(serde_json::json!({"dynamodb.PutItem": 2}), 0.3),
        ];
        let usage = FunctionUsage::from_log(lines.iter().map(String::as_str));
        assert_eq!(usage.invocations, 2);
        assert_eq!(usage.billed_ms, 3 + 1, "each rounded up, at least 1 ms");
        assert_eq!(usage.calls["dynamodb.PutItem"], 3);
        assert_eq!(usage.calls["sqs.SendMessage"], 1);
        assert_eq!(usage.log_events, 1);
        assert_eq!(usage.log_bytes, lines[1].len() as u64);
        assert_eq!(
            usage.platform_log_bytes,
            (lines[0].len() + lines[3].len() + lines[4].len()) as u64
        );
    }

    #[test]
    fn a_run_is_priced_per_million_requests() {
        let api = FunctionUsage {
            invocations: 10,
            billed_ms: 20,
            calls: [("sqs.SendMessage".to_owned(), 10)].into(),
            log_events: 10,
            log_bytes: 1000 - 260,
            platform_log_bytes: 5000,
        };
        let processor = FunctionUsage {
            invocations: 2,
            billed_ms: 10,
            calls: [("dynamodb.UpdateItem".to_owned(), 20)].into(),
            ..Default::default()
        };
        let run = Run {
            requests: 10,
            api_requests: 10,
            websocket_frames_sent: 0,
            sqs_triggered: [("processor".to_owned(), QueueKind::Standard)].into(),
            functions: [
                ("http-api".to_owned(), api),
                ("processor".to_owned(), processor),
            ]
            .into(),
            index_writes: 5,
        };
        let bill: BTreeMap<&str, f64> = run
            .bill(&LIST_PRICES)
            .into_iter()
            .map(|i| (i.name, i.dollars_per_million))
            .collect();
        let close = |name: &str, expected: f64| {
            assert!(
                (bill[name] - expected).abs() < 1e-9,
                "{name}: {} ≠ {expected}",
                bill[name]
            );
        };
        close("HTTP API requests", 1.00);
        close("Lambda invocations", 1.2 * 0.20);
        close(
            "Lambda GB-seconds",
            3.0 / 1000.0 * 0.25 * 0.000_013_333_4 * 1e6,
        );
        // One send each, plus a receive and a delete per processor invocation (0.2 each).
        close("SQS standard requests", 1.4 * 0.40);
        close("SQS FIFO requests", 0.0);
        close("DynamoDB writes", 2.0 * 0.625);
        close("DynamoDB index writes", 0.5 * 0.625);
        close("log bytes", 100.0 * 0.50 / 1e9 * 1e6);
        assert!(run.unpriced_calls().is_empty());
    }

    #[test]
    fn items_are_sized_as_dynamodb_bills_them() {
        use aws_sdk_dynamodb::types::AttributeValue as V;
        let item = std::collections::HashMap::from([
            ("pk".to_owned(), V::S("JOB#1".into())),
            ("attempts".to_owned(), V::N("12".into())),
            (
                "events".to_owned(),
                V::L(vec![V::S("ab".into()), V::S("c".into())]),
            ),
        ]);
        // pk 2 + 5; attempts 8 + 2; events 6 + 3 + (2 + 1) + (1 + 1).
        assert_eq!(item_bytes(&item), 7 + 10 + 14);
    }

    #[test]
    fn a_call_no_line_prices_is_reported() {
        let function = FunctionUsage {
            calls: [
                ("dynamodb.Scan".to_owned(), 1),
                ("sqs.ChangeMessageVisibility".to_owned(), 1),
            ]
            .into(),
            ..Default::default()
        };
        let run = Run {
            requests: 1,
            api_requests: 1,
            websocket_frames_sent: 0,
            sqs_triggered: BTreeMap::new(),
            functions: [("http-api".to_owned(), function)].into(),
            index_writes: 0,
        };
        assert_eq!(run.unpriced_calls(), vec!["dynamodb.Scan".to_owned()]);
    }
}
