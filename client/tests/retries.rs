//! The client rides out throttling and brief unavailability: it sends a request again after
//! `429`, `503` and a keyed request still in progress, never sooner than `Retry-After`, and a
//! submission only ever under one idempotency key. Against a scripted HTTP server on 127.0.0.1.

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use courier_client::{Backoff, Client, ClientError, Retries, Submit};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer: status, `Retry-After` (seconds), body.
type Scripted = (u16, Option<u64>, serde_json::Value);

/// A request the server saw: method, path, `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    key: Option<String>,
}

#[derive(Default)]
struct Script {
    answers: Vec<Scripted>,
    seen: Vec<Seen>,
}

struct Server {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl Server {
    /// Answers the scripted answers in order, then the last one again.
    async fn start(answers: Vec<Scripted>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            answers,
            seen: Vec::new(),
        }));
        let shared = script.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            let script = shared.clone();
            async move {
                let mut script = script.lock().unwrap();
                script.seen.push(Seen {
                    method: method.to_string(),
                    path: uri.path().to_owned(),
                    key: headers
                        .get("idempotency-key")
                        .map(|v| v.to_str().unwrap().to_owned()),
                });
                let (status, retry_after, body) = if script.answers.len() > 1 {
                    script.answers.remove(0)
                } else {
                    script.answers[0].clone()
                };
                let mut response = axum::response::IntoResponse::into_response((
                    StatusCode::from_u16(status).unwrap(),
                    axum::Json(body),
                ));
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", seconds.to_string().parse().unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, script }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}

fn problem(status: u16, slug: &str) -> serde_json::Value {
    json!({
        "type": format!("{}{slug}", courier_client::rest::PROBLEM_TYPE_PREFIX),
        "title": slug,
        "status": status,
        "detail": "scripted",
    })
}

fn accepted_job() -> serde_json::Value {
    json!({
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "status": "PENDING",
        "statusUrl": "/v1/jobs/0f8fad5b-d9cb-469f-a165-70867728950e",
        "expiresAt": "2026-12-01T00:00:00Z",
        "correlationId": "c-1",
    })
}

fn job(status: &str) -> serde_json::Value {
    json!({
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "type": "echo",
        "status": status,
        "correlationId": "c-1",
        "createdAt": "2026-11-30T00:00:00Z",
        "updatedAt": "2026-11-30T00:00:00Z",
        "expiresAt": "2026-12-01T00:00:00Z",
        "attempts": 1,
        "progress": 100,
    })
}

/// Short waits, so the tests are quick; `Retry-After` still wins over them.
fn quick() -> Retries {
    Retries {
        max_attempts: 4,
        backoff: Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        },
        budget: Duration::from_secs(20),
    }
}

