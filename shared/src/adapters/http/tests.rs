//! Handler tests: the real router over in-memory adapters, one request at a time.

use super::{AppState, router};
use crate::adapters::memory::{
    FixedClock, InMemoryClaims, InMemoryIdempotencyStore, InMemoryQueue, InMemorySealer,
    InMemoryWebhookEndpoints,
};
use crate::domain::Principal;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

pub(super) struct Harness {
    pub(super) queue: Arc<InMemoryQueue>,
    pub(super) claims: Arc<InMemoryClaims>,
    clock: Arc<FixedClock>,
    idempotency: Arc<InMemoryIdempotencyStore>,
    pub(super) endpoints: Arc<InMemoryWebhookEndpoints>,
    pub(super) tasks: Arc<crate::adapters::memory::InMemoryTasks>,
    pub(super) task_checks: Arc<crate::adapters::memory::RecordingTaskChecks>,
    pub(super) quotas: Arc<crate::adapters::memory::InMemoryQuotas>,
    pub(super) probe: Arc<crate::adapters::memory::RecordingProbe>,
    pub(super) blobs: Arc<crate::adapters::memory::InMemoryBlobs>,
    pub(super) schedules: Arc<crate::adapters::memory::InMemorySchedules>,
    pub(super) scheduler: Arc<crate::adapters::memory::RecordingScheduler>,
    state: AppState,
}

impl Harness {
    pub(super) fn new() -> Self {
        let queue = Arc::new(InMemoryQueue::default());
        let idempotency = Arc::new(InMemoryIdempotencyStore::default());
        let claims = Arc::new(InMemoryClaims::default());
        let clock = Arc::new(FixedClock::at(datetime!(2026-11-23 12:00:00.5 UTC)));
        let endpoints = Arc::new(InMemoryWebhookEndpoints::default());
        let tasks = Arc::new(crate::adapters::memory::InMemoryTasks::default());
        let task_checks = Arc::new(crate::adapters::memory::RecordingTaskChecks::default());
        let quota_store = Arc::new(crate::adapters::memory::InMemoryQuotas::default());
        let quotas = crate::adapters::memory::roomy_quotas(quota_store.clone(), clock.clone());
        let probe = Arc::new(crate::adapters::memory::RecordingProbe::default());
        let blobs = Arc::new(crate::adapters::memory::InMemoryBlobs::default());
        let schedules = Arc::new(crate::adapters::memory::InMemorySchedules::default());
        let scheduler = Arc::new(crate::adapters::memory::RecordingScheduler::default());
        let payloads = Arc::new(crate::application::payloads::Payloads {
            store: blobs.clone(),
        });
        let state = AppState {
            payloads: payloads.clone(),
            schedules: Arc::new(crate::application::schedules::Schedules {
                store: schedules.clone(),
                scheduler: scheduler.clone(),
                registry: Arc::new(courier_jobs::examples::offline()),
                endpoints: endpoints.clone(),
                clock: clock.clone(),
            }),
            intake: Arc::new(crate::application::intake::Intake {
                payloads: Some(payloads.clone()),
                registry: Arc::new(courier_jobs::examples::offline()),
                queue: queue.clone(),
                claims: claims.clone(),
                idempotency: idempotency.clone(),
                endpoints: endpoints.clone(),
                clock: clock.clone(),
                claim_lifetime: std::time::Duration::from_secs(3600),
                quotas: quotas.clone(),
            }),
            claims: claims.clone(),
            endpoints: Arc::new(crate::application::webhook_endpoints::WebhookEndpoints {
                store: endpoints.clone(),
                sealer: Arc::new(InMemorySealer::default()),
                url_policy: Arc::new(crate::application::ssrf::SsrfPolicy {
                    allow_http: true,
                    allowed_hosts: vec!["127.0.0.1".into()],
                }),
                destinations: crate::application::webhook_endpoints::DestinationPolicy {
                    region: "us-east-1".into(),
                    own: vec![],
                    account: "000000000000".into(),
                    same_account: false,
                },
                probe: probe.clone(),
                clock: clock.clone(),
                quotas: quotas.clone(),
            }),
            clock: clock.clone(),
            attempt_limits: crate::application::job_types::AttemptLimits {
                default_max_attempts: 5,
                max_receive_count: 20,
            },
            tasks: Arc::new(crate::application::task_reports::TaskReports::new(
                tasks.clone(),
                task_checks.clone(),
                None,
            )),
            quotas,
            own_caller_check: None,
        };
        Self {
            quotas: quota_store,
            probe,
            blobs,
            schedules,
            scheduler,
            tasks,
            task_checks,
            queue,
            claims,
            clock,
            idempotency,
            endpoints,
            state,
        }
    }

