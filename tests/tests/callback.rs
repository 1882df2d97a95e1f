//! Callbacks, end to end: jobs submitted with a callback to a webhook endpoint whose URL is a
//! real HTTP receiver on 127.0.0.1 (allow-listed in the local stack), delivered by the notifier
//! Lambda.

use courier_client::webhook::{Secret, verify_headers};
use courier_e2e::receiver::{Answer, Receiver};
use courier_e2e::{RegisteredEndpoint, Stack};
use serde_json::{Value, json};
use std::time::Duration;

/// Registers `url` as an endpoint and submits `body` with a callback to it.
async fn submit_with_callback(stack: &Stack, body: Value, url: &str) -> String {
    let endpoint = stack.register_endpoint(url).await;
    submit_to(stack, body, &endpoint).await
}

async fn submit_to(stack: &Stack, body: Value, endpoint: &RegisteredEndpoint) -> String {
    let mut body = body;
    body["callback"] = json!({ "endpointId": endpoint.id });
    let reply = stack.post_json("/v1/jobs", &body, &[]).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    reply.json()["id"].as_str().unwrap().to_owned()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_callback_is_delivered_once_and_its_signature_verifies() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let id = submit_to(
        &stack,
        json!({"type": "sha256", "payload": {"data": "cb"}}),
        &endpoint,
    )
    .await;
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(job["callback"]["endpointId"], endpoint.id.as_str());
    assert_eq!(job["callback"]["attempts"], 1);
    assert_eq!(job["callback"]["lastStatus"], 204);
    stack.wait_for_queue_idle("CallbackQueueUrl").await;

    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 1, "delivered exactly once");
    let arrival = &arrivals[0];
    assert_eq!(arrival.header("webhook-id"), format!("msg_{id}"));
    assert_eq!(
        arrival.header("x-correlation-id"),
        job["correlationId"].as_str().unwrap()
    );
    assert_eq!(arrival.header("content-type"), "application/json");
    let body: Value = serde_json::from_slice(&arrival.body).unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["status"], "SUCCEEDED");
    assert_eq!(body["result"]["bytes"], 2);
    assert!(
        body.get("callback").is_none(),
        "the body is the job, not the delivery state"
    );

    let get = |name: &str| arrival.headers.get(name).and_then(|v| v.to_str().ok());
    let secret = Secret::parse(&endpoint.secret).unwrap();
    assert_eq!(
        verify_headers(&secret, get, &arrival.body, now(), 300),
        Ok(format!("msg_{id}"))
    );
    let wrong = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(verify_headers(&wrong, get, &arrival.body, now(), 300).is_err());
    assert!(verify_headers(&secret, get, b"{\"tampered\":1}", now(), 300).is_err());
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_with_growing_gaps() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![Answer::Status(500), Answer::Status(503)], None).await;
    let id =
        submit_with_callback(&stack, json!({"type": "echo", "payload": 1}), &receiver.url).await;
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(job["callback"]["attempts"], 3);
    assert_eq!(job["callback"]["lastStatus"], 204);

    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 3);
    assert!(
        arrivals
            .iter()
            .all(|a| a.header("webhook-id") == format!("msg_{id}")),
        "one id across retries"
    );
    let first_gap = arrivals[1].at - arrivals[0].at;
    let second_gap = arrivals[2].at - arrivals[1].at;
    // Backoff from 1 s, doubling, with jitter in the upper half of each step: 0.5–1 s, then 1–2 s.
    assert!(first_gap >= Duration::from_millis(450), "{first_gap:?}");
    assert!(
        second_gap >= first_gap,
        "gaps grow: {first_gap:?} then {second_gap:?}"
    );
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried() {
    let stack = Stack::load().await;
    // The local stack's timeout is 1 s.
    let receiver = Receiver::start(
        vec![Answer::SlowStatus(Duration::from_millis(2500), 200)],
        None,
    )
    .await;
    let id =
        submit_with_callback(&stack, json!({"type": "echo", "payload": 2}), &receiver.url).await;
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(job["callback"]["attempts"], 2, "{job}");
    assert_eq!(receiver.arrivals().len(), 2);
}

