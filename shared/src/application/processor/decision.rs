//! What the processor does with a delivery, decided without I/O: first from where its record
//! stands once the attempt's start was tried ([`before_running`]), then from what the attempt
//! came to ([`after_running`]). `message.rs` carries the decisions out.

use super::attempt::AttemptOutcome;
use crate::application::frames::final_frame;
use crate::application::ports::{AttemptStart, Failure, FailureKind};
use crate::domain::ReplyTo;

use serde_json::Value;
use std::time::Duration;

/// Receives a job's message waits for its claim before it counts as never accepted. The
/// intake writes the claim and sends the message at the same time: the claim is normally
/// there first, and one that is slower is there within a retry or two.
pub const NO_CLAIM_RECEIVES: u32 = 3;

/// What is known about a delivery before anything runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub start: AttemptStart,
    /// SQS's receive count of this message (1 on the first receive).
    pub receive_count: u32,
    /// The message is older than any claim of it can be.
    pub outlived_its_claim: bool,
    /// The retry budget of the job's type.
    pub max_attempts: u32,
}

/// What to do before (or instead of) running the job.
#[derive(Debug, Clone, PartialEq)]
pub enum Before {
    /// Run attempt `attempt` (`round`: its number since the last operator redrive).
    Run { attempt: u32, round: u32 },
    /// Fail it for good unrun (as attempt `attempt`): the budget went to starts that never
    /// finished.
    Exhausted { attempt: u32, failure: Failure },
    /// It has ended: send its last frame again (if it has one) and finish its callback.
    Finish {
        frame: Option<crate::application::frames::LastFrame>,
        reply_to: Option<ReplyTo>,
    },
    /// A live run holds it: leave the message unacknowledged until the lease lapses.
    WaitOutLease(Duration),
    /// End it unrun as `expired`; `claim_stored`: a claim is there to mark.
    Expire { claim_stored: bool },
    /// Its claim may still be being written: look again shortly.
    LookAgain,
    /// It was never accepted (or its claim is long gone): acknowledge it, run nothing.
    Drop,
    /// A worker that finishes later has it, under its attempt's timer: acknowledge this copy.
    LeaveToWorker,
}

pub fn before_running(delivered: Delivered) -> Before {
    match delivered.start {
        AttemptStart::Run { attempt, round } if round > delivered.max_attempts => {
            Before::Exhausted {
                attempt,
                failure: Failure {
                    kind: FailureKind::RetriesExhausted,
                    reason: format!("gave up: {} attempts started and none finished", round - 1),
                },
            }
        }
        AttemptStart::Run { attempt, round } => Before::Run { attempt, round },
        AttemptStart::AlreadyFinished { ending, reply_to } => Before::Finish {
            frame: ending.as_ref().and_then(final_frame),
            reply_to,
        },
        // Never acknowledged: the lease may be an earlier run of this very message that could
        // not record its outcome. Once it lapses, this copy finds the job finished or runs it.
        AttemptStart::RunningElsewhere { remaining } => Before::WaitOutLease(remaining),
        AttemptStart::WithWorker => Before::LeaveToWorker,
        AttemptStart::Expired => Before::Expire { claim_stored: true },
        AttemptStart::NoClaim if delivered.outlived_its_claim => Before::Expire {
            claim_stored: false,
        },
        AttemptStart::NoClaim if delivered.receive_count < NO_CLAIM_RECEIVES => Before::LookAgain,
        AttemptStart::NoClaim => Before::Drop,
    }
}

/// What to do with an attempt's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    /// Record the result; send it; start the callback.
    Succeed(Value),
    /// Dead-letter it with the reason, record FAILED, announce it.
    FailForGood(Failure),
    /// Record the error and hand the message back with the retry backoff, or after
    /// `at_least` if that is longer.
    Retry { reason: String, at_least: Duration },
    /// The function's deadline came first: hand the message back at once, costing nothing.
    HandBack,
}

