//! End-to-end figures through the local stack, beside the bare emulator calls they contain, in
//! the same run: what the emulator costs versus what courier adds. Needs `infra/up.sh` first.
//!
//!     target/measure/bench-e2e [requests]   (COURIER_PROFILE=measure infra/up.sh builds it)

use courier_client::frames::{FrameKind, SubmitFrame};
use courier_client::ws::{Auth, WsClient};
use courier_e2e::Stack;
use serde_json::json;
use std::time::{Duration, Instant};

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        mean.as_secs_f64() * 1e3,
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.99).as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let stack = Stack::load().await;
    let body = json!({"type": "echo", "payload": {"n": 1}});

    // Warm both functions so cold starts do not count.
    for _ in 0..5 {
        stack.post_json("/v1/messages", &body, &[]).await;
    }

    let mut bare_sqs = Vec::new();
    for _ in 0..requests {
        let started = Instant::now();
        stack
            .sqs
            .get_queue_attributes()
            .queue_url(stack.output("WorkDeadLetterQueueUrl"))
            .send()
            .await
            .expect("GetQueueAttributes");
        bare_sqs.push(started.elapsed());
    }

    let mut message_acks = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..requests {
        let started = Instant::now();
        let reply = stack.post_json("/v1/messages", &body, &[]).await;
        message_acks.push(started.elapsed());
        assert_eq!(reply.status, 202, "{reply:?}");
        ids.push(reply.json()["messageId"].as_str().unwrap().to_owned());
    }

    let mut job_acks = Vec::new();
    for _ in 0..requests {
        let started = Instant::now();
        let reply = stack.post_json("/v1/jobs", &body, &[]).await;
        job_acks.push(started.elapsed());
        assert_eq!(reply.status, 202, "{reply:?}");
    }

    // Acceptance to SUCCEEDED, one at a time so queueing does not blur it.
    let mut completions = Vec::new();
    for _ in 0..requests.min(50) {
        let started = Instant::now();
        let reply = stack.post_json("/v1/messages", &body, &[]).await;
        let id = reply.json()["messageId"].as_str().unwrap().to_owned();
        loop {
            if stack
                .message_record(&id)
                .await
                .is_some_and(|r| r.status() == "SUCCEEDED")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        completions.push(started.elapsed());
    }

    // WebSocket: submit → accepted frame, and submit → result frame, one job at a time on one
    // connection (a FIFO group runs its jobs one after another anyway).
    let mut ws = WsClient::connect(stack.output("WebSocketUrl"), Auth::Header(&stack.token))
        .await
        .expect("connect");
    let mut ws_accepts = Vec::new();
    let mut ws_results = Vec::new();
    for i in 0..requests.min(50) {
        let started = Instant::now();
        let request_id = format!("bench-{i}");
        ws.submit(&SubmitFrame::new(&request_id, "echo", json!({"n": i})))
            .await
            .expect("submit");
        loop {
            let frame = ws
                .next_frame(Duration::from_secs(60))
                .await
                .expect("frame")
                .expect("a frame within a minute");
            if frame.request_id.as_deref() != Some(request_id.as_str()) {
                continue;
            }
            match frame.kind {
                FrameKind::Accepted => ws_accepts.push(started.elapsed()),
                FrameKind::Result => {
                    ws_results.push(started.elapsed());
                    break;
                }
                other => panic!("unexpected {other:?}: {frame:?}"),
            }
        }
    }

    println!("| measurement | n | mean ms | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    summary("bare emulator call (SQS GetQueueAttributes)", bare_sqs);
    summary("POST /v1/messages → 202", message_acks);
    summary("POST /v1/jobs → 202", job_acks);
    summary("POST /v1/messages → record SUCCEEDED", completions);
    summary("WebSocket submit → accepted frame", ws_accepts);
    summary("WebSocket submit → result frame", ws_results);
}
