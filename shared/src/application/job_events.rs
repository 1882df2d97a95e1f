//! Job state change events (`JobEvents=enabled`): every write of a claim is a change in the
//! table's stream; the ones that move a job's lifecycle — a new claim, a new status, a new
//! attempt — are published, in order, on the stack's event bus. Which writes those are is
//! decided here without I/O ([`state_change`]); progress, callback and quota writes are not.

use crate::application::ports::{JobEventBus, PortError};
use crate::domain::Claim;
use courier_protocol::events::JobStateChange;
use std::sync::Arc;

/// One write of a claim, as the table's stream shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimChange {
    /// The stream's position of the write: unique, and where a failed batch resumes.
    pub position: String,
    pub before: Option<Claim>,
    /// `None`: the claim was removed (its lifetime swept, or an unacknowledged claim
    /// withdrawn): no lifecycle change of a job anyone was told of.
    pub after: Option<Claim>,
}

/// The event `change` is, if it moves the job's lifecycle.
pub fn state_change(change: &ClaimChange) -> Option<JobStateChange> {
    let after = change.after.as_ref()?;
    let before = change.before.as_ref();
    let moved = before.is_none_or(|b| b.status != after.status || b.attempts != after.attempts);
    moved.then(|| JobStateChange {
        event_id: format!("{}/{}", after.id, change.position),
        job_id: after.id.to_string(),
        job_type: after.job_type.clone(),
        status: after.status,
        previous_status: before.map(|b| b.status),
        attempt: after.attempts,
        owner: after.owner.as_ref().map(|o| o.tag()).unwrap_or_default(),
        correlation_id: after.correlation_id.to_string(),
        at: crate::application::clock::rfc3339(after.updated_at),
    })
}

pub struct JobEvents {
    pub bus: Arc<dyn JobEventBus>,
}

/// Why a batch stopped: the position of the first change not published (the stream gives it,
/// and every change after it, again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpublished {
    pub position: String,
    pub error: String,
}

impl JobEvents {
    /// Publishes the lifecycle changes among `changes`, in their order.
    pub async fn publish(&self, changes: &[ClaimChange]) -> Result<usize, Unpublished> {
        let events: Vec<(&str, JobStateChange)> = changes
            .iter()
            .filter_map(|change| Some((change.position.as_str(), state_change(change)?)))
            .collect();
        let mut published = 0;
        // PutEvents takes ten entries a call.
        for chunk in events.chunks(10) {
            let batch: Vec<JobStateChange> = chunk.iter().map(|(_, e)| e.clone()).collect();
            let result = self.bus.publish(&batch).await;
            let done = match &result {
                Ok(done) => *done,
                Err(_) => 0,
            };
            published += done;
            if done < chunk.len() {
                let error = match result {
                    Err(PortError { detail, .. }) => detail,
                    Ok(_) => "the bus refused an entry".into(),
                };
                return Err(Unpublished {
                    position: chunk[done].0.to_owned(),
                    error,
                });
            }
        }
        Ok(published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CorrelationId, JobId, JobStatus, Principal};
    use std::sync::Mutex;
    use std::time::Duration;
    use time::macros::datetime;

    fn claim(status: JobStatus, attempts: u32) -> Claim {
        let mut claim = Claim::pending(
            JobId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap(),
            "flaky".into(),
            CorrelationId::parse("corr-1").unwrap(),
            Principal::new("https://issuer.example", "alice"),
            datetime!(2026-12-03 12:00 UTC),
            Duration::from_secs(3600),
        );
        claim.status = status;
        claim.attempts = attempts;
        claim
    }

    fn change(n: u32, before: Option<Claim>, after: Option<Claim>) -> ClaimChange {
        ClaimChange {
            position: format!("{n:05}"),
            before,
            after,
        }
    }

    #[test]
    fn a_new_claim_a_new_status_and_a_new_attempt_are_changes() {
        let pending = claim(JobStatus::Pending, 0);
        let first = claim(JobStatus::Running, 1);
        let second = claim(JobStatus::Running, 2);
        let done = claim(JobStatus::Succeeded, 2);
        let made = state_change(&change(1, None, Some(pending.clone()))).unwrap();
        assert_eq!(
            (made.status, made.previous_status, made.attempt),
            (JobStatus::Pending, None, 0)
        );
        assert_eq!(
            made.owner,
            Principal::new("https://issuer.example", "alice").tag()
        );
        assert_eq!(made.event_id, format!("{}/00001", pending.id));
        let started = state_change(&change(2, Some(pending), Some(first.clone()))).unwrap();
        assert_eq!(started.previous_status, Some(JobStatus::Pending));
        let again = state_change(&change(3, Some(first), Some(second.clone()))).unwrap();
        assert_eq!((again.status, again.attempt), (JobStatus::Running, 2));
        let ended = state_change(&change(4, Some(second), Some(done))).unwrap();
        assert_eq!(ended.status, JobStatus::Succeeded);
    }

    #[test]
    fn other_writes_and_removals_are_not() {
        let running = claim(JobStatus::Running, 1);
        let mut progressed = running.clone();
        progressed.progress = 50;
        assert_eq!(
            state_change(&change(1, Some(running.clone()), Some(progressed))),
            None
        );
        assert_eq!(state_change(&change(2, Some(running), None)), None);
    }

    /// Takes `accept` entries of each call, then refuses the rest of it.
    struct Bus {
        accept: usize,
        seen: Mutex<Vec<JobStateChange>>,
    }

    #[async_trait::async_trait]
    impl JobEventBus for Bus {
        async fn publish(&self, events: &[JobStateChange]) -> Result<usize, PortError> {
            let taken = events.len().min(self.accept);
            self.seen
                .lock()
                .unwrap()
                .extend_from_slice(&events[..taken]);
            Ok(taken)
        }
    }

    fn lifecycle(n: u32) -> Vec<ClaimChange> {
        (0..n)
            .map(|i| {
                change(
                    i,
                    Some(claim(JobStatus::Running, i)),
                    Some(claim(JobStatus::Running, i + 1)),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn changes_are_published_in_order_ten_a_call() {
        let bus = Arc::new(Bus {
            accept: 10,
            seen: Mutex::default(),
        });
        let events = JobEvents { bus: bus.clone() };
        let mut changes = lifecycle(23);
        changes.insert(
            5,
            change(
                99,
                Some(claim(JobStatus::Running, 1)),
                Some(claim(JobStatus::Running, 1)),
            ),
        );
        assert_eq!(events.publish(&changes).await, Ok(23));
        let attempts: Vec<u32> = bus.seen.lock().unwrap().iter().map(|e| e.attempt).collect();
        assert_eq!(attempts, (1..=23).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_refused_entry_stops_the_batch_at_its_position() {
        let bus = Arc::new(Bus {
            accept: 4,
            seen: Mutex::default(),
        });
        let events = JobEvents { bus: bus.clone() };
        let refused = events.publish(&lifecycle(12)).await.unwrap_err();
        assert_eq!(
            refused.position, "00004",
            "the fifth change, the first not published"
        );
        assert_eq!(bus.seen.lock().unwrap().len(), 4);
    }
}
