//! Accepting a job, whichever door it came in by (`POST /v1/jobs` or a WebSocket submit): its
//! claim and its queued message must both exist before anyone is told it was accepted.

use crate::application::ports::{ClaimStore, WorkQueue};
use crate::domain::{Claim, WorkMessage};

/// Writes the claim and queues the job, concurrently (they are independent, so the caller waits
/// for one round trip). `false` when either failed: then the job is not accepted, and a claim
/// written without its message is removed (nobody was given its id).
pub async fn record_and_queue(
    claims: &dyn ClaimStore,
    queue: &dyn WorkQueue,
    claim: &Claim,
    envelope: &WorkMessage,
    delay_seconds: u32,
) -> bool {
    let (created, enqueued) =
        tokio::join!(claims.create(claim), queue.enqueue(envelope, delay_seconds));
    if let Err(error) = &created {
        // A message without a claim is dropped by the processor: nothing to undo.
        tracing::error!(%error, "claim not written; job not accepted");
    }
    if let Err(error) = &enqueued {
        tracing::error!(%error, "job not queued; job not accepted");
        if created.is_ok()
            && let Err(error) = claims.delete(&claim.id).await
        {
            tracing::warn!(%error, "unqueued claim left for TTL to remove");
        }
    }
    created.is_ok() && enqueued.is_ok()
}
