//! Accepts `X-Correlation-Id` (or makes one), hands it to handlers, and echoes it on every
//! response, errors included.

use super::headers::CORRELATION_ID;
use super::problem::Problem;
use crate::domain::CorrelationId;
use crate::telemetry::{TraceHeader, record_principal, record_trace_id};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

/// The gateway's own id for the request (its access log's `requestId`), where the serving
/// layer knows it: courier's lines carry it as `apiRequestId`.
#[derive(Debug, Clone)]
pub struct GatewayRequestId(pub String);

pub async fn correlate(mut request: Request, next: Next) -> Response {
    let supplied = request.headers().get(CORRELATION_ID).map(|v| v.to_str());
    let id = match supplied {
        None => CorrelationId::generate(),
        Some(Ok(raw)) => match CorrelationId::parse(raw) {
            Ok(id) => id,
            Err(error) => return Problem::invalid_header(error.to_string()).into_response(),
        },
        Some(Err(_)) => {
            return Problem::invalid_header("X-Correlation-Id must be ASCII").into_response();
        }
    };
    // The invocation's X-Ray trace, read once: its id goes on every log line of the request,
    // the whole header on the work the request queues.
    let trace = TraceHeader::of_invocation();
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        correlationId = %id,
        method = %request.method(),
        path = %request.uri().path(),
        traceId = tracing::field::Empty,
        principal = tracing::field::Empty,
        apiRequestId = tracing::field::Empty,
    );
    record_trace_id(&span, trace.as_ref());
    record_principal(
        &span,
        request.extensions().get::<crate::domain::Principal>(),
    );
    if let Some(GatewayRequestId(id)) = request.extensions().get::<GatewayRequestId>() {
        span.record(crate::telemetry::fields::API_REQUEST_ID, id.as_str());
    }
    request.extensions_mut().insert(trace);
    let mut response = next.run(request).instrument(span).await;
    if !response.headers().contains_key(CORRELATION_ID) {
        let value = HeaderValue::from_str(id.as_str()).expect("validated ids are header-safe");
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}
