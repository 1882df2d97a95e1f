//! Jobs whose workers finish later (`"completion": "external"`): an attempt is handed to the
//! worker with a task token, the work message is acknowledged once the worker has acknowledged
//! the attempt, and from then on the attempt is looked at by task checks on the work queue —
//! one when the worker reports its outcome, and a timer at its next deadline (the heartbeat,
//! else the attempt's own). A look settles what was reported, times out what was not (retried
//! on the type's schedule: the work message sent again), or looks again later.
//!
//! Each step repeats safely: the claim's conditional writes name the attempt, so a look at an
//! attempt that is over does nothing, and of two timers of one attempt only the one the claim
//! names goes on.

use super::attempt::AttemptOutcome;
use super::decision::{After, after_running};
use super::message::{MessageProcessor, ProcessError, Tasks};
use crate::application::ports::{Ended, Failure, FailureKind, PortError, TaskBegin};
use crate::domain::task::{Check, check};
use crate::domain::{JobId, Reported, TaskToken, WorkMessage};
use aws_lambda_events::event::sqs::SqsMessage;
use courier_jobs::api::RegisteredType;

use courier_protocol::queue::{QueueMessage, TaskCheck};
use courier_protocol::task::{ReportedErrorKind, TaskHandle};
use std::time::Duration;

/// An attempt handed to a worker.
pub(super) struct Handed {
    pub handle: TaskHandle,
    pub attempt_by: time::OffsetDateTime,
}

impl MessageProcessor {
    fn tasks(&self) -> Result<&Tasks, ProcessError> {
        self.tasks.as_ref().ok_or_else(|| {
            ProcessError::Dependency(PortError::new(
                "tasks",
                "this processor is not wired for workers that finish later",
            ))
        })
    }

    /// Gives the attempt a task token, recorded (as its digest) on the claim before the
    /// worker can use it. `None`: the job is no longer on this attempt.
    pub(super) async fn hand_to_worker(
        &self,
        job: &dyn RegisteredType,
        envelope: &WorkMessage,
        body: &str,
        attempt: u32,
        round: u32,
    ) -> Result<Option<Handed>, ProcessError> {
        let tasks = self.tasks()?;
        let job_id = JobId::parse(&envelope.message_id).map_err(|_| {
            ProcessError::WillRetry("a worker that finishes later needs a job id".into())
        })?;
        let (token, issued) = TaskToken::issue(&job_id, attempt, rand::random());
        // Never past the claim: a job nobody can read any more is not worth waiting on.
        let now = self.clock.now();
        let claim_left = super::message::since_accepted(envelope, now)
            .map_or(self.limits.claim_lifetime, |age| {
                self.limits.claim_lifetime.saturating_sub(age)
            });
        let attempt_by = now + job.settings().timeout.min(claim_left);
        let begin = TaskBegin {
            attempt,
            round,
            digest: issued.digest,
            attempt_by,
            heartbeat: job.heartbeat(),
            envelope: body.to_owned(),
        };
        if !tasks.ledger.begin(&job_id, &begin).await? {
            tracing::info!(
                attempt,
                "the job moved on before its attempt was handed over"
            );
            return Ok(None);
        }
        Ok(Some(Handed {
            handle: TaskHandle {
                token,
                report_url: tasks.report_url.clone(),
                heartbeat_seconds: job.heartbeat().map(|h| h.as_secs()),
            },
            attempt_by,
        }))
    }

    /// The worker acknowledged: its timer is set first (so an attempt nobody waits on always
    /// has one), then the claim says nobody waits; the work message is done with.
    pub(super) async fn worker_acknowledged(
        &self,
        envelope: &WorkMessage,
        attempt: u32,
        handed: &Handed,
        heartbeat: Option<Duration>,
    ) -> Result<(), ProcessError> {
        let tasks = self.tasks()?;
        let job_id = JobId::parse(&envelope.message_id)
            .map_err(|_| ProcessError::WillRetry("not a job id".into()))?;
        let now = self.clock.now();
        let due = heartbeat
            .map_or(handed.attempt_by, |h| (now + h).min(handed.attempt_by))
            .unix_timestamp();
        if tasks.ledger.rearm(&job_id, attempt, None, due).await? {
            let check = TaskCheck {
                job_id: job_id.to_string(),
                attempt,
                correlation_id: envelope.correlation_id.to_string(),
                due: Some(due),
            };
            let delay = Duration::from_secs((due - now.unix_timestamp()).max(0) as u64);
            tasks.checks.schedule(&check, delay).await?;
        }
        tasks
            .ledger
            .acknowledged(&job_id, attempt, handed.attempt_by)
            .await?;
        tracing::info!(attempt, "the worker acknowledged; it reports later");
        Ok(())
    }

