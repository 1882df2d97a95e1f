//! A job's lifecycle: `PENDING → RUNNING → SUCCEEDED | FAILED`, or `PENDING → CANCELLED`; a
//! job whose message SQS gave up on, or whose claim expired before it could finish, goes from
//! `PENDING` or `RUNNING` to `FAILED`. A FAILED job runs again after an operator's redrive
//! (`FAILED → RUNNING`) or its owner's rerun (`FAILED → PENDING`).
//!
//! A fire-and-forget message has no claim: its record is created `RUNNING` by the first
//! [`JobEvent::Start`] (there is no `PENDING` record to start from), and otherwise follows the
//! same table.

use JobEvent::*;
use JobStatus::*;
pub use courier_protocol::rest::JobStatus;

/// What can happen to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobEvent {
    /// The processor takes the message and starts an attempt: the first, a retry, or a
    /// redelivery of a job still running.
    Start,
    /// A running attempt reports progress, or records a transient failure before a retry.
    Progress,
    /// The attempt returned a result.
    Succeed,
    /// The job failed for good: permanently, by timeout, or out of retries.
    Fail,
    /// The caller cancels a job that has not started (`DELETE /v1/jobs/{id}`).
    Cancel,
    /// An operator sent a dead letter back (`courier dlq redrive`): a FAILED job runs once more.
    Redrive,
    /// The caller reruns a FAILED job (`POST /v1/jobs/rerun`): it waits for its message again,
    /// with a new attempt budget, as after an operator's redrive.
    Rerun,
    /// SQS redrive moved the message aside before any delivery recorded an outcome (each one
    /// crashed, timed out or met a dependency error): the job fails without another attempt.
    Abandon,
    /// A delivery finds the job's claim past its lifetime before the job could finish (it
    /// waited in a backlog, or retried, longer than the claim lives): the job fails unrun.
    Expire,
}

impl JobEvent {
    pub const ALL: [Self; 9] = [
        Start, Progress, Succeed, Fail, Cancel, Redrive, Rerun, Abandon, Expire,
    ];
}

/// The table: `(from, event, to)`. A pair not listed is refused.
pub const TRANSITIONS: &[(JobStatus, JobEvent, JobStatus)] = &[
    (Pending, Start, Running),
    (Running, Start, Running),
    (Running, Progress, Running),
    (Running, Succeed, Succeeded),
    (Running, Fail, Failed),
    (Pending, Cancel, Cancelled),
    (Failed, Redrive, Running),
    (Failed, Rerun, Pending),
    (Pending, Abandon, Failed),
    (Running, Abandon, Failed),
    (Pending, Expire, Failed),
    (Running, Expire, Failed),
];

/// Where `event` takes a job that is `from`; `None` when the table refuses it.
pub fn transition(from: JobStatus, event: JobEvent) -> Option<JobStatus> {
    super::table::transition(TRANSITIONS, from, event)
}

/// The states `event` may start from, in table order: what a conditional write checks.
pub fn sources(event: JobEvent) -> Vec<JobStatus> {
    super::table::sources(TRANSITIONS, event)
}

/// The state `event` leads to (every event has exactly one).
pub fn target(event: JobEvent) -> JobStatus {
    super::table::target(TRANSITIONS, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (state, event) pair, written out: the table says exactly this and nothing more.
    #[test]
    fn every_pair_against_the_table() {
        let expected = |from: JobStatus, event: JobEvent| -> Option<JobStatus> {
            match (from, event) {
                (Pending | Running, Start) => Some(Running),
                (Running, Progress) => Some(Running),
                (Running, Succeed) => Some(Succeeded),
                (Running, Fail) => Some(Failed),
                (Pending, Cancel) => Some(Cancelled),
                (Failed, Redrive) => Some(Running),
                (Failed, Rerun) => Some(Pending),
                (Pending | Running, Abandon) => Some(Failed),
                (Pending | Running, Expire) => Some(Failed),
                _ => None,
            }
        };
        for from in JobStatus::ALL {
            for event in JobEvent::ALL {
                assert_eq!(
                    transition(from, event),
                    expected(from, event),
                    "{from:?} + {event:?}"
                );
            }
        }
    }

    #[test]
    fn terminal_states_only_leave_by_a_redrive_or_a_rerun() {
        for from in JobStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            for event in JobEvent::ALL {
                let allowed = transition(from, event).is_some();
                assert_eq!(
                    allowed,
                    from == Failed && matches!(event, Redrive | Rerun),
                    "{from:?} {event:?}"
                );
            }
        }
    }

    #[test]
    fn each_event_has_one_target_and_its_sources() {
        assert_eq!(sources(Start), vec![Pending, Running]);
        assert_eq!(sources(Cancel), vec![Pending]);
        assert_eq!(sources(Succeed), vec![Running]);
        assert_eq!(sources(Abandon), vec![Pending, Running]);
        assert_eq!(sources(Expire), vec![Pending, Running]);
        for event in JobEvent::ALL {
            for from in sources(event) {
                assert_eq!(transition(from, event), Some(target(event)));
            }
        }
    }
}
