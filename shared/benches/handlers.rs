//! The project's own cost per request, without AWS: the HTTP router accepting a message or a job
//! over in-memory adapters, the processor handling one SQS record, and the WebSocket function
//! accepting a submit frame. Run with
//! `cargo bench -p courier-shared --bench handlers`.

use axum::body::Body;
use axum::http::Request;
use courier_shared::adapters::http::{AppState, router};
use courier_shared::adapters::memory::{
    FixedClock, InMemoryClaims, InMemoryDeadLetters, InMemoryIdempotencyStore, InMemoryLedger,
    InMemoryQueue, InMemorySealer, InMemoryWebhookEndpoints, RecordingRetries,
};
use courier_shared::application::consumer::SqsEvent;
use courier_shared::application::intake::Intake;
use courier_shared::application::processor::{Limits, MessageProcessor, RetryPolicy};
use courier_shared::application::webhook_endpoints::WebhookEndpoints;
use courier_shared::domain::{CorrelationId, Pattern, WorkMessage};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const ITERATIONS: usize = 20_000;
/// Runs before the measured ones, so caches, allocator and branch predictors are warm.
const WARM_UP: usize = 2_000;

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<40} mean {:>7.2} µs   p50 {:>7.2} µs   p99 {:>7.2} µs   ({} runs)",
        mean.as_secs_f64() * 1e6,
        pick(0.50).as_secs_f64() * 1e6,
        pick(0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

/// The intake over in-memory stores, as every door uses it.
fn intake(now: time::OffsetDateTime) -> Arc<Intake> {
    Arc::new(Intake {
        registry: Arc::new(courier_jobs::examples::offline()),
        queue: Arc::new(InMemoryQueue::default()),
        claims: Arc::new(InMemoryClaims::default()),
        idempotency: Arc::new(InMemoryIdempotencyStore::default()),
        endpoints: Arc::new(InMemoryWebhookEndpoints::default()),
        clock: Arc::new(FixedClock::at(now)),
        claim_lifetime: Duration::from_secs(86_400),
        quotas: quotas(now),
    })
}

/// Quotas over an in-memory store, counted as a deployment counts them.
fn quotas(now: time::OffsetDateTime) -> Arc<courier_shared::application::quotas::Quotas> {
    courier_shared::adapters::memory::roomy_quotas(
        Arc::new(courier_shared::adapters::memory::InMemoryQuotas::default()),
        Arc::new(FixedClock::at(now)),
    )
}

fn state() -> AppState {
    let now = time::OffsetDateTime::now_utc();
    AppState {
        intake: intake(now),
        claims: Arc::new(InMemoryClaims::default()),
        endpoints: Arc::new(WebhookEndpoints {
            store: Arc::new(InMemoryWebhookEndpoints::default()),
            sealer: Arc::new(InMemorySealer::default()),
            url_policy: Arc::new(courier_shared::application::ssrf::SsrfPolicy::default()),
            clock: Arc::new(FixedClock::at(now)),
            quotas: quotas(now),
        }),
        clock: Arc::new(FixedClock::at(now)),
        attempt_limits: courier_shared::application::job_types::AttemptLimits {
            default_max_attempts: 5,
            max_receive_count: 20,
        },
        tasks: Arc::new(courier_shared::application::task_reports::TaskReports::new(
            Arc::new(courier_shared::adapters::memory::InMemoryTasks::default()),
            Arc::new(courier_shared::adapters::memory::RecordingTaskChecks::default()),
            None,
        )),
        quotas: quotas(now),
    }
}

async fn bench_post(name: &str, path: &'static str, with_key: bool) {
    let app = router(state());
    let body = r#"{"type":"sha256","payload":{"data":"a fairly ordinary request payload"}}"#;
    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARM_UP + ITERATIONS {
        let mut request = Request::post(path).header("content-type", "application/json");
        if with_key {
            request = request.header("idempotency-key", format!("key-{i}"));
        }
        let mut request = request.body(Body::from(body)).unwrap();
        // What API Gateway's JWT authorizer verified.
        request
            .extensions_mut()
            .insert(courier_shared::domain::Principal::new(
                "https://issuer.example",
                "bench",
            ));
        let started = Instant::now();
        let response = app.clone().oneshot(request).await.unwrap();
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
        assert_eq!(response.status(), 202);
        black_box(response);
    }
    report(name, samples);
}

async fn bench_processor() {
    let processor = MessageProcessor::new(
        Arc::new(courier_jobs::examples::offline()),
        Arc::new(InMemoryLedger::default()),
        Arc::new(InMemoryDeadLetters::default()),
        Arc::new(RecordingRetries::default()),
        Arc::new(courier_shared::adapters::memory::RecordingCallbacks::default()),
        Limits {
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(60),
            },
            max_receive_count: 5,
        },
        Arc::new(courier_shared::application::clock::SystemClock),
    );
    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARM_UP + ITERATIONS {
        let envelope = WorkMessage {
            message_id: format!("m-{i}"),
            correlation_id: CorrelationId::generate().to_string(),
            pattern: Pattern::FireAndForget,
            job_type: "sha256".into(),
            payload: serde_json::json!({"data": "a fairly ordinary request payload"}),
            payload_ref: None,
            accepted_at: "2026-11-23T00:00:00.000Z".into(),
            has_callback: false,
            reply_to: None,
            redrive: 0,
            owner: None,
            slot_when_due: false,
            request_print: None,
            trace_header: None,
        };
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": format!("sqs-{i}"), "receiptHandle": "r", "body": envelope.to_json(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q"
        }]}))
        .unwrap();
        let started = Instant::now();
        let response = processor.handle_event(event, None).await;
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
        assert!(response.batch_item_failures.is_empty());
    }
    report("processor: one sha256 record", samples);
}

