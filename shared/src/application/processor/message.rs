//! What the processor does with one SQS message.
//!
//! 1. Parse the envelope; an unparseable message goes straight to the DLQ with the reason.
//! 2. Start an attempt on the ledger (conditional): a message already SUCCEEDED or FAILED is a
//!    redelivery and is acknowledged without running anything.
//! 3. Run the job. Success is recorded. A permanent failure is sent to the DLQ with its reason,
//!    then recorded FAILED. A transient failure is retried through SQS visibility with backoff;
//!    the attempt that uses up the retry budget is failed the same way as a permanent one. The
//!    budget counts attempts on the record (each start), not SQS receives: a receive that runs
//!    nothing costs a job none of its attempts; the queue's `maxReceiveCount` is a backstop.
//!
//! Any store or queue error leaves the message unacknowledged, so SQS delivers it again, after
//! a backoff. If that goes on until SQS redrive gives up on the message, the job is ended by
//! the dead-letter inbox's reader (`abandoned.rs`).
//!
//! A bidirectional job (one with `replyTo`) also tells its WebSocket client: a `progress` frame
//! per progress report, then a `result` or `error` frame once the outcome is recorded. Frames
//! are best effort: the claim, readable by id, is the record of truth.

use super::attempt::{AttemptOutcome, run_attempt};
use super::decision::{After, Before, Delivered, after_running, before_running};
use crate::application::backoff::RetryPolicy;
use crate::application::clock::Clock;
use crate::application::consumer::{Delivery, hand_back};
use crate::application::frames::job_failed;
use crate::application::frames::{Draft, FrameDelivery, FrameSender};
use crate::application::ports::{
    AttemptStart, CallbackStarter, DeadLetter, DeadLetterQueue, Ended, Failure, FailureKind,
    MessageLedger, PortError, QuickOutcome, RetryScheduler, TaskChecks, TaskLedger, WorkQueue,
};
use crate::domain::{ReplyTo, WorkId, WorkMessage};
use crate::telemetry::{TraceHeader, record_principal, record_trace_id};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use courier_jobs::api::Completion;
use courier_jobs::{JobSettings, ProgressSink, Registry};
use courier_protocol::frames::FrameKind;
use courier_protocol::queue::QueueMessage;
use courier_protocol::queue::attribute::{
    CORRELATION_ID as CORRELATION_ID_ATTRIBUTE, MESSAGE_ID as MESSAGE_ID_ATTRIBUTE,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;
use tracing::Instrument;

#[derive(Debug, Error)]
pub enum ProcessError {
    #[error(transparent)]
    Dependency(#[from] PortError),
    #[error("{0}")]
    WillRetry(String),
    /// The function's deadline is too close to start (or finish) it: handed back unstarted.
    #[error("handed back for redelivery: the function's deadline is too close")]
    OutOfTime,
}

/// How long work may go on: the retry schedule, and the receives SQS allows a message.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub retry: RetryPolicy,
    /// The queue's redrive `maxReceiveCount`: the receive after which SQS gives up on a
    /// message. A backstop for messages that never get to run; above `retry.max_attempts`.
    pub max_receive_count: u32,
    /// How long a claim lives after acceptance: a job's message older than this whose claim is
    /// gone (DynamoDB's TTL swept it) is an expired job, not one that was never accepted.
    pub claim_lifetime: Duration,
}

/// What the processor needs for workers that finish later.
#[derive(Clone)]
pub struct Tasks {
    pub ledger: Arc<dyn TaskLedger>,
    pub checks: Arc<dyn TaskChecks>,
    /// Where a job runs again after an attempt timed out (the standard work queue).
    pub requeue: Arc<dyn WorkQueue>,
    /// Where workers report (`POST /v1/tasks/report` of the HTTP API).
    pub report_url: String,
}

pub struct MessageProcessor {
    pub(super) registry: Arc<Registry>,
    pub(super) ledger: Arc<dyn MessageLedger>,
    pub(super) dead_letters: Arc<dyn DeadLetterQueue>,
    pub(super) retries: Arc<dyn RetryScheduler>,
    callbacks: Arc<dyn CallbackStarter>,
    pub(super) limits: Limits,
    pub(super) clock: Arc<dyn Clock>,
    /// Set on the processor of the ordered (FIFO) queue, whose jobs came over WebSocket.
    frames: Option<FrameSender>,
    /// Workers that finish later: their tokens, timers and reruns.
    pub(super) tasks: Option<Tasks>,
    /// Payloads and results held in the stack's bucket.
    payloads: Option<Arc<crate::application::payloads::Payloads>>,
    /// Makes a job of each firing of a caller's recurring schedule.
    schedule_runs: Option<ScheduleRuns>,
    /// Takes the job slot of work for later as it comes due (`admission.rs`).
    pub(super) due_admission: Option<super::admission::DueAdmission>,
    /// One held payload read and run at a time in this instance (see `held_payload_turn`).
    pub(super) held_payloads: Arc<tokio::sync::Semaphore>,
}

/// What a schedule's firing needs: the schedule as kept (the firing is made a job only while
/// its schedule is there, active and its owner's), the scheduler (a schedule with no record is
/// removed from it), and the intake that writes the job.
pub struct ScheduleRuns {
    pub intake: Arc<crate::application::intake::Intake>,
    pub schedules: Arc<dyn crate::application::ports::ScheduleStore>,
    pub scheduler: Arc<dyn crate::application::ports::RecurringScheduler>,
}

/// Progress goes onto the message's record (and to a WebSocket client); a failed write is
/// logged, never fatal.
struct JobProgress<'a> {
    processor: &'a MessageProcessor,
    envelope: &'a WorkMessage,
    work: &'a WorkId,
    /// The last percent reported by this attempt: which milestones its timeline noted.
    last: std::sync::atomic::AtomicU8,
    /// An unleased attempt's gate: progress is recorded on a leased attempt only.
    gate: Option<&'a super::unleased::LeaseGate>,
}