#[tokio::test]
async fn gone_stops_after_one_attempt() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], Some(Answer::Status(410))).await;
    let id =
        submit_with_callback(&stack, json!({"type": "echo", "payload": 3}), &receiver.url).await;
    let job = stack.wait_for_callback(&id, "FAILED").await;
    assert_eq!(job["callback"]["attempts"], 1);
    assert_eq!(job["callback"]["lastStatus"], 410);
    stack.wait_for_queue_idle("CallbackQueueUrl").await;
    assert_eq!(receiver.arrivals().len(), 1);
}

#[tokio::test]
async fn a_receiver_that_never_succeeds_sends_the_delivery_to_the_callback_dlq() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], Some(Answer::Status(500))).await;
    let id = submit_with_callback(
        &stack,
        json!({"type": "fail", "payload": {"reason": "no"}}),
        &receiver.url,
    )
    .await;
    let job = stack.wait_for_callback(&id, "FAILED").await;
    assert_eq!(
        job["status"], "FAILED",
        "the job's own failure is reported too"
    );
    assert_eq!(job["callback"]["attempts"], 5);
    assert_eq!(job["callback"]["lastStatus"], 500);
    stack
        .wait_for_message_with("CallbackDeadLetterQueueUrl", "jobId", &id)
        .await;
    assert_eq!(receiver.arrivals().len(), 5);
}

#[tokio::test]
async fn a_redelivered_work_message_starts_no_second_delivery() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let id = submit_with_callback(
        &stack,
        json!({"type": "echo", "payload": "again"}),
        &receiver.url,
    )
    .await;
    let job = stack.wait_for_callback(&id, "DELIVERED").await;

    let envelope = json!({
        "kind": "work", "messageId": id, "correlationId": job["correlationId"], "pattern": "claim-check",
        "type": "echo", "payload": "again", "acceptedAt": job["createdAt"], "hasCallback": true,
    });
    stack.send_raw_to_work_queue(&envelope.to_string()).await;
    stack.wait_for_work_queue_idle().await;
    stack.wait_for_queue_idle("CallbackQueueUrl").await;
    assert_eq!(receiver.arrivals().len(), 1, "still exactly one delivery");
}

#[tokio::test]
async fn a_callback_must_name_an_endpoint_of_the_callers_and_only_on_jobs() {
    let stack = Stack::load().await;
    for endpoint_id in [
        "ep_0123456789abcdef0123456789abcdef",
        "ep_not-an-id",
        "../../etc/passwd",
    ] {
        let reply = stack
            .post_json(
                "/v1/jobs",
                &json!({"type": "echo", "callback": {"endpointId": endpoint_id}}),
                &[],
            )
            .await;
        assert_eq!(reply.status, 400, "{endpoint_id}: {reply:?}");
        assert_eq!(reply.problem_type(), "invalid-callback", "{endpoint_id}");
    }
    // A URL in place of an endpoint is the old shape: refused, never called.
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "callback": {"url": "http://127.0.0.1:9/"}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.problem_type(), "invalid-body");
    let endpoint = stack.register_endpoint("http://127.0.0.1:9/").await;
    let reply = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "echo", "callback": {"endpointId": endpoint.id}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.problem_type(), "invalid-body");
}

#[tokio::test]
async fn a_dead_lettered_callback_is_delivered_after_a_redrive() {
    let stack = Stack::load().await;
    // Down for all five attempts, then back: only an operator's redrive can deliver it now.
    let receiver = Receiver::start(vec![Answer::Status(500); 5], Some(Answer::Status(204))).await;
    let id = submit_with_callback(
        &stack,
        json!({"type": "echo", "payload": "late"}),
        &receiver.url,
    )
    .await;
    stack.wait_for_callback(&id, "FAILED").await;
    stack
        .wait_for_message_with("CallbackDeadLetterQueueUrl", "jobId", &id)
        .await;

    let moved = courier_e2e::courier_dlq_until_listed(&["redrive"], "callback", &id).await;
    assert_eq!(moved["messageId"], id);

    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(
        job["callback"]["attempts"], 1,
        "a redrive starts from attempt 1"
    );
    assert_eq!(receiver.arrivals().len(), 6);
}

