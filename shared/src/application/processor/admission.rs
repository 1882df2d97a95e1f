//! Work for later takes its caller's job slot when it comes due, not when it is accepted.
//!
//! A job given `runAt`, and each run of a recurring schedule, holds no slot while it waits:
//! held for months a slot would lapse (slots count for two claim lifetimes), and a caller's
//! scheduled work could then all come due at once, far past their share of jobs in flight. So
//! the processor takes the slot just before the first attempt, and the claim carries it from
//! then on like any job's (given back when the job ends). A caller at their limit when a job
//! comes due has it wait: the message is sent again a little later and this delivery
//! acknowledged, the job PENDING meanwhile and no attempt spent — their own jobs hold it back,
//! never another caller's.

use super::message::{MessageProcessor, ProcessError};
use crate::application::ports::{ClaimStore, WorkQueue};
use crate::application::quotas::{Quotas, TakeRefused};
use crate::domain::{JobId, WorkMessage};
use std::sync::Arc;
use std::time::Duration;

/// How long due work waits when its caller is at their limit, before it asks again (spread
/// by up to half again, so a caller's waiting jobs do not all ask at once).
pub const WAIT_FOR_SLOT: Duration = Duration::from_secs(30);

/// What admitting work for later needs: the quotas, the claims that carry slots, and the work
/// queue a waiting job goes back onto.
pub struct DueAdmission {
    pub quotas: Arc<Quotas>,
    pub claims: Arc<dyn ClaimStore>,
    pub requeue: Arc<dyn WorkQueue>,
}

/// Whether due work may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admitted {
    /// It holds its slot (taken now, or on an earlier delivery): run it.
    Run,
    /// Its caller is at their limit: it was sent again for later; acknowledge this delivery.
    Waiting,
}

impl MessageProcessor {
    /// Takes the job slot of work for later as it comes due (see the module's comment). Work
    /// that took its slot when accepted, and every fire-and-forget message, passes as it is.
    pub(super) async fn admit_due(&self, envelope: &WorkMessage) -> Result<Admitted, ProcessError> {
        let (Some(admission), Some(owner), true) = (
            &self.due_admission,
            envelope.owner.as_ref(),
            envelope.slot_when_due,
        ) else {
            return Ok(Admitted::Run);
        };
        let Ok(job) = JobId::parse(&envelope.message_id) else {
            return Ok(Admitted::Run);
        };
        let slot = match admission.quotas.take_job(owner, &job).await {
            Ok(slot) => slot,
            Err(TakeRefused::Unavailable(error)) => return Err(ProcessError::Dependency(error)),
            Err(TakeRefused::Exceeded(exceeded)) => {
                // A delivery of a job that took its slot already (its run died) is no new
                // job in flight: it runs on the slot it holds.
                let holds_one = admission
                    .claims
                    .get(&job)
                    .await
                    .map_err(ProcessError::Dependency)?
                    .is_some_and(|claim| claim.slot.is_some());
                if holds_one {
                    return Ok(Admitted::Run);
                }
                let wait = wait_for_slot(rand::random::<f64>());
                tracing::info!(
                    limit = exceeded.limit,
                    wait_s = wait,
                    "due, but its caller is at their limit of jobs in flight; it waits"
                );
                admission
                    .requeue
                    .enqueue(envelope, wait)
                    .await
                    .map_err(ProcessError::Dependency)?;
                return Ok(Admitted::Waiting);
            }
        };
        match admission.claims.carry_slot(&job, &slot.to_string()).await {
            Ok(true) => {}
            // It holds a slot already, or will never start (ended, cancelled): it keeps its own.
            Ok(false) => admission.quotas.give_back_job(&slot).await,
            Err(error) => {
                crate::application::quotas::settle(
                    &admission.quotas,
                    &*admission.claims,
                    &job,
                    &slot,
                )
                .await;
                return Err(ProcessError::Dependency(error));
            }
        }
        Ok(Admitted::Run)
    }
}

/// Seconds to wait for a slot, given a uniform draw in [0, 1).
fn wait_for_slot(draw: f64) -> u32 {
    let base = WAIT_FOR_SLOT.as_secs_f64();
    (base + base * 0.5 * draw.clamp(0.0, 1.0)).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_job_asks_again_within_half_again_the_wait() {
        assert_eq!(wait_for_slot(0.0), 30);
        assert_eq!(wait_for_slot(0.999), 45);
        assert_eq!(wait_for_slot(7.0), 45);
    }
}
