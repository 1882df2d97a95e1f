//! Job state change events: what courier publishes on its event bus, when job events are on
//! (`JobEvents=enabled`), at every change of a job's lifecycle — its claim made (`PENDING`), an
//! attempt started (`RUNNING`, each attempt), and its end (`SUCCEEDED`, `FAILED`, `CANCELLED`),
//! or its reopening by a redrive or rerun. A short attempt whose start and success are one write
//! (a type whose result is its only effect) publishes its end only. Never a payload or a result: rules route on these
//! fields, and readers fetch the job itself (`GET /v1/jobs/{id}`) when they need more.

use crate::rest::JobStatus;
use serde::{Deserialize, Serialize};

/// The events' `source`.
pub const SOURCE: &str = "courier";
/// The events' `detail-type`.
pub const DETAIL_TYPE: &str = "Courier Job State Change";

/// An event's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStateChange {
    /// The change's own id, the same on every publication of it (delivery is at least once:
    /// deduplicate on it).
    pub event_id: String,
    pub job_id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: JobStatus,
    /// The status before this change; absent for a new job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<JobStatus>,
    /// The attempt under way or last made (0 before the first).
    pub attempt: u32,
    /// The job's owner as an opaque tag (a digest of its issuer and subject): the same for all
    /// of one caller's jobs, and never their identity.
    pub owner: String,
    pub correlation_id: String,
    /// When the change was made (the claim's `updatedAt`).
    pub at: String,
}
