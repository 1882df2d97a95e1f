//! The REST API: one axum router, served by `lambda_http` in Lambda and called directly in tests.

mod bearer;
pub mod body;
mod caller;
mod correlation;
pub(crate) mod idempotency;
mod job_lists;
mod job_types;
mod jobs;
mod messages;
pub mod openapi;
pub mod problem;
mod router;
mod schedules;
mod state;
mod submission;
mod tasks;
mod uploads;
mod webhook_endpoints;

pub use caller::Caller;
pub use correlation::GatewayRequestId;
pub use jobs::POLL_AFTER_SECONDS;
pub use router::{AppState, OPERATIONS, router};

/// Response and request header names courier defines.
pub mod headers {
    pub const CORRELATION_ID: &str = "x-correlation-id";
    pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
    /// Set on a response that repeats an earlier one for the same `Idempotency-Key`.
    pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod openapi_tests;
