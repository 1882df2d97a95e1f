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
    /// CloudWatch Logs ingestion (Infrequent Access class), per GB.
    pub log_gb_infrequent: f64,
    /// X-Ray, per trace recorded.
    pub xray_trace: f64,
    /// Monthly: a standard-resolution alarm, a dashboard, a KMS key, a custom metric.
    pub alarm_month: f64,
    pub dashboard_month: f64,
    pub kms_key_month: f64,
    pub metric_month: f64,
}

pub const LIST_PRICES: Prices = Prices {
    http_api_request: 1.00e-6,
    websocket_message: 1.00e-6,
    lambda_request: 0.20e-6,
    lambda_gb_second: 0.000_013_333_4,
    sqs_standard_request: 0.40e-6,
    sqs_fifo_request: 0.50e-6,
    dynamodb_write: 0.625e-6,
    dynamodb_read: 0.125e-6,
    kms_request: 3.00e-6,
    eventbridge_event: 1.00e-6,
    log_gb: 0.50,
    log_gb_infrequent: 0.25,
    xray_trace: 5.00e-6,
    alarm_month: 0.10,
    dashboard_month: 3.00,
    kms_key_month: 1.00,
    metric_month: 0.30,
};

/// What a deployment records beside courier's own lines, as its template parameters set it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observability {
    /// The share of invocations X-Ray records a trace of (`Tracing: Active` samples the first
    /// request each second and 5% of the rest: at a steady load, 5%); 0 with tracing off.
    pub traced_share: f64,
    /// One access log line per HTTP request and per WebSocket message, in bytes as CloudWatch
    /// Logs counts them (the line and its 26 bytes of overhead); 0 with access logs off.
    pub http_access_line: u64,
    pub websocket_access_line: u64,
    /// The access log groups' class.
    pub access_log_class: LogClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogClass {
    Standard,
    InfrequentAccess,
}

impl Observability {
    /// Nothing beside courier's own lines (what the emulator records).
    pub const NONE: Self = Self {
        traced_share: 0.0,
        http_access_line: 0,
        websocket_access_line: 0,
        access_log_class: LogClass::Standard,
    };
}

/// Lambda gives a function a share of a vCPU in proportion to its memory: a whole one at
/// 1,769 MB (and more vCPUs above, which one invocation's handler does not use).
pub const ONE_VCPU_MB: u32 = 1769;

/// A function's memory where the run does not say (the template's `Globals`).
pub const DEFAULT_MEMORY_MB: u32 = 256;

/// The memory sizes the cost tool models a function at, to choose one by measurement.
pub const MEMORY_SIZES_MB: [u32; 4] = [128, 256, 512, 1024];

/// CloudWatch Logs counts each event as its message plus 26 bytes.
pub const LOG_EVENT_OVERHEAD: u64 = 26;

/// The queue a pattern's SQS-triggered invocations read (the event source mapping's receives
/// and deletes are billed at its price).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueKind {
    Standard,
    Fifo,
}

/// One invocation's handler, measured on the local machine (which gives it a whole core).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct HandlerTime {
    /// Wall time (`handlerMs`).
    pub ms: f64,
    /// CPU time, user and system (`cpuMs`); of it in the kernel (`systemCpuMs`).
    pub cpu_ms: f64,
    pub system_cpu_ms: f64,
}

impl HandlerTime {
    /// Wall time alone (no CPU reading).
    pub fn wall(ms: f64) -> Self {
        Self {
            ms,
            ..Self::default()
        }
    }
}