fn client(server: &Server) -> Client {
    Client::new(&server.url).unwrap().with_retries(quick())
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_it_under_the_same_key_it_made() {
    let server = Server::start(vec![
        (503, Some(1), problem(503, "queue-unavailable")),
        (202, None, accepted_job()),
    ])
    .await;
    let started = Instant::now();
    let accepted = client(&server)
        .submit_job(&Submit::new("echo", json!("hi")))
        .await
        .unwrap();
    assert_eq!(accepted.id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not before Retry-After: {:?}",
        started.elapsed()
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let key = seen[0].key.clone().expect("the client made a key");
    assert!(key.starts_with("courier-client-"), "{key}");
    assert_eq!(seen[1].key.as_deref(), Some(key.as_str()), "{seen:?}");
}

#[tokio::test]
async fn the_callers_key_is_the_one_every_try_carries() {
    let server = Server::start(vec![
        (429, None, json!({"message": "Too Many Requests"})),
        (503, Some(0), problem(503, "queue-unavailable")),
        (504, None, json!({"message": "Gateway Timeout"})),
        (202, None, json!({"messageId": "m-1", "correlationId": "c-1", "acceptedAt": "2026-11-30T00:00:00Z"})),
    ])
    .await;
    client(&server)
        .send_message(&Submit::new("echo", json!(1)).idempotency_key("order-42"))
        .await
        .unwrap();
    let keys: Vec<_> = server.seen().into_iter().map(|s| s.key).collect();
    assert_eq!(keys, vec![Some("order-42".to_owned()); 4]);
}

#[tokio::test]
async fn a_keyed_request_still_in_progress_is_asked_again() {
    let server = Server::start(vec![
        (409, Some(0), problem(409, "request-in-progress")),
        (202, None, accepted_job()),
    ])
    .await;
    client(&server)
        .submit_job(&Submit::new("echo", json!("hi")).idempotency_key("k"))
        .await
        .unwrap();
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_reused_key_and_other_refusals_are_answered_at_once() {
    for (status, slug) in [
        (409, "idempotency-key-reused"),
        (400, "invalid-payload"),
        (500, "internal"),
    ] {
        let server = Server::start(vec![(status, Some(0), problem(status, slug))]).await;
        let error = client(&server)
            .submit_job(&Submit::new("echo", json!("hi")))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ClientError::Api(p) if p.status == status),
            "{error}"
        );
        assert_eq!(server.seen().len(), 1, "{slug} is not retried");
    }
}

#[tokio::test]
async fn reads_ride_out_throttling() {
    let server = Server::start(vec![
        (429, None, json!({"message": "Too Many Requests"})),
        (200, None, job("SUCCEEDED")),
    ])
    .await;
    let (job, _) = client(&server)
        .get_job("0f8fad5b-d9cb-469f-a165-70867728950e")
        .await
        .unwrap();
    assert!(job.is_terminal(), "{job:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.method == "GET" && s.key.is_none()));
}

#[tokio::test]
async fn waiting_for_a_job_retries_a_throttled_poll_only_within_its_timeout() {
    let server = Server::start(vec![(
        429,
        Some(3),
        json!({"message": "Too Many Requests"}),
    )])
    .await;
    let started = Instant::now();
    let options = courier_client::WaitOptions {
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let error = client(&server)
        .wait_for_job("0f8fad5b-d9cb-469f-a165-70867728950e", &options, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Unexpected { status: 429, .. }),
        "{error}"
    );
    assert_eq!(
        server.seen().len(),
        1,
        "a 3 s Retry-After is past the 1 s timeout"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_last_answer_is_returned_once_the_tries_are_spent() {
    let server = Server::start(vec![(503, Some(0), problem(503, "queue-unavailable"))]).await;
    let error = client(&server)
        .submit_job(&Submit::new("echo", json!("hi")))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Api(p) if p.status == 503),
        "{error}"
    );
    assert_eq!(server.seen().len(), 4, "max_attempts tries in all");
}

#[tokio::test]
async fn a_retry_after_past_the_budget_ends_the_retries_at_once() {
    let server = Server::start(vec![(503, Some(3600), problem(503, "queue-unavailable"))]).await;
    let started = Instant::now();
    let error = client(&server)
        .submit_job(&Submit::new("echo", json!("hi")))
        .await
        .unwrap_err();
    assert!(matches!(&error, ClientError::Api(p) if p.status == 503));
    assert_eq!(server.seen().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "did not wait an hour"
    );
}

#[tokio::test]
async fn creating_an_endpoint_is_retried_after_throttling_only() {
    let unavailable = Server::start(vec![(503, Some(0), problem(503, "unavailable"))]).await;
    assert!(
        client(&unavailable)
            .create_webhook_endpoint("https://example.com/hook")
            .await
            .is_err()
    );
    assert_eq!(
        unavailable.seen().len(),
        1,
        "a second try could make a second endpoint"
    );

    let throttled = Server::start(vec![
        (429, None, json!({"message": "Too Many Requests"})),
        (503, Some(0), problem(503, "unavailable")),
    ])
    .await;
    assert!(
        client(&throttled)
            .create_webhook_endpoint("https://example.com/hook")
            .await
            .is_err()
    );
    assert_eq!(
        throttled.seen().len(),
        2,
        "the 429 was tried again, the 503 not"
    );
}

#[tokio::test]
async fn with_retries_off_a_submission_is_sent_once_and_unkeyed() {
    let server = Server::start(vec![(503, Some(0), problem(503, "queue-unavailable"))]).await;
    let client = Client::new(&server.url)
        .unwrap()
        .with_retries(Retries::none());
    assert!(
        client
            .submit_job(&Submit::new("echo", json!("hi")))
            .await
            .is_err()
    );
    assert_eq!(
        server.seen(),
        vec![Seen {
            method: "POST".into(),
            path: "/v1/jobs".into(),
            key: None
        }]
    );
}
