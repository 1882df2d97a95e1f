//! An attempt a worker finishes later: the token it reports with, where the attempt stands on
//! its claim, and what a look at it decides (`check`, pure).

use super::JobId;
use courier_protocol::task::ReportedErrorKind;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const TOKEN_PREFIX: &str = "ctt1";

/// A task token: `ctt1.<job id>.<attempt>.<secret>`. It names its job and attempt (so a report
/// finds its claim) and proves itself by its secret, whose digest the claim keeps: the token is
/// never stored, and one that does not hash to the claim's digest is nobody's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskToken {
    pub job_id: JobId,
    pub attempt: u32,
    /// The digest the claim keeps (hex SHA-256 of the whole token).
    pub digest: String,
}

/// Why a token is not even worth looking up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedToken;

fn digest_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl TaskToken {
    /// A new token for `attempt` of `job_id`, from 32 random bytes: the token to hand over,
    /// and what the claim keeps.
    pub fn issue(job_id: &JobId, attempt: u32, secret: [u8; 32]) -> (String, Self) {
        let token = format!("{TOKEN_PREFIX}.{job_id}.{attempt}.{}", hex::encode(secret));
        let parsed = Self {
            job_id: job_id.clone(),
            attempt,
            digest: digest_of(&token),
        };
        (token, parsed)
    }

    /// Reads a token a report carries (checked against the claim afterwards).
    pub fn parse(token: &str) -> Result<Self, MalformedToken> {
        if token.len() > 200 {
            return Err(MalformedToken);
        }
        let mut parts = token.split('.');
        let (Some(TOKEN_PREFIX), Some(job), Some(attempt), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(MalformedToken);
        };
        let job_id = JobId::parse(job).map_err(|_| MalformedToken)?;
        let attempt = attempt.parse::<u32>().map_err(|_| MalformedToken)?;
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MalformedToken);
        }
        Ok(Self {
            job_id,
            attempt,
            digest: digest_of(token),
        })
    }
}

/// What a worker reported as its attempt's end, kept on the claim until it is settled.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    Result(Value),
    Error {
        kind: ReportedErrorKind,
        reason: String,
    },
}

/// Where an attempt a worker finishes later stands, as its claim keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    pub attempt: u32,
    /// The attempt's number since the last operator redrive.
    pub round: u32,
    pub digest: String,
    /// Set once the worker acknowledged the attempt: no invocation is waiting on it since.
    pub awaiting: bool,
    /// When the worker was last heard from (the attempt's start, then each report).
    pub last_heard: OffsetDateTime,
    /// The longest the worker may go without a report: the attempt is retried after that.
    pub heartbeat: Option<std::time::Duration>,
    /// The attempt's overall deadline (its type's timeout).
    pub attempt_by: OffsetDateTime,
    /// The worker's outcome, not settled yet.
    pub reported: Option<Reported>,
    /// The work message the job was accepted with, to run it again or dead-letter it.
    pub envelope: String,
    /// The attempt's ending has been told (its final frame sent, its callback started).
    pub settled: bool,
}

/// What a look at an attempt decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Nothing to do: the attempt is over, or not this one's to look at.
    Nothing,
    /// The worker said how it ended.
    Settle(Reported),
    /// The attempt ran out of time: retried (or failed, if it was the last).
    TimedOut(String),
    /// Look again then.
    Later(OffsetDateTime),
}

/// `state` is the claim's, for the job `running` or not, the check for `attempt`.
pub fn check(state: Option<&TaskState>, running: bool, attempt: u32, now: OffsetDateTime) -> Check {
    let Some(state) = state.filter(|s| running && s.attempt == attempt) else {
        return Check::Nothing;
    };
    if let Some(reported) = &state.reported {
        return Check::Settle(reported.clone());
    }
    if now >= state.attempt_by {
        return Check::TimedOut(format!(
            "the worker did not report a result by the attempt's deadline ({})",
            state.attempt_by
        ));
    }
    match state.heartbeat.map(|h| state.last_heard + h) {
        Some(by) if now >= by => Check::TimedOut(format!(
            "the worker missed its heartbeat (nothing heard for {} s)",
            (now - state.last_heard).whole_seconds()
        )),
        Some(by) => Check::Later(by.min(state.attempt_by)),
        None => Check::Later(state.attempt_by),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::Duration;

    fn id() -> JobId {
        JobId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap()
    }

    #[test]
    fn a_token_names_its_attempt_and_proves_itself_by_its_digest() {
        let (token, issued) = TaskToken::issue(&id(), 2, [7; 32]);
        let parsed = TaskToken::parse(&token).unwrap();
        assert_eq!(parsed, issued);
        assert_eq!(parsed.attempt, 2);
        let (other, _) = TaskToken::issue(&id(), 2, [8; 32]);
        assert_ne!(TaskToken::parse(&other).unwrap().digest, issued.digest);
        // Another job's id in this token's place: a token whose digest is nobody's.
        let moved = token.replace("0f8fad5b", "1f8fad5b");
        assert_ne!(TaskToken::parse(&moved).unwrap().digest, issued.digest);
        for bad in [
            "",
            "ctt1",
            "ctt1.x.1.00",
            &token.replace(".2.", ".two."),
            &format!("{token}.more"),
            &token.replace("ctt1", "ctt2"),
            &token[..token.len() - 1],
            &"a".repeat(300),
        ] {
            assert_eq!(TaskToken::parse(bad), Err(MalformedToken), "{bad}");
        }
    }

    fn state(now: OffsetDateTime) -> TaskState {
        TaskState {
            attempt: 1,
            round: 1,
            digest: "d".into(),
            awaiting: true,
            last_heard: now,
            heartbeat: Some(std::time::Duration::from_secs(10)),
            attempt_by: now + Duration::seconds(100),
            reported: None,
            envelope: "{}".into(),
            settled: false,
        }
    }

    #[test]
    fn a_look_settles_what_was_reported_and_times_out_what_was_not() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let waiting = state(now);
        assert_eq!(
            check(Some(&waiting), true, 1, now),
            Check::Later(now + Duration::seconds(10))
        );
        assert!(matches!(
            check(Some(&waiting), true, 1, now + Duration::seconds(10)),
            Check::TimedOut(reason) if reason.contains("heartbeat")
        ));
        let heard = TaskState {
            last_heard: now + Duration::seconds(8),
            ..waiting.clone()
        };
        assert_eq!(
            check(Some(&heard), true, 1, now + Duration::seconds(10)),
            Check::Later(now + Duration::seconds(18)),
            "a report moves the heartbeat on"
        );
        let no_heartbeat = TaskState {
            heartbeat: None,
            ..waiting.clone()
        };
        assert_eq!(
            check(Some(&no_heartbeat), true, 1, now),
            Check::Later(now + Duration::seconds(100))
        );
        assert!(matches!(
            check(Some(&no_heartbeat), true, 1, now + Duration::seconds(100)),
            Check::TimedOut(reason) if reason.contains("deadline")
        ));
        let reported = TaskState {
            reported: Some(Reported::Result(json!(1))),
            ..waiting.clone()
        };
        assert_eq!(
            check(Some(&reported), true, 1, now + Duration::seconds(500)),
            Check::Settle(Reported::Result(json!(1))),
            "a report made in time is settled however late the look"
        );
        assert_eq!(
            check(Some(&waiting), true, 2, now),
            Check::Nothing,
            "another attempt's"
        );
        assert_eq!(
            check(Some(&waiting), false, 1, now),
            Check::Nothing,
            "finished"
        );
        assert_eq!(check(None, true, 1, now), Check::Nothing);
    }
}