/// What one function did during a run, from its log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FunctionUsage {
    /// Each invocation's handler time and the CPU time it used, as the meter line says them.
    pub handlers: Vec<HandlerTime>,
    /// AWS calls by `service.Operation`.
    pub calls: BTreeMap<String, u64>,
    /// The units those calls are billed in, where they are not one a call: DynamoDB's consumed
    /// capacity, SQS sends per 64 KiB, WebSocket posts per 32 KiB.
    pub units: BTreeMap<String, f64>,
    /// courier's own log lines: events and bytes (meter lines left out: AWS builds print none).
    pub log_events: u64,
    pub log_bytes: u64,
    /// The runtime's START/END/REPORT lines (the template's `SystemLogLevel: WARN` keeps them
    /// out of CloudWatch on AWS; the emulator writes them regardless).
    pub platform_log_bytes: u64,
    /// The custom metric series its embedded-metric lines made (namespace, name, dimensions
    /// and their values): CloudWatch bills each by the month.
    pub metric_series: std::collections::BTreeSet<String>,
    /// Per metric, the values CloudWatch would count (every value of every embedded-metric
    /// line, gathered arrays included, under its first dimension set) and the values the units
    /// of work's own lines carry (a line naming its event, `message`, with or without
    /// directives): a batch's gathered records must count each unit's once.
    pub samples_counted: BTreeMap<String, f64>,
    pub samples_logged: BTreeMap<String, f64>,
}

impl FunctionUsage {
    /// The handler time AWS would bill at `memory_mb`: the time the handlers waited, as
    /// measured, and their CPU time at that size's share of a vCPU (the local machine gave them
    /// a whole core: above 1,769 MB they would be no faster); each invocation rounded up to
    /// Lambda's 1 ms, as it is billed.
    pub fn billed_ms_at(&self, memory_mb: u32) -> u64 {
        let slower = (f64::from(ONE_VCPU_MB) / f64::from(memory_mb)).max(1.0);
        self.handlers
            .iter()
            .map(|h| (h.ms + h.cpu_ms * (slower - 1.0)).ceil().max(1.0) as u64)
            .sum()
    }

    /// How many times the function was invoked: one meter line each.
    pub fn invocations(&self) -> u64 {
        self.handlers.len() as u64
    }

    /// The handlers' time as measured (a whole core), each invocation rounded up to 1 ms.
    pub fn billed_ms(&self) -> u64 {
        self.billed_ms_at(ONE_VCPU_MB)
    }

    /// The handlers' CPU time, and the part of it in the kernel.
    pub fn cpu_ms(&self) -> (f64, f64) {
        self.handlers.iter().fold((0.0, 0.0), |(all, system), h| {
            (all + h.cpu_ms, system + h.system_cpu_ms)
        })
    }

    /// [`Self::billed_ms_at`] in GB-seconds.
    pub fn gb_seconds_at(&self, memory_mb: u32) -> f64 {
        self.billed_ms_at(memory_mb) as f64 / 1000.0 * f64::from(memory_mb) / 1024.0
    }

    /// Reads one function's log events (their messages).
    pub fn from_log<'a>(messages: impl IntoIterator<Item = &'a str>) -> Self {
        let mut usage = Self::default();
        for message in messages {
            let meter = serde_json::from_str::<Value>(message)
                .ok()
                .and_then(|line| line.get("courierMeter").cloned());
            if let Some(meter) = meter {
                let ms = |key: &str| meter[key].as_f64().unwrap_or(0.0);
                usage.handlers.push(HandlerTime {
                    ms: ms("handlerMs"),
                    cpu_ms: ms("cpuMs"),
                    system_cpu_ms: ms("systemCpuMs"),
                });
                if let Some(calls) = meter["calls"].as_object() {
                    for (operation, count) in calls {
                        *usage.calls.entry(operation.clone()).or_default() +=
                            count.as_u64().unwrap_or(0);
                    }
                }
                if let Some(units) = meter["units"].as_object() {
                    for (operation, count) in units {
                        *usage.units.entry(operation.clone()).or_default() +=
                            count.as_f64().unwrap_or(0.0);
                    }
                }
            } else if is_platform_line(message) {
                usage.platform_log_bytes += message.len() as u64;
            } else {
                usage.log_events += 1;
                usage.log_bytes += message.len() as u64;
                usage.metric_series.extend(metric_series(message));
                usage.add_samples(message);
            }
        }
        usage
    }

    fn add_samples(&mut self, message: &str) {
        let Ok(line) = serde_json::from_str::<Value>(message) else {
            return;
        };
        for directive in line["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or("");
                let values = match &line[name] {
                    Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
                    one => one.as_f64().unwrap_or(0.0),
                };
                *self.samples_counted.entry(name.to_owned()).or_default() += values;
            }
        }
        if line.get("message").is_some() {
            for name in COUNTED_PER_UNIT {
                if let Some(value) = line[name].as_f64() {
                    *self.samples_logged.entry(name.to_owned()).or_default() += value;
                }
            }
        }
    }

    /// Where the metrics counted differ from the units' own lines: `(metric, counted,
    /// logged)`, for the metrics a unit of work's line carries.
    pub fn metrics_astray(&self) -> Vec<(String, f64, f64)> {
        COUNTED_PER_UNIT
            .iter()
            .filter_map(|name| {
                let counted = self.samples_counted.get(*name).copied().unwrap_or(0.0);
                let logged = self.samples_logged.get(*name).copied().unwrap_or(0.0);
                ((counted - logged).abs() > 1e-6).then(|| ((*name).to_owned(), counted, logged))
            })
            .collect()
    }
}

