//! Jobs whose claim expires before they run (a backlog older than the claim lifetime): they end
//! FAILED with kind `expired`, and whoever waits on them is told — the callback, the WebSocket
//! client, the dead-letter queue — while `GET /v1/jobs/{id}` answers 404 past `expiresAt`, as
//! documented. Time is moved on by ageing the claim in DynamoDB (expiresAt and ttl in the past,
//! as DynamoDB keeps an item until its sweep), while the job waits to run.

use courier_client::frames::{FrameKind, SubmitFrame};
use courier_e2e::receiver::Receiver;
use courier_e2e::ws::{connect, for_request, frames_until_final};
use courier_e2e::{Stack, eventually, message_attribute};
use serde_json::{Value, json};

#[tokio::test]
async fn a_job_that_expires_while_it_waits_fails_expired_and_its_callback_says_so() {
    let stack = Stack::load().await;
    stack.after_a_ttl_sweep().await;
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": 1, "delaySeconds": 4,
                    "callback": {"endpointId": endpoint.id}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    stack.age_claim(&id).await;

    let arrival = eventually("the callback", || async {
        receiver.arrivals().into_iter().next()
    })
    .await;
    let body: Value = serde_json::from_slice(&arrival.body).unwrap();
    assert_eq!(body["id"], id.as_str(), "{body}");
    assert_eq!(body["status"], "FAILED", "{body}");
    assert_eq!(body["error"]["kind"], "expired", "{body}");
    assert!(body.get("result").is_none(), "it never ran: {body}");

    let item = stack.item(&format!("JOB#{id}")).await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "FAILED");
    assert_eq!(item["attempts"].as_n().unwrap(), "0", "never started");
    let letter = stack.wait_for_dead_letter(&id).await;
    assert_eq!(
        message_attribute(&letter, "failureKind").as_deref(),
        Some("expired")
    );
    let read = stack.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(read.status, 404, "past expiresAt: {read:?}");
}

#[tokio::test]
async fn a_websocket_job_that_expires_behind_another_gets_an_expired_error_frame() {
    let stack = Stack::load().await;
    stack.after_a_ttl_sweep().await;
    let mut ws = connect(&stack).await;
    // The second waits behind the first (one message group per connection).
    ws.submit(&SubmitFrame::new("ahead", "sleep", json!({"ms": 3000})))
        .await
        .unwrap();
    ws.submit(&SubmitFrame::new("behind", "echo", json!("late")))
        .await
        .unwrap();
    let accepted = courier_e2e::ws::frames_until(&mut ws, "both accepted", |frames| {
        frames
            .iter()
            .filter(|f| f.kind == FrameKind::Accepted)
            .count()
            == 2
    })
    .await;
    let behind = accepted
        .iter()
        .find(|f| f.request_id.as_deref() == Some("behind"))
        .unwrap();
    let id = behind.job_id.clone().unwrap();
    stack.age_claim(&id).await;

    let mut frames = accepted;
    frames.extend(frames_until_final(&mut ws, &["ahead", "behind"]).await);
    assert_eq!(
        for_request(&frames, "ahead").last().unwrap().kind,
        FrameKind::Result
    );
    let last = *for_request(&frames, "behind").last().unwrap();
    assert_eq!(last.kind, FrameKind::Error, "{last:?}");
    assert_eq!(last.data["kind"], "expired", "{last:?}");
    let item = stack.item(&format!("JOB#{id}")).await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "FAILED");
}
