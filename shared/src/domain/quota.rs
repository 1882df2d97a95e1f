//! A caller's fair share, as values: which quota, its limits (the deployment's, and an
//! operator's for one caller), and the refusal a caller over one gets.

use std::time::Duration;
use thiserror::Error;

/// API Gateway closes a WebSocket connection after two hours whatever happens: a connection
/// whose `$disconnect` never came stops counting then.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// Each quota, as problems and frames name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    JobsInFlight,
    RequestsPerSecond,
    Connections,
    WebhookEndpoints,
}

impl Quota {
    pub fn name(&self) -> &'static str {
        match self {
            Self::JobsInFlight => "jobsInFlight",
            Self::RequestsPerSecond => "requestsPerSecond",
            Self::Connections => "connections",
            Self::WebhookEndpoints => "webhookEndpoints",
        }
    }

    /// When asking again may pass: the next second for requests; for the others, a guess at
    /// when something of the caller's will have ended.
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::RequestsPerSecond => Duration::from_secs(1),
            Self::JobsInFlight => Duration::from_secs(5),
            Self::Connections => Duration::from_secs(30),
            Self::WebhookEndpoints => Duration::from_secs(60),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Self::JobsInFlight => "jobs in flight (accepted and not yet ended)",
            Self::RequestsPerSecond => "requests per second",
            Self::Connections => "open WebSocket connections",
            Self::WebhookEndpoints => "registered webhook endpoints",
        }
    }
}

/// A refusal: the caller holds `limit` of `quota` already. Nothing was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("over your {} quota: at most {limit} {}; nothing was accepted, retry after {} s", .quota.name(), .quota.what(), .quota.retry_after().as_secs())]
pub struct QuotaExceeded {
    pub quota: Quota,
    pub limit: u32,
}

/// One caller's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub jobs_in_flight: u32,
    pub requests_per_second: u32,
    pub connections: u32,
    pub webhook_endpoints: u32,
}

/// The limits an operator set for one caller; those left out are the deployment's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnLimits {
    pub jobs_in_flight: Option<u32>,
    pub requests_per_second: Option<u32>,
    pub connections: Option<u32>,
    pub webhook_endpoints: Option<u32>,
}

impl Limits {
    pub fn with(&self, own: &OwnLimits) -> Limits {
        Limits {
            jobs_in_flight: own.jobs_in_flight.unwrap_or(self.jobs_in_flight),
            requests_per_second: own.requests_per_second.unwrap_or(self.requests_per_second),
            connections: own.connections.unwrap_or(self.connections),
            webhook_endpoints: own.webhook_endpoints.unwrap_or(self.webhook_endpoints),
        }
    }
}
