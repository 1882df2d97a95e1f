//! A callback's lifecycle: `WAITING → QUEUED → (RETRYING →)* DELIVERED | FAILED`.
//!
//! `WAITING` lasts while the job runs; the job's end starts the delivery. An attempt that
//! fails moves it to `RETRYING` until one succeeds (`DELIVERED`) or the notifier gives up
//! (`FAILED`). An operator's redrive reopens a `FAILED` delivery. A job that ends again after
//! a redrive or a rerun restarts its delivery (`RETRYING | DELIVERED | FAILED → QUEUED`) as a
//! new round, for its new outcome (the adapter allows it once per round of the job).
//!
//! Starting is marked first, then the callback message is sent. A start repeated while the
//! delivery is still `QUEUED` (a redelivered work message) sends the message again: if the
//! first start died between the two steps, that is what delivers it; otherwise the notifier
//! receives a copy of a delivery it settles once, under the same `webhook-id`.

use CallbackEvent::*;
use CallbackStatus::*;
pub use courier_protocol::rest::CallbackStatus;

/// What can happen to a callback delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackEvent {
    /// The job reached a terminal state: its delivery is handed to the notifier (again, while
    /// the notifier has not taken it yet).
    Start,
    /// An attempt failed and another is scheduled.
    Retry,
    /// The receiver answered 2xx.
    Deliver,
    /// No more attempts: the last one failed, the receiver answered 410, or the URL was refused.
    GiveUp,
    /// An operator sent the delivery's dead letter back.
    Reopen,
    /// The job ended again after an operator's redrive or its owner's rerun: its new outcome
    /// is delivered as a new message, whatever became of the last one's.
    Restart,
}

impl CallbackEvent {
    pub const ALL: [Self; 6] = [Start, Retry, Deliver, GiveUp, Reopen, Restart];
}

/// The table: `(from, event, to)`. A pair not listed is refused.
pub const TRANSITIONS: &[(CallbackStatus, CallbackEvent, CallbackStatus)] = &[
    (Waiting, Start, Queued),
    (Queued, Start, Queued),
    (Queued, Retry, Retrying),
    (Retrying, Retry, Retrying),
    (Queued, Deliver, Delivered),
    (Retrying, Deliver, Delivered),
    (Queued, GiveUp, Failed),
    (Retrying, GiveUp, Failed),
    (Failed, Reopen, Queued),
    (Retrying, Restart, Queued),
    (Delivered, Restart, Queued),
    (Failed, Restart, Queued),
];

pub fn transition(from: CallbackStatus, event: CallbackEvent) -> Option<CallbackStatus> {
    super::table::transition(TRANSITIONS, from, event)
}

/// The states `event` may start from, in table order: what a conditional write checks.
pub fn sources(event: CallbackEvent) -> Vec<CallbackStatus> {
    super::table::sources(TRANSITIONS, event)
}

pub fn target(event: CallbackEvent) -> CallbackStatus {
    super::table::target(TRANSITIONS, event)
}

/// Settled: no attempt is under way or scheduled.
pub fn is_settled(status: CallbackStatus) -> bool {
    matches!(status, Delivered | Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_against_the_table() {
        let expected = |from: CallbackStatus, event: CallbackEvent| -> Option<CallbackStatus> {
            match (from, event) {
                (Waiting | Queued, Start) => Some(Queued),
                (Queued | Retrying, Retry) => Some(Retrying),
                (Queued | Retrying, Deliver) => Some(Delivered),
                (Queued | Retrying, GiveUp) => Some(Failed),
                (Failed, Reopen) => Some(Queued),
                (Retrying | Delivered | Failed, Restart) => Some(Queued),
                _ => None,
            }
        };
        for from in CallbackStatus::ALL {
            for event in CallbackEvent::ALL {
                assert_eq!(
                    transition(from, event),
                    expected(from, event),
                    "{from:?} + {event:?}"
                );
            }
        }
    }

    #[test]
    fn a_settled_delivery_moves_only_when_reopened_or_restarted() {
        for from in CallbackStatus::ALL.into_iter().filter(|s| is_settled(*s)) {
            for event in CallbackEvent::ALL {
                let allowed = transition(from, event).is_some();
                assert_eq!(
                    allowed,
                    (from == Failed && event == Reopen) || event == Restart,
                    "{from:?} {event:?}"
                );
            }
        }
    }

    #[test]
    fn each_event_has_one_target() {
        for event in CallbackEvent::ALL {
            for from in sources(event) {
                assert_eq!(transition(from, event), Some(target(event)));
            }
        }
    }
}
