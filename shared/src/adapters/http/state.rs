//! What the HTTP handlers share, built once per cold start by the composition root.

use crate::application::clock::Clock;
use crate::application::intake::Intake;
use crate::application::job_types::AttemptLimits;
use crate::application::ports::ClaimStore;
use crate::application::webhook_endpoints::WebhookEndpoints;
use std::sync::Arc;

/// Everything the HTTP handlers use, built once per cold start.
#[derive(Clone)]
pub struct AppState {
    /// The two POSTs' door to the intake (its queue is the standard work queue).
    pub intake: Arc<Intake>,
    /// Reads and cancels claims.
    pub claims: Arc<dyn ClaimStore>,
    /// Callers' webhook endpoints.
    pub endpoints: Arc<WebhookEndpoints>,
    pub clock: Arc<dyn Clock>,
    /// The deployment's retry limits, for the job types' listing.
    pub attempt_limits: AttemptLimits,
    /// Reports of workers that finish later.
    pub tasks: Arc<crate::application::task_reports::TaskReports>,
    /// Each caller's requests per second (and, through the intake and the endpoints, their
    /// jobs in flight and endpoints).
    pub quotas: Arc<crate::application::quotas::Quotas>,
    /// Uploads, and results held in the bucket (their URLs minted as jobs are read).
    pub payloads: Arc<crate::application::payloads::Payloads>,
    /// Callers' recurring schedules.
    pub schedules: Arc<crate::application::schedules::Schedules>,
    /// Where the function checks each caller's bearer token itself (the lean door, a function
    /// URL); `None` where an authorizer in front of it did (the HTTP API's).
    pub own_caller_check: Option<Arc<dyn crate::application::ports::TokenVerifier>>,
}
