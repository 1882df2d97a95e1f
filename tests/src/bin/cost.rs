//! The measured cost per million requests of each pattern, against the deployed local stack.
//!
//! For each pattern it warms the functions, runs `requests` requests and waits until every one
//! is finished, then reads back what the functions wrote to their CloudWatch Logs during the
//! run: one meter line per invocation (the AWS calls it made and its handler time; local builds
//! only, feature `metering`) and every other line (the log bytes courier would pay for). Those
//! are priced at list prices (`courier_e2e::cost`). Needs `infra/up.sh` first.
//!
//! Each pattern is measured twice: at a **steady load** (the event sources paused while the
//! requests arrive, then resumed: they take the backlog in full batches, as under a load that
//! keeps them full or a batching window that waits for it) and at a **light load** (8 requests
//! in flight, the batches as they come). The callback receiver answers after 100 ms, as a real
//! endpoint would; X-Ray and access logs, which the emulator does not record, are priced from
//! the template's settings.
//!
//!     target/measure/cost [--requests N] [--readme README.md]   (COURIER_PROFILE=measure infra/up.sh
//!     builds it: the shipped code generation, so handler times are what AWS would bill)
//!
//! The door is the stack's (`Door` output): the HTTP API's table is judged against the HTTP
//! API's targets, the lean door's (`infra/up.sh --door FunctionUrl`) against its own.
//! `--readme` rewrites that door's table between the README's `cost-table` (or
//! `cost-table-lean-door`) markers.

use courier_client::frames::{FrameKind, SubmitFrame};
use courier_client::ws::WsClient;
use courier_e2e::cost::{
    Door, FixedMonthly, FunctionUsage, LIST_PRICES, LogClass, MEMORY_SIZES_MB, Observability,
    QueueKind, Run, access_line_bytes, function_memory_mb, item_bytes, parameter_default,
};
use courier_e2e::receiver::{Answer, Receiver};
use courier_e2e::ws::frames_until;
use courier_e2e::{Record, Stack, eventually, eventually_within, unique};
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Requests in flight at once: enough for the queues to batch as they would under load.
const CONCURRENCY: usize = 8;
const FUNCTIONS: [(&str, &str); 4] = [
    ("http-api", "HttpApiFunctionName"),
    ("processor", "ProcessorFunctionName"),
    ("notifier", "NotifierFunctionName"),
    ("websocket", "WebSocketFunctionName"),
];
const QUEUES: [&str; 3] = ["WorkQueueUrl", "OrderedWorkQueueUrl", "CallbackQueueUrl"];
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);
/// How long the callback receiver takes to answer: a real endpoint's, not the local one's 1 ms.
const RECEIVER_LATENCY: Duration = Duration::from_millis(100);
const TEMPLATE: &str = include_str!("../../../template.yaml");

/// How the requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// The queue-triggered functions' event sources paused while the requests arrive, then
    /// resumed: they take the backlog in full batches.
    Steady,
    /// `CONCURRENCY` in flight, the batches as they come.
    Light,
}

/// How many requests warm the functions before a measured run: at a steady load as many as the
/// run, so every instance the run's batches need has started (a notifier instance opens each
/// endpoint secret once, and that KMS call belongs to the instance, not to the requests).
fn warm(load: Load, requests: u64) -> u64 {
    match load {
        Load::Steady => requests,
        Load::Light => 2,
    }
}

/// What `Tracing: Active` records at a steady load: 5% of invocations (beyond the first each
/// second), each counted as a trace of its own — an upper bound, as a consumer that continues
/// its producer's trace adds none.
const ACTIVE_TRACING_SHARE: f64 = 0.05;

/// What the template records beside courier's own lines, at its defaults.
fn observability(template: &str) -> Observability {
    let format_with = |marker: &str| {
        template
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("{\"requestId\"") && line.contains(marker))
            .unwrap_or_else(|| panic!("the template has an access log format with {marker}"))
    };
    let default = |name| {
        parameter_default(template, name)
            .unwrap_or_else(|| panic!("the template's {name} parameter has a default"))
    };
    Observability {
        traced_share: match default("Tracing") {
            "Active" => ACTIVE_TRACING_SHARE,
            _ => 0.0,
        },
        http_access_line: access_line_bytes(format_with("responseLength")),
        websocket_access_line: access_line_bytes(format_with("eventType")),
        access_log_class: match default("AccessLogClass") {
            "STANDARD" => LogClass::Standard,
            _ => LogClass::InfrequentAccess,
        },
    }
}

