//! A claim as callers see it: the protocol's `Job`, from `GET /v1/jobs/{id}`, an `accepted`
//! frame's `statusUrl`, and a callback's body.

use crate::application::clock::{parse_rfc3339, rfc3339};
use crate::domain::timeline::{Happening, Timeline};
use crate::domain::{Claim, EndpointKind, JobId, JobStatus};
use courier_protocol::rest::{CallbackView, Job};

/// Where a job's claim is read, below the API's base URL.
pub fn status_path(id: &JobId) -> String {
    format!("/v1/jobs/{id}")
}

/// The job as `GET /v1/jobs/{id}` shows it: the result only once SUCCEEDED, the error only
/// once FAILED.
pub fn job_view(claim: &Claim) -> Job {
    Job {
        id: claim.id.to_string(),
        job_type: claim.job_type.clone(),
        status: claim.status,
        progress: claim.progress,
        attempts: claim.attempts,
        correlation_id: claim.correlation_id.to_string(),
        created_at: rfc3339(claim.created_at),
        updated_at: rfc3339(claim.updated_at),
        started_at: claim.started_at.map(rfc3339),
        completed_at: claim.completed_at.map(rfc3339),
        expires_at: rfc3339(claim.expires_at),
        run_at: claim.run_at.map(rfc3339),
        result: claim
            .result
            .clone()
            .filter(|_| claim.status == JobStatus::Succeeded),
        // Minted by the reader (`application::payloads::Payloads::link`): it takes a signature.
        result_url: None,
        error: claim
            .error
            .clone()
            .filter(|_| claim.status == JobStatus::Failed),
        callback: claim.callback.as_ref().map(|c| CallbackView {
            endpoint_id: (c.endpoint_id.kind() == EndpointKind::Webhook)
                .then(|| c.endpoint_id.to_string()),
            destination_id: (c.endpoint_id.kind() == EndpointKind::Destination)
                .then(|| c.endpoint_id.to_string()),
            state: c.state,
            attempts: c.attempts,
            last_status: c.last_status,
            last_error: c.last_error.clone(),
            next_attempt_at: c.next_attempt_at.clone(),
            delivered_at: c.delivered_at.clone(),
        }),
    }
}

/// The job's timeline as `GET /v1/jobs/{id}/events` shows it: numbered in the order the
/// claim's writes recorded its events, each callback attempt naming the job's endpoint.
pub fn timeline(claim: &Claim) -> Timeline {
    let target = claim.callback.as_ref().map(|c| &c.endpoint_id);
    let of_kind = |kind: EndpointKind| {
        target
            .filter(|id| id.kind() == kind)
            .map(ToString::to_string)
    };
    let (endpoint, destination) = (
        of_kind(EndpointKind::Webhook),
        of_kind(EndpointKind::Destination),
    );
    let mut timeline = courier_protocol::timeline::number(claim.events.clone(), |from, to| {
        let from = parse_rfc3339(from)?;
        let to = parse_rfc3339(to)?;
        Some((to - from).whole_milliseconds().max(0) as u64)
    });
    // What the claim keeps once, each event that names it names.
    for event in &mut timeline.events {
        match &mut event.what {
            Happening::CallbackAttempt {
                endpoint_id,
                destination_id,
                ..
            }
            | Happening::CallbackGivenUp {
                endpoint_id,
                destination_id,
                ..
            } => {
                endpoint_id.clone_from(&endpoint);
                destination_id.clone_from(&destination);
            }
            Happening::Accepted { correlation_id, .. } => {
                *correlation_id = Some(claim.correlation_id.to_string());
            }
            _ => {}
        }
    }
    timeline
}

/// The body a callback carries: the job, less the delivery's own state.
pub fn callback_body(claim: &Claim) -> Job {
    Job {
        callback: None,
        ..job_view(claim)
    }
}
