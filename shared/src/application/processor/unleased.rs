//! Short attempts run without a lease: the work's record is looked at (a read), the job runs,
//! and its start and success are one conditional write — made only if the work may still start
//! and no attempt has started since the look. An attempt takes its lease (the classic start,
//! conditioned the same way) only once it outlives [`LEASE_AFTER`], reports progress, keeps a
//! result in the bucket, or ends other than in success; from then on it is recorded as any
//! leased attempt.
//!
//! Only SQS's first receive of work no attempt has started runs unleased: a redelivery (after
//! a crash, a retry; a message behind others in its FIFO batch included) and a copy of work
//! whose earlier run died take their lease first, so a run that dies still counts against the
//! retry budget. And only work whose run
//! may be dropped: fire-and-forget messages (delivered at least once anyway), and the jobs of a
//! type whose result is its only effect ([`courier_jobs::Effects::ResultOnly`]). A job's claim
//! can be cancelled, withdrawn by the intake or ended by its expiry while PENDING; any of them
//! that lands while such a run goes on wins, and the run's result is dropped — as if it never
//! ran, since it changed nothing else. A job of any other type starts with its lease.
//!
//! What this changes: a copy of a message that SQS delivers within a short run's first
//! [`LEASE_AFTER`] may run it beside the first (at-least-once delivery); one of the two
//! outcomes is recorded, the other run's is dropped and its copy finds the work done.

use crate::application::ports::{AttemptStart, MessageLedger, PortError};
use crate::domain::WorkMessage;
use std::sync::Arc;
use std::time::Duration;

/// How long an attempt runs unleased before it takes its lease.
pub const LEASE_AFTER: Duration = Duration::from_secs(1);

/// Whether an attempt holds its lease, and takes it once when it must.
pub(super) struct LeaseGate {
    ledger: Arc<dyn MessageLedger>,
    envelope: WorkMessage,
    lease: Duration,
    /// The attempts the look saw: every later write is conditioned on them.
    seen: Option<u32>,
    state: tokio::sync::Mutex<Gate>,
}

/// Where the attempt's lease stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Gate {
    /// Running on the look alone.
    Unleased,
    /// It took its lease: recorded as any leased attempt from now on.
    Leased,
    /// Another delivery started or ended the work since the look: this run's outcome is not
    /// recorded. What a start found instead.
    Refused(AttemptStart),
}

impl LeaseGate {
    pub(super) fn new(
        ledger: Arc<dyn MessageLedger>,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<u32>,
    ) -> Self {
        Self {
            ledger,
            envelope: envelope.clone(),
            lease,
            seen,
            state: tokio::sync::Mutex::new(Gate::Unleased),
        }
    }

    pub(super) fn seen(&self) -> Option<u32> {
        self.seen
    }

    pub(super) async fn state(&self) -> Gate {
        self.state.lock().await.clone()
    }

    /// Takes the lease if the attempt does not hold it yet (once; a refusal is kept). The
    /// caller keeps the attempt running meanwhile: its own progress report may be taking it.
    pub(super) async fn take(&self) -> Result<Gate, PortError> {
        let mut state = self.state.lock().await;
        if *state == Gate::Unleased {
            *state = match self
                .ledger
                .start_seen(&self.envelope, self.lease, self.seen)
                .await?
            {
                AttemptStart::Run { .. } => Gate::Leased,
                refused => Gate::Refused(refused),
            };
        }
        Ok(state.clone())
    }
}

/// Whether `envelope`'s attempt may run on a look: on its first receive, not an operator's
/// redrive (which reopens the record as it starts), of a job type a worker does not finish
/// later; a fire-and-forget message, or a job whose type's result is its only effect.
pub(super) fn may_run_unleased(
    envelope: &WorkMessage,
    receive_count: u32,
    job: Option<&dyn courier_jobs::api::RegisteredType>,
) -> bool {
    let droppable = |job: &dyn courier_jobs::api::RegisteredType| {
        envelope.pattern == crate::domain::Pattern::FireAndForget
            || job.settings().effects == courier_jobs::Effects::ResultOnly
    };
    receive_count <= 1
        && envelope.redrive == 0
        && job.is_some_and(|job| {
            job.completion() != courier_jobs::api::Completion::External && droppable(job)
        })
}
