//! A job's timeline: what happened to it, in the order its claim's writes recorded it
//! (`GET /v1/jobs/{id}/events`).
//!
//! A [`Happening`] is stored on the claim by the write that made it happen (appended to a
//! list, so its place in the list is the order of those writes); the API numbers them
//! (`seq`), and adds what the list itself implies: which attempt an event belongs to and how
//! long an attempt took.

use serde::{Deserialize, Serialize};

/// What a callback delivery attempt led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryOutcome {
    Delivered,
    Retrying,
    Failed,
}

/// One thing that happened to a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Happening {
    /// A door accepted it: `http` (`POST /v1/jobs`) or `websocket`.
    Accepted {
        door: String,
        /// Always present in the API's answers (the claim keeps it once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        correlation_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delay_seconds: Option<u32>,
        /// When it was asked to run (RFC 3339), for a job given `runAt`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_at: Option<String>,
    },
    /// An operator ran a FAILED job again (a dead-letter queue redrive or a bulk rerun): a
    /// new attempt budget.
    Redriven,
    /// An attempt began.
    AttemptStarted,
    /// The running attempt passed a milestone (25, 50 or 75 percent): not every update.
    Progress {
        percent: u8,
    },
    AttemptSucceeded,
    /// An attempt failed; `willRetry` says whether another attempt follows.
    AttemptFailed {
        failure_kind: String,
        reason: String,
        will_retry: bool,
    },
    Cancelled,
    /// The claim's lifetime ran out before the job could finish.
    Expired {
        reason: String,
    },
    /// SQS redrive gave up on the job's message: the job ended FAILED.
    DeadLettered {
        reason: String,
    },
    /// One POST of the job's callback.
    CallbackAttempt {
        /// The job's endpoint, or (below) its destination: one of the two is always present in
        /// the API's answers (the claim keeps it once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_id: Option<String>,
        outcome: DeliveryOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_attempt_at: Option<String>,
    },
    /// The callback was given up without another request (its endpoint deleted, its URL
    /// refused, or its last attempt already made).
    CallbackGivenUp {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination_id: Option<String>,
        reason: String,
    },
    /// An operator redrove the failed callback: it is delivered again, with a new budget.
    CallbackRedriven,
}

impl Happening {
    /// The wire name of its kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Redriven => "redriven",
            Self::AttemptStarted => "attempt-started",
            Self::Progress { .. } => "progress",
            Self::AttemptSucceeded => "attempt-succeeded",
            Self::AttemptFailed { .. } => "attempt-failed",
            Self::Cancelled => "cancelled",
            Self::Expired { .. } => "expired",
            Self::DeadLettered { .. } => "dead-lettered",
            Self::CallbackAttempt { .. } => "callback-attempt",
            Self::CallbackGivenUp { .. } => "callback-given-up",
            Self::CallbackRedriven => "callback-redriven",
        }
    }

    /// Whether it is about the job's attempts (and so carries the attempt's number).
    fn is_about_an_attempt(&self) -> bool {
        matches!(
            self,
            Self::AttemptStarted
                | Self::Progress { .. }
                | Self::AttemptSucceeded
                | Self::AttemptFailed { .. }
        )
    }
}

/// A happening as the claim stores it: when (UTC, from the clock of the function that
/// recorded it) and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub at: String,
    #[serde(flatten)]
    pub what: Happening,
}

/// One event of a job's timeline as `GET /v1/jobs/{id}/events` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEvent {
    /// 1, 2, 3, ...: the order the claim's writes recorded them in.
    pub seq: u32,
    pub at: String,
    /// The attempt an attempt's event belongs to (1, 2, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// How long the attempt ran (on an attempt's end), from its start event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_duration_ms: Option<u64>,
    #[serde(flatten)]
    pub what: Happening,
}

/// The body of `GET /v1/jobs/{id}/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    pub events: Vec<TimelineEvent>,
}

