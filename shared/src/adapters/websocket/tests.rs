//! The WebSocket routes over in-memory adapters: events in, frames out.

use super::WebSocketApp;
use crate::adapters::memory::{
    FixedClock, InMemoryClaims, InMemoryConnections, InMemoryIdempotencyStore, InMemoryQueue,
    RecordingPoster,
};
use crate::application::frames::{Draft, FrameDelivery, FrameSender};
use crate::domain::Pattern;
use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use courier_protocol::frames::{FrameKind, ServerFrame, error_code};
use serde_json::json;
use std::sync::Arc;
use time::macros::datetime;

const CONN: &str = "conn-A";

/// What the `$connect` authorizer passes on with every event of a connection it let in.
fn allowed() -> serde_json::Value {
    json!({"issuer": "https://issuer.example", "subject": "alice", "principalId": "alice"})
}

struct Harness {
    connections: Arc<InMemoryConnections>,
    poster: Arc<RecordingPoster>,
    queue: Arc<InMemoryQueue>,
    claims: Arc<InMemoryClaims>,
    quotas: Arc<crate::adapters::memory::InMemoryQuotas>,
    app: WebSocketApp,
}

impl Harness {
    fn new() -> Self {
        let connections = Arc::new(InMemoryConnections::default());
        let poster = Arc::new(RecordingPoster::default());
        let queue = Arc::new(InMemoryQueue::default());
        let claims = Arc::new(InMemoryClaims::default());
        let clock: Arc<dyn crate::application::clock::Clock> =
            Arc::new(FixedClock::at(datetime!(2026-11-24 08:00:00 UTC)));
        let quota_store = Arc::new(crate::adapters::memory::InMemoryQuotas::default());
        let quotas = crate::adapters::memory::roomy_quotas(quota_store.clone(), clock.clone());
        let app = WebSocketApp {
            connections: connections.clone(),
            frames: FrameSender::new(connections.clone(), poster.clone()),
            intake: Arc::new(crate::application::intake::Intake {
                payloads: None,
                registry: Arc::new(courier_jobs::examples::offline()),
                queue: queue.clone(),
                claims: claims.clone(),
                idempotency: Arc::new(InMemoryIdempotencyStore::default()),
                endpoints: Arc::new(crate::adapters::memory::InMemoryWebhookEndpoints::default()),
                clock: clock.clone(),
                claim_lifetime: std::time::Duration::from_secs(86_400),
                quotas: quotas.clone(),
            }),
            clock,
            quotas,
        };
        Self {
            quotas: quota_store,
            connections,
            poster,
            queue,
            claims,
            app,
        }
    }

    fn event(kind: &str, route: &str, extra: serde_json::Value) -> ApiGatewayWebsocketProxyRequest {
        let mut event = json!({
            "requestContext": {"connectionId": CONN, "eventType": kind, "routeKey": route,
                               "connectedAt": 0, "requestTimeEpoch": 0,
                               "authorizer": allowed()},
            "isBase64Encoded": false
        });
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        serde_json::from_value(event).unwrap()
    }

    async fn connect(&self, extra: serde_json::Value) -> i64 {
        self.app
            .handle(Self::event("CONNECT", "$connect", extra))
            .await
            .status_code
    }

    async fn send(&self, body: &str) -> ServerFrame {
        let response = self
            .app
            .handle(Self::event("MESSAGE", "submit", json!({"body": body})))
            .await;
        assert_eq!(response.status_code, 200);
        assert!(
            response.body.is_none(),
            "frames go through @connections only"
        );
        self.poster.frames_to(CONN).pop().expect("a frame was sent")
    }
}

#[tokio::test]
async fn connect_records_the_caller_the_authorizer_let_in_and_refuses_without_one() {
    let h = Harness::new();
    let mut unauthorized = Harness::event("CONNECT", "$connect", json!({}));
    unauthorized.request_context.authorizer = Default::default();
    assert_eq!(h.app.handle(unauthorized).await.status_code, 401);
    assert!(!h.connections.is_open(CONN));
    assert_eq!(h.connect(json!({})).await, 200);
    assert!(h.connections.is_open(CONN));
    let owner = h.connections.records.lock().unwrap()[CONN].0.owner.clone();
    assert_eq!(
        owner,
        Some(crate::domain::Principal::new(
            "https://issuer.example",
            "alice"
        ))
    );
}

