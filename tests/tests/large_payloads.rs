//! Bodies of any size, end to end through the local stack's S3: a 4 MB payload posted directly
//! and a 50 MB one through an upload, each run by a Rust type (`sha256`) and a remote one (the
//! Python `word-stats` function, which gets a URL instead of the payload); a 20 MB result read
//! through `resultUrl` from the claim, from the callback and through the WebSocket frame's
//! `resultRef`, byte for byte; no URL for an expired claim; another caller's upload refused;
//! bad references and bodies refused precisely.

use courier_client::frames::{FrameKind, SubmitFrame};
use courier_e2e::receiver::Receiver;
use courier_e2e::{Reply, Stack};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A new upload of whoever `token` belongs to, holding `body`: its id.
async fn upload_as(stack: &Stack, token: &str, body: Vec<u8>) -> String {
    let made = stack.post_json_as(token, "/v1/uploads", &json!({})).await;
    assert_eq!(made.status, 201, "{made:?}");
    let upload = made.json();
    assert_eq!(upload["maxBytes"], 64 * 1024 * 1024);
    let put = stack
        .http
        .put(upload["uploadUrl"].as_str().unwrap())
        .body(body)
        .send()
        .await
        .expect("the bucket takes the PUT");
    assert!(put.status().is_success(), "{:?}", put.status());
    upload["id"].as_str().unwrap().to_owned()
}

async fn upload(stack: &Stack, body: Vec<u8>) -> String {
    upload_as(stack, &stack.token, body).await
}

async fn run(stack: &Stack, body: &Value) -> Value {
    let accepted = stack.post_json("/v1/jobs", body, &[]).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    job
}

/// The bytes behind a result URL.
async fn fetch(stack: &Stack, url: &str) -> Vec<u8> {
    let response = stack.http.get(url).send().await.expect("the URL answers");
    assert!(response.status().is_success(), "{:?}", response.status());
    response.bytes().await.unwrap().to_vec()
}

fn text_of(len: usize) -> String {
    "lorem ipsum ".repeat(len / 12 + 1)[..len].to_owned()
}

#[tokio::test]
async fn a_4_mb_payload_posted_directly_runs_through_a_rust_type_and_a_remote_type() {
    let stack = Stack::load().await;
    let text = text_of(4_000_000);
    let job = run(
        &stack,
        &json!({"type": "sha256", "payload": {"data": text}}),
    )
    .await;
    assert_eq!(job["result"]["sha256"], sha256(text.as_bytes()), "{job}");
    let job = run(
        &stack,
        &json!({"type": "word-stats", "payload": {"text": text}}),
    )
    .await;
    assert_eq!(job["result"]["sha256"], sha256(text.as_bytes()), "{job}");
    assert_eq!(job["result"]["characters"], 4_000_000);
}

#[tokio::test]
async fn a_50_mb_payload_through_an_upload_runs_through_a_rust_type_and_a_remote_type() {
    let stack = Stack::load().await;
    let text = text_of(50_000_000);
    let digest = sha256(text.as_bytes());
    let rust = upload(&stack, serde_json::to_vec(&json!({"data": text})).unwrap()).await;
    let remote = upload(&stack, serde_json::to_vec(&json!({"text": text})).unwrap()).await;
    let job = run(&stack, &json!({"type": "sha256", "payloadRef": rust})).await;
    assert_eq!(job["result"]["sha256"], digest, "{job}");
    let job = run(&stack, &json!({"type": "word-stats", "payloadRef": remote})).await;
    assert_eq!(job["result"]["sha256"], digest, "{job}");

    // An upload's payload is checked against its type's schema before the first attempt.
    let wrong = upload(&stack, br#"{"text": 5}"#.to_vec()).await;
    let accepted = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "word-stats", "payloadRef": wrong}),
            &[],
        )
        .await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["attempts"], 1, "never run, never retried: {job}");
    assert!(
        job["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("uploaded payload is refused"),
        "{job}"
    );
}

