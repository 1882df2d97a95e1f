//! Malformed, oversized, wrongly typed and hostile requests: each gets its precise problem+json
//! answer, and none of them enqueues anything; valid JSON that queues refuse is carried intact.
//!
//! "Nothing was enqueued" is checked by waiting until the work queue has been empty once after
//! the bad requests (other suites' work comes and goes meanwhile) and finding no record for the
//! bad requests' correlation ids.

use courier_client::frames::{FrameKind, SubmitFrame};
use courier_e2e::ws::{connect, frames_until_final};
use courier_e2e::{Reply, Stack, unique};
use serde_json::json;

struct Case {
    name: &'static str,
    path: &'static str,
    method: reqwest::Method,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    status: u16,
    problem: &'static str,
}

fn post(name: &'static str, body: impl Into<Vec<u8>>, status: u16, problem: &'static str) -> Case {
    Case {
        name,
        path: "/v1/messages",
        method: reqwest::Method::POST,
        content_type: Some("application/json"),
        body: body.into(),
        headers: vec![],
        status,
        problem,
    }
}

fn cases() -> Vec<Case> {
    let valid = br#"{"type":"echo","payload":1}"#.to_vec();
    // Over the 5,000,000 bytes the two POSTs of work take.
    let oversized = format!(r#"{{"type":"echo","payload":"{}"}}"#, "x".repeat(5_000_000));
    vec![
        post(
            "truncated JSON",
            &br#"{"type": "echo""#[..],
            400,
            "malformed-json",
        ),
        post("empty body", Vec::new(), 400, "malformed-json"),
        post(
            "not UTF-8",
            vec![0xff, 0xfe, b'{', b'}'],
            400,
            "malformed-json",
        ),
        post(
            "nested 100k deep",
            "[".repeat(100_000),
            400,
            "malformed-json",
        ),
        post(
            "trailing garbage",
            &br#"{"type":"echo"} {"#[..],
            400,
            "malformed-json",
        ),
        post("array body", &b"[1,2]"[..], 400, "invalid-body"),
        post(
            "missing type",
            &br#"{"payload":1}"#[..],
            400,
            "invalid-body",
        ),
        post(
            "type not a string",
            &br#"{"type":7}"#[..],
            400,
            "invalid-body",
        ),
        post(
            "unknown field",
            &br#"{"type":"echo","callback":{"url":"x"}}"#[..],
            400,
            "invalid-body",
        ),
        post(
            "unknown job type",
            &br#"{"type":"rm -rf"}"#[..],
            400,
            "unknown-job-type",
        ),
        post(
            "bad sha256 payload",
            &br#"{"type":"sha256","payload":{"data":1}}"#[..],
            400,
            "invalid-payload",
        ),
        post(
            "sleep too long",
            &br#"{"type":"sleep","payload":{"ms":99999999}}"#[..],
            400,
            "invalid-payload",
        ),
        post("oversized body", oversized, 413, "body-too-large"),
        Case {
            content_type: None,
            ..post(
                "no content type",
                valid.clone(),
                415,
                "unsupported-media-type",
            )
        },
        Case {
            content_type: Some("text/plain"),
            ..post("text/plain", valid.clone(), 415, "unsupported-media-type")
        },
        Case {
            content_type: Some("application/x-www-form-urlencoded"),
            ..post(
                "form body",
                &b"type=echo"[..],
                415,
                "unsupported-media-type",
            )
        },
        Case {
            headers: vec![("idempotency-key", "has spaces in it".into())],
            ..post("bad idempotency key", valid.clone(), 400, "invalid-header")
        },
        Case {
            headers: vec![("idempotency-key", "k".repeat(300))],
            ..post(
                "overlong idempotency key",
                valid.clone(),
                400,
                "invalid-header",
            )
        },
        Case {
            headers: vec![("x-correlation-id", "<script>alert(1)</script>".into())],
            ..post(
                "hostile correlation id",
                valid.clone(),
                400,
                "invalid-header",
            )
        },
        Case {
            path: "/v1/nothing-here",
            ..post("unknown route", valid.clone(), 404, "not-found")
        },
        Case {
            method: reqwest::Method::GET,
            ..post("wrong method", Vec::new(), 405, "method-not-allowed")
        },
    ]
}

async fn send(stack: &Stack, case: &Case, correlation_id: &str) -> Reply {
    let mut request = stack
        .api(case.method.clone(), case.path)
        .body(case.body.clone());
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    let mut has_correlation = false;
    for (name, value) in &case.headers {
        has_correlation |= *name == "x-correlation-id";
        request = request.header(*name, value);
    }
    if !has_correlation {
        request = request.header("x-correlation-id", correlation_id);
    }
    Reply::from(request.send().await.expect("request reaches the API")).await
}

#[tokio::test]
async fn bad_requests_get_precise_problems_and_enqueue_nothing() {
    let stack = Stack::load().await;
    let mut correlation_ids = Vec::new();
    for case in cases() {
        let correlation_id = unique("bad");
        let reply = send(&stack, &case, &correlation_id).await;
        assert_eq!(reply.status, case.status, "{}: {reply:?}", case.name);
        assert_eq!(reply.problem_type(), case.problem, "{}", case.name);
        let detail = reply.json()["detail"].as_str().unwrap_or("").to_owned();
        assert!(
            !detail.is_empty(),
            "{}: a problem says what is wrong",
            case.name
        );
        if case.name != "hostile correlation id" {
            assert_eq!(
                reply.header("x-correlation-id"),
                Some(correlation_id.as_str()),
                "{}: errors echo the correlation id too",
                case.name
            );
        }
        correlation_ids.push(correlation_id);
    }

    // A good message after the bad ones, then an idle queue: anything the bad requests had
    // enqueued would have been processed by now.
    let sentinel = stack
        .post_json("/v1/messages", &json!({"type": "echo"}), &[])
        .await;
    assert_eq!(sentinel.status, 202, "{sentinel:?}");
    stack
        .wait_for_status(sentinel.json()["messageId"].as_str().unwrap(), "SUCCEEDED")
        .await;
    stack.wait_for_work_queue_idle().await;
    for correlation_id in &correlation_ids {
        assert_eq!(
            stack.records_with_correlation_id(correlation_id).await,
            0,
            "a rejected request left a record ({correlation_id})"
        );
    }
}

#[tokio::test]
async fn every_route_refuses_a_missing_forged_unsigned_or_foreign_token_and_accepts_nothing() {
    let stack = Stack::load().await;
    let job = uuid::Uuid::new_v4().to_string();
    // A real endpoint of the signed-in user's: the refusals must not depend on it being unknown.
    let endpoint = stack.register_endpoint("http://127.0.0.1:9/").await.id;
    let routes = [
        (reqwest::Method::POST, "/v1/messages".to_owned()),
        (reqwest::Method::POST, "/v1/jobs".to_owned()),
        (reqwest::Method::GET, "/v1/job-types".to_owned()),
        (reqwest::Method::GET, "/v1/openapi.json".to_owned()),
        (reqwest::Method::GET, format!("/v1/jobs/{job}")),
        (reqwest::Method::DELETE, format!("/v1/jobs/{job}")),
        (reqwest::Method::GET, "/v1/jobs?status=PENDING".to_owned()),
        (reqwest::Method::GET, format!("/v1/jobs/{job}/events")),
        (reqwest::Method::POST, "/v1/jobs/cancel".to_owned()),
        (reqwest::Method::POST, "/v1/jobs/rerun".to_owned()),
        (reqwest::Method::POST, "/v1/webhook-endpoints".to_owned()),
        (reqwest::Method::GET, "/v1/webhook-endpoints".to_owned()),
        (
            reqwest::Method::GET,
            format!("/v1/webhook-endpoints/{endpoint}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/webhook-endpoints/{endpoint}"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhook-endpoints/{endpoint}/rotate"),
        ),
        (reqwest::Method::GET, "/v1/nothing-here".to_owned()),
    ];
    let tokens = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(courier_e2e::tampered_token(&stack.token)),
        Some(courier_e2e::unsigned_token(&stack.token)),
        Some(stack.token_for_another_audience().await),
    ];
    let correlation_id = unique("unauthorized");
    for (method, path) in &routes {
        for token in &tokens {
            let mut request = stack
                .http
                .request(method.clone(), stack.url(path))
                .header("content-type", "application/json")
                .header("x-correlation-id", &correlation_id)
                .body(json!({"type": "echo", "payload": 1}).to_string());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let reply = Reply::from(request.send().await.expect("request reaches the API")).await;
            assert_eq!(
                reply.status, 401,
                "{method} {path} with {token:?}: {reply:?}"
            );
        }
    }
    // The endpoint was neither rotated nor deleted.
    let shown = stack
        .get(&format!("/v1/webhook-endpoints/{endpoint}"))
        .await;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.json()["secrets"].as_array().unwrap().len(), 1);
    // The same requests signed in are answered by courier (and accepted, for the POSTs).
    let accepted = stack
        .post_json("/v1/jobs", &json!({"type": "echo", "payload": 1}), &[])
        .await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    stack
        .wait_for_job(accepted.json()["id"].as_str().unwrap())
        .await;
    stack.wait_for_work_queue_idle().await;
    assert_eq!(
        stack.records_with_correlation_id(&correlation_id).await,
        0,
        "an unauthorized request left a record"
    );
}

