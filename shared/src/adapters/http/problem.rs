//! RFC 9457 problem details. Every error the API returns is one of these, with a stable `type`
//! that clients can switch on (listed in the README).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Where problem types are documented; `type` is this plus the slug.
pub const PROBLEM_TYPE_BASE: &str = "urn:courier:problem:";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Over a quota: which (`quota-exceeded` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<&'static str>,
    /// Over a quota: its limit for this caller (`quota-exceeded` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip)]
    pub retry_after_seconds: Option<u32>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            quota: None,
            limit: None,
            retry_after_seconds: None,
        }
    }

    /// 429: the caller is over one of their quotas; nothing was accepted.
    pub fn quota_exceeded(exceeded: &crate::application::quotas::QuotaExceeded) -> Self {
        let mut problem = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota-exceeded",
            "Over your quota",
            exceeded.to_string(),
        )
        .retry_after(exceeded.quota.retry_after().as_secs() as u32);
        problem.quota = Some(exceeded.quota.name());
        problem.limit = Some(exceeded.limit);
        problem
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Request body is not valid JSON",
            detail,
        )
    }

    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "Request body does not match the schema",
            detail,
        )
    }

    pub fn unknown_job_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unknown-job-type",
            "Unknown job type",
            detail,
        )
    }

    pub fn invalid_payload(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-payload",
            "Payload is not valid for this job type",
            detail,
        )
    }

    pub fn invalid_header(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-header",
            "A request header is not valid",
            detail,
        )
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Content-Type must be application/json",
            detail,
        )
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body is too large",
            format!("the request body must be at most {limit} bytes"),
        )
    }

    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency-key-reused",
            "Idempotency-Key was used with a different request",
            "this Idempotency-Key was already used with a different request body; use a new key",
        )
    }

    pub fn request_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "request-in-progress",
            "A request with this Idempotency-Key is in progress",
            "the first request with this Idempotency-Key has not finished; retry shortly",
        )
        .retry_after(1)
    }

    /// A job's callback names no webhook endpoint of the caller's.
    pub fn invalid_callback(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-callback",
            "The callback is refused",
            detail,
        )
    }

    /// A webhook endpoint's URL is malformed or points where courier will not call.
    pub fn invalid_endpoint_url(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-endpoint-url",
            "The endpoint URL is refused",
            detail,
        )
    }

    /// Unknown and another caller's endpoints answer alike.
    pub fn endpoint_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "endpoint-not-found",
            "No such webhook endpoint",
            format!("no webhook endpoint {id} is registered to you"),
        )
    }

    pub fn invalid_payload_ref(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-payload-ref",
            "No such upload",
            detail,
        )
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "The payload is too large",
            detail,
        )
    }

    pub fn destination_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "destination-not-found",
            "No such destination",
            format!("no destination {id} is registered to you"),
        )
    }

    pub fn invalid_destination(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-destination",
            "The destination is refused",
            detail,
        )
    }

    pub fn destination_unreachable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "destination-unreachable",
            "courier could not deliver to the destination",
            detail,
        )
    }

    pub fn too_many_secrets(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "too-many-secrets",
            "Too many signing secrets",
            detail,
        )
    }

    pub fn invalid_job_id(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-job-id",
            "Not a job id",
            detail,
        )
    }

    /// A query parameter (or a bulk action's filter) that is unknown, repeated or invalid.
    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query parameter",
            detail,
        )
    }

    pub fn invalid_cursor(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-cursor",
            "Not a cursor of this list",
            detail,
        )
    }

    pub fn job_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "job-not-found",
            "No such job",
            format!("job {id} does not exist or has expired"),
        )
    }

    pub fn job_not_cancellable(status: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "job-not-cancellable",
            "The job can no longer be cancelled",
            format!("the job is {status}; only PENDING jobs can be cancelled"),
        )
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no resource at {path}"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("{method} is not supported on {path}"),
        )
    }

    /// No verified caller on the request: it did not come through the JWT authorizer.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            "the request carries no verified caller; send Authorization: Bearer <token>",
        )
    }

    /// A dependency failed before anything was done: safe to retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily-unavailable",
            "Temporarily unavailable",
            detail,
        )
        .retry_after(1)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).expect("a problem is always serialisable");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