    /// A task check from the dead-letter inbox: sent on again a minute later.
    pub(super) async fn resume_task_check(&self, check: &TaskCheck) -> Result<(), ProcessError> {
        tracing::warn!(
            job_id = %crate::telemetry::capped(&check.job_id),
            attempt = check.attempt,
            "a task check SQS gave up on goes on in a minute"
        );
        self.tasks()?
            .checks
            .schedule(check, Duration::from_secs(60))
            .await?;
        Ok(())
    }

    /// Handles one task check from the work queue.
    pub(super) async fn check_task(
        &self,
        record: &SqsMessage,
        check_message: TaskCheck,
    ) -> Result<(), ProcessError> {
        let span = tracing::info_span!(
            "task_check",
            correlationId = %crate::telemetry::capped(&check_message.correlation_id),
            jobId = %crate::telemetry::capped(&check_message.job_id),
            attempt = check_message.attempt,
        );
        let _ = record;
        let result = async {
            let tasks = self.tasks()?;
            let Ok(job_id) = JobId::parse(&check_message.job_id) else {
                tracing::warn!("a task check for no job; dropped");
                return Ok(());
            };
            let Some(view) = tasks.ledger.task(&job_id).await? else {
                return Ok(()); // the claim is gone
            };
            let now = self.clock.now();
            // The attempt ended, and telling it did not finish (a failed frame post or
            // callback start): told again, as a redelivered work message would.
            if let (false, Some(state)) = (view.running, &view.task)
                && state.attempt == check_message.attempt
                && !state.settled
            {
                return self.tell_ending(&job_id, state, &view).await;
            }
            match check(view.task.as_ref(), view.running, check_message.attempt, now) {
                Check::Nothing => Ok(()),
                Check::Later(at) => {
                    let due = at.unix_timestamp();
                    let moved = check_message.due != Some(due);
                    let ours = !moved
                        || tasks
                            .ledger
                            .rearm(&job_id, check_message.attempt, check_message.due, due)
                            .await?;
                    if ours {
                        let next = TaskCheck {
                            due: Some(due),
                            ..check_message.clone()
                        };
                        let delay = Duration::from_secs((due - now.unix_timestamp()).max(0) as u64);
                        tasks.checks.schedule(&next, delay).await?;
                    }
                    Ok(())
                }
                Check::Settle(reported) => {
                    let state = view.task.expect("a settled attempt has its task");
                    self.settle_task(&job_id, &state, Ok(reported), view.reply_to.as_ref())
                        .await
                }
                Check::TimedOut(reason) => {
                    let state = view.task.expect("a timed-out attempt has its task");
                    self.settle_task(&job_id, &state, Err(reason), view.reply_to.as_ref())
                        .await
                }
            }
        };
        use tracing::Instrument;
        result.instrument(span).await
    }

    /// Sends an ended job's final frame and starts its callback, then marks the attempt told.
    async fn tell_ending(
        &self,
        job_id: &JobId,
        state: &crate::domain::TaskState,
        view: &crate::application::ports::TaskView,
    ) -> Result<(), ProcessError> {
        let Ok(QueueMessage::Work(envelope)) = QueueMessage::from_json(&state.envelope) else {
            return Ok(());
        };
        match view
            .ending
            .as_ref()
            .and_then(crate::application::frames::final_frame)
        {
            Some(frame) => {
                self.finish(&envelope, &Ended::unmarked(view.reply_to.clone()), frame)
                    .await?
            }
            None => self.start_callback(&envelope, false).await?,
        }
        self.tasks()?.ledger.settled(job_id, state.attempt).await?;
        Ok(())
    }