/// The README's markers around the table of a door.
fn markers(door: Door) -> (&'static str, &'static str) {
    match door {
        Door::HttpApi => (
            "<!-- cost-table:begin (generated by `target/measure/cost --readme README.md`) -->",
            "<!-- cost-table:end -->",
        ),
        Door::FunctionUrl => (
            "<!-- cost-table-lean-door:begin (generated by `target/measure/cost --readme README.md` against `infra/up.sh --door FunctionUrl`) -->",
            "<!-- cost-table-lean-door:end -->",
        ),
    }
}

/// What a pattern's client did, beside what the functions did.
#[derive(Default)]
struct ClientSide {
    api_requests: u64,
    websocket_frames_sent: u64,
}

struct Measurer {
    stack: Stack,
    requests: u64,
    /// What serves the REST routes of the stack measured.
    door: Door,
}

impl Measurer {
    /// Waits until the queues are empty and the functions' logs (since `since`) have stopped
    /// growing: every invocation of the work so far has ended and its lines are in.
    async fn settle(&self, since: i64) {
        // Generous: after the test suite, a callback may still be retrying with backoff.
        for queue in QUEUES {
            self.stack
                .wait_for_queue_idle_within(SETTLE_DEADLINE, queue)
                .await;
        }
        // Lines are written when an invocation ends: the log has stopped growing once two
        // reads a moment apart find the same count.
        let last = std::sync::Mutex::new(None);
        eventually_within(
            SETTLE_DEADLINE,
            "the functions' logs to stop growing",
            || async {
                let mut count = 0;
                for (_, output) in FUNCTIONS {
                    count += self.log_since(output, since).await.len();
                }
                let settled = last.lock().unwrap().replace(count) == Some(count);
                if !settled {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                settled.then_some(())
            },
        )
        .await;
    }

    async fn log_since(&self, output: &str, since: i64) -> Vec<String> {
        self.stack
            .log_events_since(output, since)
            .await
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    /// Runs `drive` (which makes the requests and waits for their outcome) after a warm-up
    /// with `warm`, and reads back what the functions did meanwhile.
    async fn measure<W, D>(
        &self,
        warm: W,
        drive: D,
        sqs_triggered: &[(&str, QueueKind)],
        requests: u64,
    ) -> Run
    where
        W: Future<Output = ()>,
        D: Future<Output = ClientSide>,
    {
        let warming = courier_e2e::now_ms();
        warm.await;
        self.settle(warming).await;
        let started = courier_e2e::now_ms();
        let client = drive.await;
        self.settle(started).await;
        let mut functions = BTreeMap::new();
        for (name, output) in FUNCTIONS {
            let lines = self.log_since(output, started).await;
            let usage = FunctionUsage::from_log(lines.iter().map(String::as_str));
            // A batch's metrics are gathered into one record (README "Metrics"): what
            // CloudWatch would count must be what the units' lines say, value for value.
            let astray = usage.metrics_astray();
            assert!(
                astray.is_empty(),
                "{name}'s metrics count other than its lines: (metric, counted, logged) {astray:?}"
            );
            if usage != FunctionUsage::default() {
                functions.insert(name.to_owned(), usage);
            }
        }
        Run {
            requests,
            api_requests: client.api_requests,
            door: self.door,
            websocket_frames_sent: client.websocket_frames_sent,
            sqs_triggered: sqs_triggered
                .iter()
                .map(|(f, k)| ((*f).to_owned(), *k))
                .collect(),
            functions,
            // A size the template does not say plainly fails the run rather than price it
            // at another.
            memory_mb: FUNCTIONS
                .iter()
                .map(|(name, output)| {
                    let logical_id = output.strip_suffix("Name").expect("…FunctionName");
                    let size = function_memory_mb(TEMPLATE, logical_id)
                        .unwrap_or_else(|| panic!("{logical_id}'s MemorySize in template.yaml"));
                    ((*name).to_owned(), size)
                })
                .collect(),
            observability: observability(TEMPLATE),
        }
    }

    /// The claims of `ids` as they ended: their average size in bytes, and how much of it is
    /// the timeline (`events`) and the list key (`listedAt`).
    async fn claim_sizes(&self, ids: &[String]) -> ClaimSizes {
        let mut sizes = ClaimSizes::default();
        for id in ids {
            let Some(item) = self.stack.item(&format!("JOB#{id}")).await else {
                continue;
            };
            sizes.claims += 1;
            sizes.total += item_bytes(&item);
            for (name, part) in [
                ("events", &mut sizes.timeline),
                ("listedAt", &mut sizes.list_key),
            ] {
                if let Some(value) = item.get(name) {
                    *part += item_bytes(&[(name.to_owned(), value.clone())].into());
                }
            }
        }
        sizes
    }

    /// The median of `to` − `from` (two timestamps each claim of `ids` keeps), in ms, over the
    /// claims that have both: how long each step of the pipeline took.
    async fn median_between(
        &self,
        record: &str,
        ids: &[String],
        from: &str,
        to: &str,
    ) -> Option<f64> {
        let parse = |text: Option<&str>| {
            time::OffsetDateTime::parse(text?, &time::format_description::well_known::Rfc3339).ok()
        };
        let mut spans = Vec::new();
        for id in ids {
            let Some(claim) = self.stack.item(&format!("{record}#{id}")).await.map(Record) else {
                continue;
            };
            if let (Some(a), Some(b)) = (parse(claim.text(from)), parse(claim.text(to))) {
                spans.push((b - a).as_seconds_f64() * 1e3);
            }
        }
        spans.sort_by(f64::total_cmp);
        spans.get(spans.len() / 2).copied()
    }

    /// `requests` POSTs of `body` to `path` (with a fresh `Idempotency-Key` each if asked),
    /// `CONCURRENCY` at a time; the ids the answers name.
    async fn post_many(&self, path: &str, body: &Value, keyed: bool, n: u64) -> Vec<String> {
        futures_util::stream::iter(0..n)
            .map(|_| async move {
                let key = unique("cost");
                let headers: Vec<(&str, &str)> = if keyed {
                    vec![("idempotency-key", key.as_str())]
                } else {
                    vec![]
                };
                let reply = self.stack.post_json(path, body, &headers).await;
                assert_eq!(reply.status, 202, "{reply:?}");
                let json = reply.json();
                json["id"]
                    .as_str()
                    .or(json["messageId"].as_str())
                    .expect("the answer names the work")
                    .to_owned()
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
    }

    async fn wait_for_claims(&self, ids: &[String], done: impl Fn(&Record) -> bool + Copy) {
        futures_util::stream::iter(ids)
            .for_each_concurrent(CONCURRENCY, |id| async move {
                let what = format!("job {id}");
                eventually(&what, || async {
                    let claim = self.stack.item(&format!("JOB#{id}")).await.map(Record)?;
                    done(&claim).then_some(())
                })
                .await
            })
            .await
    }

    /// Makes the requests with `submit`; at a steady load, with the event sources of
    /// `stages` (a function's output key and the queue it reads, in the order work flows)
    /// paused meanwhile, then resumed one after another, each once the one before has emptied
    /// its queue into the next.
    async fn submit_then_release<T>(
        &self,
        load: Load,
        stages: &[(&str, &str)],
        submit: impl Future<Output = T>,
    ) -> T {
        if load == Load::Light {
            return submit.await;
        }
        for (function, _) in stages {
            self.stack
                .set_event_sources_enabled(function, ":sqs:", false)
                .await;
        }
        let submitted = submit.await;
        for (function, queue) in stages {
            self.stack
                .set_event_sources_enabled(function, ":sqs:", true)
                .await;
            self.stack
                .wait_for_queue_idle_within(SETTLE_DEADLINE, queue)
                .await;
        }
        submitted
    }

    async fn fire_and_forget(
        &self,
        load: Load,
        keyed: bool,
        n: u64,
        ids: &mut Vec<String>,
    ) -> ClientSide {
        let body = json!({"type": "echo", "payload": {"n": 1}});
        *ids = self
            .submit_then_release(
                load,
                &[("ProcessorFunctionName", "WorkQueueUrl")],
                self.post_many("/v1/messages", &body, keyed, n),
            )
            .await;
        futures_util::stream::iter(ids.iter())
            .for_each_concurrent(CONCURRENCY, |id| async move {
                self.stack.wait_for_status(id, "SUCCEEDED").await;
            })
            .await;
        ClientSide {
            api_requests: n,
            ..Default::default()
        }
    }

    async fn claim_check(&self, load: Load, n: u64, ids: &mut Vec<String>) -> ClientSide {
        let body = json!({"type": "echo", "payload": {"n": 1}});
        *ids = self
            .submit_then_release(
                load,
                &[("ProcessorFunctionName", "WorkQueueUrl")],
                self.post_many("/v1/jobs", &body, false, n),
            )
            .await;
        self.wait_for_claims(ids, |c| c.status() == "SUCCEEDED")
            .await;
        ClientSide {
            api_requests: n,
            ..Default::default()
        }
    }

    async fn status_polls(&self, ids: &[String]) -> ClientSide {
        futures_util::stream::iter(ids)
            .for_each_concurrent(CONCURRENCY, |id| async move {
                let reply = self.stack.get(&format!("/v1/jobs/{id}")).await;
                assert_eq!(reply.status, 200, "{reply:?}");
            })
            .await;
        ClientSide {
            api_requests: ids.len() as u64,
            ..Default::default()
        }
    }

    async fn callback(
        &self,
        load: Load,
        endpoint: &str,
        n: u64,
        ids: &mut Vec<String>,
    ) -> ClientSide {
        let body =
            json!({"type": "echo", "payload": {"n": 1}, "callback": {"endpointId": endpoint}});
        *ids = self
            .submit_then_release(
                load,
                &[
                    ("ProcessorFunctionName", "WorkQueueUrl"),
                    ("NotifierFunctionName", "CallbackQueueUrl"),
                ],
                self.post_many("/v1/jobs", &body, false, n),
            )
            .await;
        self.wait_for_claims(ids, |c| c.text("callbackState") == Some("DELIVERED"))
            .await;
        ClientSide {
            api_requests: n,
            ..Default::default()
        }
    }

    /// On a connection opened before the run: a connection's own cost is per connection.
    async fn bidirectional(
        &self,
        load: Load,
        ws: &tokio::sync::Mutex<WsClient>,
        n: u64,
        jobs: &mut Vec<String>,
    ) -> ClientSide {
        let mut ws = ws.lock().await;
        let request_ids: Vec<String> = (0..n).map(|_| unique("cost")).collect();
        let ids: Vec<&str> = request_ids.iter().map(String::as_str).collect();
        // Every submit accepted (its job on the ordered queue) before the queue is released.
        let accepted = self
            .submit_then_release(
                load,
                &[("ProcessorFunctionName", "OrderedWorkQueueUrl")],
                async {
                    for request_id in &request_ids {
                        ws.submit(&SubmitFrame::new(request_id, "echo", json!({"n": 1})))
                            .await
                            .expect("submit");
                    }
                    if load == Load::Light {
                        return Vec::new();
                    }
                    frames_until(&mut ws, "every submit accepted", |frames| {
                        frames
                            .iter()
                            .filter(|f| f.kind == FrameKind::Accepted)
                            .count()
                            == ids.len()
                    })
                    .await
                },
            )
            .await;
        let finals = frames_until(&mut ws, "every final frame", |frames| {
            let finished: std::collections::HashSet<&str> = accepted
                .iter()
                .chain(frames)
                .filter(|f| f.is_final())
                .filter_map(|f| f.request_id.as_deref())
                .collect();
            ids.iter().all(|r| finished.contains(r))
        })
        .await;
        let mut seen: Vec<String> = accepted
            .into_iter()
            .chain(finals)
            .filter_map(|f| f.job_id)
            .collect();
        seen.sort();
        seen.dedup();
        *jobs = seen;
        ClientSide {
            websocket_frames_sent: n,
            ..Default::default()
        }
    }
}

struct Row {
    pattern: &'static str,
    /// The targets, $ per million: through the HTTP API, and through the lean door.
    target: Option<f64>,
    lean_target: Option<f64>,
    steady: Run,
    light: Run,
}

/// What a pattern's claims weigh at the end (sums over `claims`).
#[derive(Default)]
struct ClaimSizes {
    claims: u64,
    total: u64,
    timeline: u64,
    list_key: u64,
}

impl ClaimSizes {
    fn line(&self, pattern: &str) -> String {
        let n = self.claims.max(1);
        let (total, timeline, key) = (self.total / n, self.timeline / n, self.list_key / n);
        let without = total - timeline - key;
        format!(
            "| {pattern} | {without} B | {total} B | {timeline} B | {key} B | {} → {} |",
            without.div_ceil(1024),
            total.div_ceil(1024)
        )
    }
}

fn per_request_summary(run: &Run) -> String {
    let mut parts = Vec::new();
    let invocations: BTreeMap<&str, f64> = run
        .functions
        .iter()
        .filter(|(_, f)| f.invocations() > 0)
        .map(|(name, f)| (name.as_str(), f.invocations() as f64 / run.requests as f64))
        .collect();
    for (name, per) in invocations {
        parts.push(format!("{name} ×{per:.2}"));
    }
    let mut calls: BTreeMap<&str, u64> = BTreeMap::new();
    for usage in run.functions.values() {
        for (operation, count) in &usage.calls {
            *calls.entry(operation.as_str()).or_default() += count;
        }
    }
    for (operation, count) in calls {
        parts.push(format!(
            "{operation} {:.2}",
            count as f64 / run.requests as f64
        ));
    }
    let log_bytes: u64 = run.functions.values().map(|f| f.log_bytes).sum();
    parts.push(format!(
        "{:.0} B of logs",
        log_bytes as f64 / run.requests as f64
    ));
    parts.join(" · ")
}

/// Which build measured it (the binary's own profile: `target/<profile>/cost`): the handler
/// times are the shipped code's only from the `measure` build.
fn build_profile() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.parent()?
                .file_name()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .map(|profile| match profile.as_str() {
            "measure" => "`measure` build (the shipped code generation)".to_owned(),
            "local" => "`local` build (unoptimised: its handler times read high)".to_owned(),
            other => format!("`{other}` build"),
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn verdict(total: f64, target: Option<f64>) -> String {
    match target {
        Some(t) if total <= t => format!("≤ {t:.2} ✓"),
        Some(t) => format!("≤ {t:.2} ✗"),
        None => "—".to_owned(),
    }
}

/// A target of the door this run did not go through.
fn other_door(target: Option<f64>) -> String {
    target.map_or("—".to_owned(), |t| {
        format!("≤ {t:.2} (the other door's table)")
    })
}

fn line_items(run: &Run) -> String {
    run.bill(&LIST_PRICES)
        .into_iter()
        .filter(|i| i.dollars_per_million >= 0.005)
        .map(|i| format!("{} {:.2}", i.name, i.dollars_per_million))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn table(rows: &[Row], requests: u64, fixed: &FixedMonthly) -> String {
    let mut out = String::new();
    let seen = rows[0].steady.observability;
    let door = rows[0].steady.door;
    out.push_str(&format!(
        "Measured {} on the local stack {} with the {}, {requests} requests per pattern, priced at us-east-1 list \
         prices. **Steady**: the queue-triggered functions take the requests in full batches (their \
         event sources paused while the requests arrive, then resumed: a load that keeps the \
         batches full); **light**: {CONCURRENCY} in flight, batches as they come. The callback \
         receiver answers in {} ms. Every job is an `echo` job, a type whose result is its only \
         effect (`Effects::ResultOnly`: its start and success are one write); a type with effects \
         outside courier starts with its lease, one write more ($0.62 a million, less the look's \
         read, $0.12). Beside courier's own log lines: X-Ray traces of {:.0}% of \
         invocations, access log lines of {}, as the template's defaults record them.\n\n",
        time::OffsetDateTime::now_utc().date(),
        match door {
            Door::HttpApi => "through the HTTP API (`Door=HttpApi`, the default)",
            Door::FunctionUrl => "through the lean door (`Door=FunctionUrl`)",
        },
        build_profile(),
        RECEIVER_LATENCY.as_millis(),
        seen.traced_share * 100.0,
        match door {
            Door::HttpApi => format!(
                "{} B (HTTP) and {} B (WebSocket)",
                seen.http_access_line, seen.websocket_access_line
            ),
            Door::FunctionUrl => format!(
                "{} B (WebSocket; the lean door writes none for HTTP)",
                seen.websocket_access_line
            ),
        },
    ));
    out.push_str("| pattern | steady: per request (invocations, AWS calls, log bytes) | steady: line items, $ / million | steady, $ / million | **steady, without the features beside** | light, $ / million | target (HTTP API door) | target (lean door) |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        let steady = row.steady.total(&LIST_PRICES);
        let core = row.steady.core_total(&LIST_PRICES);
        let light = row.light.total(&LIST_PRICES);
        out.push_str(&format!(
            "| {} | {} | {} | {steady:.2} | **{core:.2}** | {light:.2} | {} | {} |\n",
            row.pattern,
            per_request_summary(&row.steady),
            line_items(&row.steady),
            match door {
                Door::HttpApi => verdict(core, row.target),
                Door::FunctionUrl => other_door(row.target),
            },
            match door {
                Door::FunctionUrl => verdict(core, row.lean_target),
                Door::HttpApi => other_door(row.lean_target),
            },
        ));
    }
    out.push_str(
        "\nThe features beside (their own lines above, left out of the figure the targets judge): \
         the list index (`ByOwner`: a write unit as each job's entry is made) and the quotas' \
         items (the request counted in its second, the job slot taken and given back; the \
         claim's own share of a give-back rides the claim's writes).\n",
    );
    let with = |change: &dyn Fn(&mut Observability)| -> Vec<String> {
        rows.iter()
            .filter(|row| row.target.is_some())
            .map(|row| {
                let mut run = row.steady.clone();
                change(&mut run.observability);
                format!(
                    "{} +{:.2}",
                    row.pattern,
                    run.total(&LIST_PRICES) - row.steady.total(&LIST_PRICES)
                )
            })
            .collect()
    };
    out.push_str(&format!(
        "\nObservability is a choice (template parameters): `Tracing=Active` adds {}; \
         `AccessLogClass=STANDARD` adds {} ($ per million, steady).\n",
        with(&|o| o.traced_share = ACTIVE_TRACING_SHARE).join(" · "),
        with(&|o| o.access_log_class = LogClass::Standard).join(" · "),
    ));
    out.push_str("\nFixed, by the month, whatever the stack serves: ");
    let lines: Vec<String> = fixed
        .lines(&LIST_PRICES)
        .into_iter()
        .map(|(what, count, dollars)| format!("{count} {what} ${dollars:.2}"))
        .collect();
    out.push_str(&format!(
        "{} — **${:.2} a month** (the template's alarms, dashboard and KMS keys, conditional ones \
         included; the custom metric series this run wrote).\n",
        lines.join(" · "),
        fixed.total(&LIST_PRICES)
    ));
    out
}

fn rewrite_readme(path: &str, table: &str, door: Door) {
    let (begin_marker, end_marker) = markers(door);
    let text = std::fs::read_to_string(path).expect("read the README");
    let begin = text
        .find(begin_marker)
        .expect("the README has the begin marker");
    let end = text
        .find(end_marker)
        .expect("the README has the end marker");
    let rewritten = format!("{}{begin_marker}\n{table}{}", &text[..begin], &text[end..]);
    std::fs::write(path, rewritten).expect("write the README");
}

/// Each function's handler time at each modelled size, from every steady run: the time it
/// waited as measured, its CPU time at the size's share of a vCPU. The template's sizes are
/// chosen from it (BENCHMARKS.md "Memory size, by measurement").
fn memory_table(rows: &[Row]) -> String {
    let mut by_function: BTreeMap<&str, (FunctionUsage, u32)> = BTreeMap::new();
    for run in rows.iter().map(|row| &row.steady) {
        for (name, usage) in &run.functions {
            let (total, _) = by_function
                .entry(name.as_str())
                .or_insert_with(|| (FunctionUsage::default(), run.memory_of(name)));
            total.handlers.extend_from_slice(&usage.handlers);
        }
    }
    let mut out = String::from(
        "Memory size, by measurement (steady runs; an invocation's mean handler time at each size, each rounded up to 1 ms, and its $ per million invocations in GB-seconds):\n\n| function (template size) | invocations | measured: handler · CPU (of it in the kernel) |",
    );
    for size in MEMORY_SIZES_MB {
        out += &format!(" {size} MB |");
    }
    out += "\n|---|---|---|";
    out += &"---|".repeat(MEMORY_SIZES_MB.len());
    for (name, (usage, size)) in by_function {
        let per = |v: f64| v / usage.invocations().max(1) as f64;
        let (cpu, system) = usage.cpu_ms();
        let wall: f64 = usage.handlers.iter().map(|h| h.ms).sum();
        out += &format!(
            "\n| {name} ({size} MB) | {} | {:.1} · {:.2} ({:.2}) ms |",
            usage.invocations(),
            per(wall),
            per(cpu),
            per(system)
        );
        for size in MEMORY_SIZES_MB {
            out += &format!(
                " {:.1} ms · ${:.3} |",
                per(usage.billed_ms_at(size) as f64),
                per(usage.gb_seconds_at(size)) * LIST_PRICES.lambda_gb_second * 1e6
            );
        }
    }
    out + "\n"
}

#[tokio::main]
async fn main() {
    let mut requests: u64 = 100;
    let mut readme = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => {
                requests = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--requests N")
            }
            "--readme" => readme = Some(args.next().expect("--readme PATH")),
            other => panic!("unknown argument {other}; see the file's doc comment"),
        }
    }
    let stack = Stack::load().await;
    let door = Door::from_output(stack.outputs.get("Door").map(String::as_str));
    let measurer = Measurer {
        stack,
        requests,
        door,
    };
    let m = &measurer;
    let n = m.requests;
    // Job events are off by default: the stack's stream is left unread meanwhile (its records
    // wait for it), so the table is the default configuration's. Their price is their own line.
    let job_events = m.stack.outputs.contains_key("JobEventBusName");
    if job_events {
        m.stack
            .set_event_sources_enabled("NotifierFunctionName", "/stream/", false)
            .await;
    }
    let standard = [("processor", QueueKind::Standard)];
    let mut rows = Vec::new();
    let both = [Load::Steady, Load::Light];

    let mut runs = Vec::new();
    let mut messages = Vec::new();
    for load in both {
        let mut warm_ids = Vec::new();
        let run = m
            .measure(
                m.fire_and_forget(load, false, warm(load, n), &mut warm_ids)
                    .map(drop),
                m.fire_and_forget(load, false, n, &mut messages),
                &standard,
                n,
            )
            .await;
        runs.push(run);
    }
    let message_started = m
        .median_between("MSG", &messages, "acceptedAt", "startedAt")
        .await;
    let [steady, light] = <[Run; 2]>::try_from(runs).expect("two loads");
    rows.push(Row {
        pattern: "fire and forget",
        target: Some(2.85),
        lean_target: Some(1.90),
        steady,
        light,
    });

    let mut runs = Vec::new();
    for load in both {
        let (mut warm_ids, mut ids) = (Vec::new(), Vec::new());
        let run = m
            .measure(
                m.fire_and_forget(load, true, warm(load, n), &mut warm_ids)
                    .map(drop),
                m.fire_and_forget(load, true, n, &mut ids),
                &standard,
                n,
            )
            .await;
        runs.push(run);
    }
    let [steady, light] = <[Run; 2]>::try_from(runs).expect("two loads");
    rows.push(Row {
        pattern: "… with `Idempotency-Key`",
        target: None,
        lean_target: None,
        steady,
        light,
    });

    let mut runs = Vec::new();
    let mut ids = Vec::new();
    let mut warm_ids = Vec::new();
    for load in both {
        let run = m
            .measure(
                async {
                    m.claim_check(load, warm(load, n), &mut warm_ids).await;
                },
                m.claim_check(load, n, &mut ids),
                &standard,
                n,
            )
            .await;
        runs.push(run);
    }
    let mut sizes = vec![("claim check", m.claim_sizes(&ids).await)];
    let [steady, light] = <[Run; 2]>::try_from(runs).expect("two loads");
    rows.push(Row {
        pattern: "claim check (excluding polls)",
        target: Some(3.60),
        lean_target: Some(2.60),
        steady,
        light,
    });

    let polls = m
        .measure(
            async {
                m.status_polls(&warm_ids).await;
            },
            m.status_polls(&ids),
            &[],
            n,
        )
        .await;
    rows.push(Row {
        pattern: "… each status poll",
        target: None,
        lean_target: None,
        steady: polls.clone(),
        light: polls,
    });

    let receiver = Receiver::start(vec![], Some(Answer::SlowStatus(RECEIVER_LATENCY, 204))).await;
    let endpoint = m.stack.register_endpoint(&receiver.url).await;
    let callback_functions = [
        ("processor", QueueKind::Standard),
        ("notifier", QueueKind::Standard),
    ];
    let mut runs = Vec::new();
    let mut warm_ids = Vec::new();
    let mut callback_ids = Vec::new();
    for load in both {
        let run = m
            .measure(
                m.callback(load, &endpoint.id, warm(load, n), &mut warm_ids)
                    .map(drop),
                m.callback(load, &endpoint.id, n, &mut callback_ids),
                &callback_functions,
                n,
            )
            .await;
        runs.push(run);
    }
    sizes.push(("callback", m.claim_sizes(&callback_ids).await));
    // The latency the levers must not spoil, at the light load (the last run's claims).
    let started = m
        .median_between("JOB", &callback_ids, "createdAt", "startedAt")
        .await;
    let delivered = m
        .median_between("JOB", &callback_ids, "completedAt", "callbackDeliveredAt")
        .await;
    m.stack
        .delete(&format!("/v1/webhook-endpoints/{}", endpoint.id))
        .await;
    let [steady, light] = <[Run; 2]>::try_from(runs).expect("two loads");
    rows.push(Row {
        pattern: "callback (webhook)",
        target: Some(4.90),
        lean_target: Some(3.90),
        steady,
        light,
    });

    let ordered = [("processor", QueueKind::Fifo)];
    let ws = tokio::sync::Mutex::new(courier_e2e::ws::connect(&m.stack).await);
    let mut runs = Vec::new();
    let mut warm_jobs = Vec::new();
    let mut ws_jobs = Vec::new();
    for load in both {
        let run = m
            .measure(
                m.bidirectional(load, &ws, warm(load, n), &mut warm_jobs)
                    .map(drop),
                m.bidirectional(load, &ws, n, &mut ws_jobs),
                &ordered,
                n,
            )
            .await;
        runs.push(run);
    }
    drop(ws);
    sizes.push(("bidirectional", m.claim_sizes(&ws_jobs).await));
    let [steady, light] = <[Run; 2]>::try_from(runs).expect("two loads");
    rows.push(Row {
        pattern: "bidirectional (submit → accepted → result)",
        target: Some(7.00),
        lean_target: None,
        steady,
        light,
    });

    for row in &rows {
        let mut unpriced = row.steady.unpriced_calls();
        unpriced.extend(row.light.unpriced_calls());
        assert!(
            unpriced.is_empty(),
            "{}: unpriced AWS calls {unpriced:?}",
            row.pattern
        );
    }
    if job_events {
        m.stack
            .set_event_sources_enabled("NotifierFunctionName", "/stream/", true)
            .await;
    }
    let series: std::collections::BTreeSet<&String> = rows
        .iter()
        .flat_map(|r| [&r.steady, &r.light])
        .flat_map(|run| run.functions.values())
        .flat_map(|f| f.metric_series.iter())
        .collect();
    let fixed = FixedMonthly::from_template(TEMPLATE, series.len() as u64, door);
    let table = table(&rows, n, &fixed);
    println!("{table}");
    let ms = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.0} ms"));
    println!(
        "Latency at the light load (medians from the records): a message accepted → started {}; a callback job accepted → started {}, finished → callback delivered {} (the receiver answers in {} ms).\n",
        ms(message_started),
        ms(started),
        ms(delivered),
        RECEIVER_LATENCY.as_millis()
    );
    println!(
        "Claims at the end, on average (write units a write of them costs: without → with the timeline and list key):\n"
    );
    println!(
        "| pattern | without timeline and list key | claim | timeline | list key | write units |"
    );
    println!("|---|---|---|---|---|---|");
    for (pattern, sizes) in &sizes {
        println!("{}", sizes.line(pattern));
    }
    println!();
    println!("{}", memory_table(&rows));
    if let Some(path) = readme {
        rewrite_readme(&path, &table, door);
        println!("(written to {path})");
    }
}