/// The counts a unit of work's line carries, checked against what its function's metrics count.
const COUNTED_PER_UNIT: [&str; 5] = [
    "Accepted",
    "Processed",
    "Success",
    "CallbackAttempts",
    "CallbackDelivered",
];

/// The metric series an embedded-metric-format line records: one per metric and dimension set.
fn metric_series(message: &str) -> Vec<String> {
    let Ok(line) = serde_json::from_str::<Value>(message) else {
        return Vec::new();
    };
    let mut series = Vec::new();
    for directive in line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let namespace = directive["Namespace"].as_str().unwrap_or("");
        for set in directive["Dimensions"].as_array().into_iter().flatten() {
            let dimensions: Vec<String> = set
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|d| format!("{d}={}", line[d].as_str().unwrap_or("")))
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or("");
                series.push(format!("{namespace}/{name}[{}]", dimensions.join(",")));
            }
        }
    }
    series
}

/// What a stack costs by the month whatever it serves: its alarms, dashboard, KMS keys (counted
/// in the template, conditional ones included) and the custom metric series a run made.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedMonthly {
    pub alarms: u64,
    pub dashboards: u64,
    pub kms_keys: u64,
    pub metric_series: u64,
}

impl FixedMonthly {
    /// The template's resources of each kind, but the other door's (a resource conditioned on
    /// the door not chosen does not exist).
    pub fn from_template(template: &str, metric_series: u64, door: Door) -> Self {
        let other_door = match door {
            Door::HttpApi => "Condition: LeanDoor",
            Door::FunctionUrl => "Condition: ApiGatewayDoor",
        };
        let lines: Vec<&str> = template.lines().map(str::trim).collect();
        let count = |kind: &str| {
            lines
                .windows(2)
                .filter(|pair| pair[0] == format!("Type: {kind}") && pair[1] != other_door)
                .count() as u64
        };
        Self {
            alarms: count("AWS::CloudWatch::Alarm"),
            dashboards: count("AWS::CloudWatch::Dashboard"),
            kms_keys: count("AWS::KMS::Key"),
            metric_series,
        }
    }

    /// Each line: what it is, how many, dollars a month.
    pub fn lines(&self, prices: &Prices) -> Vec<(&'static str, u64, f64)> {
        [
            ("alarms", self.alarms, prices.alarm_month),
            ("dashboard", self.dashboards, prices.dashboard_month),
            ("KMS keys", self.kms_keys, prices.kms_key_month),
            (
                "custom metric series",
                self.metric_series,
                prices.metric_month,
            ),
        ]
        .into_iter()
        .map(|(what, count, each)| (what, count, count as f64 * each))
        .collect()
    }

    pub fn total(&self, prices: &Prices) -> f64 {
        self.lines(prices).iter().map(|(_, _, d)| d).sum()
    }
}

