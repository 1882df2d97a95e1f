//! The claim check: `POST /v1/jobs` accepts work and hands back a claim, `GET /v1/jobs/{id}`
//! reads it, `DELETE /v1/jobs/{id}` cancels a job that has not started.

use super::body::JsonBody;
use super::headers::CORRELATION_ID;
use super::idempotency::run_once;
use super::messages::validate_request;
use super::problem::Problem;
use super::router::AppState;
use crate::application::clock::rfc3339;
use crate::application::job_view::{job_view, status_path};
use crate::application::ports::{CancelOutcome, StoredResponse};
use crate::domain::{CallbackState, Claim, CorrelationId, JobId, JobStatus, Pattern, WorkMessage};
use crate::telemetry::TraceHeader;
use axum::Extension;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// How soon a caller should poll a job that is not finished yet, in seconds.
pub const POLL_AFTER_SECONDS: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobAccepted<'a> {
    id: &'a str,
    status: JobStatus,
    status_url: &'a str,
    expires_at: String,
}

fn job_response(claim: &Claim) -> Response {
    let mut response = Json(job_view(claim)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !claim.status.is_terminal() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(POLL_AFTER_SECONDS));
    }
    response
}

fn parse_id(path: Result<Path<String>, PathRejection>) -> Result<JobId, Problem> {
    let Path(raw) = path.map_err(|e| Problem::invalid_job_id(e.body_text()))?;
    JobId::parse(&raw).map_err(|e| Problem::invalid_job_id(e.to_string()))
}

pub async fn post_job(
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
    // Checked at submission (here, names resolved) and again at every delivery.
    let callback_url = match &submission.callback_url {
        None => None,
        Some(raw) => match state.callback_policy.check_url(raw) {
            Err(rejected) => {
                return Problem::invalid_callback_url(rejected.to_string()).into_response();
            }
            Ok(url) => match state.callback_policy.resolve(&url).await {
                Err(rejected) => {
                    return Problem::invalid_callback_url(rejected.to_string()).into_response();
                }
                Ok(_) => Some(url.as_str().to_owned()),
            },
        },
    };
    run_once(state.idempotency.as_ref(), "jobs", key, &body, || async {
        let now = state.clock.now();
        let mut claim = Claim::pending(
            JobId::generate(),
            submission.job_type.clone(),
            correlation_id.clone(),
            now,
            state.claim_lifetime,
        );
        claim.callback = callback_url.clone().map(CallbackState::waiting);
        let delay_seconds = submission.delay_seconds;
        let envelope = WorkMessage {
            message_id: claim.id.to_string(),
            correlation_id: correlation_id.to_string(),
            pattern: Pattern::ClaimCheck,
            job_type: submission.job_type,
            payload: submission.payload,
            accepted_at: rfc3339(now),
            has_callback: claim.callback.is_some(),
            reply_to: None,
            redrive: 0,
            trace_header: trace.map(|t| t.as_str().to_owned()),
        };
        let accepted = crate::application::intake::record_and_queue(
            state.claims.as_ref(),
            state.queue.as_ref(),
            &claim,
            &envelope,
            delay_seconds,
        )
        .await;
        if !accepted {
            return Err(Problem::unavailable(
                "the job could not be recorded and queued, and was not accepted; retry later",
            ));
        }
        tracing::info!(job_id = %claim.id, job_type = %claim.job_type, "job accepted");
        crate::metrics::accepted(
            if claim.callback.is_some() {
                "callback"
            } else {
                Pattern::ClaimCheck.as_str()
            },
            correlation_id.as_str(),
            claim.id.as_str(),
        );
        let location = status_path(&claim.id);
        let body = serde_json::to_string(&JobAccepted {
            id: claim.id.as_str(),
            status: claim.status,
            status_url: &location,
            expires_at: rfc3339(claim.expires_at),
        })
        .expect("serialisable");
        Ok(StoredResponse {
            status: 202,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("location".into(), location.clone()),
                ("retry-after".into(), POLL_AFTER_SECONDS.to_string()),
                (CORRELATION_ID.into(), correlation_id.to_string()),
            ],
            body,
        })
    })
    .await
}

pub async fn get_job(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match parse_id(path) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match state.claims.get(&id).await {
        Ok(Some(claim)) if !claim.is_expired(state.clock.now()) => job_response(&claim),
        Ok(_) => Problem::job_not_found(id.as_str()).into_response(),
        Err(error) => {
            tracing::error!(%error, "claim store unavailable");
            Problem::unavailable("the job's status could not be read; retry later").into_response()
        }
    }
}

pub async fn cancel_job(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match parse_id(path) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match state.claims.cancel(&id, state.clock.now()).await {
        Ok(CancelOutcome::Cancelled(claim)) => {
            tracing::info!(job_id = %id, "job cancelled");
            job_response(&claim)
        }
        Ok(CancelOutcome::TooLate(claim)) => {
            Problem::job_not_cancellable(claim.status.as_str()).into_response()
        }
        Ok(CancelOutcome::NotFound) => Problem::job_not_found(id.as_str()).into_response(),
        Err(error) => {
            tracing::error!(%error, "claim store unavailable");
            Problem::unavailable("the job could not be cancelled; retry later").into_response()
        }
    }
}