/// `round` is the attempt's number in the current budget of `max_attempts`.
pub fn after_running(outcome: AttemptOutcome, round: u32, max_attempts: u32) -> After {
    match outcome {
        AttemptOutcome::Succeeded(result) => After::Succeed(result),
        AttemptOutcome::Failed(failure) => After::FailForGood(failure),
        // The last attempt the budget allows: dead-lettered here, never left to SQS redrive,
        // so the letter carries its reason.
        AttemptOutcome::Transient(reason) | AttemptOutcome::RetryAfter { reason, .. }
            if round >= max_attempts =>
        {
            After::FailForGood(Failure {
                kind: FailureKind::RetriesExhausted,
                reason: format!("gave up after {round} attempts; last error: {reason}"),
            })
        }
        AttemptOutcome::Transient(reason) => After::Retry {
            reason,
            at_least: Duration::ZERO,
        },
        AttemptOutcome::RetryAfter { reason, after } => After::Retry {
            reason,
            at_least: after,
        },
        AttemptOutcome::OutOfTime => After::HandBack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::ports::Ending;
    use serde_json::json;

    fn to() -> Option<ReplyTo> {
        Some(ReplyTo {
            connection_id: "c".into(),
            request_id: "r".into(),
        })
    }

    fn failure(kind: FailureKind) -> Failure {
        Failure {
            kind,
            reason: "why".into(),
        }
    }

    /// Every way a record can stand when a delivery arrives, each on an early and a late
    /// receive, young and outlived, against what must happen.
    #[test]
    fn every_record_state_before_running() {
        let starts = [
            AttemptStart::Run {
                attempt: 1,
                round: 1,
            },
            AttemptStart::Run {
                attempt: 7,
                round: 3,
            },
            AttemptStart::Run {
                attempt: 4,
                round: 4,
            },
            AttemptStart::AlreadyFinished {
                ending: Some(Ending::Succeeded(json!(1))),
                reply_to: to(),
            },
            AttemptStart::AlreadyFinished {
                ending: Some(Ending::Failed(failure(FailureKind::Permanent))),
                reply_to: None,
            },
            AttemptStart::AlreadyFinished {
                ending: Some(Ending::Cancelled),
                reply_to: to(),
            },
            AttemptStart::AlreadyFinished {
                ending: None,
                reply_to: None,
            },
            AttemptStart::RunningElsewhere {
                remaining: Duration::from_secs(9),
            },
            AttemptStart::WithWorker,
            AttemptStart::Expired,
            AttemptStart::NoClaim,
        ];
        for start in starts {
            for receive_count in [1, NO_CLAIM_RECEIVES] {
                for outlived_its_claim in [false, true] {
                    let decided = before_running(Delivered {
                        start: start.clone(),
                        receive_count,
                        outlived_its_claim,
                        max_attempts: 3,
                    });
                    let expected = match &start {
                        AttemptStart::Run { round: 4, .. } => Before::Exhausted {
                            attempt: 4,
                            failure: Failure {
                                kind: FailureKind::RetriesExhausted,
                                reason: "gave up: 3 attempts started and none finished".into(),
                            },
                        },
                        AttemptStart::Run { attempt, round } => Before::Run {
                            attempt: *attempt,
                            round: *round,
                        },
                        AttemptStart::AlreadyFinished { ending, reply_to } => Before::Finish {
                            frame: ending.as_ref().and_then(final_frame),
                            reply_to: reply_to.clone(),
                        },
                        AttemptStart::RunningElsewhere { remaining } => {
                            Before::WaitOutLease(*remaining)
                        }
                        AttemptStart::WithWorker => Before::LeaveToWorker,
                        AttemptStart::Expired => Before::Expire { claim_stored: true },
                        AttemptStart::NoClaim if outlived_its_claim => Before::Expire {
                            claim_stored: false,
                        },
                        AttemptStart::NoClaim if receive_count == 1 => Before::LookAgain,
                        AttemptStart::NoClaim => Before::Drop,
                    };
                    assert_eq!(
                        decided, expected,
                        "{start:?} on receive {receive_count}, outlived {outlived_its_claim}"
                    );
                }
            }
        }
    }

    /// Every outcome of an attempt, within the budget and on its last attempt.
    #[test]
    fn every_outcome_after_running() {
        let permanent = failure(FailureKind::Permanent);
        let timeout = failure(FailureKind::Timeout);
        for round in [1, 3] {
            let last = round == 3;
            let cases = [
                (
                    AttemptOutcome::Succeeded(json!({"ok": true})),
                    After::Succeed(json!({"ok": true})),
                ),
                (
                    AttemptOutcome::Failed(permanent.clone()),
                    After::FailForGood(permanent.clone()),
                ),
                (
                    AttemptOutcome::Failed(timeout.clone()),
                    After::FailForGood(timeout.clone()),
                ),
                (
                    AttemptOutcome::Transient("flaky".into()),
                    if last {
                        After::FailForGood(Failure {
                            kind: FailureKind::RetriesExhausted,
                            reason: "gave up after 3 attempts; last error: flaky".into(),
                        })
                    } else {
                        After::Retry {
                            reason: "flaky".into(),
                            at_least: Duration::ZERO,
                        }
                    },
                ),
                (
                    AttemptOutcome::RetryAfter {
                        reason: "busy".into(),
                        after: Duration::from_secs(7),
                    },
                    if last {
                        After::FailForGood(Failure {
                            kind: FailureKind::RetriesExhausted,
                            reason: "gave up after 3 attempts; last error: busy".into(),
                        })
                    } else {
                        After::Retry {
                            reason: "busy".into(),
                            at_least: Duration::from_secs(7),
                        }
                    },
                ),
                (AttemptOutcome::OutOfTime, After::HandBack),
            ];
            for (outcome, expected) in cases {
                assert_eq!(
                    after_running(outcome.clone(), round, 3),
                    expected,
                    "{outcome:?} in round {round}"
                );
            }
        }
    }
}