    async fn post(
        &self,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        self.post_to("/v1/messages", body, headers).await
    }

    pub(super) async fn post_to(
        &self,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut request = Request::post(path).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    /// Sends `request` as the verified caller [`alice`].
    pub(super) async fn send(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        self.send_as(request, Some(alice())).await
    }

    /// Sends `request` as `caller` (`None`: no verified caller on it).
    pub(super) async fn send_as(
        &self,
        mut request: Request<Body>,
        caller: Option<Principal>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, body)
    }
}

/// The lean door's own check of the caller, through the whole router: a refusal is answered
/// inside the correlation layer (its correlation id on it, nothing accepted), a good token
/// names its caller for the handlers and the caller's quota.
#[tokio::test]
async fn through_the_lean_door_the_router_checks_the_token_itself() {
    use crate::application::ports::{TokenRejected, TokenVerifier};
    struct AliceOnly;
    #[async_trait::async_trait]
    impl TokenVerifier for AliceOnly {
        async fn verify(&self, token: &str) -> Result<Principal, TokenRejected> {
            match token {
                "alice" => Ok(alice()),
                _ => Err(TokenRejected::Invalid("bad signature".into())),
            }
        }
    }
    let mut h = Harness::new();
    h.state.own_caller_check = Some(Arc::new(AliceOnly));
    let message = || {
        Request::post("/v1/messages")
            .header("content-type", "application/json")
            .header("x-correlation-id", "corr-1")
    };
    let body = r#"{"type": "echo", "payload": {}}"#;
    // A caller planted on the request (as the HTTP API's context would) is not believed.
    let (status, headers, problem) = h
        .send_as(message().body(Body::from(body)).unwrap(), Some(bob()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem_slug(&problem), "unauthenticated");
    assert_eq!(headers["x-correlation-id"], "corr-1");
    assert_eq!(headers["www-authenticate"], "Bearer");
    let request = message()
        .header("authorization", "Bearer mallory")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(h.send_as(request, None).await.0, StatusCode::UNAUTHORIZED);
    assert!(h.queue.sent().is_empty(), "nothing accepted");

    let request = message()
        .header("authorization", "Bearer alice")
        .body(Body::from(body))
        .unwrap();
    let (status, _, accepted) = h.send_as(request, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(h.queue.sent().len(), 1);
    assert_eq!(h.queue.sent()[0].owner, Some(alice()));
}

pub(super) fn alice() -> Principal {
    Principal::new("https://issuer.example", "alice")
}

pub(super) fn bob() -> Principal {
    Principal::new("https://issuer.example", "bob")
}

fn problem_slug(body: &Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:courier:problem:"))
        .unwrap_or("")
}

#[tokio::test]
async fn accepts_only_after_the_queue_has_the_message() {
    let h = Harness::new();
    let (status, headers, body) = h
        .post(
            r#"{"type":"echo","payload":{"a":1}}"#,
            &[("x-correlation-id", "corr-1")],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["x-correlation-id"], "corr-1");
    assert_eq!(body["correlationId"], "corr-1");
    assert_eq!(body["acceptedAt"], "2026-11-23T12:00:00.500Z");
    let sent = h.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id, body["messageId"].as_str().unwrap());
    assert_eq!(sent[0].correlation_id.as_str(), "corr-1");
    assert_eq!(sent[0].payload, json!({"a": 1}));
}

#[tokio::test]
async fn a_failed_queue_write_is_a_503_with_retry_after_never_a_202() {
    let h = Harness::new();
    h.queue.fail.set(true);
    let (status, headers, body) = h
        .post(r#"{"type":"echo"}"#, &[("idempotency-key", "k-1")])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(problem_slug(&body), "temporarily-unavailable");
    assert!(h.queue.sent().is_empty());

    // The key was released: once the queue is back, the client's retry is accepted for real.
    h.queue.fail.set(false);
    let (status, headers, _) = h
        .post(r#"{"type":"echo"}"#, &[("idempotency-key", "k-1")])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!headers.contains_key("idempotent-replayed"));
    assert_eq!(h.queue.sent().len(), 1);
}

#[tokio::test]
async fn a_failed_idempotency_store_is_a_503_and_enqueues_nothing() {
    let h = Harness::new();
    h.idempotency.fail.set(true);
    let (status, headers, body) = h
        .post(r#"{"type":"echo"}"#, &[("idempotency-key", "k-2")])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(problem_slug(&body), "temporarily-unavailable");
    assert!(h.queue.sent().is_empty());
}

#[tokio::test]
async fn the_same_key_and_body_replays_and_another_body_conflicts() {
    let h = Harness::new();
    let first = h
        .post(
            r#"{"type":"echo","payload":[1]}"#,
            &[("idempotency-key", "k")],
        )
        .await;
    let again = h
        .post(
            r#"{ "payload": [1], "type": "echo" }"#,
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(first.0, StatusCode::ACCEPTED);
    assert_eq!(again.0, StatusCode::ACCEPTED);
    assert_eq!(again.1["idempotent-replayed"], "true");
    assert_eq!(again.2, first.2);
    assert_eq!(h.queue.sent().len(), 1);

    let other = h
        .post(
            r#"{"type":"echo","payload":[2]}"#,
            &[("idempotency-key", "k")],
        )
        .await;
    assert_eq!(other.0, StatusCode::CONFLICT);
    assert_eq!(problem_slug(&other.2), "idempotency-key-reused");
    assert_eq!(h.queue.sent().len(), 1);
}

#[tokio::test]
async fn bad_input_gets_its_precise_problem_and_enqueues_nothing() {
    let h = Harness::new();
    let big = format!(
        r#"{{"type":"echo","payload":"{}"}}"#,
        "x".repeat(crate::domain::blob::MAX_DIRECT_BODY_BYTES)
    );
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "application/json",
            "{".into(),
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            "application/json",
            "".into(),
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            "application/json",
            r#"{"payload":1}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            "application/json",
            r#"{"type":"nope"}"#.into(),
            StatusCode::BAD_REQUEST,
            "unknown-job-type",
        ),
        (
            "application/json",
            r#"{"type":"flaky"}"#.into(),
            StatusCode::BAD_REQUEST,
            "invalid-payload",
        ),
        (
            "text/plain",
            r#"{"type":"echo"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            "application/json",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
        ),
    ];
    for (content_type, body, status, slug) in cases {
        let request = Request::post("/v1/messages")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap();
        let (got, headers, problem) = h.send(request).await;
        assert_eq!(got, status, "{slug}");
        assert_eq!(problem_slug(&problem), slug);
        assert_eq!(problem["status"], status.as_u16());
        assert!(
            headers.contains_key("x-correlation-id"),
            "{slug}: errors carry the correlation id"
        );
    }
    assert!(h.queue.sent().is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let h = Harness::new();
    let (status, _, body) = h
        .send(Request::get("/v2/x").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem_slug(&body), "not-found");
    let (status, _, body) = h
        .send(Request::delete("/v1/messages").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem_slug(&body), "method-not-allowed");
}

#[tokio::test]
async fn a_hostile_correlation_id_is_refused() {
    let h = Harness::new();
    let (status, _, body) = h
        .post(r#"{"type":"echo"}"#, &[("x-correlation-id", "a b c")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem_slug(&body), "invalid-header");
    assert!(h.queue.sent().is_empty());
}

mod jobs {
    use super::*;
    use crate::domain::JobStatus;

    async fn submit(h: &Harness) -> String {
        let (status, headers, body) = h
            .post_to("/v1/jobs", r#"{"type":"sleep","payload":{"ms":10}}"#, &[])
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(headers["location"], format!("/v1/jobs/{id}"));
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(body["status"], "PENDING");
        assert_eq!(body["statusUrl"], format!("/v1/jobs/{id}"));
        assert_eq!(body["expiresAt"], "2026-11-23T13:00:00.500Z");
        id
    }

    async fn get(h: &Harness, path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        h.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn delete(h: &Harness, path: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        h.send(Request::delete(path).body(Body::empty()).unwrap())
            .await
    }

    #[tokio::test]
    async fn a_job_is_claimed_queued_and_readable() {
        let h = Harness::new();
        let id = submit(&h).await;
        assert_eq!(h.queue.sent()[0].message_id, id);
        assert_eq!(
            crate::domain::WorkId::of(&h.queue.sent()[0]),
            crate::domain::WorkId::job(&id),
            "tracked on its claim"
        );
        let (status, headers, body) = get(&h, &format!("/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body["status"], "PENDING");
        assert_eq!(body["type"], "sleep");
        assert_eq!(body["progress"], 0);
        assert_eq!(body["expiresAt"], "2026-11-23T13:00:00.500Z");
        assert!(body.get("result").is_none());
    }

    #[tokio::test]
    async fn another_callers_job_answers_exactly_as_an_unknown_one() {
        let h = Harness::new();
        let id = submit(&h).await;
        let unknown = crate::domain::JobId::generate();
        for method in ["GET", "DELETE"] {
            let request = |id: &str| {
                Request::builder()
                    .method(method)
                    .uri(format!("/v1/jobs/{id}"))
                    .body(Body::empty())
                    .unwrap()
            };
            let (status, _, theirs) = h.send_as(request(&id), Some(bob())).await;
            let (_, _, nobodys) = h.send_as(request(unknown.as_str()), Some(bob())).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {theirs}");
            // The same problem, but for the id it names.
            let same = |body: &Value, id: &str| body.to_string().replace(id, "<id>");
            assert_eq!(
                same(&theirs, &id),
                same(&nobodys, unknown.as_str()),
                "{method}"
            );
        }
        // Bob's DELETE cancelled nothing: Alice still sees her job pending.
        let (status, _, body) = get(&h, &format!("/v1/jobs/{id}")).await;
        assert_eq!(
            (status, body["status"].clone()),
            (StatusCode::OK, json!("PENDING"))
        );
    }

    #[tokio::test]
    async fn idempotency_keys_belong_to_their_caller() {
        let h = Harness::new();
        let body = r#"{"type":"echo","payload":1}"#;
        let key = [("idempotency-key", "shared-key")];
        let request = || {
            let mut request = Request::post("/v1/jobs").header("content-type", "application/json");
            for (name, value) in key {
                request = request.header(name, value);
            }
            request.body(Body::from(body)).unwrap()
        };
        let (alice_status, _, alices) = h.send_as(request(), Some(alice())).await;
        let (bob_status, headers, bobs) = h.send_as(request(), Some(bob())).await;
        assert_eq!(
            (alice_status, bob_status),
            (StatusCode::ACCEPTED, StatusCode::ACCEPTED)
        );
        assert_ne!(alices["id"], bobs["id"], "two callers, two jobs");
        assert!(
            !headers.contains_key("idempotent-replayed"),
            "not Alice's replay"
        );
        assert_eq!(h.queue.sent().len(), 2);
    }

    #[tokio::test]
    async fn a_request_without_a_verified_caller_is_refused_on_every_route() {
        let h = Harness::new();
        let id = crate::domain::JobId::generate();
        for (method, path, body) in [
            ("POST", "/v1/messages".to_owned(), r#"{"type":"echo"}"#),
            ("POST", "/v1/jobs".to_owned(), r#"{"type":"echo"}"#),
            ("GET", format!("/v1/jobs/{id}"), ""),
            ("DELETE", format!("/v1/jobs/{id}"), ""),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(&path)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let (status, _, problem) = h.send_as(request, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(problem_slug(&problem), "unauthenticated");
        }
        assert!(h.queue.sent().is_empty());
    }

    #[tokio::test]
    async fn a_terminal_job_has_no_retry_after() {
        let h = Harness::new();
        let id = submit(&h).await;
        h.claims.set_status(&id, JobStatus::Succeeded);
        let (status, headers, _) = get(&h, &format!("/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("retry-after"));
    }

    #[tokio::test]
    async fn a_failed_claim_write_is_a_503_and_the_queue_write_fails_the_job_too() {
        let h = Harness::new();
        h.claims.fail_create.set(true);
        let (status, headers, body) = h.post_to("/v1/jobs", r#"{"type":"echo"}"#, &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(problem_slug(&body), "temporarily-unavailable");

        let h = Harness::new();
        h.queue.fail.set(true);
        let (status, _, _) = h.post_to("/v1/jobs", r#"{"type":"echo"}"#, &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            h.claims.is_empty(),
            "the claim of an unqueued job is removed"
        );
    }

    #[tokio::test]
    async fn expired_unknown_and_malformed_ids_are_told_apart() {
        let h = Harness::new();
        let id = submit(&h).await;
        h.clock.advance(std::time::Duration::from_secs(3600));
        let (status, _, body) = get(&h, &format!("/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "expired at expiresAt");
        assert_eq!(problem_slug(&body), "job-not-found");
        let unknown = crate::domain::JobId::generate();
        let (status, _, _) = get(&h, &format!("/v1/jobs/{unknown}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for bad in ["not-a-uuid", "0F8FAD5B-D9CB-469F-A165-70867728950E", "%FF"] {
            let (status, _, body) = get(&h, &format!("/v1/jobs/{bad}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(problem_slug(&body), "invalid-job-id");
        }
    }

    #[tokio::test]
    async fn only_a_pending_job_can_be_cancelled() {
        let h = Harness::new();
        let id = submit(&h).await;
        let (status, headers, body) = delete(&h, &format!("/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "CANCELLED");
        assert!(!headers.contains_key("retry-after"));
        let (status, _, body) = delete(&h, &format!("/v1/jobs/{id}")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(problem_slug(&body), "job-not-cancellable");

        let running = submit(&h).await;
        h.claims.set_status(&running, JobStatus::Running);
        let (status, _, body) = delete(&h, &format!("/v1/jobs/{running}")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body["detail"].as_str().unwrap().contains("RUNNING"));

        let unknown = crate::domain::JobId::generate();
        let (status, _, _) = delete(&h, &format!("/v1/jobs/{unknown}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_repeated_key_replays_the_same_claim() {
        let h = Harness::new();
        let first = h
            .post_to(
                "/v1/jobs",
                r#"{"type":"echo"}"#,
                &[("idempotency-key", "j")],
            )
            .await;
        let again = h
            .post_to(
                "/v1/jobs",
                r#"{"type":"echo"}"#,
                &[("idempotency-key", "j")],
            )
            .await;
        assert_eq!(again.2, first.2);
        assert_eq!(again.1["location"], first.1["location"]);
        assert_eq!(again.1["idempotent-replayed"], "true");
        assert_eq!(h.claims.len(), 1);
        assert_eq!(h.queue.sent().len(), 1);
    }
}

mod webhook_endpoints {
    use super::*;

    #[tokio::test]
    async fn the_secret_is_shown_once_and_never_cached() {
        let h = Harness::new();
        let (status, headers, created) = h
            .post_to(
                "/v1/webhook-endpoints",
                r#"{"url":"http://127.0.0.1:9/hook"}"#,
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap();
        assert_eq!(
            headers["location"].to_str().unwrap(),
            format!("/v1/webhook-endpoints/{id}")
        );
        assert_eq!(headers["cache-control"], "no-store");
        let secret = created["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(created["url"], "http://127.0.0.1:9/hook");

        let get = Request::get(format!("/v1/webhook-endpoints/{id}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, shown) = h.send(get).await;
        assert_eq!(status, StatusCode::OK);
        assert!(shown.get("secret").is_none(), "never shown again: {shown}");
        assert!(
            !shown.to_string().contains(&secret[6..]),
            "not even in part"
        );
        assert_eq!(shown["secrets"].as_array().unwrap().len(), 1);

        let rotate = Request::post(format!("/v1/webhook-endpoints/{id}/rotate"))
            .body(Body::empty())
            .unwrap();
        let (status, headers, rotated) = h.send(rotate).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_ne!(rotated["secret"], created["secret"]);
        let secrets = rotated["secrets"].as_array().unwrap();
        assert_eq!(secrets.len(), 2, "{rotated}");
        assert_eq!(
            secrets[0]["expiresAt"], "2026-11-24T12:00:00.500Z",
            "the old one signs for the default 24 hours"
        );
        assert!(secrets[1].get("expiresAt").is_none());
    }

    #[tokio::test]
    async fn another_caller_cannot_see_rotate_delete_or_name_it() {
        let h = Harness::new();
        let (_, _, created) = h
            .post_to(
                "/v1/webhook-endpoints",
                r#"{"url":"http://127.0.0.1:9/hook"}"#,
                &[],
            )
            .await;
        let one = format!("/v1/webhook-endpoints/{}", created["id"].as_str().unwrap());
        for request in [
            Request::get(&one).body(Body::empty()).unwrap(),
            Request::delete(&one).body(Body::empty()).unwrap(),
            Request::post(format!("{one}/rotate"))
                .body(Body::empty())
                .unwrap(),
        ] {
            let (status, _, body) = h.send_as(request, Some(bob())).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            assert_eq!(problem_slug(&body), "endpoint-not-found");
        }
        let job = format!(
            r#"{{"type":"echo","callback":{{"endpointId":"{}"}}}}"#,
            created["id"].as_str().unwrap()
        );
        let request = Request::post("/v1/jobs")
            .header("content-type", "application/json")
            .body(Body::from(job.clone()))
            .unwrap();
        let (status, _, body) = h.send_as(request, Some(bob())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem_slug(&body), "invalid-callback");
        let (status, _, _) = h.post_to("/v1/jobs", &job, &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED, "its owner can");
        let (status, _, _) = h
            .send(Request::get(&one).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "still there for its owner");
    }
}

/// A worker's outcome is recorded and the processor told at once (a task check with no
/// delay); progress and heartbeats tell it nothing; a refused report changes nothing.
#[tokio::test]
async fn a_reported_outcome_asks_the_processor_to_settle_it_and_nothing_else_does() {
    use crate::application::ports::{TaskBegin, TaskLedger};
    use crate::domain::{JobId, Reported, TaskToken};
    let h = Harness::new();
    let job = JobId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
    let (token, issued) = TaskToken::issue(&job, 1, [3; 32]);
    let begin = TaskBegin {
        attempt: 1,
        round: 1,
        digest: issued.digest,
        attempt_by: time::OffsetDateTime::now_utc() + time::Duration::minutes(10),
        heartbeat: None,
        envelope: "{}".into(),
    };
    h.tasks.begin(&job, &begin).await.unwrap();
    let header = [("courier-task-token", token.as_str())];
    for progress in [r#"{"progress": 40}"#, r#"{"heartbeat": true}"#] {
        let (status, _, _) = h.post_to("/v1/tasks/report", progress, &header).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert!(h.task_checks.sent.lock().unwrap().is_empty());
    let (status, _, body) = h
        .post_to(
            "/v1/tasks/report",
            r#"{"result": {"frames": 120}}"#,
            &header,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"jobId": job.to_string(), "attempt": 1}));
    let checks = h.task_checks.sent.lock().unwrap().clone();
    assert_eq!(checks.len(), 1);
    assert_eq!(
        (checks[0].0.attempt, checks[0].1),
        (1, std::time::Duration::ZERO)
    );
    assert_eq!(
        h.tasks.state(&job).unwrap().reported,
        Some(Reported::Result(json!({"frames": 120})))
    );
    // Another outcome now is refused, and leaves the first as it was.
    let (status, _, body) = h
        .post_to(
            "/v1/tasks/report",
            r#"{"error": {"kind": "permanent", "reason": "changed my mind"}}"#,
            &header,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["type"], "urn:courier:problem:already-reported");
    assert_eq!(
        h.tasks.state(&job).unwrap().reported,
        Some(Reported::Result(json!({"frames": 120})))
    );
}

mod quotas {
    use super::*;
    use crate::application::quotas::OwnLimits;

    fn limited(h: &Harness, own: OwnLimits) {
        h.quotas.set_own_limits(&alice(), own);
    }

    #[tokio::test]
    async fn a_job_over_the_callers_jobs_in_flight_is_a_429_and_others_are_untouched() {
        let h = Harness::new();
        limited(
            &h,
            OwnLimits {
                jobs_in_flight: Some(1),
                ..Default::default()
            },
        );
        let job = r#"{"type":"echo","payload":1}"#;
        let (status, _, _) = h.post_to("/v1/jobs", job, &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let (status, headers, body) = h.post_to("/v1/jobs", job, &[]).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(headers["retry-after"], "5");
        assert_eq!(body["type"], "urn:courier:problem:quota-exceeded");
        assert_eq!(body["quota"], "jobsInFlight");
        assert_eq!(body["limit"], 1);
        assert_eq!(h.queue.sent().len(), 1, "nothing more queued");
        // Fire-and-forget messages hold no slot; another caller has their own.
        let (status, _, _) = h.post_to("/v1/messages", job, &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let request = Request::post("/v1/jobs")
            .header("content-type", "application/json")
            .body(Body::from(job))
            .unwrap();
        let (status, _, _) = h.send_as(request, Some(bob())).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }

    #[tokio::test]
    async fn a_caller_over_their_requests_per_second_gets_429s_until_the_next_second() {
        let h = Harness::new();
        limited(
            &h,
            OwnLimits {
                requests_per_second: Some(2),
                ..Default::default()
            },
        );
        let get = || Request::get("/v1/jobs").body(Body::empty()).unwrap();
        for _ in 0..2 {
            assert_eq!(h.send(get()).await.0, StatusCode::OK);
        }
        let (status, headers, body) = h.send(get()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(body["quota"], "requestsPerSecond");
        assert_eq!(h.send_as(get(), Some(bob())).await.0, StatusCode::OK);
        h.clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(h.send(get()).await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn an_endpoint_over_the_callers_quota_is_a_429_and_one_deleted_makes_room() {
        let h = Harness::new();
        limited(
            &h,
            OwnLimits {
                webhook_endpoints: Some(1),
                ..Default::default()
            },
        );
        let body = r#"{"url":"http://127.0.0.1:9/hook"}"#;
        let (status, _, first) = h.post_to("/v1/webhook-endpoints", body, &[]).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, headers, refused) = h.post_to("/v1/webhook-endpoints", body, &[]).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
        assert_eq!(refused["quota"], "webhookEndpoints");
        assert!(headers.contains_key("retry-after"));
        let id = first["id"].as_str().unwrap();
        let delete = Request::delete(format!("/v1/webhook-endpoints/{id}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(h.send(delete).await.0, StatusCode::NO_CONTENT);
        let (status, _, _) = h.post_to("/v1/webhook-endpoints", body, &[]).await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

mod schedules {
    use super::*;

    #[tokio::test]
    async fn a_schedule_goes_to_the_scheduler_in_its_time_zone_and_a_pause_disables_it() {
        let h = Harness::new();
        let body = json!({"expression": "cron(0 9 * * ? *)", "timezone": "Europe/Paris",
                          "job": {"type": "echo", "payload": {"a": 1}}});
        let (status, _, made) = h.post_to("/v1/schedules", &body.to_string(), &[]).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let id = made["id"].as_str().unwrap().to_owned();
        let put = h.scheduler.put.lock().unwrap().clone();
        assert_eq!(put.len(), 1);
        assert_eq!(put[0].expression.as_str(), "cron(0 9 * * ? *)");
        assert_eq!(
            put[0].timezone, "Europe/Paris",
            "09:00 in Paris, summer and winter"
        );
        assert!(!put[0].paused);
        let (status, _, paused) = h
            .post_to(&format!("/v1/schedules/{id}/pause"), "{}", &[])
            .await;
        assert_eq!(status, StatusCode::OK, "{paused}");
        let put = h.scheduler.put.lock().unwrap().clone();
        assert!(put.last().unwrap().paused, "disabled in the scheduler");
        // A scheduler that refuses a new schedule leaves nothing behind.
        h.scheduler.fail.set(true);
        let (status, _, _) = h.post_to("/v1/schedules", &body.to_string(), &[]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        h.scheduler.fail.set(false);
        let (_, _, listed) = h
            .send(Request::get("/v1/schedules").body(Body::empty()).unwrap())
            .await;
        assert_eq!(listed["schedules"].as_array().unwrap().len(), 1, "{listed}");
    }

    #[tokio::test]
    async fn a_time_zone_the_scheduler_does_not_know_is_the_callers_400_and_leaves_nothing() {
        let h = Harness::new();
        h.scheduler
            .unknown_zones
            .lock()
            .unwrap()
            .push("Europe/Atlantis".into());
        let body = json!({"expression": "rate(1 hour)", "timezone": "Europe/Atlantis",
                          "job": {"type": "echo", "payload": 1}});
        let (status, _, problem) = h.post_to("/v1/schedules", &body.to_string(), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("invalid-schedule"),
            "{problem}"
        );
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("Europe/Atlantis"),
            "{problem}"
        );
        let (_, _, listed) = h
            .send(Request::get("/v1/schedules").body(Body::empty()).unwrap())
            .await;
        assert_eq!(listed["schedules"], json!([]), "{listed}");
    }
}
