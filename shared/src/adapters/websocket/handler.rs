//! The WebSocket API's routes: `$connect` records the connection and its caller (the
//! authorizer, `auth.rs`, has checked the token before),
//! `$disconnect` forgets it, and every message (`submit`, or anything `$default` catches)
//! is answered with frames: `accepted` once the job is recorded and queued, or `error`.

use super::auth::caller_of;
use super::inbound::{self, SubmitRequest};
use crate::application::clock::Clock;
use crate::application::frames::{Draft, FrameDelivery, FrameSender, final_draft};
use crate::application::intake::{Acceptance, Door, Intake, Refusal, Request};
use crate::application::job_view::status_path;
use crate::application::ports::{Connection, ConnectionStore, PortError};
use crate::application::quotas::TakeRefused;
use crate::domain::{Claim, CorrelationId, IdempotencyKey, Principal, Submission};
use crate::telemetry::{TraceHeader, record_principal, record_trace_id};
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use courier_protocol::frames::{FrameKind, error_code};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// API Gateway closes a WebSocket connection after 2 hours; the record outlives that by an
/// hour so a frame can never find its connection's counter gone while it is still open.
pub const CONNECTION_RECORD_LIFETIME: Duration = Duration::from_secs(3 * 3600);

pub struct WebSocketApp {
    pub connections: Arc<dyn ConnectionStore>,
    pub frames: FrameSender,
    /// The submit door to the intake (its queue is the FIFO work queue).
    pub intake: Arc<Intake>,
    pub clock: Arc<dyn Clock>,
    /// Each caller's connections and requests (and, through the intake, jobs in flight).
    pub quotas: Arc<crate::application::quotas::Quotas>,
}

fn status(code: i64) -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = code;
    response
}

