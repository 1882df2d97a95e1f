//! Idempotency keys over time: within its window a key names one piece of work; after it, the
//! same key is a new request — new work under a new id, with a new callback `webhook-id` and a
//! new downstream idempotency key — never the old work's answer or the old work's id.

use courier_e2e::receiver::Receiver;
use courier_e2e::{Stack, eventually, unique};
use serde_json::json;

#[tokio::test]
async fn a_job_key_reused_after_its_window_is_new_work_under_a_new_id() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let account = unique("acct");
    let key = unique("window");
    let body = json!({
        "type": "ledger",
        "payload": {"account": account, "amountCents": 5},
        "callback": {"endpointId": endpoint.id},
    });
    let headers = [("idempotency-key", key.as_str())];

    let first = stack.post_json("/v1/jobs", &body, &headers).await;
    assert_eq!(first.status, 202, "{first:?}");
    let first_id = first.json()["id"].as_str().unwrap().to_owned();
    stack.wait_for_callback(&first_id, "DELIVERED").await;
    let replay = stack.post_json("/v1/jobs", &body, &headers).await;
    assert_eq!(
        replay.json()["id"],
        first_id.as_str(),
        "within the window: a replay"
    );

    assert_eq!(stack.age_idempotency_key(&key).await, 1);
    let second = stack.post_json("/v1/jobs", &body, &headers).await;
    assert_eq!(second.status, 202, "{second:?}");
    assert_eq!(
        second.header("idempotent-replayed"),
        None,
        "not a replay: {second:?}"
    );
    let second_id = second.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id, "a new id for new work");
    let job = stack.wait_for_callback(&second_id, "DELIVERED").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    // The earlier job is untouched, and still answers with its own result.
    let earlier = stack.get(&format!("/v1/jobs/{first_id}")).await;
    assert_eq!(earlier.json()["id"], first_id.as_str());

    let entries = stack.ledger_entries(&account).await;
    let mut booked: Vec<&str> = entries
        .iter()
        .map(|e| e["jobId"].as_s().unwrap().as_str())
        .collect();
    booked.sort();
    let mut expected = vec![first_id.as_str(), second_id.as_str()];
    expected.sort();
    assert_eq!(
        booked, expected,
        "each job booked once under its own downstream key"
    );

    let webhook_ids = eventually("both callbacks", || async {
        let ids: Vec<String> = receiver
            .arrivals()
            .iter()
            .map(|a| a.header("webhook-id").to_owned())
            .collect();
        (ids.len() >= 2).then_some(ids)
    })
    .await;
    assert_eq!(
        webhook_ids,
        [format!("msg_{first_id}"), format!("msg_{second_id}")],
        "one delivery each, under its own webhook-id"
    );
}

#[tokio::test]
async fn a_message_key_reused_after_its_window_runs_again_under_a_new_id() {
    let stack = Stack::load().await;
    let key = unique("window");
    let body = json!({"type": "sha256", "payload": {"data": key}});
    let headers = [("idempotency-key", key.as_str())];
    let first = stack.post_json("/v1/messages", &body, &headers).await;
    assert_eq!(first.status, 202, "{first:?}");
    let first_id = first.json()["messageId"].as_str().unwrap().to_owned();
    stack.wait_for_status(&first_id, "SUCCEEDED").await;

    assert_eq!(stack.age_idempotency_key(&key).await, 1);
    let second = stack.post_json("/v1/messages", &body, &headers).await;
    assert_eq!(second.status, 202, "{second:?}");
    let second_id = second.json()["messageId"].as_str().unwrap().to_owned();
    assert_ne!(second_id, first_id, "a new id for new work");
    let record = stack.wait_for_status(&second_id, "SUCCEEDED").await;
    assert_eq!(record.attempts(), 1);
}

/// A client that lost its connection mid-job resubmits under its own key on a new one: the
/// same job (run once), whose remaining frames come to the new connection; the same key on
/// `POST /v1/jobs` names the same job too.
#[tokio::test]
async fn a_websocket_resubmit_under_the_callers_key_on_a_new_connection_is_the_same_job() {
    use courier_client::frames::{FrameKind, SubmitFrame};
    let stack = Stack::load().await;
    let key = unique("ws-key");
    let payload = json!({"ms": 3000});
    let submit = |request_id: &str| {
        SubmitFrame::new(request_id, "sleep", payload.clone()).with_idempotency_key(&key)
    };

    let mut first = courier_e2e::ws::connect(&stack).await;
    first.submit(&submit("before-drop")).await.unwrap();
    let accepted = courier_e2e::ws::frames_until(&mut first, "the accepted frame", |frames| {
        frames.iter().any(|f| f.kind == FrameKind::Accepted)
    })
    .await;
    let id = accepted[0].job_id.clone().unwrap();
    drop(first);

    let mut second = courier_e2e::ws::connect(&stack).await;
    second.submit(&submit("after-drop")).await.unwrap();
    let frames = courier_e2e::ws::frames_until_final(&mut second, &["after-drop"]).await;
    assert_eq!(frames[0].kind, FrameKind::Accepted, "{frames:?}");
    assert!(
        frames
            .iter()
            .all(|f| f.job_id.as_deref() == Some(id.as_str())),
        "the same job: {frames:?}"
    );
    assert_eq!(frames.last().unwrap().kind, FrameKind::Result, "{frames:?}");
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(job["attempts"], 1, "run once: {job}");

    let over_http = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "sleep", "payload": payload}),
            &[("idempotency-key", key.as_str())],
        )
        .await;
    assert_eq!(over_http.status, 202, "{over_http:?}");
    assert_eq!(over_http.json()["id"], id.as_str(), "one key, one job");
}

/// The other order: a job submitted over HTTP, then resubmitted over WebSocket under the same
/// key while it runs, streams its remaining frames to that connection.
#[tokio::test]
async fn a_job_submitted_over_http_streams_to_a_websocket_resubmit_under_its_key() {
    use courier_client::frames::{FrameKind, SubmitFrame};
    let stack = Stack::load().await;
    let key = unique("http-then-ws");
    let payload = json!({"ms": 3000});
    let first = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "sleep", "payload": payload}),
            &[("idempotency-key", key.as_str())],
        )
        .await;
    assert_eq!(first.status, 202, "{first:?}");
    let id = first.json()["id"].as_str().unwrap().to_owned();

    let mut ws = courier_e2e::ws::connect(&stack).await;
    ws.submit(&SubmitFrame::new("follow", "sleep", payload).with_idempotency_key(&key))
        .await
        .unwrap();
    let frames = courier_e2e::ws::frames_until_final(&mut ws, &["follow"]).await;
    assert!(
        frames
            .iter()
            .all(|f| f.job_id.as_deref() == Some(id.as_str())),
        "the same job: {frames:?}"
    );
    let last = frames.last().unwrap();
    assert_eq!(last.kind, FrameKind::Result, "{frames:?}");
    assert_eq!(last.data, json!({"sleptMs": 3000}));
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["attempts"], 1, "run once: {job}");
}
