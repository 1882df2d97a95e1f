//! Fire and forget, end to end: real HTTP through the emulator's API Gateway, the real SQS event
//! source mapping and redrive, real DynamoDB conditional writes.

use courier_e2e::{Stack, message_attribute, unique};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::collections::HashSet;

async fn accept(stack: &Stack, body: Value, headers: &[(&str, &str)]) -> Value {
    let reply = stack.post_json("/v1/messages", &body, headers).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

#[tokio::test]
async fn an_accepted_message_is_processed_exactly_once() {
    let stack = Stack::load().await;
    let correlation_id = unique("ff-once");
    let reply = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "sha256", "payload": {"data": "hello"}}),
            &[("x-correlation-id", &correlation_id)],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(
        reply.header("x-correlation-id"),
        Some(correlation_id.as_str())
    );
    let body = reply.json();
    assert_eq!(body["correlationId"], correlation_id.as_str());
    assert!(
        body["acceptedAt"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    let message_id = body["messageId"].as_str().unwrap();

    let record = stack.wait_for_status(message_id, "SUCCEEDED").await;
    assert_eq!(record.attempts(), 1);
    assert_eq!(record.text("correlationId"), Some(correlation_id.as_str()));
    assert_eq!(
        record.result().unwrap()["sha256"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert!(record.number("ttl").unwrap() > 0, "record carries a TTL");

    stack.wait_for_work_queue_idle().await;
    let after = stack.message_record(message_id).await.unwrap();
    assert_eq!(
        after, record,
        "nothing touched the record after it succeeded"
    );
}

#[tokio::test]
async fn a_generated_correlation_id_is_echoed_and_carried_to_the_record() {
    let stack = Stack::load().await;
    let reply = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "echo", "payload": [1, 2]}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let generated = reply.header("x-correlation-id").unwrap().to_owned();
    let body = reply.json();
    assert_eq!(body["correlationId"], generated.as_str());
    let record = stack
        .wait_for_status(body["messageId"].as_str().unwrap(), "SUCCEEDED")
        .await;
    assert_eq!(record.text("correlationId"), Some(generated.as_str()));
    assert_eq!(record.result().unwrap(), json!([1, 2]));
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_response_and_processes_once() {
    let stack = Stack::load().await;
    let key = unique("ff-idem");
    let body = json!({"type": "echo", "payload": {"n": 1}});
    let first = stack
        .post_json("/v1/messages", &body, &[("idempotency-key", &key)])
        .await;
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(first.header("idempotent-replayed"), None);

    // Same body with other key order and spacing is the same request.
    let reordered: Value =
        serde_json::from_str(r#"{ "payload": {"n": 1}, "type": "echo" }"#).unwrap();
    let second = stack
        .post_json("/v1/messages", &reordered, &[("idempotency-key", &key)])
        .await;
    assert_eq!(second.status, 202, "{second:?}");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        second.text, first.text,
        "the original response, byte for byte"
    );

    let message_id = first.json()["messageId"].as_str().unwrap().to_owned();
    let record = stack.wait_for_status(&message_id, "SUCCEEDED").await;
    assert_eq!(record.attempts(), 1);
    let correlation_id = first.json()["correlationId"].as_str().unwrap().to_owned();
    stack.wait_for_work_queue_idle().await;
    assert_eq!(
        stack.records_with_correlation_id(&correlation_id).await,
        1,
        "one message was enqueued and processed"
    );
}

#[tokio::test]
async fn concurrent_requests_with_one_key_accept_one_message() {
    let stack = Stack::load().await;
    let key = unique("ff-race");
    let body = json!({"type": "echo", "payload": "race"});
    let headers = [("idempotency-key", key.as_str())];
    let replies = join_all((0..6).map(|_| stack.post_json("/v1/messages", &body, &headers))).await;
    let mut ids = HashSet::new();
    for reply in &replies {
        match reply.status {
            202 => {
                ids.insert(reply.json()["messageId"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(reply.problem_type(), "request-in-progress", "{reply:?}"),
            other => panic!("unexpected status {other}: {reply:?}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 202 names the same message: {ids:?}");
    let message_id = ids.into_iter().next().unwrap();
    assert_eq!(
        stack
            .wait_for_status(&message_id, "SUCCEEDED")
            .await
            .attempts(),
        1
    );
}

#[tokio::test]
async fn reusing_a_key_with_another_body_is_a_conflict() {
    let stack = Stack::load().await;
    let key = unique("ff-reuse");
    accept(
        &stack,
        json!({"type": "echo", "payload": 1}),
        &[("idempotency-key", &key)],
    )
    .await;
    let reply = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "echo", "payload": 2}),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(reply.problem_type(), "idempotency-key-reused");
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dlq_at_once_with_its_reason() {
    let stack = Stack::load().await;
    let reason = unique("card declined");
    let body = accept(
        &stack,
        json!({"type": "fail", "payload": {"reason": reason}}),
        &[],
    )
    .await;
    let message_id = body["messageId"].as_str().unwrap();

    let record = stack.wait_for_status(message_id, "FAILED").await;
    assert_eq!(record.attempts(), 1, "a permanent failure is not retried");
    assert_eq!(record.error_field("kind").as_deref(), Some("permanent"));
    assert_eq!(
        record.error_field("reason").as_deref(),
        Some(reason.as_str())
    );

    let letter = stack.wait_for_dead_letter(message_id).await;
    assert_eq!(
        message_attribute(&letter, "failureReason").as_deref(),
        Some(reason.as_str())
    );
    assert_eq!(
        message_attribute(&letter, "failureKind").as_deref(),
        Some("permanent")
    );
    assert_eq!(
        message_attribute(&letter, "correlationId").as_deref(),
        body["correlationId"].as_str()
    );
}

#[tokio::test]
async fn a_message_that_always_fails_transiently_is_redriven_after_max_receives() {
    let stack = Stack::load().await;
    let body = accept(
        &stack,
        json!({"type": "flaky", "payload": {"failures": 50}}),
        &[],
    )
    .await;
    let message_id = body["messageId"].as_str().unwrap();

    let letter = stack.wait_for_dead_letter(message_id).await;
    let record = stack.wait_for_status(message_id, "FAILED").await;
    assert_eq!(record.attempts(), 5, "exactly maxReceiveCount attempts");
    assert_eq!(
        record.error_field("kind").as_deref(),
        Some("retries-exhausted")
    );
    assert!(
        record
            .error_field("reason")
            .unwrap()
            .contains("planned failure 5 of 50"),
        "{record:?}"
    );
    // SQS redrive moves the message as it was sent, attributes included.
    assert_eq!(
        message_attribute(&letter, "messageId").as_deref(),
        Some(message_id)
    );
}

#[tokio::test]
async fn a_transient_failure_that_clears_is_retried_then_succeeds() {
    let stack = Stack::load().await;
    let body = accept(
        &stack,
        json!({"type": "flaky", "payload": {"failures": 2}}),
        &[],
    )
    .await;
    let message_id = body["messageId"].as_str().unwrap();
    let record = stack.wait_for_status(message_id, "SUCCEEDED").await;
    assert_eq!(record.attempts(), 3);
    assert_eq!(record.result().unwrap(), json!({"attempts": 3}));
    assert_eq!(
        record.text("lastError"),
        None,
        "a success clears the last error"
    );
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_under_a_burst() {
    let stack = Stack::load().await;
    let stack = &stack;
    let mut pending = Vec::new();
    for i in 0..25 {
        let body = json!({"type": "sha256", "payload": {"data": format!("burst {i}")}});
        pending.push(async move { (i, stack.post_json("/v1/messages", &body, &[]).await) });
    }
    let replies = join_all(pending).await;
    for (i, reply) in replies {
        assert_eq!(reply.status, 202, "{reply:?}");
        let message_id = reply.json()["messageId"].as_str().unwrap().to_owned();
        let record = stack.wait_for_status(&message_id, "SUCCEEDED").await;
        let expected = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("burst {i}")));
        assert_eq!(record.result().unwrap()["sha256"], expected.as_str());
        assert_eq!(record.attempts(), 1);
    }
}

#[tokio::test]
async fn a_redelivered_processed_message_changes_nothing() {
    let stack = Stack::load().await;
    let body = accept(
        &stack,
        json!({"type": "echo", "payload": {"once": true}}),
        &[],
    )
    .await;
    let message_id = body["messageId"].as_str().unwrap();
    let record = stack.wait_for_status(message_id, "SUCCEEDED").await;

    // The same envelope again, as SQS at-least-once delivery may hand it over.
    let envelope = json!({
        "kind": "work",
        "messageId": message_id,
        "correlationId": body["correlationId"],
        "pattern": "fire-and-forget",
        "type": "echo",
        "payload": {"once": true},
        "acceptedAt": body["acceptedAt"],
    });
    stack.send_raw_to_work_queue(&envelope.to_string()).await;
    stack.wait_for_work_queue_idle().await;
    let after = stack.message_record(message_id).await.unwrap();
    assert_eq!(
        after, record,
        "the redelivery was acknowledged without running the job"
    );
}

#[tokio::test]
async fn an_unparseable_message_goes_to_the_dlq_with_its_reason() {
    let stack = Stack::load().await;
    let marker = unique("garbage");
    let body = json!({"messageId": marker, "not": "an envelope"}).to_string();
    stack.send_raw_to_work_queue(&body).await;
    let letter = stack.wait_for_dead_letter(&marker).await;
    assert_eq!(
        message_attribute(&letter, "failureKind").as_deref(),
        Some("unparseable")
    );
    let reason = message_attribute(&letter, "failureReason").unwrap();
    assert!(reason.starts_with("not a courier envelope"), "{reason}");
    assert_eq!(
        letter.body.as_deref(),
        Some(body.as_str()),
        "the body is kept as sent"
    );
}