/// A template parameter's default, read off its text (`  Name:` under `Parameters:`, then its
/// `Default:`), unquoted.
pub fn parameter_default<'a>(template: &'a str, name: &str) -> Option<&'a str> {
    let parameters = template.find("\nParameters:\n")?;
    let mut lines = template[parameters..].lines().skip(2);
    let heading = format!("  {name}:");
    lines.find(|line| *line == heading)?;
    lines
        .take_while(|line| line.starts_with("    "))
        .find_map(|line| line.trim().strip_prefix("Default:"))
        .map(|value| value.trim().trim_matches('"'))
}

/// A function's `MemorySize` in the template (its own, a parameter's default it refers to, or
/// the `Globals`'), in MB.
pub fn function_memory_mb(template: &str, logical_id: &str) -> Option<u32> {
    let size = |value: &str| -> Option<u32> {
        let value = value.trim();
        match value.strip_prefix("!Ref ") {
            Some(parameter) => parameter_default(template, parameter.trim())?.parse().ok(),
            None => value.parse().ok(),
        }
    };
    let block = |heading: &str| -> Option<String> {
        let start = template.find(&format!("\n{heading}\n"))? + heading.len() + 2;
        let lines = template[start..]
            .lines()
            .take_while(|line| line.is_empty() || line.starts_with("   "));
        Some(lines.collect::<Vec<_>>().join("\n"))
    };
    let find = |block: String| {
        block
            .lines()
            .find_map(|line| line.trim().strip_prefix("MemorySize:").map(str::to_owned))
    };
    match block(&format!("  {logical_id}:")).and_then(find) {
        Some(own) => size(&own),
        None => size(&find(block("Globals:\n  Function:")?)?),
    }
}

/// An access log line as API Gateway would write it from the template's `Format`, each
/// `$context` variable given a value of typical length; in bytes as CloudWatch Logs counts it.
pub fn access_line_bytes(format: &str) -> u64 {
    let typical = |variable: &str| match variable {
        "requestId" => "Zq3kXg1ZIAMEbXw=",
        "requestTime" => "03/Dec/2026:18:03:08 +0000",
        "routeKey" => "POST /v1/jobs",
        "status" => "202",
        "responseLength" => "120",
        "responseLatency" | "integrationLatency" => "12",
        "connectionId" => "ZQvZ7cdsIAMCJXg=",
        "eventType" => "MESSAGE",
        "identity.sourceIp" => "203.0.113.10",
        v if v.starts_with("authorizer.claims.iss") => {
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI"
        }
        v if v.starts_with("authorizer.claims.sub") => "2f1b0c9e-4d3a-4b5c-8e7f-6a5b4c3d2e1f",
        _ => "-",
    };
    let mut line = String::new();
    let mut rest = format;
    while let Some(at) = rest.find("$context.") {
        line.push_str(&rest[..at]);
        let after = &rest[at + "$context.".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(after.len());
        line.push_str(typical(&after[..end]));
        rest = &after[end..];
    }
    line.push_str(rest);
    line.len() as u64 + LOG_EVENT_OVERHEAD
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

/// What served the REST routes in a run (the template's `Door`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// API Gateway's HTTP API: a charge per request, and its access log line.
    HttpApi,
    /// The lean door, a Lambda function URL: no charge of its own and no access log; the
    /// function's own check of the token is in its measured time.
    FunctionUrl,
}

impl Door {
    /// The door a stack's `Door` output names (a stack from before the output: the HTTP API).
    pub fn from_output(value: Option<&str>) -> Self {
        match value {
            Some("FunctionUrl") => Self::FunctionUrl,
            _ => Self::HttpApi,
        }
    }
}

/// A whole run of one pattern.
#[derive(Debug, Clone)]
pub struct Run {
    pub requests: u64,
    /// HTTP requests the client made (through `door`).
    pub api_requests: u64,
    pub door: Door,
    /// WebSocket frames the client sent (those the functions post are counted as calls).
    pub websocket_frames_sent: u64,
    /// Which functions are SQS-triggered, and the kind of queue they read in this pattern.
    pub sqs_triggered: BTreeMap<String, QueueKind>,
    pub functions: BTreeMap<String, FunctionUsage>,
    /// Each function's memory (template.yaml `MemorySize`); [`DEFAULT_MEMORY_MB`] where absent.
    pub memory_mb: BTreeMap<String, u32>,
    /// Traces and access logs, as the deployment is configured (the emulator records neither).
    pub observability: Observability,
}

/// One priced line of a bill, per million requests.
#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    pub name: &'static str,
    /// A feature's own price, stated beside the pattern's (the list index, the quotas): what
    /// the issue's targets leave out.
    pub feature: bool,
    /// Units per request (calls, messages, bytes…), for the table.
    pub per_request: f64,
    pub dollars_per_million: f64,
}

