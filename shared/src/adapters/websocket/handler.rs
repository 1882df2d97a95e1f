//! The WebSocket API's routes: `$connect` checks the token and records the connection,
//! `$disconnect` forgets it, and every message (`submit`, or anything `$default` catches)
//! is answered with frames: `accepted` once the job is recorded and queued, or `error`.

use super::auth::{AccessTokens, presented_token};
use super::inbound::{self, SubmitRequest};
use crate::adapters::http::idempotency::fingerprint;
use crate::application::clock::{Clock, rfc3339};
use crate::application::frames::{Delivery, Draft, FrameSender};
use crate::application::ports::{
    ClaimStore, Connection, ConnectionStore, IdempotencyClaim, IdempotencyStore, PortError,
    StoredResponse, WorkQueue,
};
use crate::domain::{Claim, CorrelationId, IdempotencyKey, JobId, Pattern, ReplyTo, WorkMessage};
use crate::telemetry::{TraceHeader, record_trace_id};
use aws_lambda_events::event::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use courier_jobs::{Registry, RegistryError};
use courier_protocol::frames::{FrameKind, error_code};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// API Gateway closes a WebSocket connection after 2 hours; the record outlives that by an
/// hour so a frame can never find its connection's counter gone while it is still open.
pub const CONNECTION_RECORD_LIFETIME: Duration = Duration::from_secs(3 * 3600);

const IDEMPOTENCY_SCOPE: &str = "ws-submit";

pub struct WebSocketApp {
    pub connections: Arc<dyn ConnectionStore>,
    pub frames: FrameSender,
    /// The FIFO work queue.
    pub queue: Arc<dyn WorkQueue>,
    pub claims: Arc<dyn ClaimStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub registry: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub claim_lifetime: Duration,
    pub tokens: AccessTokens,
}

