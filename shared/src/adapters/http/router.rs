use super::bearer::check_caller;
use super::correlation::correlate;
use super::job_lists::{bulk_cancel, bulk_rerun, job_events, list_jobs};
use super::job_types::{api_document, list_job_types};
use super::jobs::{cancel_job, get_job, post_job};
use super::messages::post_message;
use super::problem::Problem;
use super::schedules::{
    create_schedule, delete_schedule, get_schedule, list_schedules, pause_schedule, resume_schedule,
};
pub use super::state::AppState;
use super::tasks::report_task;
use super::uploads::create_upload;
use super::webhook_endpoints::{
    create_destination, create_endpoint, delete_destination, delete_endpoint, get_destination,
    get_endpoint, list_destinations, list_endpoints, rotate_destination_secret, rotate_secret,
};
use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

async fn not_found(uri: Uri) -> Problem {
    Problem::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::method_not_allowed(method.as_str(), uri.path())
}

/// A browser's CORS preflight (`OPTIONS`, no token: the gateway routes it past the JWT
/// authorizer): 204 for any path. API Gateway puts the stack's CORS headers on the answer.
async fn answer_preflight(request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return StatusCode::NO_CONTENT.into_response();
    }
    next.run(request).await
}

/// Counts every request of a verified caller in their requests per second; one over it is
/// answered 429 before any handler runs. A request with no caller (a worker's report, which
/// carries a task token) is not a caller's.
async fn count_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(caller) = request.extensions().get::<crate::domain::Principal>()
        && let Err(exceeded) = state.quotas.admit_request(caller).await
    {
        tracing::info!(%exceeded, "request refused: over the caller's quota");
        return Problem::quota_exceeded(&exceeded).into_response();
    }
    next.run(request).await
}

/// Every operation the router serves, as `(method, path template)`; the OpenAPI document is
/// checked against this list and this list against the router.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/v1/messages"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs/cancel"),
    ("POST", "/v1/jobs/rerun"),
    ("GET", "/v1/jobs/{id}/events"),
    ("GET", "/v1/job-types"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/tasks/report"),
    ("GET", "/v1/jobs/{id}"),
    ("DELETE", "/v1/jobs/{id}"),
    ("POST", "/v1/webhook-endpoints"),
    ("GET", "/v1/webhook-endpoints"),
    ("GET", "/v1/webhook-endpoints/{id}"),
    ("DELETE", "/v1/webhook-endpoints/{id}"),
    ("POST", "/v1/webhook-endpoints/{id}/rotate"),
    ("POST", "/v1/destinations"),
    ("GET", "/v1/destinations"),
    ("GET", "/v1/destinations/{id}"),
    ("DELETE", "/v1/destinations/{id}"),
    ("POST", "/v1/destinations/{id}/rotate"),
    ("POST", "/v1/uploads"),
    ("POST", "/v1/schedules"),
    ("GET", "/v1/schedules"),
    ("GET", "/v1/schedules/{id}"),
    ("DELETE", "/v1/schedules/{id}"),
    ("POST", "/v1/schedules/{id}/pause"),
    ("POST", "/v1/schedules/{id}/resume"),
];

/// All REST routes. Unknown paths and methods answer with problem+json like every other error.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/messages", post(post_message))
        .route("/v1/jobs", post(post_job).get(list_jobs))
        .route("/v1/jobs/cancel", post(bulk_cancel))
        .route("/v1/jobs/rerun", post(bulk_rerun))
        .route("/v1/jobs/{id}/events", get(job_events))
        .route("/v1/job-types", get(list_job_types))
        .route("/v1/openapi.json", get(api_document))
        .route("/v1/tasks/report", post(report_task))
        .route("/v1/jobs/{id}", get(get_job).delete(cancel_job))
        .route(
            "/v1/webhook-endpoints",
            post(create_endpoint).get(list_endpoints),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(get_endpoint).delete(delete_endpoint),
        )
        .route("/v1/webhook-endpoints/{id}/rotate", post(rotate_secret))
        .route(
            "/v1/destinations",
            post(create_destination).get(list_destinations),
        )
        .route(
            "/v1/destinations/{id}",
            get(get_destination).delete(delete_destination),
        )
        .route(
            "/v1/destinations/{id}/rotate",
            post(rotate_destination_secret),
        )
        .route("/v1/uploads", post(create_upload))
        .route("/v1/schedules", post(create_schedule).get(list_schedules))
        .route(
            "/v1/schedules/{id}",
            get(get_schedule).delete(delete_schedule),
        )
        .route("/v1/schedules/{id}/pause", post(pause_schedule))
        .route("/v1/schedules/{id}/resume", post(resume_schedule))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .layer(middleware::from_fn_with_state(state.clone(), check_caller))
        .layer(middleware::from_fn(correlate))
        .layer(middleware::from_fn(answer_preflight))
        .with_state(state)
}