impl JobProgress<'_> {
    /// The milestone an update to `percent` passes, since this attempt's last update.
    fn milestone(&self, percent: u8) -> Option<u8> {
        let previous = self
            .last
            .fetch_max(percent, std::sync::atomic::Ordering::Relaxed);
        crate::domain::timeline::milestone(previous, percent)
    }
}

#[async_trait]
impl ProgressSink for JobProgress<'_> {
    async fn report(&self, percent: u8) {
        if let Some(gate) = self.gate {
            match gate.take().await {
                Ok(super::unleased::Gate::Leased) => {}
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, percent, "progress not recorded: no lease");
                    return;
                }
            }
        }
        let to = match self
            .processor
            .ledger
            .record_progress(self.work, percent, self.milestone(percent))
            .await
        {
            Ok(to) => to,
            Err(error) => {
                tracing::warn!(%error, percent, "progress not recorded");
                None
            }
        };
        // A progress frame lost to a failed post is not worth a retry: the next one follows.
        let _ = self
            .processor
            .tell_client(
                self.envelope,
                to.as_ref(),
                FrameKind::Progress,
                json!({"percent": percent}),
                None,
            )
            .await;
    }
}

/// The pattern a piece of work came in by, as metrics name it.
pub(super) fn pattern_label(envelope: &WorkMessage) -> &'static str {
    if envelope.has_callback {
        "callback"
    } else {
        envelope.pattern.as_str()
    }
}

/// What a metrics record about a piece of work names: its ids, type and trace.
pub(super) fn about(envelope: &WorkMessage) -> crate::metrics::About<'_> {
    crate::metrics::About::of_work(envelope)
}

/// The dead-letter queue a piece of work ends up in, as metrics name it.
pub(super) fn queue_label(envelope: &WorkMessage) -> &'static str {
    match envelope.pattern {
        crate::domain::Pattern::Bidirectional => "ordered-work",
        _ => "work",
    }
}

/// From acceptance to now, if the acceptance time is readable.
pub(crate) fn since_accepted(
    envelope: &WorkMessage,
    now: time::OffsetDateTime,
) -> Option<Duration> {
    let accepted = crate::application::clock::parse_rfc3339(&envelope.accepted_at)?;
    (now - accepted).try_into().ok()
}

/// A delivery ready to handle (see [`MessageProcessor::open`]).
pub(super) struct Opened {
    pub body: String,
    pub envelope: WorkMessage,
    pub span: tracing::Span,
}

/// The span every line about one message is logged in.
fn message_span(envelope: &WorkMessage, trace: Option<&TraceHeader>) -> tracing::Span {
    let span = tracing::info_span!(
        "message",
        correlationId = %envelope.correlation_id,
        jobId = tracing::field::Empty,
        messageId = tracing::field::Empty,
        jobType = %envelope.job_type,
        traceId = tracing::field::Empty,
        principal = tracing::field::Empty,
    );
    span.record(about(envelope).id_field(), envelope.message_id.as_str());
    record_principal(&span, envelope.owner.as_ref());
    record_trace_id(&span, trace);
    span
}

/// The work envelope a delivery carries, or why it carries none.
fn work_of(message: Result<QueueMessage, String>) -> Result<WorkMessage, String> {
    message.and_then(|m| match m {
        QueueMessage::Work(work) => Ok(work),
        other => Err(format!("a {} message on a work queue", other.kind())),
    })
}

fn attribute<'a>(record: &'a SqsMessage, name: &str) -> Option<&'a str> {
    record
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