impl Run {
    /// A function's memory in this deployment.
    pub fn memory_of(&self, function: &str) -> u32 {
        self.memory_mb
            .get(function)
            .copied()
            .unwrap_or(DEFAULT_MEMORY_MB)
    }

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

    /// Units the meter reported under `key` (what they were spent on), over every function.
    fn kind_units(&self, key: &str) -> f64 {
        self.functions
            .values()
            .filter_map(|f| f.units.get(key))
            .sum()
    }

    /// The billed units of the matching calls: those the meter reported, one a call for the
    /// rest (a meter line from before units were reported, or a call whose price is per call).
    fn units(&self, matches: impl Fn(&str) -> bool) -> f64 {
        self.functions
            .values()
            .flat_map(|f| {
                f.calls
                    .iter()
                    .map(move |(operation, count)| (f, operation, count))
            })
            .filter(|(_, operation, _)| matches(operation))
            .map(|(f, operation, count)| f.units.get(operation).copied().unwrap_or(*count as f64))
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
        let mut priced = |name, feature, units: f64, price: f64| {
            let per_request = self.per_request(units);
            items.push(LineItem {
                name,
                feature,
                per_request,
                dollars_per_million: per_request * price * million,
            });
        };
        let mut item = |name, units: f64, price: f64| priced(name, false, units, price);
        // Through the HTTP API only: the lean door's function URL has no price of its own.
        let gateway_requests = match self.door {
            Door::HttpApi => self.api_requests,
            Door::FunctionUrl => 0,
        };
        item(
            "HTTP API requests",
            gateway_requests as f64,
            prices.http_api_request,
        );
        let posted = self.units(|o| o == "apigatewaymanagement.PostToConnection");
        item(
            "WebSocket messages",
            self.websocket_frames_sent as f64 + posted,
            prices.websocket_message,
        );
        let invocations: u64 = self
            .functions
            .values()
            .map(FunctionUsage::invocations)
            .sum();
        item(
            "Lambda invocations",
            invocations as f64,
            prices.lambda_request,
        );
        let gb_seconds: f64 = self
            .functions
            .iter()
            .map(|(name, f)| f.gb_seconds_at(self.memory_of(name)))
            .sum();
        item("Lambda GB-seconds", gb_seconds, prices.lambda_gb_second);
        // Sends per 64 KiB; every other SQS call is one request.
        let sqs =
            |fifo: bool| self.units(|o| o.starts_with("sqs.") && o.ends_with("@fifo") == fifo);
        // The event source mapping receives a batch and deletes it: two requests per invocation.
        let polls = |kind: QueueKind| {
            self.sqs_triggered
                .iter()
                .filter(|(_, k)| **k == kind)
                .filter_map(|(function, _)| self.functions.get(function))
                .map(|f| 2 * f.invocations())
                .sum::<u64>() as f64
        };
        item(
            "SQS standard requests",
            sqs(false) + polls(QueueKind::Standard),
            prices.sqs_standard_request,
        );
        item(
            "SQS FIFO requests",
            sqs(true) + polls(QueueKind::Fifo),
            prices.sqs_fifo_request,
        );
        // Write units per started KB of the larger of the item before and after, plus its
        // index entries' (as the table reports consumed capacity); a refused write counts one.
        // The quotas' own items and the list index are features, each its own line.
        let quota_writes =
            self.kind_units("dynamodb write QUOTA") + self.kind_units("dynamodb write RATE");
        let index_writes = self.kind_units("dynamodb write index");
        item(
            "DynamoDB write units",
            self.units(is_dynamodb_write) - quota_writes - index_writes,
            prices.dynamodb_write,
        );
        // Read units per started 4 KB, half for an eventually consistent read.
        item(
            "DynamoDB read units",
            self.units(is_dynamodb_read),
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
        let seen = &self.observability;
        item(
            "X-Ray traces",
            invocations as f64 * seen.traced_share,
            prices.xray_trace,
        );
        let access_log_bytes = gateway_requests * seen.http_access_line
            + self.websocket_frames_sent * seen.websocket_access_line;
        let access_log_gb = match seen.access_log_class {
            LogClass::Standard => prices.log_gb,
            LogClass::InfrequentAccess => prices.log_gb_infrequent,
        };
        item("access logs", access_log_bytes as f64, access_log_gb / 1e9);
        priced(
            "list index writes",
            true,
            index_writes,
            prices.dynamodb_write,
        );
        priced("quota writes", true, quota_writes, prices.dynamodb_write);
        items
    }

    /// The pattern's price without the features stated beside it.
    pub fn core_total(&self, prices: &Prices) -> f64 {
        self.bill(prices)
            .iter()
            .filter(|i| !i.feature)
            .map(|i| i.dollars_per_million)
            .sum()
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
    matches!(
        operation,
        "dynamodb.GetItem" | "dynamodb.Query" | "dynamodb.BatchGetItem"
    )
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
        assert_eq!(usage.invocations(), 2);
        assert_eq!(usage.billed_ms(), 3 + 1, "each rounded up, at least 1 ms");
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
            handlers: vec![HandlerTime::wall(2.0); 10],
            calls: [("sqs.SendMessage".to_owned(), 10)].into(),
            log_events: 10,
            log_bytes: 1000 - 260,
            platform_log_bytes: 5000,
            ..Default::default()
        };
        // 20 updates, 25 write units between them (some items over 1 KB); 5 reads with no
        // units reported count one each.
        let processor = FunctionUsage {
            handlers: vec![HandlerTime::wall(5.0); 2],
            calls: [
                ("dynamodb.UpdateItem".to_owned(), 20),
                ("dynamodb.GetItem".to_owned(), 5),
                ("sqs.SendMessage".to_owned(), 2),
            ]
            .into(),
            units: [
                ("dynamodb.UpdateItem".to_owned(), 25.0),
                ("dynamodb write JOB".to_owned(), 20.0),
                ("dynamodb write QUOTA".to_owned(), 4.0),
                ("dynamodb write index".to_owned(), 1.0),
                ("sqs.SendMessage".to_owned(), 3.0),
            ]
            .into(),
            ..Default::default()
        };
        let run = Run {
            requests: 10,
            api_requests: 10,
            door: Door::HttpApi,
            websocket_frames_sent: 0,
            sqs_triggered: [("processor".to_owned(), QueueKind::Standard)].into(),
            functions: [
                ("http-api".to_owned(), api),
                ("processor".to_owned(), processor),
            ]
            .into(),
            memory_mb: BTreeMap::new(),
            observability: Observability {
                traced_share: 0.05,
                http_access_line: 300,
                websocket_access_line: 250,
                access_log_class: LogClass::InfrequentAccess,
            },
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
        // One send each from the door, the processor's two sends one of them over 64 KiB (3
        // units), plus a receive and a delete per processor invocation (0.2 each).
        close("SQS standard requests", (1.0 + 0.3 + 0.4) * 0.40);
        close("SQS FIFO requests", 0.0);
        // 25 units: 4 on the quotas' items and 1 on the list index are features' lines.
        close("DynamoDB write units", 2.0 * 0.625);
        close("quota writes", 0.4 * 0.625);
        close("list index writes", 0.1 * 0.625);
        assert!(
            (run.total(&LIST_PRICES) - run.core_total(&LIST_PRICES) - 0.5 * 0.625).abs() < 1e-9,
            "the pattern's price leaves the features out"
        );
        close("DynamoDB read units", 0.5 * 0.125);
        close("log bytes", 100.0 * 0.50 / 1e9 * 1e6);
        // 12 invocations, 5% of them traced: 0.06 traces a request at $5 a million.
        close("X-Ray traces", 0.06 * 5.0);
        close("access logs", 300.0 * 0.25 / 1e9 * 1e6);
        assert!(run.unpriced_calls().is_empty());

        // The same run through the lean door: no gateway charge, no access log line.
        let lean = Run {
            door: Door::FunctionUrl,
            ..run.clone()
        };
        let saved = run.total(&LIST_PRICES) - lean.total(&LIST_PRICES);
        assert!(
            (saved - 1.00 - 300.0 * 0.25 / 1e9 * 1e6).abs() < 1e-9,
            "{saved}"
        );
    }

    #[test]
    fn cpu_time_is_billed_at_the_functions_share_of_a_vcpu() {
        let usage = FunctionUsage::from_log([
            r#"{"courierMeter": {"calls": {}, "handlerMs": 10.2, "cpuMs": 1.5, "systemCpuMs": 0.5}}"#,
            r#"{"courierMeter": {"calls": {}, "handlerMs": 4.5, "cpuMs": 0.5}}"#,
        ]);
        assert_eq!(usage.billed_ms(), 11 + 5);
        assert_eq!(usage.cpu_ms(), (2.0, 0.5));
        // A whole vCPU or more: as measured; less: the CPU part stretched by 1769 / size,
        // each invocation rounded up on its own (10.2 + 1.5 × 5.91 → 20, 4.5 + 0.5 × 5.91 → 8).
        assert_eq!(usage.billed_ms_at(1769), 16);
        assert_eq!(usage.billed_ms_at(3008), 16);
        assert_eq!(usage.billed_ms_at(256), 20 + 8);
        assert_eq!(usage.billed_ms_at(128), 30 + 11);
        let gb_s = usage.gb_seconds_at(128);
        assert!((gb_s - 41.0 / 1000.0 * 0.125).abs() < 1e-12, "{gb_s}");
    }

    #[test]
    fn a_functions_memory_is_its_own_its_parameters_or_the_globals() {
        let template = "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Big:\n    Type: Number\n    Default: 512\n\n\
            Globals:\n  Function:\n    Runtime: provided.al2023\n    MemorySize: 256\n\n\
            Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: 128\n\
            \x20 B:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: !Ref Big\n\
            \x20 C:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: bootstrap\n";
        assert_eq!(function_memory_mb(template, "A"), Some(128));
        assert_eq!(function_memory_mb(template, "B"), Some(512));
        assert_eq!(function_memory_mb(template, "C"), Some(256));
        let ours = include_str!("../../template.yaml");
        for function in [
            "HttpApiFunction",
            "ProcessorFunction",
            "NotifierFunction",
            "WebSocketFunction",
        ] {
            assert!(function_memory_mb(ours, function).is_some(), "{function}");
        }
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
            door: Door::HttpApi,
            websocket_frames_sent: 0,
            sqs_triggered: BTreeMap::new(),
            functions: [("http-api".to_owned(), function)].into(),
            memory_mb: BTreeMap::new(),
            observability: Observability::NONE,
        };
        assert_eq!(run.unpriced_calls(), vec!["dynamodb.Scan".to_owned()]);
    }