/// Characters that are valid in JSON but that SQS refuses in a message (U+FFFE, U+FFFF and the
/// control characters) reach the job intact through every door, and as a failure reason through
/// the dead-letter queue: never a 5xx, never a lost job.
#[tokio::test]
async fn characters_sqs_refuses_travel_intact_through_every_door() {
    let stack = Stack::load().await;
    let text = "noncharacters \u{FFFE}\u{FFFF}, a control \u{1}, a tab \t, and \u{10FFFF}";
    let payload = json!({"text": text, "\u{FFFF} as a key": [text]});

    let job = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": payload}),
            &[],
        )
        .await;
    assert_eq!(job.status, 202, "{job:?}");
    let done = stack.wait_for_job(job.json()["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        done["result"], payload,
        "the payload came back as it went in"
    );

    let message = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "echo", "payload": payload}),
            &[],
        )
        .await;
    assert_eq!(message.status, 202, "{message:?}");
    stack
        .wait_for_status(message.json()["messageId"].as_str().unwrap(), "SUCCEEDED")
        .await;

    // The reason travels as a dead letter's message attribute too.
    let reason = unique(text);
    let failed = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "fail", "payload": {"reason": reason}}),
            &[],
        )
        .await;
    assert_eq!(failed.status, 202, "{failed:?}");
    let id = failed.json()["id"].as_str().unwrap().to_owned();
    let done = stack.wait_for_job(&id).await;
    assert_eq!(done["status"], "FAILED", "{done}");
    assert_eq!(done["attempts"], 1, "failed at once, not retried: {done}");
    assert_eq!(
        done["error"],
        json!({"kind": "permanent", "reason": reason})
    );
    stack.wait_for_dead_letter(&id).await;

    let mut ws = connect(&stack).await;
    ws.submit(&SubmitFrame::new("nonchar", "echo", payload.clone()))
        .await
        .unwrap();
    let frames = frames_until_final(&mut ws, &["nonchar"]).await;
    let last = frames.last().unwrap();
    assert_eq!(last.kind, FrameKind::Result, "{frames:#?}");
    assert_eq!(last.data, payload);
}