impl MessageProcessor {
    pub fn new(
        registry: Arc<Registry>,
        ledger: Arc<dyn MessageLedger>,
        dead_letters: Arc<dyn DeadLetterQueue>,
        retries: Arc<dyn RetryScheduler>,
        callbacks: Arc<dyn CallbackStarter>,
        limits: Limits,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            limits,
            clock,
            registry,
            ledger,
            dead_letters,
            retries,
            callbacks,
            frames: None,
            tasks: None,
            payloads: None,
            schedule_runs: None,
            due_admission: None,
            held_payloads: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Takes the job slot of a job for later (`runAt`, a schedule's run) as it comes due.
    pub fn with_due_admission(mut self, admission: super::admission::DueAdmission) -> Self {
        self.due_admission = Some(admission);
        self
    }

    /// Makes a job of each firing of a recurring schedule that reaches its queue.
    pub fn with_schedule_runs(mut self, runs: ScheduleRuns) -> Self {
        self.schedule_runs = Some(runs);
        self
    }

    /// Reads payloads held in the bucket, and keeps results too large for a claim there.
    pub fn with_payloads(mut self, payloads: Arc<crate::application::payloads::Payloads>) -> Self {
        self.payloads = Some(payloads);
        self
    }

    /// Runs declared types whose workers finish later.
    pub fn with_tasks(mut self, tasks: Tasks) -> Self {
        self.tasks = Some(tasks);
        self
    }

    /// Sends frames to the WebSocket clients of bidirectional jobs.
    pub fn with_frames(mut self, frames: FrameSender) -> Self {
        self.frames = Some(frames);
        self
    }

    /// Sends one frame to the job's WebSocket client, if it has one: to `redirected` (where
    /// the job's record sends its frames now), else where its message says. A client that left
    /// is no error (the claim keeps the outcome); a post that failed is, for the caller to
    /// decide whether the frame is worth a redelivery.
    pub(super) async fn tell_client(
        &self,
        envelope: &WorkMessage,
        redirected: Option<&ReplyTo>,
        kind: FrameKind,
        data: Value,
        held: Option<u64>,
    ) -> Result<(), PortError> {
        let (Some(frames), Some(to)) = (&self.frames, redirected.or(envelope.reply_to.as_ref()))
        else {
            return Ok(());
        };
        let draft = Draft {
            request_id: Some(to.request_id.clone()),
            kind,
            job_id: None,
            correlation_id: None,
            data,
            held,
        }
        .for_job(&envelope.message_id, envelope.correlation_id.as_str());
        match frames
            .send(&to.connection_id, envelope.owner.as_ref(), draft)
            .await
        {
            Ok(FrameDelivery::Delivered { seq }) => tracing::debug!(seq, ?kind, "frame sent"),
            Ok(FrameDelivery::NotConnected) => {
                tracing::info!(?kind, "client not connected; the claim keeps the outcome")
            }
            Ok(FrameDelivery::Gone) => {
                tracing::info!(
                    ?kind,
                    "client gone; connection forgotten, the claim keeps the outcome"
                )
            }
            Err(error) => {
                tracing::warn!(%error, ?kind, "frame not sent");
                return Err(error);
            }
        }
        Ok(())
    }

    /// Sends a finished job's last frame, then starts its callback. A frame whose post failed
    /// fails the message after the callback has started: its redelivery finds the job finished
    /// and sends the frame again.
    pub(super) async fn finish(
        &self,
        envelope: &WorkMessage,
        ended: &Ended,
        last: crate::application::frames::LastFrame,
    ) -> Result<(), ProcessError> {
        let told = self
            .tell_client(
                envelope,
                ended.reply_to.as_ref(),
                last.kind,
                last.data,
                last.held,
            )
            .await;
        self.start_callback(envelope, ended.callback_marked).await?;
        told.map_err(ProcessError::from)
    }

    /// After a job reaches a terminal state (or on a redelivery that finds it there, in case
    /// the first delivery stopped in between), hand its callback to the notifier: only its
    /// message to send where the write that ended the job `marked` it QUEUED. (Its caller's
    /// job slot was given back by that write too: `MessageLedger`.)
    pub(super) async fn start_callback(
        &self,
        envelope: &WorkMessage,
        marked: bool,
    ) -> Result<(), ProcessError> {
        match (envelope.has_callback, marked) {
            (false, _) => {}
            (true, true) => self.callbacks.queue_marked(envelope).await?,
            (true, false) => self.callbacks.start(envelope).await?,
        }
        Ok(())
    }

    /// Handles one message. `deadline` is the function's (Lambda's) own: no work is started
    /// inside its last moments, and a job still running then is stopped and handed back.
    pub async fn process(
        &self,
        delivery: Delivery,
        deadline: Option<Instant>,
    ) -> Result<(), ProcessError> {
        let receive_count = delivery.receive_count();
        self.process_counted(delivery, receive_count, deadline)
            .await
    }

    /// [`Self::process`], where `receive_count` is the receives that count against the
    /// message: SQS's count, less any it was held back for (`ordered.rs`).
    pub(super) async fn process_counted(
        &self,
        delivery: Delivery,
        receive_count: u32,
        deadline: Option<Instant>,
    ) -> Result<(), ProcessError> {
        let Delivery { record, message } = delivery;
        if !super::may_start(deadline, Instant::now()) {
            self.release(record).await;
            return Err(ProcessError::OutOfTime);
        }
        let message = match message {
            Ok(QueueMessage::TaskCheck(check)) => {
                let result = self.check_task(&record, check).await;
                if let Err(ProcessError::Dependency(error)) = &result {
                    let delay = self.redelivery_delay(receive_count);
                    self.back_off(&tracing::Span::current(), &record, error, delay)
                        .await;
                }
                return result;
            }
            Ok(QueueMessage::ScheduleRun(run)) => {
                let result = self.run_schedule(&record, run).await;
                if let Err(ProcessError::Dependency(error)) = &result {
                    let delay = self.redelivery_delay(receive_count);
                    self.back_off(&tracing::Span::current(), &record, error, delay)
                        .await;
                }
                return result;
            }
            other => other,
        };
        let Some(Opened {
            body,
            envelope,
            span,
        }) = self.open(&record, message).await?
        else {
            return Ok(());
        };
        let result = self
            .process_envelope(&record, receive_count, &body, &envelope, deadline)
            .instrument(span.clone())
            .await;
        if let Err(ProcessError::Dependency(error)) = &result {
            let delay = self.redelivery_delay(receive_count);
            self.back_off(&span, &record, error, delay).await;
        }
        result
    }

    async fn process_envelope(
        &self,
        record: &SqsMessage,
        receive_count: u32,
        body: &str,
        envelope: &WorkMessage,
        deadline: Option<Instant>,
    ) -> Result<(), ProcessError> {
        let job = self.registry.get(&envelope.job_type);
        let lease = super::lease_for(job.as_deref(), deadline);
        crate::error_point!("processor.before-start", &envelope.correlation_id);
        let retry = self.retry_policy(job.as_deref());
        let job_lasts = job
            .as_deref()
            .map_or(Duration::ZERO, |j| j.settings().timeout);
        let Some(_turn) = self.held_payload_turn(envelope, job_lasts, deadline).await else {
            tracing::info!("no time left this invocation to wait for a held payload's turn");
            // The turn went to another job (on the ordered queue, maybe another connection's).
            self.note_held_if_ordered(record, envelope).await;
            self.hand_back(record, Duration::ZERO).await;
            return Err(ProcessError::OutOfTime);
        };
        let admitted = match &self.due_admission {
            Some(admission) => admission.admit(envelope, receive_count).await?,
            None => super::admission::Admitted::Run,
        };
        match admitted {
            super::admission::Admitted::Run => {}
            super::admission::Admitted::Waiting => return Ok(()),
            super::admission::Admitted::LookAgain => {
                tracing::info!(
                    receive_count,
                    "due, its claim not there yet; looked at again shortly"
                );
                let delay = self.redelivery_delay(receive_count);
                self.hand_back(record, delay).await;
                return Err(ProcessError::WillRetry("no claim yet".into()));
            }
        }
        // A short attempt runs on a look, unleased (`unleased.rs`); anything else a look
        // finds is decided as a start finds it.
        let mut gate = None;
        let mut start = None;
        // SQS's own count, not the receives that count against the message: a message behind
        // others in its FIFO batch counts none, yet may be back after a run of it died.
        let sqs_receives = crate::application::consumer::sqs_receive_count(record);
        if super::unleased::may_run_unleased(envelope, sqs_receives, job.as_deref()) {
            let looked = self.ledger.look(envelope).await?;
            // Only work no attempt has started yet: one whose earlier run died (a copy sent
            // again under the same id) starts with its lease, so that run counts.
            if matches!(looked.start, AttemptStart::Run { attempt: 1, .. }) {
                #[cfg(feature = "failpoints")]
                self.until_moved_if_armed(envelope, looked.seen).await;
                gate = Some(super::unleased::LeaseGate::new(
                    self.ledger.clone(),
                    envelope,
                    lease,
                    looked.seen,
                ));
                start = Some(looked.start);
            }
        }
        let start = match start {
            Some(start) => start,
            None => self.ledger.start_attempt(envelope, lease).await?,
        };
        let (attempt, round) = match before_running(Delivered {
            start,
            receive_count,
            outlived_its_claim: self.outlived_its_claim(envelope),
            max_attempts: retry.max_attempts,
        }) {
            Before::Run { attempt, round } => (attempt, round),
            Before::Finish { frame, reply_to } => {
                tracing::info!("already finished; redelivery acknowledged without running");
                // The delivery that finished it may have stopped before its last frame.
                return match frame {
                    Some(frame) => {
                        self.finish(envelope, &Ended::unmarked(reply_to), frame)
                            .await
                    }
                    None => self.start_callback(envelope, false).await,
                };
            }
            Before::WaitOutLease(remaining) => {
                return Err(self.wait_out_lease(record, remaining).await);
            }
            Before::LeaveToWorker => {
                tracing::info!(
                    "a copy of a job a worker has (under its attempt's timer); acknowledged"
                );
                return Ok(());
            }
            Before::Expire { claim_stored } => {
                return self.expire(body, envelope, claim_stored).await;
            }
            Before::LookAgain => {
                tracing::info!(receive_count, "no claim yet; looked at again shortly");
                let delay = self.redelivery_delay(receive_count);
                self.hand_back(record, delay).await;
                return Err(ProcessError::WillRetry("no claim yet".into()));
            }
            Before::Drop => {
                tracing::warn!(
                    receive_count,
                    "no claim for this job: it was never accepted (or its claim is long gone); dropped"
                );
                return Ok(());
            }
            Before::Exhausted { attempt, failure } => {
                // The earlier attempts started and never finished (their function died, or
                // ran out of time): the budget is spent without running the job once more.
                let to = self.fail_for_good(body, envelope, &failure).await?;
                let ran = Some((attempt, Duration::ZERO));
                self.report(envelope, crate::metrics::Outcome::Failed, ran);
                return self.announce_failure(envelope, &to, &failure).await;
            }
        };
        crate::crash_point!("processor.after-start", &envelope.correlation_id);
        // A first run is told by its outcome's line; a later one also here, at INFO: an earlier
        // attempt may have died (timeout, crash) without writing any line of its own.
        if attempt > 1 {
            tracing::info!(attempt, receive_count, "running job again");
        } else {
            tracing::debug!(attempt, receive_count, "running job");
        }

        let work = WorkId::of(envelope);
        let progress = JobProgress {
            processor: self,
            envelope,
            work: &work,
            last: std::sync::atomic::AtomicU8::new(0),
            gate: gate.as_ref(),
        };
        // A worker that finishes later gets the attempt with its task token.
        let external = job
            .as_deref()
            .filter(|j| j.completion() == Completion::External);
        let handed = match external {
            Some(j) => match self
                .hand_to_worker(j, envelope, body, attempt, round)
                .await?
            {
                Some(handed) => Some(handed),
                None => return Ok(()),
            },
            None => None,
        };
        // A held payload is read (an uploaded one checked against its type's schema: the
        // intake could not) before the attempt; it fails the job for good if it never can be.
        let attempt_lasts = job
            .as_deref()
            .map_or(Duration::ZERO, |j| j.settings().timeout);
        let (loaded, payload_url) = match self.load_payload(envelope, attempt_lasts).await? {
            Ok(loaded) => loaded,
            Err(failure) => {
                if let Some(refused) = self.take_lease_first(gate.as_ref()).await? {
                    return self
                        .given_up_unleased(record, envelope, receive_count, refused)
                        .await;
                }
                let to = self.fail_for_good(body, envelope, &failure).await?;
                self.report(
                    envelope,
                    crate::metrics::Outcome::Failed,
                    Some((attempt, Duration::ZERO)),
                );
                return self.announce_failure(envelope, &to, &failure).await;
            }
        };
        let started = std::time::Instant::now();
        let began = self.clock.now();
        let run = run_attempt(
            job.as_deref(),
            loaded.as_ref().unwrap_or(envelope),
            attempt,
            deadline,
            &progress,
            handed.as_ref().map(|h| &h.handle),
            payload_url.as_deref(),
        );
        let outcome = match &gate {
            None => run.await,
            Some(gate) => {
                tokio::pin!(run);
                tokio::select! {
                    outcome = &mut run => outcome,
                    _ = tokio::time::sleep(super::LEASE_AFTER) => {
                        // Past a short while the attempt takes its lease, and keeps running
                        // meanwhile (its own progress report may be taking it).
                        let take = gate.take();
                        tokio::pin!(take);
                        let mut ended = None;
                        let taken = loop {
                            tokio::select! {
                                taken = &mut take => break taken,
                                outcome = &mut run, if ended.is_none() => ended = Some(outcome),
                            }
                        };
                        match taken {
                            // Another delivery started the work meanwhile: this run stops.
                            Ok(super::unleased::Gate::Refused(found)) => {
                                return self
                                    .given_up_unleased(record, envelope, receive_count, found)
                                    .await;
                            }
                            Ok(_) => {}
                            // Still unleased: its one write decides, guarded as ever.
                            Err(error) => tracing::warn!(%error, "the lease could not be taken; the attempt goes on unleased"),
                        }
                        match ended {
                            Some(outcome) => outcome,
                            None => run.await,
                        }
                    }
                }
            }
        };
        crate::crash_point!("processor.before-outcome", &envelope.correlation_id);
        // An unleased attempt that ends other than in success takes its lease now, and is
        // recorded as any leased attempt (a failure's letter and record follow a start).
        if let Some(gate) = &gate {
            let state = match &outcome {
                AttemptOutcome::Succeeded(_) => gate.state().await,
                _ => gate.take().await?,
            };
            if let super::unleased::Gate::Refused(found) = state {
                return self
                    .given_up_unleased(record, envelope, receive_count, found)
                    .await;
            }
        }
        let ran = Some((attempt, started.elapsed()));
        if let (Some(handed), Some(j), AttemptOutcome::Succeeded(_)) = (&handed, external, &outcome)
        {
            return self
                .worker_acknowledged(envelope, attempt, handed, j.heartbeat())
                .await;
        }

        match after_running(outcome, round, retry.max_attempts) {
            After::Succeed(result) => {
                // A result held in the bucket is stored under a lease: its key is the job's,
                // and a run whose result is dropped must not overwrite the recorded one's.
                let held = gate.is_some()
                    && self.payloads.is_some()
                    && crate::application::payloads::Payloads::would_hold(&result);
                if held && let Some(refused) = self.take_lease_first(gate.as_ref()).await? {
                    return self
                        .given_up_unleased(record, envelope, receive_count, refused)
                        .await;
                }
                let kept = match self.keep_result(envelope, &result).await? {
                    Ok(kept) => kept,
                    Err(failure) => {
                        if let Some(refused) = self.take_lease_first(gate.as_ref()).await? {
                            return self
                                .given_up_unleased(record, envelope, receive_count, refused)
                                .await;
                        }
                        let to = self.fail_for_good(body, envelope, &failure).await?;
                        self.report(envelope, crate::metrics::Outcome::Failed, ran);
                        return self.announce_failure(envelope, &to, &failure).await;
                    }
                };
                // Still unleased: its start and success are one write.
                let unleased = match &gate {
                    Some(gate) if gate.state().await == super::unleased::Gate::Unleased => {
                        Some(gate)
                    }
                    _ => None,
                };
                let to = match unleased {
                    Some(gate) => match self
                        .ledger
                        .record_quick_success(envelope, gate.seen(), began, &kept)
                        .await?
                    {
                        QuickOutcome::Recorded(ended) => ended,
                        QuickOutcome::Refused(found) => {
                            return self
                                .given_up_unleased(record, envelope, receive_count, found)
                                .await;
                        }
                    },
                    None => self.ledger.record_success(envelope, &kept).await?,
                };
                // A crash here leaves the frame to the redelivery (see `Before::Finish`).
                crate::crash_point!("processor.before-final-frame", &envelope.correlation_id);
                tracing::debug!(attempt, "job succeeded");
                self.report(envelope, crate::metrics::Outcome::Succeeded, ran);
                // A held result's frame refers to the claim: its bytes travel through the URL.
                let last = match &kept {
                    crate::domain::KeptResult::Stored { bytes, .. } => {
                        crate::application::frames::LastFrame::held(*bytes)
                    }
                    crate::domain::KeptResult::Inline(_) => {
                        crate::application::frames::LastFrame::result(result)
                    }
                };
                self.finish(envelope, &to, last).await
            }
            After::FailForGood(failure) => {
                let to = self.fail_for_good(body, envelope, &failure).await?;
                self.report(envelope, crate::metrics::Outcome::Failed, ran);
                self.announce_failure(envelope, &to, &failure).await
            }
            After::Retry { reason, at_least } => {
                self.ledger.record_retry(&work, &reason).await?;
                self.report(envelope, crate::metrics::Outcome::Retried, ran);
                // A target's Retry-After is honoured up to the schedule's longest delay: a queue's
                // visibility (and a connection's FIFO group) is not the target's to hold for hours.
                let delay = retry
                    .delay(receive_count, &mut rand::rng())
                    .max(at_least.min(retry.max_delay));
                tracing::warn!(reason = %crate::telemetry::capped(&reason), receive_count, delay_ms = delay.as_millis() as u64, "transient failure; will retry");
                self.hand_back(record, delay).await;
                Err(ProcessError::WillRetry(reason))
            }
            After::HandBack => {
                let reason = "stopped before the function's deadline; handed back for redelivery";
                self.ledger.record_retry(&work, reason).await?;
                tracing::warn!("{reason}");
                self.release(record.clone()).await;
                Err(ProcessError::OutOfTime)
            }
        }
    }

    /// `processor.unleased-run=return(until-moved)`: an unleased run says it is there (a
    /// marker file, [`crate::failpoints::reached_marker`]: the emulator writes a function's
    /// log lines only once its invocation ends) and waits, up to 20 s (inside the function's
    /// timeout), until something moves its work since the look that saw `seen` attempts (a
    /// cancel, a copy's start), so a test sees it lose that race without betting on timing.
    #[cfg(feature = "failpoints")]
    async fn until_moved_if_armed(&self, envelope: &WorkMessage, seen: Option<u32>) {
        const POINT: &str = "processor.unleased-run";
        if crate::failpoints::action(POINT, &envelope.correlation_id).as_deref()
            != Some("until-moved")
        {
            return;
        }
        tracing::info!("failpoint: running unleased, waiting until the job moves");
        let marker = crate::failpoints::reached_marker(POINT, &envelope.correlation_id);
        if let Err(error) = std::fs::write(&marker, b"") {
            tracing::warn!(%error, "failpoint: the marker could not be written");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.ledger.look(envelope).await {
                Ok(looked) if looked.seen != seen => return,
                Ok(looked) if !matches!(looked.start, AttemptStart::Run { .. }) => return,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        tracing::warn!("failpoint: the job did not move within 20 s");
    }

    /// What only a leased attempt does (record a failure, hold a result in the bucket), an
    /// unleased one does after taking its lease. `Some`: refused, what a start found instead
    /// (the outcome is not this run's to record).
    async fn take_lease_first(
        &self,
        gate: Option<&super::unleased::LeaseGate>,
    ) -> Result<Option<AttemptStart>, ProcessError> {
        let Some(gate) = gate else {
            return Ok(None);
        };
        Ok(match gate.take().await? {
            super::unleased::Gate::Refused(found) => Some(found),
            _ => None,
        })
    }

    /// An unleased attempt whose work another delivery started or ended since the look: its
    /// outcome is dropped. An ended job's last frame and callback are seen to, as for any
    /// copy; a live lease is waited out; anything else is looked at again shortly.
    async fn given_up_unleased(
        &self,
        record: &SqsMessage,
        envelope: &WorkMessage,
        receive_count: u32,
        found: AttemptStart,
    ) -> Result<(), ProcessError> {
        tracing::info!(
            ?found,
            "another delivery moved the job while this one ran it unleased; its outcome is dropped"
        );
        match found {
            AttemptStart::AlreadyFinished { ending, reply_to } => {
                match ending
                    .as_ref()
                    .and_then(crate::application::frames::final_frame)
                {
                    Some(frame) => {
                        self.finish(envelope, &Ended::unmarked(reply_to), frame)
                            .await
                    }
                    None => self.start_callback(envelope, false).await,
                }
            }
            AttemptStart::RunningElsewhere { remaining } => {
                Err(self.wait_out_lease(record, remaining).await)
            }
            _ => {
                let delay = self.redelivery_delay(receive_count);
                self.hand_back(record, delay).await;
                Err(ProcessError::WillRetry(
                    "the job moved while it ran unleased".into(),
                ))
            }
        }
    }

    /// The metrics record of a unit of work's outcome (`ran`: the attempt and how long it
    /// ran; none when nothing ran).
    pub(super) fn report(
        &self,
        envelope: &WorkMessage,
        outcome: crate::metrics::Outcome,
        ran: Option<(u32, Duration)>,
    ) {
        let terminal = outcome != crate::metrics::Outcome::Retried;
        crate::metrics::processed(
            pattern_label(envelope),
            outcome,
            ran.map(|(attempt, _)| attempt),
            ran.map_or(Duration::ZERO, |(_, took)| took),
            terminal
                .then(|| since_accepted(envelope, self.clock.now()))
                .flatten(),
            about(envelope),
        );
    }

    /// Ends a job that failed for good. The letter goes to the dead-letter queue first: if
    /// recording then fails, the retry finds the record still RUNNING and repeats both, so the
    /// DLQ copy is never the one that goes missing. Answers where the job's frames go.
    pub(super) async fn fail_for_good(
        &self,
        body: &str,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Ended, ProcessError> {
        self.dead_letters
            .dead_letter(&self.letter(body, envelope, failure))
            .await?;
        let to = self.ledger.record_failure(envelope, failure).await?;
        tracing::warn!(kind = failure.kind.as_str(), reason = %crate::telemetry::capped(&failure.reason), "job failed; sent to the dead-letter queue");
        crate::metrics::dead_lettered(queue_label(envelope), about(envelope));
        Ok(to)
    }

    /// Whether a job's message is older than any claim of it can be.
    fn outlived_its_claim(&self, envelope: &WorkMessage) -> bool {
        envelope.pattern != crate::domain::Pattern::FireAndForget
            && since_accepted(envelope, self.clock.now())
                .is_some_and(|age| age > self.limits.claim_lifetime)
    }

    /// Ends a job whose claim expired before it could finish, without running it: FAILED
    /// (`expired`) on its claim if the claim is still stored, a letter in the dead-letter
    /// queue, an error frame and its callback (which needs the claim: none once it is swept).
    async fn expire(
        &self,
        body: &str,
        envelope: &WorkMessage,
        claim_stored: bool,
    ) -> Result<(), ProcessError> {
        let failure = Failure {
            kind: FailureKind::Expired,
            reason: format!(
                "the claim expired before the job could finish (accepted {}, claims live {} s)",
                envelope.accepted_at,
                self.limits.claim_lifetime.as_secs()
            ),
        };
        self.dead_letters
            .dead_letter(&self.letter(body, envelope, &failure))
            .await?;
        let to = match claim_stored {
            true => self.ledger.expire(envelope, &failure).await?,
            false => Ended::default(),
        };
        tracing::warn!(
            claim_stored,
            "job expired before it could finish; sent to the dead-letter queue"
        );
        crate::metrics::dead_lettered(queue_label(envelope), about(envelope));
        self.report(envelope, crate::metrics::Outcome::Failed, None);
        self.announce_failure(envelope, &to, &failure).await
    }

    /// Tells whoever waits on a failed job: its WebSocket client (at `redirected`, if its
    /// record sends its frames elsewhere now) and its callback.
    pub(super) async fn announce_failure(
        &self,
        envelope: &WorkMessage,
        ended: &Ended,
        failure: &Failure,
    ) -> Result<(), ProcessError> {
        self.finish(
            envelope,
            ended,
            crate::application::frames::LastFrame::error(job_failed(failure)),
        )
        .await
    }

    /// Opens a delivery: its body, its work envelope (carrying the trace it came with) and the
    /// span its lines are logged in. `None`: not a courier work envelope, and dead-lettered as
    /// such already.
    pub(super) async fn open(
        &self,
        record: &SqsMessage,
        message: Result<QueueMessage, String>,
    ) -> Result<Option<Opened>, ProcessError> {
        let body = record.body.clone().unwrap_or_default();
        let trace = TraceHeader::of_record(record);
        let mut envelope = match work_of(message) {
            Ok(envelope) => envelope,
            Err(error) => {
                self.reject_unparseable(record, body, trace, error).await?;
                return Ok(None);
            }
        };
        envelope.trace_header = trace.as_ref().map(|t| t.as_str().to_owned());
        let span = message_span(&envelope, trace.as_ref());
        Ok(Some(Opened {
            body,
            envelope,
            span,
        }))
    }

    /// A message that is not a courier work envelope goes straight to the dead-letter queue
    /// with the reason: no delivery could ever do more with it.
    async fn reject_unparseable(
        &self,
        record: &SqsMessage,
        body: String,
        trace: Option<TraceHeader>,
        error: String,
    ) -> Result<(), ProcessError> {
        let letter = DeadLetter {
            body,
            message_id: attribute(record, MESSAGE_ID_ATTRIBUTE).map(str::to_owned),
            correlation_id: attribute(record, CORRELATION_ID_ATTRIBUTE).map(str::to_owned),
            failure: Failure {
                kind: FailureKind::Unparseable,
                reason: format!("not a courier envelope: {error}"),
            },
            trace,
            request_print: attribute(record, courier_protocol::queue::attribute::REQUEST_PRINT)
                .map(str::to_owned),
        };
        tracing::error!(
            correlation_id = letter.correlation_id.as_deref().unwrap_or("-"),
            reason = %crate::telemetry::capped(&letter.failure.reason),
            "unparseable message sent to the dead-letter queue"
        );
        self.dead_letters.dead_letter(&letter).await?;
        let fifo = record
            .event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(".fifo"));
        crate::metrics::dead_lettered(
            if fifo { "ordered-work" } else { "work" },
            crate::metrics::About::new(
                letter.correlation_id.as_deref().unwrap_or("-"),
                letter.message_id.as_deref().unwrap_or("-"),
            ),
        );
        Ok(())
    }

    /// Backs off after a dependency error, for `delay` rather than the whole visibility
    /// timeout: a throttled or briefly unavailable dependency is usually back soon. Logged
    /// inside the message's span, so the line names its correlation id.
    pub(super) async fn back_off(
        &self,
        span: &tracing::Span,
        record: &SqsMessage,
        error: &PortError,
        delay: Duration,
    ) {
        span.in_scope(
            || tracing::error!(%error, "a dependency failed; SQS delivers the message again"),
        );
        self.hand_back(record, delay).await;
    }

    /// How long a work message waits after a dependency error on its `receive_count`th
    /// receive: as after a transient failure, except on the last receive, when SQS redrive
    /// will move it to the dead-letter inbox anyway: that happens at once.
    fn redelivery_delay(&self, receive_count: u32) -> Duration {
        if receive_count >= self.limits.max_receive_count {
            Duration::ZERO
        } else {
            self.limits.retry.delay(receive_count, &mut rand::rng())
        }
    }

    /// A delivery holds the job's lease for `remaining`: the message comes back once it has
    /// lapsed, when the job has ended (or its run died).
    pub(super) async fn wait_out_lease(
        &self,
        record: &SqsMessage,
        remaining: Duration,
    ) -> ProcessError {
        tracing::info!(
            remaining_s = remaining.as_secs(),
            "a delivery holds the job's lease; looked at again when it lapses"
        );
        self.hand_back(record, remaining).await;
        ProcessError::WillRetry("the job is running under a lease".into())
    }

    /// Makes a message that was not processed visible again at once (best effort).
    pub async fn release(&self, record: SqsMessage) {
        self.hand_back(&record, Duration::ZERO).await;
    }

    pub(super) async fn hand_back(&self, record: &SqsMessage, delay: Duration) {
        hand_back(self.retries.as_ref(), record, delay).await;
    }

    /// The type's retry schedule, or the deployment's; either way no more attempts than the
    /// queue has receives (SQS would give up on the message first).
    pub(super) fn retry_policy(
        &self,
        job: Option<&dyn courier_jobs::api::RegisteredType>,
    ) -> RetryPolicy {
        let chosen = match job.and_then(|j| j.settings().retry) {
            Some(own) => RetryPolicy {
                max_attempts: own.max_attempts,
                base_delay: own.base_delay,
                max_delay: own.max_delay,
            },
            None => self.limits.retry,
        };
        let limits = crate::application::job_types::AttemptLimits {
            default_max_attempts: self.limits.retry.max_attempts,
            max_receive_count: self.limits.max_receive_count,
        };
        RetryPolicy {
            max_attempts: crate::application::job_types::max_attempts(
                job.map_or(&JobSettings::default(), |j| j.settings()),
                limits,
            ),
            ..chosen
        }
    }

    pub(super) fn letter(
        &self,
        body: &str,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> DeadLetter {
        DeadLetter {
            body: body.to_owned(),
            message_id: Some(envelope.message_id.clone()),
            correlation_id: Some(envelope.correlation_id.to_string()),
            failure: failure.clone(),
            trace: envelope
                .trace_header
                .as_deref()
                .and_then(TraceHeader::parse),
            request_print: envelope.request_print.clone(),
        }
    }
}

impl MessageProcessor {
    /// A job whose payload is held in the bucket (up to 64 MiB, and more once parsed) waits
    /// for the instance's other such job to end before it starts: a few at once could outgrow
    /// the function's memory and fail every message of the batch with it. `Some(None)`: no
    /// held payload, no wait; `None`: no turn while the job could still start and finish in
    /// this invocation (its message is handed back).
    async fn held_payload_turn(
        &self,
        envelope: &WorkMessage,
        job_lasts: Duration,
        deadline: Option<Instant>,
    ) -> Option<Option<tokio::sync::OwnedSemaphorePermit>> {
        if envelope.payload_ref.is_none() {
            return Some(None);
        }
        let turn = self.held_payloads.clone().acquire_owned();
        let latest = deadline.map(|d| {
            d.checked_sub(job_lasts + super::DEADLINE_MARGIN)
                .unwrap_or_else(Instant::now)
        });
        match latest {
            None => turn.await.ok().map(Some),
            Some(latest) => tokio::time::timeout_at(latest, turn)
                .await
                .ok()
                .and_then(Result::ok)
                .map(Some),
        }
    }

    /// `envelope` with its held payload read into it (`None`: it travelled inline), and the
    /// URL a remote target is sent instead of it; `Ok(Err)`: the job can never run on it.
    async fn load_payload(
        &self,
        envelope: &WorkMessage,
        attempt_lasts: Duration,
    ) -> Result<Result<(Option<WorkMessage>, Option<String>), Failure>, PortError> {
        let Some(held) = &envelope.payload_ref else {
            return Ok(Ok((None, None)));
        };
        let Some(payloads) = &self.payloads else {
            return Err(PortError::new(
                "payloads",
                "a held payload, and no bucket to read it from",
            ));
        };
        let payload = match payloads.read(envelope).await {
            Ok(payload) => payload,
            Err(crate::application::payloads::Unreadable::Dependency(error)) => return Err(error),
            Err(crate::application::payloads::Unreadable::ForGood(reason)) => {
                return Ok(Err(Failure {
                    kind: FailureKind::Permanent,
                    reason,
                }));
            }
        };
        if held.unchecked
            && let Err(invalid) = self.registry.validate(&envelope.job_type, &payload)
        {
            return Ok(Err(Failure {
                kind: FailureKind::Permanent,
                reason: format!("the uploaded payload is refused: {invalid}"),
            }));
        }
        let url = payloads.payload_url(envelope, attempt_lasts).await?;
        let mut loaded = envelope.clone();
        loaded.payload = payload;
        Ok(Ok((Some(loaded), url)))
    }

    /// `result` as the claim keeps it: inline, or held in the bucket when too large for the
    /// claim; `Ok(Err)`: over every limit, the job fails for good.
    pub(super) async fn keep_result(
        &self,
        envelope: &WorkMessage,
        result: &Value,
    ) -> Result<Result<crate::domain::KeptResult, Failure>, PortError> {
        let Some(payloads) = &self.payloads else {
            return Ok(Ok(crate::domain::KeptResult::Inline(result.clone())));
        };
        Ok(payloads
            .keep(envelope, result.clone())
            .await?
            .map_err(|reason| Failure {
                kind: FailureKind::Permanent,
                reason,
            }))
    }
}

impl MessageProcessor {
    /// One firing of a caller's recurring schedule, made one job (under the firing's own id:
    /// a second delivery of it makes nothing new). A run its schedule's job can no longer be
    /// (its type gone, say) is refused and noted, never retried.
    async fn run_schedule(
        &self,
        record: &SqsMessage,
        run: courier_protocol::queue::ScheduleRun,
    ) -> Result<(), ProcessError> {
        use crate::application::intake::{Refusal, Request};
        use crate::domain::{EndpointId, EndpointKind};
        let Some(runs) = &self.schedule_runs else {
            return Err(
                PortError::new("schedules", "a schedule's firing, and no intake for it").into(),
            );
        };
        let Ok(schedule_id) = crate::domain::schedule::ScheduleId::parse(&run.schedule_id) else {
            tracing::warn!(schedule_id = %crate::telemetry::capped(&run.schedule_id), "a firing of no schedule; dropped");
            return Ok(());
        };
        // The schedule as kept is what runs: a firing of one deleted (or never kept: made while
        // its record was taken back) removes it from the scheduler; a paused one runs nothing.
        let schedule = match runs.schedules.get(&schedule_id).await? {
            Some(schedule) if schedule.owner == run.owner => schedule,
            Some(_) => {
                tracing::warn!(%schedule_id, "a firing whose owner is not its schedule's; dropped");
                return Ok(());
            }
            None => {
                tracing::warn!(%schedule_id, "a firing of a schedule with no record; removed from the scheduler");
                runs.scheduler.delete(&schedule_id).await?;
                return Ok(());
            }
        };
        if schedule.paused {
            tracing::info!(%schedule_id, "a paused schedule's firing; nothing runs");
            return Ok(());
        }
        let intake = &runs.intake;
        let run = courier_protocol::queue::ScheduleRun {
            job: schedule.job,
            owner: schedule.owner,
            ..run
        };
        // The scheduler's time of the firing; where it was left unfilled (an emulator), this
        // delivery's own message id.
        let firing = match run.scheduled_at.starts_with('<') || run.scheduled_at.is_empty() {
            true => record.message_id.clone().unwrap_or_default(),
            false => run.scheduled_at.clone(),
        };
        let id = crate::application::schedules::run_id(&run.schedule_id, &firing);
        let callback = run.job.callback.as_ref().and_then(|spec| {
            match (&spec.endpoint_id, &spec.destination_id) {
                (Some(raw), None) => EndpointId::parse_kind(raw, EndpointKind::Webhook).ok(),
                (None, Some(raw)) => EndpointId::parse_kind(raw, EndpointKind::Destination).ok(),
                _ => None,
            }
        });
        let correlation_id = crate::domain::CorrelationId::parse(&run.schedule_id)
            .unwrap_or_else(|_| crate::domain::CorrelationId::generate());
        let request = Request {
            submission: crate::domain::Submission {
                job_type: run.job.job_type,
                payload: run.job.payload,
                payload_ref: None,
                delay_seconds: 0,
                run_at: None,
                callback_endpoint: None,
            },
            correlation_id,
            trace: None,
            idempotency: None,
            owner: run.owner,
        };
        match intake.accept_run(id, request, callback).await {
            Ok(acceptance) => {
                tracing::info!(job_id = %acceptance.id, schedule_id = %run.schedule_id, "a schedule's run accepted");
                Ok(())
            }
            Err(Refusal::Unavailable(why)) => Err(PortError::new("schedule run", why).into()),
            Err(refusal) => {
                tracing::warn!(schedule_id = %run.schedule_id, %refusal, "a schedule's run was refused; nothing was made");
                Ok(())
            }
        }
    }
}
