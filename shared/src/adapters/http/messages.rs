//! `POST /v1/messages`: fire and forget. 202 only once SQS has the message.

use super::body::JsonBody;
use super::idempotency::{key_from, run_once};
use super::problem::Problem;
use super::router::AppState;
use crate::application::clock::rfc3339;
use crate::application::ports::StoredResponse;
use crate::domain::{
    CorrelationId, IdempotencyKey, Pattern, Submission, SubmissionError, WorkMessage,
};
use crate::telemetry::TraceHeader;
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use courier_jobs::RegistryError;
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageAccepted<'a> {
    message_id: &'a str,
    correlation_id: &'a str,
    accepted_at: &'a str,
}

/// Turns a request body into a submission the registry accepts, or the precise 400.
pub fn validate_submission(
    state: &AppState,
    body: &serde_json::Value,
) -> Result<Submission, Problem> {
    let submission = Submission::from_json(body.clone()).map_err(|e| match e {
        SubmissionError::NotAnObject => Problem::invalid_body(e.to_string()),
        SubmissionError::Shape(detail) => Problem::invalid_body(detail),
    })?;
    state
        .registry
        .validate(&submission.job_type, &submission.payload)
        .map_err(|e| match e {
            RegistryError::UnknownType { .. } => Problem::unknown_job_type(e.to_string()),
            RegistryError::InvalidPayload { .. } => Problem::invalid_payload(e.to_string()),
        })?;
    Ok(submission)
}

/// The checks both POSTs make before anything is written: body, job type, payload, key.
pub fn validate_request(
    state: &AppState,
    headers: &HeaderMap,
    body: &serde_json::Value,
) -> Result<(Submission, Option<IdempotencyKey>), Problem> {
    Ok((validate_submission(state, body)?, key_from(headers)?))
}

pub async fn post_message(
    State(state): State<AppState>,
    Extension(correlation_id): Extension<CorrelationId>,
    Extension(trace): Extension<Option<TraceHeader>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let (submission, key) = match validate_request(&state, &headers, &body) {
        Ok(valid) => valid,
        Err(problem) => return problem.into_response(),
    };
    if submission.callback_url.is_some() {
        return Problem::invalid_body(
            "callback is accepted on POST /v1/jobs only: a fire-and-forget message has no outcome to report",
        )
        .into_response();
    }
    run_once(state.idempotency.as_ref(), "messages", key, &body, || async {
        let delay_seconds = submission.delay_seconds;
        let envelope = WorkMessage {
            message_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: correlation_id.to_string(),
            pattern: Pattern::FireAndForget,
            job_type: submission.job_type,
            payload: submission.payload,
            accepted_at: rfc3339(state.clock.now()),
            has_callback: false,
            reply_to: None,
            redrive: 0,
            trace_header: trace.map(|t| t.as_str().to_owned()),
        };
        if let Err(error) = state.queue.enqueue(&envelope, delay_seconds).await {
            tracing::error!(%error, "work queue unavailable; message not accepted");
            return Err(Problem::unavailable(
                "the message could not be queued and was not accepted; retry later",
            ));
        }
        tracing::info!(message_id = %envelope.message_id, job_type = %envelope.job_type, "message accepted");
        crate::metrics::accepted(
            envelope.pattern.as_str(),
            envelope.correlation_id.as_str(),
            &envelope.message_id,
        );
        let body = serde_json::to_string(&MessageAccepted {
            message_id: &envelope.message_id,
            correlation_id: envelope.correlation_id.as_str(),
            accepted_at: &envelope.accepted_at,
        })
        .expect("serialisable");
        Ok(StoredResponse {
            status: 202,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (super::headers::CORRELATION_ID.into(), correlation_id.to_string()),
            ],
            body,
        })
    })
    .await
}
