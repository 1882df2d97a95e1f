//! Operations, end to end: the metrics and logs the functions write, read back from the
//! emulator's CloudWatch Logs, and the operator's dead-letter redrive.

use courier_e2e::{
    Stack, courier_dlq_until_listed, eventually, run_courier, run_courier_with, unique,
};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Checks an EMF record against the specification: every metric a directive names is a number
/// at the root, every dimension a string, and the namespace is the stack's own.
fn assert_well_formed_emf(record: &Value, stack_name: &str) {
    let aws = &record["_aws"];
    assert!(aws["Timestamp"].as_i64().is_some(), "{record}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty(), "{record}");
    for directive in directives {
        assert_eq!(
            directive["Namespace"],
            format!("Courier/{stack_name}"),
            "{record}"
        );
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            for name in set.as_array().expect("a dimension set") {
                let name = name.as_str().unwrap();
                assert!(record[name].is_string(), "dimension {name} in {record}");
            }
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().unwrap();
            // A number, or the numbers of a batch's units gathered (at most 100: EMF's limit).
            let gathered = record[name].as_array().is_some_and(|values| {
                (2..=100).contains(&values.len()) && values.iter().all(Value::is_number)
            });
            assert!(
                record[name].is_number() || gathered,
                "metric {name} in {record}"
            );
            assert!(
                matches!(
                    metric["Unit"].as_str(),
                    Some("Count" | "Milliseconds" | "None")
                ),
                "{record}"
            );
        }
    }
}

/// The lines in a function's log about units of work whose correlation id starts with
/// `prefix`: each carries its metric values, as an EMF record (the first of its series in an
/// invocation) or as a bare line whose values a gathered record counts (a later one in a batch:
/// README "Metrics"). Every EMF record the function wrote since `since` is checked as it is
/// read, gathered ones included.
async fn metrics_for(stack: &Stack, function: &str, prefix: &str, since: i64) -> Vec<Value> {
    let lines: Vec<Value> = stack
        .log_events_since(function, since)
        .await
        .iter()
        .filter_map(|event| event.json())
        .collect();
    for record in lines.iter().filter(|line| line.get("_aws").is_some()) {
        assert_well_formed_emf(record, &stack.outputs["StackName"]);
    }
    lines
        .into_iter()
        .filter(|line| {
            line["correlationId"]
                .as_str()
                .is_some_and(|id| id.starts_with(prefix))
        })
        .collect()
}

fn sum(records: &[Value], metric: &str, dimensions: &[(&str, &str)]) -> f64 {
    records
        .iter()
        .filter(|r| dimensions.iter().all(|(name, value)| r[*name] == *value))
        .filter_map(|r| r[metric].as_f64())
        .sum()
}

