use super::correlation::correlate;
use super::messages::post_message;
use super::problem::Problem;
use crate::clock::Clock;
use crate::ports::{IdempotencyStore, WorkQueue};
use crate::worker::WorkerRegistry;
use axum::Router;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::routing::post;
use std::sync::Arc;

/// Everything the HTTP handlers use, built once per cold start.
#[derive(Clone)]
pub struct AppState {
    pub queue: Arc<dyn WorkQueue>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub registry: Arc<WorkerRegistry>,
    pub clock: Arc<dyn Clock>,
}

async fn not_found(uri: Uri) -> Problem {
    Problem::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::method_not_allowed(method.as_str(), uri.path())
}

/// All REST routes. Unknown paths and methods answer with problem+json like every other error.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/messages", post(post_message))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(correlate))
        .with_state(state)
}