#[tokio::test]
async fn a_submitted_job_belongs_to_the_connections_caller() {
    let h = Harness::new();
    assert_eq!(h.connect(json!({})).await, 200);
    let frame = h
        .send(r#"{"action":"submit","requestId":"r1","type":"echo","payload":1}"#)
        .await;
    assert_eq!(frame.kind, FrameKind::Accepted, "{frame:?}");
    let id = frame.job_id.unwrap();
    let claim = h.claims.get_now(&id).unwrap();
    assert_eq!(
        claim.owner,
        Some(crate::domain::Principal::new(
            "https://issuer.example",
            "alice"
        ))
    );
    let mut unauthorized = Harness::event(
        "MESSAGE",
        "submit",
        json!({"body": r#"{"action":"submit","requestId":"r2","type":"echo"}"#}),
    );
    unauthorized.request_context.authorizer = Default::default();
    assert_eq!(h.app.handle(unauthorized).await.status_code, 200);
    let refused = h.poster.frames_to(CONN).pop().unwrap();
    assert_eq!(refused.error_code(), Some(error_code::UNAUTHENTICATED));
}

#[tokio::test]
async fn a_connection_that_cannot_be_recorded_is_refused() {
    let h = Harness::new();
    h.connections.fail.set(true);
    assert_eq!(h.connect(json!({})).await, 500);
}

#[tokio::test]
async fn disconnect_forgets_the_connection() {
    let h = Harness::new();
    h.connect(json!({})).await;
    let response = h
        .app
        .handle(Harness::event("DISCONNECT", "$disconnect", json!({})))
        .await;
    assert_eq!(response.status_code, 200);
    assert!(!h.connections.is_open(CONN));
}

#[tokio::test]
async fn a_submit_is_claimed_queued_in_the_connections_group_and_accepted() {
    let h = Harness::new();
    h.connect(json!({})).await;
    let frame = h
        .send(r#"{"action":"submit","requestId":"r1","type":"echo","payload":{"n":1}}"#)
        .await;
    assert_eq!(frame.kind, FrameKind::Accepted);
    assert_eq!(frame.seq, 1);
    assert_eq!(frame.request_id.as_deref(), Some("r1"));
    let job_id = frame.job_id.clone().unwrap();
    assert_eq!(frame.data["statusUrl"], format!("/v1/jobs/{job_id}"));
    assert!(h.claims.get_now(&job_id).is_some());
    let sent = h.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].pattern, Pattern::Bidirectional);
    assert_eq!(sent[0].message_id, job_id);
    let reply_to = sent[0].reply_to.as_ref().unwrap();
    assert_eq!(
        (
            reply_to.connection_id.as_str(),
            reply_to.request_id.as_str()
        ),
        (CONN, "r1")
    );
    assert_eq!(
        sent[0].correlation_id.as_str(),
        frame.correlation_id.as_deref().unwrap()
    );
}

#[tokio::test]
async fn a_resent_submit_is_accepted_once_and_a_reused_request_id_is_refused() {
    let h = Harness::new();
    h.connect(json!({})).await;
    let submit = r#"{"action":"submit","requestId":"r1","type":"echo","payload":1}"#;
    let first = h.send(submit).await;
    let again = h.send(submit).await;
    assert_eq!(again.kind, FrameKind::Accepted);
    assert_eq!(again.job_id, first.job_id);
    assert_eq!(again.seq, 2);
    // The job has not started, so the resent submit queues it again (its first message may
    // never have gone out); both name the one job, whose claim runs it once.
    let sent = h.queue.sent();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|m| Some(&m.message_id) == first.job_id.as_ref())
    );
    assert_eq!(h.claims.len(), 1);
    let reused = h
        .send(r#"{"action":"submit","requestId":"r1","type":"echo","payload":2}"#)
        .await;
    assert_eq!(reused.error_code(), Some(error_code::REQUEST_ID_REUSED));
    assert_eq!(h.queue.sent().len(), 2, "nothing queued for the other work");
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_nothing_is_queued() {
    let h = Harness::new();
    h.connect(json!({})).await;
    let cases = [
        ("not json", error_code::MALFORMED_FRAME),
        (
            r#"{"action":"dance","requestId":"r2"}"#,
            error_code::UNKNOWN_ACTION,
        ),
        (
            r#"{"action":"submit","requestId":"r3"}"#,
            error_code::INVALID_FRAME,
        ),
        (
            r#"{"action":"submit","requestId":"r4","type":"nope"}"#,
            error_code::UNKNOWN_JOB_TYPE,
        ),
        (
            r#"{"action":"submit","requestId":"r5","type":"sleep","payload":{"ms":"x"}}"#,
            error_code::INVALID_PAYLOAD,
        ),
    ];
    for (index, (body, code)) in cases.iter().enumerate() {
        let frame = h.send(body).await;
        assert_eq!(frame.error_code(), Some(*code), "{body}");
        assert_eq!(frame.seq, index as u64 + 1, "{body}");
        assert!(
            frame.correlation_id.is_some(),
            "every reply is traceable: {body}"
        );
    }
    assert!(h.queue.sent().is_empty());
    assert_eq!(h.claims.len(), 0);
}

#[tokio::test]
async fn a_failed_queue_write_is_an_unavailable_error_and_the_request_id_stays_usable() {
    let h = Harness::new();
    h.connect(json!({})).await;
    let submit = r#"{"action":"submit","requestId":"r1","type":"echo"}"#;
    h.queue.fail.set(true);
    let frame = h.send(submit).await;
    assert_eq!(frame.error_code(), Some(error_code::UNAVAILABLE));
    assert_eq!(h.claims.len(), 0, "the claim of an unqueued job is removed");
    h.queue.fail.set(false);
    let accepted = h.send(submit).await;
    assert_eq!(accepted.kind, FrameKind::Accepted);
    let sent = h.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(Some(&sent[0].message_id), accepted.job_id.as_ref());
}

#[tokio::test]
async fn a_gone_connection_is_forgotten() {
    let h = Harness::new();
    h.connect(json!({})).await;
    h.poster.gone.lock().unwrap().push(CONN.into());
    let draft = Draft::error(None, "x", "y");
    let delivery = h.app.frames.send(CONN, None, draft.clone()).await.unwrap();
    assert_eq!(delivery, FrameDelivery::Gone);
    assert!(!h.connections.is_open(CONN));
    assert_eq!(
        h.app.frames.send(CONN, None, draft).await.unwrap(),
        FrameDelivery::NotConnected
    );
}

/// A submit on `connection` (opened first), through the route handler.
async fn submit_on(h: &Harness, connection: &str, body: serde_json::Value) {
    let mut connect = Harness::event("CONNECT", "$connect", json!({}));
    connect.request_context.connection_id = Some(connection.into());
    if !h.connections.is_open(connection) {
        assert_eq!(h.app.handle(connect).await.status_code, 200);
    }
    let mut event = Harness::event("MESSAGE", "submit", json!({"body": body.to_string()}));
    event.request_context.connection_id = Some(connection.into());
    assert_eq!(h.app.handle(event).await.status_code, 200);
}

#[tokio::test]
async fn a_resubmit_under_the_callers_key_on_a_new_connection_is_the_same_job_and_gets_its_frames()
{
    let h = Harness::new();
    let submit = |request_id: &str| {
        json!({"action": "submit", "requestId": request_id, "type": "echo", "payload": 1,
               "idempotencyKey": "order-7"})
    };
    submit_on(&h, "conn-A", submit("r1")).await;
    let first = h.poster.frames_to("conn-A").pop().unwrap();
    assert_eq!(first.kind, FrameKind::Accepted, "{first:?}");
    let id = first.job_id.unwrap();

    // The connection dropped; the job finished meanwhile; the client resubmits elsewhere.
    h.claims
        .set_status(&id, crate::domain::JobStatus::Succeeded);
    submit_on(&h, "conn-B", submit("r9")).await;
    let frames = h.poster.frames_to("conn-B");
    let kinds: Vec<FrameKind> = frames.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [FrameKind::Accepted, FrameKind::Result],
        "{frames:?}"
    );
    assert!(
        frames
            .iter()
            .all(|f| f.job_id.as_deref() == Some(id.as_str())
                && f.request_id.as_deref() == Some("r9"))
    );
    assert_eq!(h.queue.sent().len(), 1, "one job, queued once");
    let claim = h.claims.get_now(&id).unwrap();
    assert_eq!(
        claim.reply_to.map(|to| (to.connection_id, to.request_id)),
        Some(("conn-B".to_owned(), "r9".to_owned())),
        "the job's frames go to the connection that asked last"
    );

    // Another job under the same key is refused precisely.
    let other = json!({"action": "submit", "requestId": "r10", "type": "echo", "payload": 2,
                       "idempotencyKey": "order-7"});
    submit_on(&h, "conn-B", other).await;
    let refused = h.poster.frames_to("conn-B").pop().unwrap();
    assert_eq!(refused.error_code(), Some(error_code::REQUEST_ID_REUSED));
    assert!(
        refused.data["message"]
            .as_str()
            .unwrap()
            .contains("idempotencyKey")
    );
}

fn alice() -> crate::domain::Principal {
    crate::domain::Principal::new("https://issuer.example", "alice")
}

/// `$connect` of `connection` for the harness's caller: the status it is answered.
async fn connect_as(h: &Harness, connection: &str) -> i64 {
    let mut connect = Harness::event("CONNECT", "$connect", json!({}));
    connect.request_context.connection_id = Some(connection.into());
    h.app.handle(connect).await.status_code
}

#[tokio::test]
async fn a_connection_over_the_callers_quota_is_refused_until_one_closes() {
    let h = Harness::new();
    h.quotas.set_own_limits(
        &alice(),
        crate::application::quotas::OwnLimits {
            connections: Some(1),
            ..Default::default()
        },
    );
    assert_eq!(connect_as(&h, "c-1").await, 200);
    assert_eq!(connect_as(&h, "c-2").await, 429);
    assert!(!h.connections.is_open("c-2"), "nothing recorded");
    let mut disconnect = Harness::event("DISCONNECT", "$disconnect", json!({}));
    disconnect.request_context.connection_id = Some("c-1".into());
    // The caller comes from the connection's record when the event does not name it.
    disconnect.request_context.authorizer = Default::default();
    assert_eq!(h.app.handle(disconnect).await.status_code, 200);
    assert_eq!(connect_as(&h, "c-2").await, 200);
}

#[tokio::test]
async fn frames_over_the_callers_requests_per_second_get_a_quota_exceeded_error_frame() {
    let h = Harness::new();
    h.quotas.set_own_limits(
        &alice(),
        crate::application::quotas::OwnLimits {
            requests_per_second: Some(1),
            jobs_in_flight: Some(5),
            ..Default::default()
        },
    );
    assert_eq!(h.connect(json!({})).await, 200);
    let first = h
        .send(r#"{"action":"submit","requestId":"r1","type":"echo","payload":1}"#)
        .await;
    assert_eq!(first.kind, FrameKind::Accepted, "{first:?}");
    let second = h
        .send(r#"{"action":"submit","requestId":"r2","type":"echo","payload":1}"#)
        .await;
    assert_eq!(second.kind, FrameKind::Error, "{second:?}");
    assert_eq!(second.request_id.as_deref(), Some("r2"));
    assert_eq!(second.data["code"], error_code::QUOTA_EXCEEDED);
    assert_eq!(h.queue.sent().len(), 1, "nothing more queued");
}

#[tokio::test]
async fn a_submit_over_the_callers_jobs_in_flight_gets_a_quota_exceeded_error_frame() {
    let h = Harness::new();
    h.quotas.set_own_limits(
        &alice(),
        crate::application::quotas::OwnLimits {
            jobs_in_flight: Some(1),
            ..Default::default()
        },
    );
    assert_eq!(h.connect(json!({})).await, 200);
    h.send(r#"{"action":"submit","requestId":"r1","type":"echo","payload":1}"#)
        .await;
    let refused = h
        .send(r#"{"action":"submit","requestId":"r2","type":"echo","payload":1}"#)
        .await;
    assert_eq!(
        refused.data["code"],
        error_code::QUOTA_EXCEEDED,
        "{refused:?}"
    );
    assert!(
        refused.data["message"]
            .as_str()
            .unwrap()
            .contains("jobsInFlight"),
        "{refused:?}"
    );
}