    #[test]
    fn meter_lines_carry_billed_units_and_metric_lines_their_series() {
        let lines = [
            serde_json::json!({"courierMeter": {
                "calls": {"dynamodb.PutItem": 2},
                "units": {"dynamodb.PutItem": 3.0},
                "handlerMs": 1.0}})
            .to_string(),
            serde_json::json!({
                "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{
                    "Namespace": "Courier/s",
                    "Dimensions": [["JobType"], []],
                    "Metrics": [{"Name": "JobsSucceeded"}, {"Name": "JobDuration"}]}]},
                "JobType": "echo", "JobsSucceeded": 1, "JobDuration": 3})
            .to_string(),
        ];
        let usage = FunctionUsage::from_log(lines.iter().map(String::as_str));
        assert_eq!(usage.units["dynamodb.PutItem"], 3.0);
        assert_eq!(
            usage.metric_series.iter().cloned().collect::<Vec<_>>(),
            [
                "Courier/s/JobDuration[JobType=echo]",
                "Courier/s/JobDuration[]",
                "Courier/s/JobsSucceeded[JobType=echo]",
                "Courier/s/JobsSucceeded[]",
            ]
        );
    }

    #[test]
    fn a_batchs_gathered_metrics_are_checked_against_its_units_lines() {
        let aws = |metrics: Value| {
            serde_json::json!({"Timestamp": 1, "CloudWatchMetrics": [{
                "Namespace": "Courier/s", "Dimensions": [["Pattern"]], "Metrics": metrics}]})
        };
        let processed = serde_json::json!([{"Name": "Processed", "Unit": "Count"}]);
        let first = serde_json::json!({"_aws": aws(processed.clone()), "message": "job succeeded",
            "Pattern": "callback", "Processed": 1.0});
        let later = serde_json::json!({"message": "job succeeded", "Pattern": "callback",
            "Processed": 1.0});
        let gathered = serde_json::json!({"_aws": aws(processed), "Pattern": "callback",
            "Processed": [1.0, 1.0]});
        let lines = |lines: &[&Value]| -> FunctionUsage {
            let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
            FunctionUsage::from_log(lines.iter().map(String::as_str))
        };
        let whole = lines(&[&first, &later, &later, &gathered]);
        assert_eq!(whole.samples_counted["Processed"], 3.0);
        assert!(whole.metrics_astray().is_empty());
        let lost = lines(&[&first, &later, &later]);
        assert_eq!(
            lost.metrics_astray(),
            vec![("Processed".to_owned(), 1.0, 3.0)]
        );
    }

    #[test]
    fn a_parameter_default_is_read_off_the_template() {
        let template = "Transform: x\nParameters:\n  Tracing:\n    Type: String\n    Default: PassThrough\n  Other:\n    Default: \"x\"\n  Bare:\n    Type: String\nResources:\n";
        assert_eq!(parameter_default(template, "Tracing"), Some("PassThrough"));
        assert_eq!(parameter_default(template, "Other"), Some("x"));
        assert_eq!(parameter_default(template, "Bare"), None);
        assert_eq!(parameter_default(template, "Missing"), None);
    }

    #[test]
    fn an_access_line_is_rendered_from_its_format() {
        let format = r#"{"requestId":"$context.requestId","status":"$context.status","principal":"$context.authorizer.claims.iss $context.authorizer.claims.sub","x":"$context.unknownThing"}"#;
        let line = r#"{"requestId":"Zq3kXg1ZIAMEbXw=","status":"202","principal":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI 2f1b0c9e-4d3a-4b5c-8e7f-6a5b4c3d2e1f","x":"-"}"#;
        assert_eq!(access_line_bytes(format), line.len() as u64 + 26);
    }

    #[test]
    fn fixed_monthly_costs_count_the_template_and_the_series() {
        let template = "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n  B:\n    Type: AWS::CloudWatch::Alarm\n  K:\n    Type: AWS::KMS::Key\n  D:\n    Type: AWS::CloudWatch::Dashboard\n  Ka:\n    Type: AWS::KMS::Alias\n";
        let fixed = FixedMonthly::from_template(template, 10, Door::HttpApi);
        assert_eq!(
            fixed,
            FixedMonthly {
                alarms: 2,
                dashboards: 1,
                kms_keys: 1,
                metric_series: 10
            }
        );
        assert!((fixed.total(&LIST_PRICES) - (0.20 + 3.00 + 1.00 + 3.00)).abs() < 1e-9);
        // Each door's alarm exists only through that door.
        let doors = "  G:\n    Type: AWS::CloudWatch::Alarm\n    Condition: ApiGatewayDoor\n  U:\n    Type: AWS::CloudWatch::Alarm\n    Condition: LeanDoor\n  V:\n    Type: AWS::CloudWatch::Alarm\n    Condition: HasAlarmEmail\n";
        for door in [Door::HttpApi, Door::FunctionUrl] {
            assert_eq!(
                FixedMonthly::from_template(doors, 0, door).alarms,
                2,
                "{door:?}"
            );
        }
    }
}