/// What an `accepted` frame says, kept with the `requestId` so a resent submit gets it again.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    job_id: String,
    correlation_id: String,
    data: Value,
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
            connection_id,
            route = context.route_key.as_deref().unwrap_or("-"),
            trace_id = tracing::field::Empty,
        );
        let trace = TraceHeader::of_invocation();
        record_trace_id(&span, trace.as_ref());
        async {
            match context.event_type.as_deref() {
                Some("CONNECT") => self.connect(connection_id, &event).await,
                Some("DISCONNECT") => self.disconnect(connection_id).await,
                _ => {
                    let body = event.body.as_deref().unwrap_or_default();
                    self.message(connection_id, body, trace.as_ref()).await;
                    // Frames go out through @connections with their seq; the route returns
                    // nothing (API Gateway would send a body back without a seq).
                    status(200)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn connect(
        &self,
        connection_id: &str,
        event: &ApiGatewayWebsocketProxyRequest,
    ) -> ApiGatewayProxyResponse {
        let query_token = event.query_string_parameters.first("token");
        let authorization = event
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match presented_token(query_token, authorization) {
            Some(token) if self.tokens.accepts(token) => {}
            presented => {
                tracing::warn!(
                    token_presented = presented.is_some(),
                    "connection refused: bad or missing token"
                );
                return status(401);
            }
        }
        let now = self.clock.now();
        let connection = Connection {
            id: connection_id.to_owned(),
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
                status(500)
            }
        }
    }

    async fn disconnect(&self, connection_id: &str) -> ApiGatewayProxyResponse {
        if let Err(error) = self.connections.close(connection_id).await {
            tracing::warn!(%error, "connection record left for TTL to remove");
        }
        tracing::info!("disconnected");
        status(200)
    }

    async fn message(&self, connection_id: &str, body: &str, trace: Option<&TraceHeader>) {
        // Every message gets a correlation id: the job's, if it becomes one, and its reply's.
        let correlation_id = CorrelationId::generate();
        let span = tracing::info_span!("message", correlation_id = %correlation_id);
        self.answer(connection_id, body, &correlation_id, trace)
            .instrument(span)
            .await
    }

    async fn answer(
        &self,
        connection_id: &str,
        body: &str,
        correlation_id: &CorrelationId,
        trace: Option<&TraceHeader>,
    ) {
        // The frame's place in the connection's order is taken first, so the `accepted` frame
        // comes before any frame the processor sends for the job.
        let seq = match self.reserve_seq(connection_id).await {
            Ok(seq) => seq,
            Err(error) => {
                tracing::error!(%error, "no frame number; message dropped unanswered");
                return;
            }
        };
        let draft = match inbound::parse(body) {
            Ok(request) => {
                self.submit(connection_id, request, correlation_id, trace)
                    .await
            }
            Err(rejection) => {
                tracing::info!(code = rejection.code, reason = %rejection.message, "frame refused");
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
            Ok(Delivery::Delivered { .. }) => {}
            Ok(other) => tracing::info!(?other, "reply not delivered"),
            Err(error) => tracing::warn!(%error, "reply not delivered"),
        }
    }

    /// The connection's next `seq`. A message always comes from a live connection, so a
    /// missing record (its `$connect` write lost to a race with a `GoneException` cleanup) is
    /// written again rather than leaving the client unanswered.
    async fn reserve_seq(&self, connection_id: &str) -> Result<u64, PortError> {
        if let Some(seq) = self.frames.reserve(connection_id).await? {
            return Ok(seq);
        }
        let now = self.clock.now();
        self.connections
            .open(&Connection {
                id: connection_id.to_owned(),
                connected_at: now,
                expires_at: now + CONNECTION_RECORD_LIFETIME,
            })
            .await?;
        self.frames
            .reserve(connection_id)
            .await?
            .ok_or_else(|| PortError::new("connection", "record vanished after being written"))
    }

    async fn submit(
        &self,
        connection_id: &str,
        request: SubmitRequest,
        correlation_id: &CorrelationId,
        trace: Option<&TraceHeader>,
    ) -> Draft {
        let request_id = Some(request.request_id.clone());
        if let Err(error) = self.registry.validate(&request.job_type, &request.payload) {
            let code = match error {
                RegistryError::UnknownType { .. } => error_code::UNKNOWN_JOB_TYPE,
                RegistryError::InvalidPayload { .. } => error_code::INVALID_PAYLOAD,
            };
            return Draft::error(request_id, code, &error.to_string());
        }
        // Connection ids are short ASCII and request ids at most 128 visible ASCII characters,
        // so the key always parses.
        let key = IdempotencyKey::parse(&format!("{connection_id}:{}", request.request_id))
            .expect("connection and request ids make a valid key");
        let print = fingerprint(
            IDEMPOTENCY_SCOPE,
            &json!({"type": request.job_type, "payload": request.payload}),
        );
        match self
            .idempotency
            .acquire(IDEMPOTENCY_SCOPE, &key, &print)
            .await
        {
            Err(error) => {
                tracing::error!(%error, "idempotency store unavailable");
                Draft::error(
                    request_id,
                    error_code::UNAVAILABLE,
                    "the request could not be recorded; nothing was accepted, retry later",
                )
            }
            Ok(IdempotencyClaim::KeyReused) => Draft::error(
                request_id,
                error_code::REQUEST_ID_REUSED,
                "this requestId was already used on this connection for a different job",
            ),
            Ok(IdempotencyClaim::InProgress) => Draft::error(
                request_id,
                error_code::REQUEST_IN_PROGRESS,
                "this request is being accepted right now; its accepted frame follows",
            ),
            Ok(IdempotencyClaim::Replay(stored)) => match serde_json::from_str(&stored.body) {
                Ok(accepted) => accepted_draft(request_id, accepted),
                Err(error) => {
                    tracing::error!(%error, "stored acceptance unreadable");
                    Draft::error(request_id, error_code::UNAVAILABLE, "retry later")
                }
            },
            Ok(IdempotencyClaim::Acquired) => {
                match self
                    .accept(connection_id, &request, correlation_id, trace)
                    .await
                {
                    Ok(accepted) => {
                        let stored = StoredResponse {
                            status: 202,
                            headers: Vec::new(),
                            body: serde_json::to_string(&accepted).expect("serialisable"),
                        };
                        if let Err(error) = self
                            .idempotency
                            .complete(IDEMPOTENCY_SCOPE, &key, &stored)
                            .await
                        {
                            // The job is queued; only a resend's replay is at risk.
                            tracing::warn!(%error, "acceptance not stored for replays");
                        }
                        accepted_draft(request_id, accepted)
                    }
                    Err(message) => {
                        if let Err(error) = self.idempotency.release(IDEMPOTENCY_SCOPE, &key).await
                        {
                            tracing::warn!(%error, "requestId stays taken until its record expires");
                        }
                        Draft::error(request_id, error_code::UNAVAILABLE, message)
                    }
                }
            }
        }
    }

    /// Records the claim and queues the job; both must succeed for the job to be accepted.
    async fn accept(
        &self,
        connection_id: &str,
        request: &SubmitRequest,
        correlation_id: &CorrelationId,
        trace: Option<&TraceHeader>,
    ) -> Result<Accepted, &'static str> {
        let now = self.clock.now();
        let claim = Claim::pending(
            JobId::generate(),
            request.job_type.clone(),
            correlation_id.clone(),
            now,
            self.claim_lifetime,
        );
        let envelope = WorkMessage {
            message_id: claim.id.to_string(),
            correlation_id: correlation_id.to_string(),
            pattern: Pattern::Bidirectional,
            job_type: request.job_type.clone(),
            payload: request.payload.clone(),
            accepted_at: rfc3339(now),
            has_callback: false,
            reply_to: Some(ReplyTo {
                connection_id: connection_id.to_owned(),
                request_id: request.request_id.clone(),
            }),
            redrive: 0,
            trace_header: trace.map(|t| t.as_str().to_owned()),
        };
        let accepted = crate::application::intake::record_and_queue(
            self.claims.as_ref(),
            self.queue.as_ref(),
            &claim,
            &envelope,
            0,
        )
        .await;
        if !accepted {
            return Err(
                "the job could not be recorded and queued, and was not accepted; retry later",
            );
        }
        tracing::info!(job_id = %claim.id, job_type = %claim.job_type, correlation_id = %correlation_id, "job accepted");
        crate::metrics::accepted(
            Pattern::Bidirectional.as_str(),
            correlation_id.as_str(),
            claim.id.as_str(),
        );
        Ok(Accepted {
            job_id: claim.id.to_string(),
            correlation_id: correlation_id.to_string(),
            data: json!({
                "status": claim.status,
                "statusUrl": crate::application::job_view::status_path(&claim.id),
                "expiresAt": rfc3339(claim.expires_at),
            }),
        })
    }
}

fn accepted_draft(request_id: Option<String>, accepted: Accepted) -> Draft {
    Draft {
        request_id,
        kind: FrameKind::Accepted,
        job_id: Some(accepted.job_id),
        correlation_id: Some(accepted.correlation_id),
        data: accepted.data,
    }
}