    /// Ends an attempt as it ended: what the worker reported (`Ok`), or that it ran out of
    /// time (`Err`, a transient failure).
    async fn settle_task(
        &self,
        job_id: &JobId,
        state: &crate::domain::TaskState,
        ended: Result<Reported, String>,
        reply_to: Option<&crate::domain::ReplyTo>,
    ) -> Result<(), ProcessError> {
        let tasks = self.tasks()?;
        let envelope = match QueueMessage::from_json(&state.envelope) {
            Ok(QueueMessage::Work(envelope)) => envelope,
            _ => {
                return Err(ProcessError::WillRetry(
                    "the attempt's work message is not readable".into(),
                ));
            }
        };
        let job = self.registry.get(&envelope.job_type);
        let limit = job
            .as_deref()
            .map_or(courier_jobs::api::MAX_RESULT_BYTES, |j| {
                j.settings().max_result_bytes
            });
        let outcome = match ended {
            Ok(Reported::Result(result)) if result.to_string().len() > limit => {
                AttemptOutcome::Failed(Failure {
                    kind: FailureKind::Permanent,
                    reason: format!(
                        "result is {} bytes, over the {limit}-byte limit",
                        result.to_string().len()
                    ),
                })
            }
            Ok(Reported::Result(result)) => AttemptOutcome::Succeeded(result),
            Ok(Reported::Error {
                kind: ReportedErrorKind::Permanent,
                reason,
            }) => AttemptOutcome::Failed(Failure {
                kind: FailureKind::Permanent,
                reason,
            }),
            Ok(Reported::Error {
                kind: ReportedErrorKind::Transient,
                reason,
            })
            | Err(reason) => AttemptOutcome::Transient(reason),
        };
        let retry = self.retry_policy(job.as_deref());
        let ran = Some((state.attempt, Duration::ZERO));
        match after_running(outcome, state.round, retry.max_attempts) {
            After::Succeed(result) => {
                let kept = match self.keep_result(&envelope, &result).await? {
                    Ok(kept) => kept,
                    Err(failure) => {
                        let to = self
                            .fail_for_good(&state.envelope, &envelope, &failure)
                            .await?;
                        self.report(&envelope, crate::metrics::Outcome::Failed, ran);
                        return self
                            .announce_failure(&envelope, &to.or_told(reply_to), &failure)
                            .await;
                    }
                };
                let to = self.ledger.record_success(&envelope, &kept).await?;
                self.report(&envelope, crate::metrics::Outcome::Succeeded, ran);
                let last = match &kept {
                    crate::domain::KeptResult::Stored { bytes, .. } => {
                        crate::application::frames::LastFrame::held(*bytes)
                    }
                    crate::domain::KeptResult::Inline(_) => {
                        crate::application::frames::LastFrame::result(result)
                    }
                };
                self.finish(&envelope, &to.or_told(reply_to), last).await
            }
            After::FailForGood(failure) => {
                let to = self
                    .fail_for_good(&state.envelope, &envelope, &failure)
                    .await?;
                self.report(&envelope, crate::metrics::Outcome::Failed, ran);
                self.announce_failure(&envelope, &to.or_told(reply_to), &failure)
                    .await
            }
            After::Retry { reason, at_least } => {
                self.run_again(tasks, job_id, state, &envelope, &reason, at_least, &retry)
                    .await
            }
            After::HandBack => {
                let reason = "handed back".to_owned();
                self.run_again(
                    tasks,
                    job_id,
                    state,
                    &envelope,
                    &reason,
                    Duration::ZERO,
                    &retry,
                )
                .await
            }
        }
    }

    /// The attempt is over without an outcome: it is taken back from its worker (its lease
    /// released, so the job's message may start it again), the job's work message goes out
    /// again (after the retry delay), then the attempt is retired. In that order: a crash
    /// between any two repeats the look, and no copy of the message is ever turned away while
    /// the job waits on nobody.
    #[allow(clippy::too_many_arguments)]
    async fn run_again(
        &self,
        tasks: &Tasks,
        job_id: &JobId,
        state: &crate::domain::TaskState,
        envelope: &WorkMessage,
        reason: &str,
        at_least: Duration,
        retry: &crate::application::backoff::RetryPolicy,
    ) -> Result<(), ProcessError> {
        // At least a second (whole seconds, rounded up): the attempt is retired, and its
        // worker's lease released, before the job's message is seen again.
        let delay = retry
            .delay(state.round, &mut rand::rng())
            .max(at_least.min(retry.max_delay))
            .clamp(Duration::from_secs(1), Duration::from_secs(900));
        if !tasks.ledger.release(job_id, state.attempt).await? {
            return Ok(()); // an outcome came in meanwhile: its own look settles it
        }
        tasks
            .requeue
            .enqueue(envelope, delay.as_secs_f64().ceil() as u32)
            .await?;
        crate::crash_point!("processor.before-task-retire", &envelope.correlation_id);
        if tasks.ledger.retire(job_id, state.attempt, reason).await? {
            self.report(
                envelope,
                crate::metrics::Outcome::Retried,
                Some((state.attempt, Duration::ZERO)),
            );
            tracing::warn!(reason = %crate::telemetry::capped(reason), attempt = state.attempt, delay_ms = delay.as_millis() as u64, "the worker's attempt ended without a result; will retry");
        }
        Ok(())
    }
}
