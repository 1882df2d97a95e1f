//! Work for later holds a counted job slot when it comes due, or waits for one.
//!
//! A job given `runAt` takes its caller's slot when accepted, like any job, but a slot counts
//! for two claim lifetimes at most (`domain::quota::SlotCount`): a job scheduled months ahead
//! would come due holding a slot that no longer counts, and a caller's scheduled work could
//! then all come due at once, far past their share. A schedule's run takes none when it is
//! made. So as such work comes due the processor looks at its claim: a slot still counted is
//! run on; otherwise a slot is taken just before the first attempt and the claim carries it
//! from then on (given back when the job ends). A caller at their limit has the job wait: the
//! message is sent again a little later and this delivery acknowledged, the job PENDING
//! meanwhile, no attempt or SQS receive spent — their own jobs hold it back, never another
//! caller's.

use crate::application::ports::{ClaimStore, PortError, WorkQueue};
use crate::application::quotas::{Quotas, TakeRefused};
use crate::domain::quota::JobSlot;
use crate::domain::{JobId, JobStatus, WorkMessage};
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
    /// Its claim is not there yet (a schedule's run writes it beside its message): look again
    /// shortly, as for any job whose claim is not written yet.
    LookAgain,
}

impl DueAdmission {
    /// Admits work for later as it comes due (see the module's comment). Work accepted to run
    /// now, and every fire-and-forget message, passes as it is.
    pub(super) async fn admit(
        &self,
        envelope: &WorkMessage,
        receive_count: u32,
    ) -> Result<Admitted, PortError> {
        let (Some(owner), true) = (envelope.owner.as_ref(), envelope.slot_when_due) else {
            return Ok(Admitted::Run);
        };
        let Ok(job) = JobId::parse(&envelope.message_id) else {
            return Ok(Admitted::Run);
        };
        let claim = self.claims.get(&job).await?;
        // No claim on a first delivery: it may be on its way (run without a slot if it lands
        // before the start). Later, or one already started, ended or cancelled: the start
        // decides.
        let claim = match claim {
            None if receive_count <= 1 => return Ok(Admitted::LookAgain),
            None => return Ok(Admitted::Run),
            Some(claim) if claim.status != JobStatus::Pending => return Ok(Admitted::Run),
            Some(claim) => claim,
        };
        let held = claim.slot.as_deref();
        if held
            .and_then(JobSlot::parse)
            .is_some_and(|slot| self.quotas.still_counted(&slot))
        {
            return Ok(Admitted::Run);
        }
        let slot = match self.quotas.take_job(owner, &job).await {
            Ok(slot) => slot,
            Err(TakeRefused::Unavailable(error)) => return Err(error),
            Err(TakeRefused::Exceeded(exceeded)) => {
                let wait = wait_for_slot(rand::random::<f64>());
                tracing::info!(
                    limit = exceeded.limit,
                    wait_s = wait,
                    "due, but its caller is at their limit of jobs in flight; it waits"
                );
                self.requeue.enqueue(envelope, wait).await?;
                return Ok(Admitted::Waiting);
            }
        };
        match self.claims.carry_slot(&job, &slot.to_string(), held).await {
            Ok(true) => {}
            // Another delivery gave it one, or it will never start: it keeps its own.
            Ok(false) => self.quotas.give_back_job(&slot).await,
            Err(error) => {
                crate::application::quotas::settle(&self.quotas, &*self.claims, &job, &slot).await;
                return Err(error);
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
