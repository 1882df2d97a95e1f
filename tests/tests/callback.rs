//! Callbacks, end to end: jobs submitted with a callback URL pointing at a real HTTP receiver on
//! 127.0.0.1 (allow-listed in the local stack), delivered by the notifier Lambda.

use courier_client::webhook::{Secret, verify_headers};
use courier_e2e::receiver::{Answer, Receiver};
use courier_e2e::{Stack, eventually};
use serde_json::{Value, json};
use std::time::Duration;

async fn submit_with_callback(stack: &Stack, body: Value, url: &str) -> String {
    let mut body = body;
    body["callback"] = json!({ "url": url });
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
    let id = submit_with_callback(
        &stack,
        json!({"type": "sha256", "payload": {"data": "cb"}}),
        &receiver.url,
    )
    .await;
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
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
    let secret = Secret::parse(stack.output("LocalWebhookSecret")).unwrap();
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
async fn hostile_callback_urls_are_refused_at_submission() {
    let stack = Stack::load().await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.2]/",
        "http://2130706434/",
        "ftp://127.0.0.1/",
        "https://user:pw@127.0.0.1/",
        "http://no-such-host.invalid/",
        "not a url",
    ] {
        let reply = stack
            .post_json(
                "/v1/jobs",
                &json!({"type": "echo", "callback": {"url": url}}),
                &[],
            )
            .await;
        assert_eq!(reply.status, 400, "{url}: {reply:?}");
        assert_eq!(reply.problem_type(), "invalid-callback-url", "{url}");
    }
    let reply = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "echo", "callback": {"url": "http://127.0.0.1/"}}),
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

    let courier = courier_e2e::courier_binary();
    let moved = eventually("courier dlq redrive --queue callback", || {
        let courier = courier.clone();
        let id = id.clone();
        async move {
            let output = tokio::task::spawn_blocking(move || {
                std::process::Command::new(&courier)
                    .args([
                        "dlq", "redrive", "--queue", "callback", "--id", &id, "--json",
                    ])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .output()
                    .expect("run courier")
            })
            .await
            .unwrap();
            assert!(output.status.success(), "{output:?}");
            let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            (!text.is_empty()).then(|| serde_json::from_str::<Value>(&text).unwrap())
        }
    })
    .await;
    assert_eq!(moved["messageId"], id);

    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(
        job["callback"]["attempts"], 1,
        "a redrive starts from attempt 1"
    );
    assert_eq!(receiver.arrivals().len(), 6);
}
