//! Bulk actions on a caller's own jobs, chosen by a filter (`POST /v1/jobs/cancel`,
//! `POST /v1/jobs/rerun`): at most [`MAX_PER_CALL`] jobs per call, each moved by the same
//! conditional write as one job alone, so a job that changed meanwhile is reported, not
//! forced. A dry run lists what a call would touch and changes nothing.

use crate::application::ports::{CancelOutcome, ClaimStore, JobFilter, PortError, WorkQueue};
use crate::application::quotas::TakeRefused;
use crate::domain::{JobId, JobStatus, Principal};
use std::sync::Arc;
use time::OffsetDateTime;

/// The most jobs one call touches; `limit` defaults to it.
pub const MAX_PER_CALL: usize = 100;

/// How long one call goes on touching jobs (the HTTP function has 10 s): the rest wait for
/// the next call (`more`), so no call holds a function, or the table, for long.
pub const TIME_PER_CALL: std::time::Duration = std::time::Duration::from_secs(4);

/// A job whose timeline holds this many events is not rerun again: every rerun adds up to one
/// round of attempts and deliveries, and a claim must stay well inside DynamoDB's 400 KB item
/// (the work message it keeps is up to 128 KiB; each event up to ~1.4 KB).
pub const MOST_EVENTS_TO_RERUN: usize = 60;

/// What a bulk action did (or, in a dry run, would do) to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// Done (or, in a dry run, what would be done).
    Done,
    /// It moved on meanwhile (started, finished, or rerun by another call): left alone.
    Skipped,
    /// A FAILED job that cannot be rerun: its claim keeps no work message to run (it failed
    /// before it ran, e.g. its message was unreadable), or it was rerun so often that its
    /// timeline is full.
    NotRerunnable,
}

/// A bulk action's answer: the jobs it looked at (newest first) and whether more match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    pub dry_run: bool,
    pub jobs: Vec<(JobId, Touched)>,
    /// More jobs match than one call touches: call again (a dry run: they would be next).
    pub more: bool,
}

/// Which bulk action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkKind {
    Cancel,
    Rerun,
}

impl BulkKind {
    /// What a call needs of its filter: a cancel at least one of type and window (never every
    /// pending job by default), a rerun a type and both ends of a window.
    pub fn check(self, filter: &JobFilter) -> Result<(), &'static str> {
        match self {
            Self::Cancel
                if filter.job_type.is_none()
                    && filter.created_from.is_none()
                    && filter.created_until.is_none() =>
            {
                Err("a bulk cancel needs a filter: type, createdAfter or createdBefore")
            }
            Self::Rerun
                if filter.job_type.is_none()
                    || filter.created_from.is_none()
                    || filter.created_until.is_none() =>
            {
                Err("a rerun names a job type and a window: type, createdAfter and createdBefore")
            }
            _ => Ok(()),
        }
    }
}