/// `courier listen` as a developer runs it: it registers itself as an endpoint, verifies and
/// prints a delivery to it, and deletes the endpoint when interrupted.
#[tokio::test]
async fn courier_listen_registers_itself_prints_verified_deliveries_and_cleans_up() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let stack = Stack::load().await;
    let mut listener = Command::new(courier_e2e::courier_binary())
        .args(["listen", "--port", "0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run courier listen");
    let (lines, seen) = std::sync::mpsc::channel::<(bool, String)>();
    for (is_stdout, stream) in [
        (
            true,
            Box::new(listener.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        ),
        (false, Box::new(listener.stderr.take().unwrap())),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = lines.send((is_stdout, line));
            }
        });
    }
    let next = |stdout: bool, contains: &str| -> String {
        let deadline = std::time::Instant::now() + courier_e2e::DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let (from_stdout, line) = seen
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("courier listen never printed {contains:?}"));
            if from_stdout == stdout && line.contains(contains) {
                return line;
            }
        }
    };
    let registered = next(false, "registered webhook endpoint ");
    let endpoint_id = registered
        .split_whitespace()
        .find(|word| word.starts_with("ep_"))
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": "to listen", "callback": {"endpointId": endpoint_id}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let printed: Value = serde_json::from_str(&next(true, &id)).unwrap();
    assert_eq!(printed["verified"], true);
    assert_eq!(printed["webhookId"], format!("msg_{id}"));
    assert_eq!(printed["body"]["result"], "to listen");

    let interrupted = Command::new("kill")
        .args(["-INT", &listener.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    next(false, &format!("endpoint {endpoint_id} deleted"));
    assert!(listener.wait().unwrap().success());
    let gone = stack
        .get(&format!("/v1/webhook-endpoints/{endpoint_id}"))
        .await;
    assert_eq!(gone.status, 404, "{gone:?}");
}

/// A job of a worker that finishes later (`approval`) with a callback to `receiver`, handed to
/// the worker, and its claim's WAITING callback then changed by `change` (an update expression
/// binding `:to` to `to`): a claim put in a form the processor must still finish. Returns the
/// job and the worker's task.
async fn running_with_callback_changed(
    stack: &Stack,
    receiver: &Receiver,
    change: &str,
    to: Option<&str>,
) -> (String, Value) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let id = submit_with_callback(
        stack,
        json!({"type": "approval", "payload": {"request": "a day off"}}),
        &receiver.url,
    )
    .await;
    let task = courier_e2e::worker::handed_over(stack, &id, 1).await;
    let mut request = stack
        .dynamodb
        .update_item()
        .table_name(stack.output("TableName"))
        .key("pk", AttributeValue::S(format!("JOB#{id}")))
        .update_expression(change)
        .condition_expression("callbackState = :waiting")
        .expression_attribute_values(":waiting", AttributeValue::S("WAITING".into()));
    if let Some(to) = to {
        request = request.expression_attribute_values(":to", AttributeValue::S(to.into()));
    }
    request
        .send()
        .await
        .expect("the running job's callback still WAITING");
    (id, task)
}

/// The worker's report of `result` for `task`, accepted.
async fn report_result(stack: &Stack, task: &Value, result: Value) {
    use courier_e2e::worker::{report, token};
    let reply = report(stack, task, Some(token(task)), json!({ "result": result })).await;
    assert_eq!(reply.status, 202, "{reply:?}");
}

/// The release before wrote no `callbackState` while a callback was WAITING. A claim it wrote,
/// finished by this release's processor, still records its result and delivers once.
#[tokio::test]
async fn a_claim_with_no_callback_state_from_the_release_before_finishes_and_delivers() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let (id, task) =
        running_with_callback_changed(&stack, &receiver, "REMOVE callbackState", None).await;
    report_result(&stack, &task, json!({"approved": true})).await;
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"], json!({"approved": true}), "{job}");
    stack.wait_for_queue_idle("CallbackQueueUrl").await;
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 1, "delivered exactly once");
    assert_eq!(arrivals[0].header("webhook-id"), format!("msg_{id}"));
}

/// A copy of a job's first message may run a later round (it turns up after a rerun); where
/// that round's callback has already moved past WAITING, the ending write's first-round mark
/// is refused, and the outcome must be recorded all the same.
#[tokio::test]
async fn an_outcome_is_recorded_where_a_later_rounds_callback_has_moved_on() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let (id, task) = running_with_callback_changed(
        &stack,
        &receiver,
        "SET callbackState = :to",
        Some("DELIVERED"),
    )
    .await;
    report_result(&stack, &task, json!({"approved": false})).await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"], json!({"approved": false}), "{job}");
    assert_eq!(job["callback"]["state"], "DELIVERED", "{job}");
}