#[tokio::test]
async fn emf_metrics_count_a_known_sequence_of_requests() {
    let stack = Stack::load().await;
    let since = courier_e2e::now_ms();
    let prefix = unique("emf");
    let mut ids = Vec::new();
    // Five accepted: four that succeed, one that fails permanently (dead-lettered at once).
    for i in 0..5 {
        let body = if i == 4 {
            json!({"type": "fail", "payload": {"reason": "metrics test"}})
        } else {
            json!({"type": "echo", "payload": {"i": i}})
        };
        let correlation_id = format!("{prefix}-{i}");
        let reply = stack
            .post_json(
                "/v1/messages",
                &body,
                &[("x-correlation-id", &correlation_id)],
            )
            .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        ids.push(reply.json()["messageId"].as_str().unwrap().to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        let status = if i == 4 { "FAILED" } else { "SUCCEEDED" };
        stack.wait_for_status(id, status).await;
    }

    let accepted = eventually("five Accepted records", || async {
        let records = metrics_for(&stack, "HttpApiFunctionName", &prefix, since).await;
        (sum(&records, "Accepted", &[]) >= 5.0).then_some(records)
    })
    .await;
    assert_eq!(
        sum(&accepted, "Accepted", &[("Pattern", "fire-and-forget")]),
        5.0
    );

    let processed = eventually("five Processed records", || async {
        let records = metrics_for(&stack, "ProcessorFunctionName", &prefix, since).await;
        (sum(&records, "Processed", &[]) >= 5.0).then_some(records)
    })
    .await;
    // What CloudWatch counts covers them: every `Processed` value of the embedded-metric
    // records since the test began, gathered arrays included (other tests' work shares the
    // window, so at least; `target/local/cost`, alone on the stack, checks it value for value).
    eventually("the records to count five Processed", || async {
        let counted: f64 = stack
            .log_events_since("ProcessorFunctionName", since)
            .await
            .iter()
            .filter_map(|event| event.json())
            .filter(|line| line.get("_aws").is_some())
            .map(|line| match &line["Processed"] {
                Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
                one => one.as_f64().unwrap_or(0.0),
            })
            .sum();
        (counted >= 5.0).then_some(())
    })
    .await;
    let pattern = ("Pattern", "fire-and-forget");
    assert_eq!(
        sum(
            &processed,
            "Processed",
            &[pattern, ("Outcome", "succeeded")]
        ),
        4.0
    );
    assert_eq!(
        sum(&processed, "Processed", &[pattern, ("Outcome", "failed")]),
        1.0
    );
    assert_eq!(sum(&processed, "DeadLettered", &[("Queue", "work")]), 1.0);
    // The same, per job type, with each type's success rate as the average of `Success`.
    assert_eq!(
        sum(
            &processed,
            "Processed",
            &[("JobType", "echo"), ("Outcome", "succeeded")]
        ),
        4.0
    );
    assert_eq!(sum(&processed, "Success", &[("JobType", "echo")]), 4.0);
    assert_eq!(sum(&processed, "Success", &[("JobType", "fail")]), 0.0);
    assert_eq!(
        processed
            .iter()
            .filter(|r| r["JobType"] == "fail" && r["Success"].is_number())
            .count(),
        1
    );
    // Every finished message reports its processing time and its latency since acceptance.
    let finished: Vec<&Value> = processed
        .iter()
        .filter(|r| r["Processed"].is_number())
        .collect();
    assert_eq!(finished.len(), 5);
    for record in finished {
        assert!(record["ProcessingDuration"].as_f64().unwrap() >= 0.0);
        let latency = record["EndToEndLatency"].as_f64().unwrap();
        assert!(latency > 0.0 && latency < 120_000.0, "{record}");
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_carries_its_correlation_id() {
    let stack = Stack::load().await;
    let correlation_id = unique("trace");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "sleep", "payload": {"ms": 300}}),
            &[("x-correlation-id", &correlation_id)],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let job_id = reply.json()["id"].as_str().unwrap().to_owned();
    stack.wait_for_job(&job_id).await;

    // The HTTP API function handles one request per invocation: every line courier wrote
    // during it must name the request's correlation id.
    let streams: Vec<String> = eventually("the request's log lines", || async {
        let events = stack
            .log_events("HttpApiFunctionName", Some(&correlation_id), &[])
            .await;
        let streams: HashSet<String> = events.into_iter().map(|e| e.stream).collect();
        (!streams.is_empty()).then(|| streams.into_iter().collect())
    })
    .await;
    let lines = stack
        .log_events("HttpApiFunctionName", None, &streams)
        .await;
    let invocation_lines: Vec<Value> = lines
        .iter()
        .filter_map(|event| event.json())
        .filter(|line| {
            // Lines of this invocation: inside the runtime's invoke span (its `requestId`), or
            // metrics about a request (not the cold-start record written before any invocation).
            line.get("requestId").is_some()
                || (line.get("_aws").is_some() && line.get("correlationId").is_some())
        })
        .collect();
    // At INFO, the request's one line is its metrics record, naming the event.
    assert!(
        invocation_lines
            .iter()
            .any(|line| line["message"] == "accepted" && line["jobType"] == "sleep"),
        "{lines:#?}"
    );
    for line in &invocation_lines {
        // At the top level, where Logs Insights filters on it.
        assert_eq!(
            line["correlationId"], correlation_id,
            "a line without the correlation id: {line}"
        );
        // Info lines never carry request bodies.
        assert!(!line.to_string().contains("\"ms\":300"), "{line}");
    }

    // The processor's lines for the job carry it too (a batch may hold other messages). The
    // claim may read finished before the processor's lines reach the log group.
    let processor_lines: Vec<Value> = eventually("the processor's lines for the job", || async {
        let lines: Vec<Value> = stack
            .log_events("ProcessorFunctionName", Some(&job_id), &[])
            .await
            .iter()
            .filter_map(|e| e.json())
            .collect();
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    for line in processor_lines {
        assert_eq!(line["correlationId"], correlation_id, "{line}");
        assert_eq!(line["jobId"], job_id, "{line}");
    }
}

/// A log line (not a metrics record) names its work at the top level, where CloudWatch Logs
/// Insights filters on it: the span fields are flattened, none nested in a span list.
#[tokio::test]
async fn a_log_line_names_its_work_at_the_top_level() {
    let stack = Stack::load().await;
    let correlation_id = unique("flat");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "flaky", "payload": {"failures": 1}}),
            &[("x-correlation-id", &correlation_id)],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let job_id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(stack.wait_for_job(&job_id).await["status"], "SUCCEEDED");

    let retry_line = eventually("the processor's retry line", || async {
        stack
            .log_events("ProcessorFunctionName", Some(&correlation_id), &[])
            .await
            .iter()
            .filter_map(|event| event.json())
            .find(|line| line["message"] == "transient failure; will retry")
    })
    .await;
    assert_eq!(retry_line["level"], "WARN", "{retry_line}");
    assert_eq!(retry_line["correlationId"], correlation_id, "{retry_line}");
    assert_eq!(retry_line["jobId"], job_id, "{retry_line}");
    assert_eq!(retry_line["jobType"], "flaky", "{retry_line}");
    assert!(
        retry_line["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "Lambda's request id: {retry_line}"
    );
    let principal = retry_line["principal"].as_str().unwrap_or_default();
    assert!(
        principal.starts_with("http") && principal.contains(' '),
        "the caller (issuer and subject): {retry_line}"
    );
    for nested in ["spans", "span", "fields"] {
        assert!(retry_line.get(nested).is_none(), "{nested}: {retry_line}");
    }
}

/// What a caller controls reaches the logs bounded: a job's 20 000-character failure reason
/// is cut short in every line about it, and an idempotency key is named by its digest only.
#[tokio::test]
async fn caller_text_reaches_the_logs_capped_and_keys_as_digests() {
    let stack = Stack::load().await;
    let correlation_id = unique("capped");
    let key = unique("a-key-only-its-caller-should-know");
    let reason = format!("{}{}", unique("reason"), "x".repeat(20_000));
    let body = json!({"type": "fail", "payload": {"reason": reason}});
    let headers = [
        ("x-correlation-id", correlation_id.as_str()),
        ("idempotency-key", key.as_str()),
    ];
    let first = stack.post_json("/v1/jobs", &body, &headers).await;
    assert_eq!(first.status, 202, "{first:?}");
    let job = stack
        .wait_for_job(first.json()["id"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(
        job["error"]["reason"], reason,
        "the claim keeps the whole reason"
    );
    let replay = stack.post_json("/v1/jobs", &body, &headers).await;
    assert_eq!(
        replay.header("idempotent-replayed"),
        Some("true"),
        "{replay:?}"
    );

    let failed_line = eventually("the processor's failure line", || async {
        stack
            .log_events("ProcessorFunctionName", Some(&correlation_id), &[])
            .await
            .iter()
            .filter_map(|event| event.json())
            .find(|line| line["message"] == "job failed; sent to the dead-letter queue")
    })
    .await;
    let logged = failed_line["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(logged.split('…').next().unwrap()) && logged.chars().count() < 400,
        "the reason is cut short: {} characters logged",
        logged.chars().count()
    );
    let replay_line = eventually("the HTTP function's replay line", || async {
        stack
            .log_events("HttpApiFunctionName", Some(&correlation_id), &[])
            .await
            .iter()
            .filter_map(|event| event.json())
            .find(|line| line["message"] == "replaying the acceptance")
    })
    .await;
    let digest = replay_line["idempotencyKeySha256"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(digest.len(), 16, "a short digest of the key: {replay_line}");
    for function in ["HttpApiFunctionName", "ProcessorFunctionName"] {
        for event in stack.log_events(function, Some(&correlation_id), &[]).await {
            assert!(
                !event.message.contains(&key),
                "the key in a log line: {}",
                event.message
            );
            assert!(
                event.message.len() < 4_000,
                "a line of {} bytes: {}",
                event.message.len(),
                event.message.chars().take(300).collect::<String>()
            );
        }
    }
}

/// The `traceId` field of a function's lines naming `term`: one value, well formed.
async fn trace_id_of(stack: &Stack, function: &str, term: &str) -> String {
    let what = format!("{function} lines naming {term}");
    let lines: Vec<Value> = eventually(&what, || async {
        let lines: Vec<Value> = stack
            .log_events(function, Some(term), &[])
            .await
            .iter()
            .filter_map(|event| event.json())
            .collect();
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    // Metrics records and log lines alike carry it at the top level.
    let ids: HashSet<String> = lines
        .iter()
        .map(|line| line["traceId"].as_str().unwrap_or("-").to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "one trace id on every line of {function}: {lines:#?}"
    );
    let id = ids.into_iter().next().unwrap();
    let parts: Vec<&str> = id.split('-').collect();
    assert!(
        parts.len() == 3 && parts[0] == "1" && parts[1].len() == 8 && parts[2].len() == 24,
        "an X-Ray trace id in {function}: {id}"
    );
    id
}

#[tokio::test]
async fn one_trace_id_follows_a_job_through_both_queues_to_its_callback() {
    let stack = Stack::load().await;
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let correlation_id = unique("xray");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": 1, "callback": {"endpointId": endpoint.id}}),
            &[("x-correlation-id", &correlation_id)],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let job_id = reply.json()["id"].as_str().unwrap().to_owned();
    stack.wait_for_callback(&job_id, "DELIVERED").await;

    // http-api → (work queue, AWSTraceHeader) → processor → (callback queue) → notifier.
    let accepted = trace_id_of(&stack, "HttpApiFunctionName", &correlation_id).await;
    let processed = trace_id_of(&stack, "ProcessorFunctionName", &job_id).await;
    let notified = trace_id_of(&stack, "NotifierFunctionName", &job_id).await;
    assert_eq!(
        processed, accepted,
        "the processor continues the request's trace"
    );
    assert_eq!(
        notified, accepted,
        "the notifier continues the request's trace"
    );
}

#[tokio::test]
async fn a_redriven_dead_letter_returns_to_its_queue_and_is_processed() {
    let stack = Stack::load().await;
    // Fails on all five attempts, so the last one dead-letters it; a sixth attempt succeeds.
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "flaky", "payload": {"failures": 5}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let job_id = reply.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_job(&job_id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    stack.wait_for_dead_letter(&job_id).await;

    let run_until_listed =
        |action: &'static [&'static str]| courier_dlq_until_listed(action, "work", &job_id);
    let letter = run_until_listed(&["list"]).await;
    assert_eq!(letter["messageId"], job_id);
    assert_eq!(letter["type"], "flaky");
    assert_eq!(letter["failureKind"], "retries-exhausted");

    let dry = run_until_listed(&["redrive", "--dry-run"]).await;
    assert_eq!(dry["messageId"], job_id);
    // A dry run moves nothing.
    assert_eq!(run_until_listed(&["list"]).await["messageId"], job_id);
    assert_eq!(stack.wait_for_job(&job_id).await["status"], "FAILED");

    let moved = run_until_listed(&["redrive"]).await;
    assert_eq!(moved["messageId"], job_id);

    let states = stack
        .poll_job(&job_id, |job| job["status"] == "SUCCEEDED")
        .await;
    let job = states.last().unwrap();
    assert_eq!(job["result"], json!({"attempts": 6}), "{job}");
    assert!(job.get("error").is_none(), "{job}");
    // Its timeline: five attempts, the last one out of retries, the redrive, the sixth.
    let events = stack.get(&format!("/v1/jobs/{job_id}/events")).await.json();
    let events = events["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let mut expected = vec!["accepted"];
    for _ in 0..5 {
        expected.extend(["attempt-started", "attempt-failed"]);
    }
    expected.extend(["redriven", "attempt-started", "attempt-succeeded"]);
    assert_eq!(kinds, expected, "{events:#?}");
    assert_eq!(events[10]["failureKind"], "retries-exhausted");
    assert_eq!(events[10]["willRetry"], false);
    assert_eq!(events[12]["attempt"], 6);

    let after = run_courier(
        [
            "dlq", "list", "--queue", "work", "--id", &job_id, "-o", "json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    assert!(after.status.success());
    assert!(after.stdout.is_empty(), "no longer in the DLQ: {after:?}");
}

/// `courier --stack NAME` as a user outside the repository runs it: no `.local/outputs.json`
/// to find, so the API URL and the queues come from the stack's CloudFormation outputs (the
/// emulator's, through `--endpoint-url`), and every result is JSON with `--output json`.
#[tokio::test]
async fn the_cli_finds_a_stack_by_name_and_answers_in_json() {
    let stack = Stack::load().await;
    let elsewhere = std::env::temp_dir().join(unique("courier-cli-elsewhere"));
    std::fs::create_dir_all(&elsewhere).unwrap();
    let env = vec![
        ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
        // No tokens `courier login` kept elsewhere on this machine are used.
        (
            "XDG_CONFIG_HOME".to_owned(),
            elsewhere.display().to_string(),
        ),
    ];
    let courier = |args: &[&str], stdin: Option<&str>| {
        let mut all: Vec<String> = [
            "--stack",
            &stack.outputs["StackName"],
            "--endpoint-url",
            &stack.outputs["Endpoint"],
            "--region",
            &stack.outputs["Region"],
            "--token",
            &stack.token,
        ]
        .map(String::from)
        .to_vec();
        all.extend(args.iter().map(|a| a.to_string()));
        run_courier_with(&elsewhere, all, env.clone(), stdin.map(str::to_owned))
    };
    let stdout_json = |output: &std::process::Output| -> Value {
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("one JSON document on stdout ({e}): {output:?}"))
    };

    // A payload from a file, waited for: the whole claim comes back.
    let payload = json!({"data": "from a file", "n": [1, 2, 3]});
    let file = elsewhere.join("payload.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    let argument = format!("@{}", file.display());
    let done = courier(&["-o", "json", "submit", "echo", &argument, "--wait"], None).await;
    assert!(done.status.success(), "{done:?}");
    let job = stdout_json(&done);
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"], payload, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();

    let status = courier(&["--output", "json", "status", &id], None).await;
    assert!(status.status.success(), "{status:?}");
    assert_eq!(stdout_json(&status)["id"], id);

    // A payload from standard input, sent fire-and-forget.
    let sent = courier(
        &["-o", "json", "send", "echo", "-"],
        Some(r#""from stdin""#),
    )
    .await;
    assert!(sent.status.success(), "{sent:?}");
    assert!(stdout_json(&sent)["messageId"].is_string(), "{sent:?}");

    // The dead-letter queue by the stack's outputs: nothing there with this id, and no error.
    let listed = courier(
        &[
            "-o",
            "json",
            "dlq",
            "list",
            "--queue",
            "work",
            "--id",
            &unique("none"),
        ],
        None,
    )
    .await;
    assert!(listed.status.success(), "{listed:?}");
    assert!(listed.stdout.is_empty(), "{listed:?}");

    // Failures: exit code 4, and a JSON object on standard error with the API's problem.
    let unknown = courier(
        &[
            "-o",
            "json",
            "status",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
        ],
        None,
    )
    .await;
    assert_eq!(unknown.status.code(), Some(4), "{unknown:?}");
    assert!(unknown.stdout.is_empty(), "{unknown:?}");
    let failure: Value = serde_json::from_slice(&unknown.stderr).expect("JSON on stderr");
    assert_eq!(failure["exitCode"], 4, "{failure}");
    assert_eq!(failure["problem"]["status"], 404, "{failure}");

    let bad_payload = courier(&["-o", "json", "send", "echo", "{not json"], None).await;
    assert_eq!(bad_payload.status.code(), Some(2), "{bad_payload:?}");

    let no_stack = run_courier_with(
        &elsewhere,
        [
            "--stack",
            &unique("no-such-stack"),
            "--endpoint-url",
            &stack.outputs["Endpoint"],
            "--region",
            &stack.outputs["Region"],
            "-o",
            "json",
            "status",
            &id,
        ]
        .map(String::from)
        .to_vec(),
        env.clone(),
        None,
    )
    .await;
    assert_eq!(no_stack.status.code(), Some(4), "{no_stack:?}");
    let failure: Value = serde_json::from_slice(&no_stack.stderr).expect("JSON on stderr");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("no-such-stack"),
        "{failure}"
    );
    std::fs::remove_dir_all(&elsewhere).unwrap();
}