/// Why a bulk action stopped.
#[derive(Debug, thiserror::Error)]
pub enum BulkRefused {
    /// A rerun found the caller's jobs in flight full before rerunning any job.
    #[error(transparent)]
    Quota(crate::application::quotas::QuotaExceeded),
    #[error(transparent)]
    Dependency(#[from] PortError),
}

pub struct BulkActions {
    pub claims: Arc<dyn ClaimStore>,
    /// Where a rerun job's message goes (the standard work queue).
    pub queue: Arc<dyn WorkQueue>,
    /// A rerun takes a slot of its caller's jobs in flight; a cancel gives one back.
    pub quotas: Arc<crate::application::quotas::Quotas>,
}

impl BulkActions {
    /// The action `kind` names, on up to `limit` of `owner`'s jobs that `filter` admits (in
    /// the one state the action moves jobs from, whatever `filter` said), for at most
    /// [`TIME_PER_CALL`].
    pub async fn run(
        &self,
        kind: BulkKind,
        owner: &Principal,
        filter: JobFilter,
        limit: usize,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<BulkOutcome, BulkRefused> {
        let from = match kind {
            BulkKind::Cancel => JobStatus::Pending,
            BulkKind::Rerun => JobStatus::Failed,
        };
        let filter = JobFilter {
            status: Some(from),
            ..filter
        };
        let (ids, mut more) = self.matching(owner, &filter, limit, now).await?;
        let mut jobs = Vec::with_capacity(ids.len());
        let started = std::time::Instant::now();
        for id in ids {
            if started.elapsed() > TIME_PER_CALL {
                more = true;
                break;
            }
            let touched = match kind {
                BulkKind::Cancel => self.cancel_one(&id, owner, dry_run, now).await?,
                BulkKind::Rerun => match self.rerun_one(&id, owner, dry_run, now).await {
                    Ok(touched) => touched,
                    // The caller's jobs in flight are full: the rest waits for a later call
                    // (none rerun yet: the call itself is refused).
                    Err(BulkRefused::Quota(exceeded)) if jobs.is_empty() => {
                        return Err(BulkRefused::Quota(exceeded));
                    }
                    Err(BulkRefused::Quota(_)) => {
                        more = true;
                        break;
                    }
                    Err(other) => return Err(other),
                },
            };
            jobs.push((id, touched));
        }
        Ok(BulkOutcome {
            dry_run,
            jobs,
            more,
        })
    }

    /// Cancels `owner`'s PENDING jobs that `filter` admits.
    pub async fn cancel(
        &self,
        owner: &Principal,
        filter: JobFilter,
        limit: usize,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<BulkOutcome, BulkRefused> {
        self.run(BulkKind::Cancel, owner, filter, limit, dry_run, now)
            .await
    }

    /// Runs `owner`'s FAILED jobs that `filter` admits again (see [`Self::rerun_one`]).
    pub async fn rerun(
        &self,
        owner: &Principal,
        filter: JobFilter,
        limit: usize,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<BulkOutcome, BulkRefused> {
        self.run(BulkKind::Rerun, owner, filter, limit, dry_run, now)
            .await
    }

    async fn cancel_one(
        &self,
        id: &JobId,
        owner: &Principal,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<Touched, PortError> {
        if dry_run {
            return Ok(Touched::Done);
        }
        Ok(match self.claims.cancel(id, owner, now).await? {
            CancelOutcome::Cancelled(_) => {
                // Ended: its slot is its caller's again.
                self.quotas.release_job(id).await;
                Touched::Done
            }
            CancelOutcome::TooLate(_) | CancelOutcome::NotFound => Touched::Skipped,
        })
    }

    /// Runs a FAILED job again, under the same id, with a new attempt budget, exactly as an
    /// operator's redrive of its dead letter would: the job's message goes out again marked
    /// as the next redrive, then the claim goes back to PENDING. In that order: if the
    /// claim's write never happens (a crash), the message reopens the job itself when it
    /// arrives, as a redrive does; if the message arrives first, it reopens the job and the
    /// claim's write finds it no longer FAILED.
    async fn rerun_one(
        &self,
        id: &JobId,
        owner: &Principal,
        dry_run: bool,
        now: OffsetDateTime,
    ) -> Result<Touched, BulkRefused> {
        let Some(source) = self.claims.rerun_source(id).await? else {
            return Ok(Touched::Skipped);
        };
        let Some(mut message) = source.message else {
            return Ok(Touched::NotRerunnable);
        };
        if source.events >= MOST_EVENTS_TO_RERUN {
            return Ok(Touched::NotRerunnable);
        }
        if dry_run {
            return Ok(Touched::Done);
        }
        // In flight again: a slot of its caller's, carried by the claim from the reopening.
        let slot = self
            .quotas
            .take_job(owner, id)
            .await
            .map_err(|refused| match refused {
                TakeRefused::Exceeded(exceeded) => BulkRefused::Quota(exceeded),
                TakeRefused::Unavailable(error) => BulkRefused::Dependency(error),
            })?;
        // A new redrive number: the processor reopens a FAILED job once per number.
        message.redrive = message.redrive.max(source.redrives) + 1;
        // The rerun takes its slot now (below): not again when it comes due.
        message.slot_when_due = false;
        let written = slot.to_string();
        let sent = self.queue.enqueue(&message, 0).await;
        let reopened = match sent {
            Ok(()) => {
                self.claims
                    .rerun(id, owner, message.redrive, Some(&written), now)
                    .await
            }
            Err(error) => Err(error),
        };
        if !matches!(reopened, Ok(true)) {
            // Not reopened here as far as this call knows (its message did it first, or a
            // write failed, perhaps after it was applied): the claim says whose slot it is.
            crate::application::quotas::settle(&self.quotas, &*self.claims, id, &slot).await;
        }
        let reopened = reopened?;
        tracing::info!(job_id = %id, redrive = message.redrive, reopened, "job rerun");
        // Reopened here, or by its message already: either way it runs again.
        Ok(Touched::Done)
    }

    /// The ids of up to `limit` of `owner`'s jobs that `filter` admits, newest first, and
    /// whether more do. Pages the store ends short are followed.
    async fn matching(
        &self,
        owner: &Principal,
        filter: &JobFilter,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<(Vec<JobId>, bool), PortError> {
        let limit = limit.clamp(1, MAX_PER_CALL);
        let mut ids = Vec::new();
        let mut after = None;
        // A bounded number of pages: a short page is the store's bound on one read.
        for _ in 0..4 {
            let page = self
                .claims
                .list(owner, filter, after.as_ref(), limit - ids.len(), now)
                .await?;
            ids.extend(page.items.into_iter().map(|claim| claim.id));
            match page.next {
                Some(next) if ids.len() < limit => after = Some(next),
                Some(_) => return Ok((ids, true)),
                None => return Ok((ids, false)),
            }
        }
        Ok((ids, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryClaims, InMemoryQueue};
    use crate::domain::{Claim, CorrelationId, Pattern, WorkMessage};
    use std::time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 12:00 UTC);

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    fn claim(job_type: &str, status: JobStatus, minutes_ago: i64) -> Claim {
        let mut claim = Claim::pending(
            JobId::generate(),
            job_type.into(),
            CorrelationId::generate(),
            alice(),
            NOW - time::Duration::minutes(minutes_ago),
            Duration::from_secs(86_400),
        );
        claim.status = status;
        claim
    }

    fn message(id: &JobId) -> WorkMessage {
        WorkMessage {
            accepted_at: "2026-12-03T11:00:00.000Z".into(),
            owner: Some(alice()),
            ..crate::fixtures::work_message(
                id.to_string(),
                Pattern::ClaimCheck,
                "fail",
                serde_json::Value::Null,
            )
        }
    }

    async fn setup(claims: &[Claim]) -> (Arc<InMemoryClaims>, Arc<InMemoryQueue>, BulkActions) {
        let store = Arc::new(InMemoryClaims::default());
        for c in claims {
            store.create(c).await.unwrap();
        }
        let queue = Arc::new(InMemoryQueue::default());
        let bulk = BulkActions {
            claims: store.clone(),
            queue: queue.clone(),
            quotas: crate::adapters::memory::roomy_quotas(
                Arc::new(crate::adapters::memory::InMemoryQuotas::default()),
                Arc::new(crate::adapters::memory::FixedClock::at(NOW)),
            ),
        };
        (store, queue, bulk)
    }

    #[tokio::test]
    async fn cancel_touches_only_pending_jobs_and_a_dry_run_nothing() {
        let pending = claim("sleep", JobStatus::Pending, 1);
        let running = claim("sleep", JobStatus::Running, 2);
        let other_type = claim("echo", JobStatus::Pending, 3);
        let (store, _, bulk) = setup(&[pending.clone(), running.clone(), other_type.clone()]).await;
        let filter = JobFilter {
            job_type: Some("sleep".into()),
            ..JobFilter::default()
        };
        let dry = bulk
            .cancel(&alice(), filter.clone(), 10, true, NOW)
            .await
            .unwrap();
        assert_eq!(dry.jobs, vec![(pending.id.clone(), Touched::Done)]);
        assert_eq!(
            store.get_now(pending.id.as_str()).unwrap().status,
            JobStatus::Pending
        );
        let done = bulk.cancel(&alice(), filter, 10, false, NOW).await.unwrap();
        assert_eq!(done.jobs, dry.jobs);
        assert!(!done.more);
        assert_eq!(
            store.get_now(pending.id.as_str()).unwrap().status,
            JobStatus::Cancelled
        );
        assert_eq!(
            store.get_now(running.id.as_str()).unwrap().status,
            JobStatus::Running
        );
        assert_eq!(
            store.get_now(other_type.id.as_str()).unwrap().status,
            JobStatus::Pending
        );
        // Another caller touches nothing of alice's.
        let bob = Principal::new("https://issuer.example", "bob");
        let theirs = bulk
            .cancel(&bob, JobFilter::default(), 10, false, NOW)
            .await
            .unwrap();
        assert!(theirs.jobs.is_empty());
    }

    #[tokio::test]
    async fn rerun_sends_the_kept_message_as_the_next_redrive_and_reopens_once() {
        let failed = claim("fail", JobStatus::Failed, 5);
        let unkept = claim("fail", JobStatus::Failed, 6);
        let (store, queue, bulk) = setup(&[failed.clone(), unkept.clone()]).await;
        store.keep_rerun(failed.id.as_str(), message(&failed.id), 1);
        let filter = JobFilter {
            job_type: Some("fail".into()),
            created_from: Some(NOW - time::Duration::hours(1)),
            created_until: Some(NOW),
            ..JobFilter::default()
        };
        let dry = bulk
            .rerun(&alice(), filter.clone(), 10, true, NOW)
            .await
            .unwrap();
        assert_eq!(
            dry.jobs,
            vec![
                (failed.id.clone(), Touched::Done),
                (unkept.id.clone(), Touched::NotRerunnable)
            ]
        );
        assert!(queue.sent().is_empty());
        let done = bulk
            .rerun(&alice(), filter.clone(), 10, false, NOW)
            .await
            .unwrap();
        assert_eq!(done.jobs, dry.jobs);
        let sent = queue.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].redrive, 2, "past the claim's redrives");
        assert_eq!(
            store.get_now(failed.id.as_str()).unwrap().status,
            JobStatus::Pending
        );
        // Called again: the job is no longer FAILED, so nothing more goes out.
        let again = bulk.rerun(&alice(), filter, 10, false, NOW).await.unwrap();
        assert_eq!(
            again.jobs,
            vec![(unkept.id.clone(), Touched::NotRerunnable)]
        );
        assert_eq!(queue.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_rerun_job_takes_a_slot_its_claim_carries_and_a_full_quota_refuses_the_call() {
        let failed = claim("fail", JobStatus::Failed, 5);
        let (store, queue, mut bulk) = setup(std::slice::from_ref(&failed)).await;
        let quotas = Arc::new(crate::adapters::memory::InMemoryQuotas::default());
        bulk.quotas = crate::adapters::memory::roomy_quotas(
            quotas.clone(),
            Arc::new(crate::adapters::memory::FixedClock::at(NOW)),
        );
        store.keep_rerun(failed.id.as_str(), message(&failed.id), 0);
        let filter = JobFilter {
            job_type: Some("fail".into()),
            created_from: Some(NOW - time::Duration::hours(1)),
            created_until: Some(NOW),
            ..JobFilter::default()
        };
        quotas.set_own_limits(
            &alice(),
            crate::application::quotas::OwnLimits {
                jobs_in_flight: Some(0),
                ..Default::default()
            },
        );
        let refused = bulk.rerun(&alice(), filter.clone(), 10, false, NOW).await;
        assert!(matches!(refused, Err(BulkRefused::Quota(_))), "{refused:?}");
        assert!(queue.sent().is_empty(), "nothing rerun");
        assert_eq!(
            store.get_now(failed.id.as_str()).unwrap().status,
            JobStatus::Failed
        );
        // With room, the reopened claim carries its slot until the job ends again.
        let bulk = BulkActions {
            quotas: crate::adapters::memory::roomy_quotas(
                quotas.clone(),
                Arc::new(crate::adapters::memory::FixedClock::at(NOW)),
            ),
            ..bulk
        };
        quotas.set_own_limits(&alice(), Default::default());
        bulk.rerun(&alice(), filter, 10, false, NOW).await.unwrap();
        assert_eq!(quotas.slots_held(&alice()), 1);
        assert!(store.get_now(failed.id.as_str()).unwrap().slot.is_some());
    }

    #[tokio::test]
    async fn a_job_whose_timeline_is_full_is_not_rerun() {
        let full = claim("fail", JobStatus::Failed, 1);
        let (store, queue, bulk) = setup(std::slice::from_ref(&full)).await;
        store.keep_rerun(full.id.as_str(), message(&full.id), 0);
        store.update(full.id.as_str(), |c| {
            c.events = vec![
                crate::domain::Recorded {
                    at: "t".into(),
                    what: crate::domain::Happening::AttemptStarted,
                };
                MOST_EVENTS_TO_RERUN
            ];
        });
        let done = bulk
            .rerun(&alice(), JobFilter::default(), 10, false, NOW)
            .await
            .unwrap();
        assert_eq!(done.jobs, vec![(full.id.clone(), Touched::NotRerunnable)]);
        assert!(queue.sent().is_empty());
    }

    #[tokio::test]
    async fn a_call_touches_at_most_its_limit_and_says_more_match() {
        let claims: Vec<Claim> = (0..5)
            .map(|i| claim("sleep", JobStatus::Pending, i))
            .collect();
        let (_, _, bulk) = setup(&claims).await;
        let first = bulk
            .cancel(&alice(), JobFilter::default(), 2, false, NOW)
            .await
            .unwrap();
        assert_eq!(first.jobs.len(), 2);
        assert!(first.more);
        // Newest first.
        assert_eq!(first.jobs[0].0, claims[0].id);
        let rest = bulk
            .cancel(&alice(), JobFilter::default(), 10, false, NOW)
            .await
            .unwrap();
        assert_eq!(rest.jobs.len(), 3);
        assert!(!rest.more);
    }
}
