//! Short attempts run without a lease: the record is looked at (a read), the job runs, and its
//! start and success are one conditional write — made only if no attempt has started since
//! the look. An attempt takes its lease (the classic start, conditioned the same way) only once
//! it outlives [`LEASE_AFTER`], reports progress, or ends other than in success; from then on it
//! is recorded as any leased attempt.
//!
//! What this changes: a job is not run twice at once once it is leased; a copy of its message
//! that SQS delivers during its first [`LEASE_AFTER`] may run it beside the first (at-least-once
//! delivery), and only one of the two outcomes is recorded — the other run's is dropped and its
//! message looked at again.

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

    /// Takes the lease if the attempt does not hold it yet (once; a refusal is kept).
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

    /// The attempt was recorded (its start with its success) or refused in one write: the gate
    /// says so for whoever looks after.
    pub(super) async fn settle(&self, gate: Gate) {
        *self.state.lock().await = gate;
    }
}

/// Whether `envelope`'s attempt may run on a look: a job type of courier's own code that a
/// worker does not finish later, not an operator's redrive (which reopens the record as it
/// starts).
pub(super) fn may_run_unleased(
    envelope: &WorkMessage,
    job: Option<&dyn courier_jobs::api::RegisteredType>,
) -> bool {
    envelope.redrive == 0
        && job.is_some_and(|job| job.completion() != courier_jobs::api::Completion::External)
}
