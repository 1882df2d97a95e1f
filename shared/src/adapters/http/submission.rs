//! What both POSTs share: the request read into an intake request (the `Submitted` extractor),
//! and the intake's answer turned into a 202 or a problem.

use super::body::read_json;
use super::caller::Caller;
use super::headers::CORRELATION_ID;
use super::idempotency::{key_from, replayed};
use super::problem::Problem;
use crate::application::intake::{Accepted, Refusal, Request};
use crate::domain::{CorrelationId, Principal, Submission, SubmissionError};
use crate::telemetry::TraceHeader;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Both POSTs' input: body and headers read into an intake request, or the precise 4xx.
pub struct Submitted(pub Request);

impl<S: Send + Sync> FromRequest<S> for Submitted {
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        let correlation_id = request
            .extensions()
            .get::<CorrelationId>()
            .cloned()
            .expect("the correlate middleware runs first");
        let trace = request
            .extensions()
            .get::<Option<TraceHeader>>()
            .cloned()
            .flatten();
        let (mut parts, body) = request.into_parts();
        let Caller(owner) = Caller::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let request = axum::extract::Request::from_parts(parts, body);
        // Work may carry a payload of up to what the door can: over a queue message's limit, it
        // is held in the bucket.
        let body = read_json(request, crate::domain::blob::MAX_DIRECT_BODY_BYTES).await?;
        intake_request(&headers, body, correlation_id, trace, owner).map(Submitted)
    }
}

fn intake_request(
    headers: &HeaderMap,
    body: serde_json::Value,
    correlation_id: CorrelationId,
    trace: Option<TraceHeader>,
    owner: Principal,
) -> Result<Request, Problem> {
    let submission = Submission::from_json(body.clone()).map_err(|e| match e {
        SubmissionError::NotAnObject => Problem::invalid_body(e.to_string()),
        SubmissionError::Shape(detail) => Problem::invalid_body(detail),
    })?;
    Ok(Request {
        submission,
        correlation_id,
        trace,
        idempotency: key_from(headers)?.map(|key| (key, body)),
        owner,
    })
}

/// The problem for a refused submission.
pub fn refused(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::UnknownJobType(detail) => Problem::unknown_job_type(detail),
        Refusal::InvalidPayload(detail) => Problem::invalid_payload(detail),
        Refusal::InvalidPayloadRef(detail) => Problem::invalid_payload_ref(detail),
        Refusal::PayloadTooLarge(detail) => Problem::payload_too_large(detail),
        Refusal::InvalidBody(detail) => Problem::invalid_body(detail),
        Refusal::InvalidCallback(detail) => Problem::invalid_callback(detail),
        Refusal::KeyReused => Problem::idempotency_key_reused(),
        Refusal::InProgress => Problem::request_in_progress(),
        Refusal::Unavailable(detail) => Problem::unavailable(detail),
        Refusal::QuotaExceeded(exceeded) => Problem::quota_exceeded(&exceeded),
    }
}

/// A 202 with a JSON body, the original correlation id, and the replay mark when it is one.
pub fn accepted_response(
    accepted: &Accepted,
    body: String,
    extra: &[(header::HeaderName, String)],
) -> Response {
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in extra {
        headers.insert(name, HeaderValue::from_str(value).expect("header-safe"));
    }
    headers.insert(
        CORRELATION_ID,
        HeaderValue::from_str(&accepted.acceptance.correlation_id)
            .expect("validated ids are header-safe"),
    );
    if accepted.replayed {
        replayed(&mut response);
    }
    response
}