async fn bench_websocket_submit() {
    use courier_shared::adapters::memory::{InMemoryConnections, RecordingPoster};
    use courier_shared::application::ports::{Connection, ConnectionStore};
    let connections = Arc::new(InMemoryConnections::default());
    let poster = Arc::new(RecordingPoster::default());
    let now = time::OffsetDateTime::now_utc();
    connections
        .open(&Connection {
            id: "bench".into(),
            owner: None,
            connected_at: now,
            expires_at: now + Duration::from_secs(3600),
        })
        .await
        .unwrap();
    let app = courier_shared::adapters::websocket::WebSocketApp {
        connections: connections.clone(),
        frames: courier_shared::application::frames::FrameSender::new(connections, poster.clone()),
        intake: intake(now),
        clock: Arc::new(FixedClock::at(now)),
    };
    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARM_UP + ITERATIONS {
        let event: courier_shared::adapters::websocket::WebSocketRequest =
            serde_json::from_value(serde_json::json!({
                "requestContext": {"connectionId": "bench", "eventType": "MESSAGE",
                                   "routeKey": "submit", "connectedAt": 0, "requestTimeEpoch": 0,
                                   "authorizer": {"issuer": "https://issuer.example",
                                                  "subject": "bench"}},
                "body": format!(r#"{{"action":"submit","requestId":"r{i}","type":"sha256","payload":{{"data":"a fairly ordinary request payload"}}}}"#),
                "isBase64Encoded": false
            }))
            .unwrap();
        let started = Instant::now();
        let response = app.handle(event).await;
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
        assert_eq!(response.status_code, 200);
    }
    assert_eq!(poster.posted.lock().unwrap().len(), WARM_UP + ITERATIONS);
    report("WebSocket submit → accepted frame", samples);
}

fn bench_emf() {
    let mut samples = Vec::with_capacity(ITERATIONS);
    for i in 0..WARM_UP + ITERATIONS {
        let started = Instant::now();
        courier_shared::metrics::processed(
            "claim-check",
            courier_shared::metrics::Outcome::Succeeded,
            Some(1),
            Duration::from_millis(12),
            Some(Duration::from_millis(80)),
            courier_shared::metrics::About::new(
                "3f1c8d52-2b8e-4a57-9e0f-6d3f0c1b2a99",
                "0f8fad5b-d9cb-469f-a165-70867728950e",
            )
            .job_type("sha256")
            .trace_id(Some("1-6b0dc3af-b952ec1e75e946062b44f544")),
        );
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
    }
    report("EMF record (processed, encoded)", samples);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // EMF records are still encoded, just not printed between the results.
    courier_shared::metrics::discard_output();
    runtime.block_on(async {
        bench_post("POST /v1/messages", "/v1/messages", false).await;
        bench_post("POST /v1/messages + Idempotency-Key", "/v1/messages", true).await;
        bench_post("POST /v1/jobs", "/v1/jobs", false).await;
        bench_processor().await;
        bench_websocket_submit().await;
    });
    bench_emf();
}
