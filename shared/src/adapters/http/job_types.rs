//! `GET /v1/job-types`: every job type the deployment runs, with its payload schema and the
//! settings it runs under.

use super::caller::Caller;
use super::state::AppState;
use crate::application::job_types::listing;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub async fn list_job_types(State(state): State<AppState>, Caller(_): Caller) -> Response {
    let mut response = Json(listing(&state.intake.registry, state.attempt_limits)).into_response();
    // The same until the next deployment: clients may keep it a while.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=60"),
    );
    response
}