impl WebSocketApp {
    /// The Lambda handler body for every route of the WebSocket API.
    pub async fn handle(&self, event: ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        let context = &event.request_context;
        let Some(connection_id) = context.connection_id.as_deref() else {
            tracing::error!("WebSocket event without a connection id");
            return status(400);
        };
        let span = tracing::info_span!(
            "websocket",
            connectionId = connection_id,
            route = context.route_key.as_deref().unwrap_or("-"),
            traceId = tracing::field::Empty,
            principal = tracing::field::Empty,
            apiRequestId = context.request_id.as_deref(),
        );
        let trace = TraceHeader::of_invocation();
        record_trace_id(&span, trace.as_ref());
        // Who the `$connect` authorizer let in: API Gateway passes it on with every event.
        let caller = caller_of(&context.authorizer.fields);
        record_principal(&span, caller.as_ref());
        async {
            match context.event_type.as_deref() {
                Some("CONNECT") => self.connect(connection_id, caller).await,
                Some("DISCONNECT") => self.disconnect(connection_id, caller).await,
                _ => {
                    let body = event.body.as_deref().unwrap_or_default();
                    let answered = self
                        .message(connection_id, body, trace.as_ref(), caller.as_ref())
                        .await;
                    // Frames go out through @connections with their seq; the route returns
                    // nothing (API Gateway would send a body back without a seq). A final
                    // frame that could not be posted fails the route: the client hears of it
                    // from the gateway and resubmits, which sends the frame again.
                    if answered { status(200) } else { status(500) }
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn connect(
        &self,
        connection_id: &str,
        caller: Option<Principal>,
    ) -> ApiGatewayProxyResponse {
        let Some(owner) = caller else {
            // Not through the authorizer: nobody to own the connection's jobs.
            tracing::warn!("connection refused: no verified caller");
            return status(401);
        };
        // Over the caller's connections: refused before anything is recorded (API Gateway
        // answers the handshake with this status; the emulator closes with 1008).
        match self.quotas.open_connection(&owner, connection_id).await {
            Ok(()) => {}
            Err(TakeRefused::Exceeded(exceeded)) => {
                tracing::warn!(%exceeded, "connection refused: over the caller's quota");
                return status(429);
            }
            Err(TakeRefused::Unavailable(error)) => {
                tracing::error!(%error, "connections could not be counted; refused");
                return status(500);
            }
        }
        let now = self.clock.now();
        let connection = Connection {
            id: connection_id.to_owned(),
            owner: Some(owner.clone()),
            connected_at: now,
            expires_at: now + CONNECTION_RECORD_LIFETIME,
        };
        match self.connections.open(&connection).await {
            Ok(()) => {
                tracing::info!("connected");
                status(200)
            }
            Err(error) => {
                // Without a record no frame could be numbered: refuse, the client retries.
                tracing::error!(%error, "connection not recorded; refused");
                self.quotas.close_connection(&owner, connection_id).await;
                status(500)
            }
        }
    }

    async fn disconnect(
        &self,
        connection_id: &str,
        caller: Option<Principal>,
    ) -> ApiGatewayProxyResponse {
        let recorded_owner = match self.connections.close(connection_id).await {
            Ok(owner) => owner,
            Err(error) => {
                tracing::warn!(%error, "connection record left for TTL to remove");
                None
            }
        };
        // No longer one of its caller's connections (the record names the caller should the
        // event not; with neither, it stops counting after two hours).
        if let Some(owner) = caller.or(recorded_owner) {
            self.quotas.close_connection(&owner, connection_id).await;
        }
        tracing::info!("disconnected");
        status(200)
    }

    async fn message(
        &self,
        connection_id: &str,
        body: &str,
        trace: Option<&TraceHeader>,
        caller: Option<&Principal>,
    ) -> bool {
        let parsed = inbound::parse(body);
        // Every message gets a correlation id, the client's or a new one: the job's, if it
        // becomes one, and its reply's.
        let correlation_id = parsed
            .as_ref()
            .ok()
            .and_then(|request| request.correlation_id.clone())
            .unwrap_or_else(CorrelationId::generate);
        let span = tracing::info_span!("message", correlationId = %correlation_id);
        self.answer(connection_id, parsed, &correlation_id, trace, caller)
            .instrument(span)
            .await
    }

    async fn answer(
        &self,
        connection_id: &str,
        parsed: Result<SubmitRequest, inbound::Rejection>,
        correlation_id: &CorrelationId,
        trace: Option<&TraceHeader>,
        caller: Option<&Principal>,
    ) -> bool {
        // The frame's place in the connection's order is taken first, so the `accepted` frame
        // comes before any frame the processor sends for the job.
        let seq = match self.reserve_seq(connection_id, caller).await {
            Ok(seq) => seq,
            Err(error) => {
                // Unanswered: the route fails, so the client hears of it from the gateway.
                tracing::error!(%error, "no frame number; message not taken");
                return false;
            }
        };
        let mut finished = None;
        // Every frame of a caller's counts in their requests per second.
        let over_rate = match caller {
            Some(owner) => self.quotas.admit_request(owner).await.err(),
            None => None,
        };
        let draft = match (parsed, caller, over_rate) {
            (Ok(request), Some(_), Some(exceeded)) => {
                tracing::info!(%exceeded, "frame refused: over the caller's quota");
                Draft::error(
                    Some(request.request_id),
                    error_code::QUOTA_EXCEEDED,
                    &exceeded.to_string(),
                )
            }
            (Ok(request), Some(owner), None) => {
                let (draft, ended) = self
                    .submit(connection_id, request, correlation_id, trace, owner)
                    .await;
                finished = ended;
                draft
            }
            (Ok(request), None, _) => {
                tracing::warn!("submit refused: no verified caller");
                Draft::error(
                    Some(request.request_id),
                    error_code::UNAUTHENTICATED,
                    "the connection has no verified caller; reconnect with a token",
                )
            }
            (Err(rejection), _, _) => {
                tracing::info!(code = rejection.code, reason = %crate::telemetry::capped(&rejection.message), "frame refused");
                Draft::error(rejection.request_id, rejection.code, &rejection.message)
            }
        };
        let draft = Draft {
            correlation_id: draft
                .correlation_id
                .or_else(|| Some(correlation_id.to_string())),
            ..draft
        };
        match self.frames.send_reserved(connection_id, seq, draft).await {
            Ok(FrameDelivery::Delivered { .. }) => {}
            Ok(other) => tracing::info!(?other, "reply not delivered"),
            Err(error) => tracing::warn!(%error, "reply not delivered"),
        }
        // A resubmit of a job that finished meanwhile: its final frame follows the accepted.
        if let Some(draft) = finished.as_ref().and_then(final_draft) {
            match self.frames.send(connection_id, caller, draft).await {
                Ok(FrameDelivery::Delivered { .. }) => {}
                Ok(other) => tracing::info!(?other, "final frame not delivered"),
                Err(error) => {
                    tracing::error!(%error, "final frame not delivered; the client is told to resubmit");
                    return false;
                }
            }
        }
        true
    }

    /// The connection's next `seq`. A message always comes from a live connection, so a
    /// missing record (its `$connect` write lost to a race with a `GoneException` cleanup) is
    /// written again rather than leaving the client unanswered.
    async fn reserve_seq(
        &self,
        connection_id: &str,
        caller: Option<&Principal>,
    ) -> Result<u64, PortError> {
        if let Some(seq) = self.frames.reserve(connection_id, None).await? {
            return Ok(seq);
        }
        let now = self.clock.now();
        self.connections
            .open(&Connection {
                id: connection_id.to_owned(),
                owner: caller.cloned(),
                connected_at: now,
                expires_at: now + CONNECTION_RECORD_LIFETIME,
            })
            .await?;
        self.frames
            .reserve(connection_id, None)
            .await?
            .ok_or_else(|| PortError::new("connection", "record vanished after being written"))
    }

    async fn submit(
        &self,
        connection_id: &str,
        request: SubmitRequest,
        correlation_id: &CorrelationId,
        trace: Option<&TraceHeader>,
        owner: &Principal,
    ) -> (Draft, Option<Claim>) {
        let request_id = Some(request.request_id.clone());
        let keyed_by_caller = request.idempotency_key.is_some();
        // Without the caller's own key, the connection's request id is the key. Connection
        // ids are short ASCII and request ids at most 128 visible ASCII characters, so it
        // always parses.
        let key = request.idempotency_key.unwrap_or_else(|| {
            IdempotencyKey::parse(&format!("{connection_id}:{}", request.request_id))
                .expect("connection and request ids make a valid key")
        });
        // The same as a `POST /v1/jobs` body of just a type and a payload, so a key shared
        // by both doors names one job.
        // The body POST /v1/jobs would have: the same key there is the same job.
        let mut original = json!({"type": request.job_type, "payload": request.payload});
        if let Some(reference) = &request.payload_ref {
            original["payloadRef"] = json!(reference);
        }
        let door = Door::WebSocket {
            connection_id: connection_id.to_owned(),
            request_id: request.request_id,
            keyed_by_caller,
        };
        let request = Request {
            submission: Submission {
                job_type: request.job_type,
                payload: request.payload,
                payload_ref: request.payload_ref,
                delay_seconds: 0,
                run_at: None,
                callback_endpoint: None,
            },
            correlation_id: correlation_id.clone(),
            trace: trace.cloned(),
            idempotency: Some((key, original)),
            owner: owner.clone(),
        };
        match self.intake.accept(door, request).await {
            Ok(accepted) => (
                accepted_draft(request_id, &accepted.acceptance),
                accepted.finished,
            ),
            Err(refusal) => {
                let code = match &refusal {
                    Refusal::UnknownJobType(_) => error_code::UNKNOWN_JOB_TYPE,
                    Refusal::InvalidPayload(_) => error_code::INVALID_PAYLOAD,
                    Refusal::InvalidPayloadRef(_) => error_code::INVALID_PAYLOAD_REF,
                    Refusal::PayloadTooLarge(_) => error_code::PAYLOAD_TOO_LARGE,
                    Refusal::InvalidBody(_) | Refusal::InvalidCallback(_) => {
                        error_code::INVALID_FRAME
                    }
                    Refusal::KeyReused => error_code::REQUEST_ID_REUSED,
                    Refusal::InProgress => error_code::REQUEST_IN_PROGRESS,
                    Refusal::Unavailable(_) => error_code::UNAVAILABLE,
                    Refusal::QuotaExceeded(_) => error_code::QUOTA_EXCEEDED,
                };
                let message = match refusal {
                    Refusal::KeyReused if keyed_by_caller => {
                        "this idempotencyKey was already used for a different job".to_owned()
                    }
                    Refusal::KeyReused => {
                        "this requestId was already used on this connection for a different job"
                            .to_owned()
                    }
                    Refusal::InProgress => {
                        "this request is being accepted right now; its accepted frame follows"
                            .to_owned()
                    }
                    other => other.to_string(),
                };
                (Draft::error(request_id, code, &message), None)
            }
        }
    }
}

fn accepted_draft(request_id: Option<String>, acceptance: &Acceptance) -> Draft {
    let id = &acceptance.id;
    Draft {
        request_id,
        kind: FrameKind::Accepted,
        job_id: Some(acceptance.id.to_string()),
        correlation_id: Some(acceptance.correlation_id.clone()),
        data: json!({
            "status": Acceptance::STATUS,
            "statusUrl": status_path(id),
            "expiresAt": acceptance.expires_at,
        }),
        held: None,
    }
}
