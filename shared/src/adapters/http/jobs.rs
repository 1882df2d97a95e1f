//! The claim check: `POST /v1/jobs` accepts work and hands back a claim, `GET /v1/jobs/{id}`
//! reads it, `DELETE /v1/jobs/{id}` cancels a job that has not started.

use super::caller::Caller;
use super::problem::Problem;
use super::state::AppState;
use super::submission::{Submitted, accepted_response, refused};
use crate::application::intake::{Acceptance, Door};
use crate::application::job_view::status_path;
use crate::application::ports::CancelOutcome;
use crate::domain::{Claim, JobId};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::JobAccepted;

/// How soon a caller should poll a job that is not finished yet, in seconds.
pub const POLL_AFTER_SECONDS: u32 = 1;

async fn job_response(state: &AppState, claim: &Claim) -> Response {
    let job = match state.payloads.job(claim, state.clock.now()).await {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(%error, "the result's URL could not be minted");
            return Problem::unavailable("the job's result could not be linked; retry later")
                .into_response();
        }
    };
    let mut response = Json(job).into_response();
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

pub async fn post_job(State(state): State<AppState>, Submitted(request): Submitted) -> Response {
    match state.intake.accept(Door::Jobs, request).await {
        Ok(accepted) => {
            let acceptance = &accepted.acceptance;
            let id = &acceptance.id;
            let location = status_path(id);
            let body = serde_json::to_string(&JobAccepted {
                id: acceptance.id.to_string(),
                status: Acceptance::STATUS,
                status_url: location.clone(),
                expires_at: acceptance.expires_at.clone().unwrap_or_default(),
            })
            .expect("serialisable");
            accepted_response(
                &accepted,
                body,
                &[
                    (header::LOCATION, location),
                    (header::RETRY_AFTER, POLL_AFTER_SECONDS.to_string()),
                ],
            )
        }
        Err(refusal) => refused(refusal).into_response(),
    }
}

pub async fn get_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match parse_id(path) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match state.claims.get(&id).await {
        // Another caller's job answers as an unknown one: nothing about it leaks.
        Ok(Some(claim)) if claim.visible_to(&caller, state.clock.now()) => {
            job_response(&state, &claim).await
        }
        Ok(_) => Problem::job_not_found(id.as_str()).into_response(),
        Err(error) => {
            tracing::error!(%error, "claim store unavailable");
            Problem::unavailable("the job's status could not be read; retry later").into_response()
        }
    }
}

pub async fn cancel_job(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match parse_id(path) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match state.claims.cancel(&id, &caller, state.clock.now()).await {
        Ok(CancelOutcome::Cancelled(claim)) => {
            tracing::info!(job_id = %id, "job cancelled");
            // Ended: its slot is its caller's again (once; the processor finds none left).
            state.quotas.release_job(&id).await;
            job_response(&state, &claim).await
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