/// Numbers a claim's stored happenings: `seq` from their order, each attempt's events its
/// number, each attempt's end how long it ran (`millis` of two stored instants, which the
/// caller parses: this crate has no clock).
pub fn number(
    recorded: Vec<Recorded>,
    millis_between: impl Fn(&str, &str) -> Option<u64>,
) -> Timeline {
    let mut attempt = 0u32;
    let mut started_at: Option<String> = None;
    let events = recorded
        .into_iter()
        .enumerate()
        .map(|(i, Recorded { at, what })| {
            if what == Happening::AttemptStarted {
                attempt += 1;
                started_at = Some(at.clone());
            }
            let ends = matches!(
                what,
                Happening::AttemptSucceeded | Happening::AttemptFailed { .. }
            );
            let attempt_duration_ms = match (&started_at, ends) {
                (Some(from), true) => millis_between(from, &at),
                _ => None,
            };
            TimelineEvent {
                seq: i as u32 + 1,
                attempt: (what.is_about_an_attempt() && attempt > 0).then_some(attempt),
                attempt_duration_ms,
                at,
                what,
            }
        })
        .collect();
    Timeline { events }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: u32, what: Happening) -> Recorded {
        Recorded {
            at: format!("2026-12-03T00:00:{second:02}.000Z"),
            what,
        }
    }

    #[test]
    fn events_are_numbered_in_stored_order_with_their_attempts() {
        let failed = Happening::AttemptFailed {
            failure_kind: "transient".into(),
            reason: "boom".into(),
            will_retry: true,
        };
        let stored = vec![
            at(
                0,
                Happening::Accepted {
                    door: "http".into(),
                    correlation_id: Some("c".into()),
                    delay_seconds: None,
                    run_at: None,
                },
            ),
            at(1, Happening::AttemptStarted),
            at(3, failed.clone()),
            at(4, Happening::AttemptStarted),
            at(5, Happening::Progress { percent: 50 }),
            at(9, Happening::AttemptSucceeded),
        ];
        let seconds = |a: &str, b: &str| {
            let s = |t: &str| t[17..19].parse::<u64>().unwrap();
            Some((s(b) - s(a)) * 1000)
        };
        let timeline = number(stored, seconds);
        let seqs: Vec<u32> = timeline.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
        let attempts: Vec<Option<u32>> = timeline.events.iter().map(|e| e.attempt).collect();
        assert_eq!(
            attempts,
            [None, Some(1), Some(1), Some(2), Some(2), Some(2)]
        );
        assert_eq!(timeline.events[2].attempt_duration_ms, Some(2000));
        assert_eq!(timeline.events[5].attempt_duration_ms, Some(5000));
        assert_eq!(timeline.events[4].attempt_duration_ms, None);
    }

    #[test]
    fn the_wire_form_is_flat_and_kebab_cased() {
        let event = TimelineEvent {
            seq: 3,
            at: "2026-12-03T00:00:00.000Z".into(),
            attempt: None,
            attempt_duration_ms: None,
            what: Happening::CallbackAttempt {
                endpoint_id: Some("ep_1".into()),
                destination_id: None,
                outcome: DeliveryOutcome::Retrying,
                status: Some(500),
                error: Some("HTTP 500".into()),
                duration_ms: Some(12),
                next_attempt_at: Some("2026-12-03T00:00:02.000Z".into()),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "callback-attempt");
        assert_eq!(json["endpointId"], "ep_1");
        assert_eq!(json["outcome"], "retrying");
        assert_eq!(json["durationMs"], 12);
        assert_eq!(event.what.kind(), "callback-attempt");
        let back: TimelineEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        // What a claim stores reads back as it was.
        let stored = Recorded {
            at: "t".into(),
            what: Happening::Expired { reason: "r".into() },
        };
        let text = serde_json::to_string(&stored).unwrap();
        assert_eq!(text, r#"{"at":"t","kind":"expired","reason":"r"}"#);
        assert_eq!(serde_json::from_str::<Recorded>(&text).unwrap(), stored);
    }
}
