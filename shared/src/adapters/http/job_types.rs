//! `GET /v1/job-types`: every job type the deployment runs, with its payload schema and the
//! settings it runs under; `GET /v1/openapi.json`: the deployment's own API document, its
//! declared job types included.

use super::caller::Caller;
use super::state::AppState;
use crate::application::job_types::listing;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub async fn list_job_types(State(state): State<AppState>, Caller(_): Caller) -> Response {
    until_the_next_deployment(
        Json(listing(&state.intake.registry, state.attempt_limits)).into_response(),
    )
}

/// Made per request (a few milliseconds, rarely asked for) rather than kept.
pub async fn api_document(State(state): State<AppState>, Caller(_): Caller) -> Response {
    until_the_next_deployment(
        Json(super::openapi::deployment_document(&state.intake.registry)).into_response(),
    )
}

/// The same until the next deployment: clients may keep it a while.
fn until_the_next_deployment(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    response
}