#[tokio::test]
async fn a_20_mb_result_is_read_through_its_url_from_the_claim_the_callback_and_a_frame() {
    let stack = Stack::load().await;
    let big = serde_json::to_vec(&json!({"blob": text_of(20_000_000)})).unwrap();
    let digest = sha256(&big);
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;

    // From the claim, and from the callback.
    let reference = upload(&stack, big.clone()).await;
    let job = run(
        &stack,
        &json!({"type": "echo", "payloadRef": reference, "callback": {"endpointId": endpoint.id}}),
    )
    .await;
    assert!(job.get("result").is_none(), "held, not inline: {job}");
    let url = job["resultUrl"].as_str().expect("a result URL").to_owned();
    assert_eq!(sha256(&fetch(&stack, &url).await), digest);
    let id = job["id"].as_str().unwrap().to_owned();
    stack.wait_for_callback(&id, "DELIVERED").await;
    let delivered: Value =
        serde_json::from_slice(&receiver.arrivals().last().unwrap().body).unwrap();
    assert_eq!(delivered["id"], id);
    let url = delivered["resultUrl"].as_str().expect("the callback's URL");
    assert_eq!(sha256(&fetch(&stack, url).await), digest);
    // In the list too.
    let listed = stack.get("/v1/jobs?type=echo&limit=5").await.json();
    let entry = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .cloned()
        .expect("listed");
    assert!(entry["resultUrl"].is_string(), "{entry}");

    // Through the WebSocket frame's resultRef.
    let reference = upload(&stack, big.clone()).await;
    let mut ws = courier_e2e::ws::connect(&stack).await;
    let mut frame = SubmitFrame::new("big", "echo", Value::Null);
    frame.payload_ref = Some(reference);
    ws.submit(&frame).await.expect("sent");
    let frames = courier_e2e::ws::frames_until_final(&mut ws, &["big"]).await;
    let result = frames
        .iter()
        .find(|f| f.kind == FrameKind::Result)
        .unwrap_or_else(|| panic!("{frames:#?}"));
    let href = &result.result_ref.as_ref().expect("a resultRef").href;
    let claim = stack.get(href).await.json();
    let url = claim["resultUrl"].as_str().expect("the claim's URL");
    assert_eq!(sha256(&fetch(&stack, url).await), digest);

    // Once the claim has expired, no URL is minted: the job is gone.
    stack.age_claim(&id).await;
    let gone = stack.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(gone.status, 404, "{gone:?}");
}

#[tokio::test]
async fn references_and_bodies_are_refused_precisely() {
    let stack = Stack::load().await;
    let mine = upload(&stack, br#"{"a": 1}"#.to_vec()).await;
    let bob = stack.other_callers_token().await;
    for (token, reference) in [
        (bob.as_str(), mine.as_str()),
        (stack.token.as_str(), "up_0123456789abcdef0123456789abcdef"),
        (stack.token.as_str(), "up_nope"),
    ] {
        let refused = stack
            .post_json_as(
                token,
                "/v1/jobs",
                &json!({"type": "echo", "payloadRef": reference}),
            )
            .await;
        assert_eq!(refused.status, 400, "{reference}: {refused:?}");
        assert_eq!(refused.problem_type(), "invalid-payload-ref");
    }
    // An upload made but never PUT holds nothing.
    let empty = stack.post_json("/v1/uploads", &json!({}), &[]).await.json();
    let refused = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payloadRef": empty["id"]}),
            &[],
        )
        .await;
    assert_eq!(refused.problem_type(), "invalid-payload-ref", "{refused:?}");
    let both = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": 1, "payloadRef": mine}),
            &[],
        )
        .await;
    assert_eq!(both.status, 400, "{both:?}");
    assert_eq!(both.problem_type(), "invalid-body");

    let over = format!(r#"{{"type":"echo","payload":"{}"}}"#, "x".repeat(5_000_001));
    let reply = Reply::from(
        stack
            .api(reqwest::Method::POST, "/v1/messages")
            .header("content-type", "application/json")
            .body(over)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.problem_type(), "body-too-large");

    // A WebSocket submit names only its caller's uploads too.
    let mut ws = courier_e2e::ws::connect_as(&stack, &bob).await;
    let mut frame = SubmitFrame::new("theirs", "echo", Value::Null);
    frame.payload_ref = Some(mine);
    ws.submit(&frame).await.expect("sent");
    let frames = courier_e2e::ws::frames_until_final(&mut ws, &["theirs"]).await;
    let error = frames
        .iter()
        .find(|f| f.kind == FrameKind::Error)
        .expect("an error frame");
    assert_eq!(error.data["code"], "invalid-payload-ref", "{error:?}");
}
