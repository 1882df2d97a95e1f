//! `courier jobs` (a caller's jobs, filtered, pages followed), `courier jobs cancel|rerun`
//! (bulk actions by filter) and `courier events` (one job's timeline): what they ask the API
//! and how they print it.

use crate::output::Format;
use courier_client::rest::{BulkAction, BulkResult, Job, JobStatus};
use courier_client::timeline::{Happening, Timeline, TimelineEvent};
use courier_client::{Client, ClientError, JobQuery};
use serde_json::json;
use std::io::Write;

/// Which jobs: the filters `courier jobs` and the bulk actions share.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Filter {
    /// Only jobs of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Only jobs created at or after this instant (RFC 3339, e.g. 2026-12-03T09:00:00Z).
    #[arg(long, value_name = "INSTANT")]
    pub created_after: Option<String>,
    /// Only jobs created before this instant (RFC 3339).
    #[arg(long, value_name = "INSTANT")]
    pub created_before: Option<String>,
}

/// A bulk action's arguments: which jobs, how many, and whether only to list them.
#[derive(clap::Args, Clone, Debug)]
pub struct Bulk {
    #[command(flatten)]
    pub filter: Filter,
    /// At most this many jobs (1-100; 100 by default).
    #[arg(long)]
    pub limit: Option<u32>,
    /// List what would be done, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `courier jobs`: up to `most` jobs, newest first, the API's pages followed.
pub async fn list(
    client: &Client,
    filter: &Filter,
    status: Option<JobStatus>,
    most: usize,
    format: Format,
) -> Result<(), ClientError> {
    let query = JobQuery {
        status,
        job_type: filter.job_type.clone(),
        created_after: filter.created_after.clone(),
        created_before: filter.created_before.clone(),
        limit: Some(most.clamp(1, 100) as u32),
    };
    let jobs = client.all_jobs(&query, most).await?;
    match format {
        Format::Json => format.value(&json!({ "jobs": jobs })),
        Format::Text => {
            let mut out = std::io::stdout().lock();
            for job in &jobs {
                // A closed pipe (`| head`) is the reader's choice, not a failure.
                if writeln!(out, "{}", job_line(job)).is_err() {
                    return Ok(());
                }
            }
            format.note(format_args!("{} job(s), newest first", jobs.len()));
        }
    }
    Ok(())
}

/// One job on one line: id, type, status, attempts, when it was created.
fn job_line(job: &Job) -> String {
    format!(
        "{}  {:<12} {:<9} attempts {:<2} created {}",
        job.id,
        job.job_type,
        job.status.as_str(),
        job.attempts,
        job.created_at
    )
}

/// `courier jobs cancel|rerun`.
pub async fn bulk(
    client: &Client,
    rerun: bool,
    bulk: &Bulk,
    format: Format,
) -> Result<(), ClientError> {
    let action = BulkAction {
        job_type: bulk.filter.job_type.clone(),
        created_after: bulk.filter.created_after.clone(),
        created_before: bulk.filter.created_before.clone(),
        limit: bulk.limit,
        dry_run: bulk.dry_run,
    };
    let result = if rerun {
        client.rerun_jobs(&action).await?
    } else {
        client.cancel_jobs(&action).await?
    };
    match format {
        Format::Json => format.value(&serde_json::to_value(&result).expect("JSON")),
        Format::Text => print_bulk(&result, format),
    }
    Ok(())
}

fn print_bulk(result: &BulkResult, format: Format) {
    for job in &result.jobs {
        let outcome = serde_json::to_value(job.outcome).expect("JSON");
        println!("{}  {}", job.id, outcome.as_str().unwrap_or("?"));
    }
    if result.jobs.is_empty() {
        format.note("no job matches");
    }
    if result.more {
        format.note("more jobs match: run it again for the next ones");
    }
}

/// `courier events <id>`.
pub async fn events(client: &Client, id: &str, format: Format) -> Result<(), ClientError> {
    let timeline = client.job_events(id).await?;
    match format {
        Format::Json => format.value(&serde_json::to_value(&timeline).expect("JSON")),
        Format::Text => {
            let mut out = std::io::stdout().lock();
            for line in timeline_lines(&timeline) {
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The timeline for people: one event a line, `seq  at  what happened`.
pub fn timeline_lines(timeline: &Timeline) -> Vec<String> {
    timeline
        .events
        .iter()
        .map(|event| format!("{:>3}  {}  {}", event.seq, event.at, described(event)))
        .collect()
}

fn described(event: &TimelineEvent) -> String {
    let attempt = event
        .attempt
        .map(|n| format!("attempt {n} "))
        .unwrap_or_default();
    let took = event
        .attempt_duration_ms
        .map(|ms| format!(" after {ms} ms"))
        .unwrap_or_default();
    match &event.what {
        Happening::Accepted {
            door,
            correlation_id,
            delay_seconds,
            run_at,
        } => format!(
            "accepted over {door} (correlation id {}){}{}",
            correlation_id.as_deref().unwrap_or("?"),
            delay_seconds
                .map(|s| format!(", held back {s} s"))
                .unwrap_or_default(),
            run_at
                .as_ref()
                .map(|at| format!(", to run at {at}"))
                .unwrap_or_default()
        ),
        Happening::Redriven => "redriven: runs again with a new attempt budget".into(),
        Happening::AttemptStarted => format!("{attempt}started"),
        Happening::Progress { percent } => format!("{attempt}at {percent}%"),
        Happening::AttemptSucceeded => format!("{attempt}succeeded{took}"),
        Happening::AttemptFailed {
            failure_kind,
            reason,
            will_retry,
        } => format!(
            "{attempt}failed{took} ({failure_kind}{}): {reason}",
            if *will_retry { ", will retry" } else { "" }
        ),
        Happening::Cancelled => "cancelled".into(),
        Happening::Expired { reason } => format!("expired: {reason}"),
        Happening::DeadLettered { reason } => format!("dead-lettered: {reason}"),
        Happening::CallbackAttempt {
            endpoint_id,
            destination_id,
            outcome,
            status,
            error,
            duration_ms,
            next_attempt_at,
        } => {
            let answer = match (status, error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".into(),
            };
            let outcome = serde_json::to_value(outcome).expect("JSON");
            format!(
                "callback to {}: {answer} in {} ms, {}{}",
                endpoint_id
                    .as_deref()
                    .or(destination_id.as_deref())
                    .unwrap_or("?"),
                duration_ms.unwrap_or(0),
                outcome.as_str().unwrap_or("?"),
                next_attempt_at
                    .as_ref()
                    .map(|at| format!(" (next at {at})"))
                    .unwrap_or_default()
            )
        }
        Happening::CallbackGivenUp {
            endpoint_id,
            destination_id,
            reason,
        } => format!(
            "callback to {} given up: {reason}",
            endpoint_id
                .as_deref()
                .or(destination_id.as_deref())
                .unwrap_or("?")
        ),
        Happening::CallbackRedriven => "callback redriven: delivered again".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_client::timeline::{DeliveryOutcome, Recorded, number};

    #[test]
    fn a_timeline_reads_one_event_a_line() {
        let at = |s: u32| format!("2026-12-03T00:00:0{s}.000Z");
        let timeline = number(
            vec![
                Recorded {
                    at: at(0),
                    what: Happening::Accepted {
                        door: "http".into(),
                        correlation_id: Some("c-1".into()),
                        delay_seconds: None,
                        run_at: None,
                    },
                },
                Recorded {
                    at: at(1),
                    what: Happening::AttemptStarted,
                },
                Recorded {
                    at: at(3),
                    what: Happening::AttemptFailed {
                        failure_kind: "transient".into(),
                        reason: "boom".into(),
                        will_retry: true,
                    },
                },
                Recorded {
                    at: at(4),
                    what: Happening::CallbackAttempt {
                        endpoint_id: Some("ep_1".into()),
                        destination_id: None,
                        outcome: DeliveryOutcome::Retrying,
                        status: Some(500),
                        error: None,
                        duration_ms: Some(7),
                        next_attempt_at: Some(at(6)),
                    },
                },
            ],
            |_, _| Some(2000),
        );
        let lines = timeline_lines(&timeline);
        assert_eq!(
            lines,
            [
                "  1  2026-12-03T00:00:00.000Z  accepted over http (correlation id c-1)",
                "  2  2026-12-03T00:00:01.000Z  attempt 1 started",
                "  3  2026-12-03T00:00:03.000Z  attempt 1 failed after 2000 ms (transient, will retry): boom",
                "  4  2026-12-03T00:00:04.000Z  callback to ep_1: HTTP 500 in 7 ms, retrying (next at 2026-12-03T00:00:06.000Z)",
            ]
        );
    }
}
