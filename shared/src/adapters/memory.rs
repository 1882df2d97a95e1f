//! In-memory adapters for unit tests of handlers, with switches to make dependencies fail.
//! They follow the DynamoDB adapters' rules (conditional, forward-only) so tests mean something.

use crate::application::clock::Clock;
use crate::application::ports::{
    Abandonment, AttemptStart, CallbackStarter, CancelOutcome, ClaimStore, Created, DeadLetter,
    DeadLetterQueue, Ended, Ending, Failure, HeldReceives, IdempotencyClaim, IdempotencyStore,
    Looked, MessageLedger, PortError, QuickOutcome, RetryScheduler, StoredResponse, TakeOver,
    Withdrawal, WorkQueue,
};
use crate::domain::lifecycle::job;
use crate::domain::{
    Claim, IdempotencyKey, JobEvent, JobId, JobStatus, Principal, ReplyTo, WorkId, WorkMessage,
};
use async_trait::async_trait;
use courier_jobs::ProgressSink;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// A clock that stands still unless moved.
pub struct FixedClock(Mutex<OffsetDateTime>);

impl FixedClock {
    pub fn at(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    /// At a Unix time, in whole seconds.
    pub fn at_unix(seconds: i64) -> Self {
        Self::at(OffsetDateTime::from_unix_timestamp(seconds).expect("a valid time"))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A switch shared with a test to make a dependency fail on demand.
#[derive(Default)]
pub struct FailSwitch(AtomicBool);

impl FailSwitch {
    pub fn set(&self, failing: bool) {
        self.0.store(failing, Ordering::SeqCst);
    }

    fn check(&self, operation: &'static str) -> Result<(), PortError> {
        if self.0.load(Ordering::SeqCst) {
            Err(PortError::new(operation, "injected failure"))
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
pub struct InMemoryQueue {
    pub messages: Mutex<Vec<WorkMessage>>,
    /// Each message's delay, in the order sent.
    pub delays: Mutex<Vec<u32>>,
    pub fail: FailSwitch,
}

impl InMemoryQueue {
    pub fn sent(&self) -> Vec<WorkMessage> {
        self.messages.lock().unwrap().clone()
    }
}

#[async_trait]
impl WorkQueue for InMemoryQueue {
    async fn enqueue(&self, envelope: &WorkMessage, delay_seconds: u32) -> Result<(), PortError> {
        self.fail.check("enqueue")?;
        self.messages.lock().unwrap().push(envelope.clone());
        self.delays.lock().unwrap().push(delay_seconds);
        Ok(())
    }
}

/// A key's record: the request it stands for, the job id it was taken with, and its state.
#[derive(Clone)]
struct KeyRecord {
    print: String,
    id: JobId,
    state: KeyState,
}

#[derive(Clone)]
enum KeyState {
    /// Being handled; `lapsed` once its lock has run out (the try died).
    InProgress {
        lapsed: bool,
    },
    Completed(StoredResponse),
}

#[derive(Default)]
pub struct InMemoryIdempotencyStore {
    keys: Mutex<HashMap<String, KeyRecord>>,
    pub fail: FailSwitch,
    /// Loses completions, as a crash between the durable write and the completion would.
    pub fail_complete: FailSwitch,
}

impl InMemoryIdempotencyStore {
    /// Lets every in-progress key's lock lapse, as time would after a crash.
    pub fn lapse(&self) {
        for record in self.keys.lock().unwrap().values_mut() {
            if let KeyState::InProgress { lapsed } = &mut record.state {
                *lapsed = true;
            }
        }
    }

    /// Moves every key past its window, as a day would.
    pub fn expire(&self) {
        self.keys.lock().unwrap().clear();
    }

    /// Whether it holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.lock().unwrap().is_empty()
    }

    fn id(scope: &str, key: &IdempotencyKey) -> String {
        format!("{scope}#{key}")
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn acquire(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: &str,
        _owner: &Principal,
        fresh: &JobId,
    ) -> Result<IdempotencyClaim, PortError> {
        self.fail.check("acquire")?;
        let mut keys = self.keys.lock().unwrap();
        let id = Self::id(scope, key);
        let Some(record) = keys.get_mut(&id) else {
            keys.insert(
                id,
                KeyRecord {
                    print: fingerprint.to_owned(),
                    id: fresh.clone(),
                    state: KeyState::InProgress { lapsed: false },
                },
            );
            return Ok(IdempotencyClaim::Acquired { id: fresh.clone() });
        };
        if record.print != fingerprint {
            return Ok(IdempotencyClaim::KeyReused);
        }
        Ok(match &record.state {
            KeyState::InProgress { lapsed: true } => {
                record.state = KeyState::InProgress { lapsed: false };
                IdempotencyClaim::Acquired {
                    id: record.id.clone(),
                }
            }
            KeyState::InProgress { lapsed: false } => IdempotencyClaim::InProgress,
            KeyState::Completed(response) => IdempotencyClaim::Replay(response.clone()),
        })
    }

    async fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), PortError> {
        self.fail_complete.check("complete")?;
        let mut keys = self.keys.lock().unwrap();
        if let Some(record) = keys.get_mut(&Self::id(scope, key))
            && matches!(record.state, KeyState::InProgress { .. })
        {
            record.state = KeyState::Completed(response.clone());
        }
        Ok(())
    }

    async fn unlock(&self, scope: &str, key: &IdempotencyKey) -> Result<(), PortError> {
        if let Some(record) = self.keys.lock().unwrap().get_mut(&Self::id(scope, key))
            && matches!(record.state, KeyState::InProgress { .. })
        {
            record.state = KeyState::InProgress { lapsed: true };
        }
        Ok(())
    }
}

/// One message's record, as the DynamoDB ledger keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub status: JobStatus,
    pub attempts: u32,
    pub progress: Vec<u8>,
    /// The progress milestones the timeline noted.
    pub milestones: Vec<u8>,
    /// The work message a failed job keeps for a rerun.
    pub rerun: Option<WorkMessage>,
    pub result: Option<Value>,
    /// A result held in the bucket, as the claim keeps it: its key and size.
    pub held: Option<(String, u64)>,
    pub failure: Option<Failure>,
    pub last_error: Option<String>,
    /// The highest redrive that has run this record.
    pub redrives: u32,
    /// `attempts` when the last redrive reopened it.
    pub redrive_base: u32,
    /// Until when the running attempt holds the job.
    pub lease_until: Option<std::time::Instant>,
    /// The job's claim is past its lifetime.
    pub claim_expired: bool,
    /// Where its frames go (the claim's `connectionId`, `requestId`).
    pub reply_to: Option<ReplyTo>,
    /// The held-back receives of one SQS message (`note_held`).
    pub held_receives: Option<HeldReceives>,
}

impl LedgerEntry {
    /// A record before its first start (a fire-and-forget message has none until then).
    fn new() -> Self {
        Self {
            status: JobStatus::Pending,
            attempts: 0,
            progress: vec![],
            milestones: vec![],
            rerun: None,
            result: None,
            held: None,
            failure: None,
            last_error: None,
            redrives: 0,
            redrive_base: 0,
            lease_until: None,
            claim_expired: false,
            reply_to: None,
            held_receives: None,
        }
    }

    /// Why a start would make no attempt: a live lease, an expired claim, or an end (`None`:
    /// it may start).
    fn held_or_ended(&self, now: std::time::Instant) -> Option<AttemptStart> {
        if self.status == JobStatus::Running
            && let Some(until) = self.lease_until.filter(|until| *until > now)
        {
            return Some(AttemptStart::RunningElsewhere {
                remaining: until - now,
            });
        }
        if self.claim_expired && !self.status.is_terminal() {
            return Some(AttemptStart::Expired);
        }
        job::transition(self.status, JobEvent::Start)
            .is_none()
            .then(|| AttemptStart::AlreadyFinished {
                ending: self.ending(),
                reply_to: self.reply_to.clone(),
            })
    }

    /// How it ended, if it has.
    fn ending(&self) -> Option<Ending> {
        match self.status {
            JobStatus::Succeeded => Some(match &self.held {
                Some((_, bytes)) => Ending::Held { bytes: *bytes },
                None => Ending::Succeeded(self.result.clone().unwrap_or(Value::Null)),
            }),
            JobStatus::Failed => self.failure.clone().map(Ending::Failed),
            JobStatus::Cancelled => Some(Ending::Cancelled),
            JobStatus::Pending | JobStatus::Running => None,
        }
    }
}

#[derive(Default)]
pub struct InMemoryLedger {
    entries: Mutex<HashMap<WorkId, LedgerEntry>>,
    pub fail: FailSwitch,
    /// Fails only the success write: the job ran, its outcome could not be recorded.
    pub fail_success: FailSwitch,
    /// Fails only the starts that take a lease: a run that needs none is still recorded.
    pub fail_lease: FailSwitch,
    /// How many looks were made: each is an attempt that may run unleased.
    pub looks: std::sync::atomic::AtomicU32,
    /// How long a lease taken after a look takes to write (DynamoDB's round trip).
    pub lease_write_takes: Mutex<Duration>,
    /// Where an ended job's slot is given back, as the DynamoDB ledger's ending write does.
    slots: Mutex<Option<Arc<InMemoryQuotas>>>,
}

impl InMemoryLedger {
    /// Writes that end a job give its slot back to `quotas` (the twin's claims keep their slots
    /// there).
    pub fn give_back_slots_to(&self, quotas: Arc<InMemoryQuotas>) {
        *self.slots.lock().unwrap() = Some(quotas);
    }

    /// After a write that ended the job `work` (this one, not an earlier), its slot back.
    async fn give_back_slot(&self, work: &WorkId, ended_here: bool) {
        let quotas = self.slots.lock().unwrap().clone();
        if let (true, Some(quotas), WorkId::Job(id)) = (ended_here, quotas, work)
            && let Ok(id) = JobId::parse(id)
        {
            crate::application::quotas::release(&*quotas, &id).await;
        }
    }

    /// A start that found its job ended: a slot still held for it (a cancel's lost give-back)
    /// given back, as the DynamoDB ledger does.
    async fn release_left_slot(&self, envelope: &WorkMessage, start: &AttemptStart) {
        let ended = matches!(start, AttemptStart::AlreadyFinished { .. });
        self.give_back_slot(&WorkId::of(envelope), ended).await;
    }

    /// Changes the record of `work` (made if there is none), as a test sets it up.
    fn set_up(&self, work: &WorkId, change: impl FnOnce(&mut LedgerEntry)) {
        change(
            self.entries
                .lock()
                .unwrap()
                .entry(work.clone())
                .or_insert_with(LedgerEntry::new),
        );
    }

    /// As if the job `work` had been cancelled (by its owner, outside the ledger).
    pub fn cancel(&self, work: &WorkId) {
        self.set_up(work, |e| e.status = JobStatus::Cancelled);
    }

    /// As if the claim of the job `work` had outlived its lifetime.
    pub fn expire_claim(&self, work: &WorkId) {
        self.set_up(work, |e| e.claim_expired = true);
    }

    /// As if a resubmit on another connection had taken the job's frames over.
    pub fn redirect(&self, work: &WorkId, to: ReplyTo) {
        self.entries
            .lock()
            .unwrap()
            .entry(work.clone())
            .or_insert_with(LedgerEntry::new)
            .reply_to = Some(to);
    }

    /// As if every lease had run out (the runs holding them died).
    pub fn lapse_leases(&self) {
        for entry in self.entries.lock().unwrap().values_mut() {
            entry.lease_until = None;
        }
    }

    /// The entry for a record key (`MSG#<id>` or `JOB#<id>`).
    pub fn entry(&self, work: &WorkId) -> Option<LedgerEntry> {
        self.entries.lock().unwrap().get(work).cloned()
    }

    /// A job's record as its acceptance writes it (PENDING, no attempt yet), as the claim is
    /// there before its message.
    pub fn accept(&self, envelope: &WorkMessage) {
        self.entries
            .lock()
            .unwrap()
            .entry(WorkId::of(envelope))
            .or_insert_with(LedgerEntry::new);
    }

    /// A start, as the DynamoDB condition makes it: where the lifecycle allows it, no live
    /// lease stands in the way, and (with `seen`) no attempt has started since a look.
    fn start(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<Option<u32>>,
    ) -> Result<AttemptStart, PortError> {
        let mut entries = self.entries.lock().unwrap();
        let entry = entries
            .entry(WorkId::of(envelope))
            // A fire-and-forget record is created by its first start.
            .or_insert_with(LedgerEntry::new);
        let now = std::time::Instant::now();
        if let Some(held_or_ended) = entry.held_or_ended(now)
            && !matches!(held_or_ended, AttemptStart::AlreadyFinished { .. })
        {
            return Ok(held_or_ended);
        }
        if let Some(seen) = seen
            && seen.unwrap_or(0) != entry.attempts
        {
            // Refused: never a `Run` (as the DynamoDB adapter reads a refusal).
            return Ok(entry
                .held_or_ended(now)
                .unwrap_or(AttemptStart::RunningElsewhere {
                    remaining: Duration::from_secs(1),
                }));
        }
        if entry.reply_to.is_none() {
            entry.reply_to = envelope.reply_to.clone();
        }
        let redriven = envelope.redrive > entry.redrives
            && job::transition(entry.status, JobEvent::Redrive).is_some();
        if redriven {
            entry.failure = None;
            entry.redrives = envelope.redrive;
        }
        let event = if redriven {
            JobEvent::Redrive
        } else {
            JobEvent::Start
        };
        let Some(to) = job::transition(entry.status, event) else {
            return Ok(AttemptStart::AlreadyFinished {
                ending: entry.ending(),
                reply_to: entry.reply_to.clone(),
            });
        };
        if redriven {
            entry.redrive_base = entry.attempts;
        }
        entry.status = to;
        entry.attempts += 1;
        entry.lease_until = Some(now + lease);
        Ok(AttemptStart::Run {
            attempt: entry.attempts,
            round: entry.attempts - entry.redrive_base,
        })
    }

    /// Applies `event` where the job lifecycle allows it, as the DynamoDB condition does, and
    /// answers where the job's frames go.
    fn apply(
        &self,
        work: &WorkId,
        event: JobEvent,
        change: impl FnOnce(&mut LedgerEntry),
    ) -> Option<ReplyTo> {
        self.applied(work, event, change).0
    }

    /// [`Self::apply`], also saying whether the event moved the record.
    fn applied(
        &self,
        work: &WorkId,
        event: JobEvent,
        change: impl FnOnce(&mut LedgerEntry),
    ) -> (Option<ReplyTo>, bool) {
        let mut entries = self.entries.lock().unwrap();
        let Some(entry) = entries.get_mut(work) else {
            return (None, false);
        };
        let moved = match job::transition(entry.status, event) {
            Some(to) => {
                entry.status = to;
                change(entry);
                true
            }
            None => false,
        };
        (entry.reply_to.clone(), moved)
    }

    /// [`Self::applied`] for an event that ends a job: its slot given back where it did, a
    /// success's or failure's callback in its first round marked QUEUED, as the DynamoDB
    /// ledger's ending write does.
    async fn end(
        &self,
        envelope: &WorkMessage,
        event: JobEvent,
        change: impl FnOnce(&mut LedgerEntry),
    ) -> Ended {
        let work = WorkId::of(envelope);
        let (reply_to, moved) = self.applied(&work, event, change);
        self.give_back_slot(&work, moved).await;
        Ended {
            reply_to,
            // The twin keeps no callback state: the DynamoDB ledger's condition that the
            // callback still stands WAITING always holds here.
            callback_marked: moved && crate::application::ports::marks_callback(envelope, event),
        }
    }
}

#[async_trait]
impl MessageLedger for InMemoryLedger {
    async fn start_attempt(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
    ) -> Result<AttemptStart, PortError> {
        self.fail.check("start_attempt")?;
        self.fail_lease.check("start_attempt")?;
        let start = self.start(envelope, lease, None)?;
        self.release_left_slot(envelope, &start).await;
        Ok(start)
    }

    async fn look(&self, envelope: &WorkMessage) -> Result<Looked, PortError> {
        self.fail.check("look")?;
        self.looks.fetch_add(1, Ordering::SeqCst);
        let entries = self.entries.lock().unwrap();
        let Some(entry) = entries.get(&WorkId::of(envelope)) else {
            return Ok(Looked {
                start: AttemptStart::Run {
                    attempt: 1,
                    round: 1,
                },
                seen: None,
                held: None,
            });
        };
        let start = entry
            .held_or_ended(std::time::Instant::now())
            .unwrap_or(AttemptStart::Run {
                attempt: entry.attempts + 1,
                round: entry.attempts + 1 - entry.redrive_base,
            });
        Ok(Looked {
            start,
            seen: (entry.attempts > 0).then_some(entry.attempts),
            held: entry.held_receives.clone(),
        })
    }

    async fn note_held_at_least(
        &self,
        envelope: &WorkMessage,
        message_id: &str,
        count: u32,
    ) -> Result<(), PortError> {
        self.fail.check("note_held")?;
        let mut entries = self.entries.lock().unwrap();
        let entry = entries
            .entry(WorkId::of(envelope))
            .or_insert_with(LedgerEntry::new);
        let noted = match &entry.held_receives {
            Some(held) if held.message_id == message_id => held.count,
            _ => 0,
        };
        entry.held_receives = Some(HeldReceives {
            message_id: message_id.to_owned(),
            count: noted.max(count),
        });
        Ok(())
    }

    async fn note_held(&self, envelope: &WorkMessage, message_id: &str) -> Result<(), PortError> {
        // The twin keeps no claims apart from its records: a job's record stands for its claim.
        let noted = self
            .entry(&WorkId::of(envelope))
            .and_then(|entry| entry.held_receives)
            .filter(|held| held.message_id == message_id)
            .map_or(0, |held| held.count);
        self.note_held_at_least(envelope, message_id, noted + 1)
            .await
    }

    async fn start_seen(
        &self,
        envelope: &WorkMessage,
        lease: Duration,
        seen: Option<u32>,
    ) -> Result<AttemptStart, PortError> {
        self.fail.check("start_attempt")?;
        self.fail_lease.check("start_attempt")?;
        let takes = *self.lease_write_takes.lock().unwrap();
        tokio::time::sleep(takes).await;
        let start = self.start(envelope, lease, Some(seen))?;
        self.release_left_slot(envelope, &start).await;
        Ok(start)
    }

    async fn record_quick_success(
        &self,
        envelope: &WorkMessage,
        seen: Option<u32>,
        _began: time::OffsetDateTime,
        result: &crate::domain::KeptResult,
    ) -> Result<QuickOutcome, PortError> {
        self.fail.check("record_success")?;
        self.fail_success.check("record_success")?;
        // The start and the success as one change, or neither.
        match self.start(envelope, Duration::ZERO, Some(seen))? {
            AttemptStart::Run { .. } => {}
            refused => {
                self.release_left_slot(envelope, &refused).await;
                return Ok(QuickOutcome::Refused(refused));
            }
        }
        Ok(QuickOutcome::Recorded(
            self.record_success(envelope, result).await?,
        ))
    }

    async fn record_progress(
        &self,
        work: &WorkId,
        percent: u8,
        milestone: Option<u8>,
    ) -> Result<Option<ReplyTo>, PortError> {
        Ok(self.apply(work, JobEvent::Progress, |e| {
            e.progress.push(percent);
            e.milestones.extend(milestone);
        }))
    }

    async fn record_success(
        &self,
        envelope: &WorkMessage,
        result: &crate::domain::KeptResult,
    ) -> Result<Ended, PortError> {
        self.fail.check("record_success")?;
        self.fail_success.check("record_success")?;
        // One or the other, as the claim keeps it.
        let (inline, held) = match result {
            crate::domain::KeptResult::Inline(value) => (Some(value.clone()), None),
            crate::domain::KeptResult::Stored { key, bytes } => {
                (None, Some((key.as_str().to_owned(), *bytes)))
            }
        };
        Ok(self
            .end(envelope, JobEvent::Succeed, |e| {
                e.result = inline.clone();
                e.held = held.clone();
                e.lease_until = None;
            })
            .await)
    }

    async fn expire(&self, envelope: &WorkMessage, failure: &Failure) -> Result<Ended, PortError> {
        self.fail.check("expire")?;
        let work = &WorkId::of(envelope);
        let held = self
            .entry(work)
            .and_then(|e| e.lease_until)
            .is_some_and(|until| until > std::time::Instant::now());
        if held {
            // A live run records its own outcome.
            return Ok(Ended::unmarked(self.entry(work).and_then(|e| e.reply_to)));
        }
        Ok(self
            .end(envelope, JobEvent::Expire, |e| {
                e.failure = Some(failure.clone());
                e.lease_until = None;
            })
            .await)
    }

    async fn record_failure(
        &self,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Ended, PortError> {
        self.fail.check("record_failure")?;
        Ok(self
            .end(envelope, JobEvent::Fail, |e| {
                e.failure = Some(failure.clone());
                e.lease_until = None;
                e.rerun = Some(envelope.clone());
            })
            .await)
    }

    async fn record_retry(&self, work: &WorkId, reason: &str) -> Result<(), PortError> {
        self.apply(work, JobEvent::Progress, |e| {
            e.last_error = Some(reason.to_owned());
            e.lease_until = None;
        });
        Ok(())
    }

    async fn abandon(
        &self,
        envelope: &WorkMessage,
        failure: &Failure,
    ) -> Result<Abandonment, PortError> {
        self.fail.check("abandon")?;
        let key = WorkId::of(envelope);
        let outcome = self.abandoned(envelope, &key, failure);
        if matches!(outcome, Abandonment::Abandoned { .. }) {
            self.give_back_slot(&key, true).await;
        }
        Ok(outcome)
    }
}

impl InMemoryLedger {
    /// [`MessageLedger::abandon`]'s change of the record, the slot left to the caller.
    fn abandoned(&self, envelope: &WorkMessage, key: &WorkId, failure: &Failure) -> Abandonment {
        let mut entries = self.entries.lock().unwrap();
        if envelope.pattern == crate::domain::Pattern::FireAndForget {
            entries.entry(key.clone()).or_insert_with(LedgerEntry::new);
        }
        let Some(entry) = entries.get_mut(key) else {
            return Abandonment::Missing;
        };
        let now = std::time::Instant::now();
        if let Some(until) = entry.lease_until.filter(|until| *until > now)
            && !entry.status.is_terminal()
        {
            return Abandonment::Leased {
                remaining: until - now,
            };
        }
        match job::transition(entry.status, JobEvent::Abandon) {
            Some(to) => {
                entry.status = to;
                entry.failure = Some(failure.clone());
                entry.lease_until = None;
                Abandonment::Abandoned(Ended::unmarked(entry.reply_to.clone()))
            }
            None => Abandonment::Ended {
                status: entry.status,
                failure_kind: entry.failure.as_ref().map(|f| f.kind.as_str().to_owned()),
                reply_to: entry.reply_to.clone(),
            },
        }
    }
}

#[derive(Default)]
pub struct InMemoryDeadLetters {
    pub letters: Mutex<Vec<DeadLetter>>,
    pub fail: FailSwitch,
}

impl InMemoryDeadLetters {
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().unwrap().clone()
    }
}

#[async_trait]
impl DeadLetterQueue for InMemoryDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), PortError> {
        self.fail.check("dead_letter")?;
        self.letters.lock().unwrap().push(letter.clone());
        Ok(())
    }
}

/// Records the delays the processor asked for, and the messages it deleted early.
#[derive(Default)]
pub struct RecordingRetries(pub Mutex<Vec<Duration>>, pub Mutex<Vec<String>>);

impl RecordingRetries {
    pub fn delays(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }

    /// The receipt handles acknowledged before their batch answered.
    pub fn acknowledged(&self) -> Vec<String> {
        self.1.lock().unwrap().clone()
    }
}

#[async_trait]
impl RetryScheduler for RecordingRetries {
    async fn retry_after(&self, _: &str, _: &str, delay: Duration) -> Result<(), PortError> {
        self.0.lock().unwrap().push(delay);
        Ok(())
    }

    async fn acknowledge(&self, _: &str, receipt_handles: &[String]) -> Result<(), PortError> {
        self.1.lock().unwrap().extend_from_slice(receipt_handles);
        Ok(())
    }
}

#[derive(Default)]
pub struct RecordingProgress(Mutex<Vec<u8>>);

impl RecordingProgress {
    pub fn reports(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl ProgressSink for RecordingProgress {
    async fn report(&self, percent: u8) {
        self.0.lock().unwrap().push(percent);
    }
}

/// Claims by id, with the DynamoDB adapter's cancel rules.
#[derive(Default)]
pub struct InMemoryClaims {
    claims: Mutex<HashMap<String, Claim>>,
    /// What a failed job's claim keeps for a rerun, with its redrive count.
    reruns: Mutex<HashMap<String, (Option<WorkMessage>, u32)>>,
    pub fail_create: FailSwitch,
    /// The claim is written, and then the write is reported failed (a timeout after it).
    pub fail_after_create: FailSwitch,
    pub fail: FailSwitch,
    /// The claims a later try took over (`ClaimStore::take_over`).
    taken_over: Mutex<std::collections::HashSet<String>>,
}

impl InMemoryClaims {
    pub fn get_now(&self, id: &str) -> Option<Claim> {
        self.claims.lock().unwrap().get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.claims.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// As if DynamoDB's TTL had swept the claim.
    pub fn sweep(&self, id: &str) {
        self.claims.lock().unwrap().remove(id);
        self.taken_over.lock().unwrap().remove(id);
    }

    /// Changes a stored claim as a test needs it.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Claim)) {
        if let Some(claim) = self.claims.lock().unwrap().get_mut(id) {
            change(claim);
        }
    }

    /// Keeps a failed job's work message on its claim, as the processor would.
    pub fn keep_rerun(&self, id: &str, message: WorkMessage, redrives: u32) {
        self.reruns
            .lock()
            .unwrap()
            .insert(id.to_owned(), (Some(message), redrives));
    }

    /// Moves a claim on, as the processor would.
    pub fn set_status(&self, id: &str, status: JobStatus) {
        if let Some(claim) = self.claims.lock().unwrap().get_mut(id) {
            claim.status = status;
        }
    }
}

#[async_trait]
impl ClaimStore for InMemoryClaims {
    async fn create(&self, claim: &Claim) -> Result<Created, PortError> {
        self.fail_create.check("create")?;
        let mut claims = self.claims.lock().unwrap();
        if claims.contains_key(claim.id.as_str()) {
            return Ok(Created::AlreadyThere);
        }
        claims.insert(claim.id.to_string(), claim.clone());
        self.fail_after_create.check("create (applied)")?;
        Ok(Created::New)
    }

    async fn get(&self, id: &JobId) -> Result<Option<Claim>, PortError> {
        self.fail.check("get")?;
        Ok(self.get_now(id.as_str()))
    }

    async fn cancel(
        &self,
        id: &JobId,
        owner: &Principal,
        now: OffsetDateTime,
    ) -> Result<CancelOutcome, PortError> {
        self.fail.check("cancel")?;
        let mut claims = self.claims.lock().unwrap();
        Ok(match claims.get_mut(id.as_str()) {
            Some(claim) if !claim.visible_to(owner, now) => CancelOutcome::NotFound,
            Some(claim) if let Some(to) = job::transition(claim.status, JobEvent::Cancel) => {
                claim.status = to;
                claim.completed_at = Some(now);
                claim.updated_at = now;
                CancelOutcome::Cancelled(claim.clone())
            }
            Some(claim) => CancelOutcome::TooLate(claim.clone()),
            None => CancelOutcome::NotFound,
        })
    }

    async fn redirect(
        &self,
        id: &JobId,
        owner: &Principal,
        to: &ReplyTo,
    ) -> Result<Option<Claim>, PortError> {
        self.fail.check("redirect")?;
        let mut claims = self.claims.lock().unwrap();
        Ok(match claims.get_mut(id.as_str()) {
            Some(claim) if claim.owner.as_ref() == Some(owner) => {
                claim.reply_to = Some(to.clone());
                Some(claim.clone())
            }
            _ => None,
        })
    }

    async fn list(
        &self,
        owner: &Principal,
        filter: &crate::application::ports::JobFilter,
        after: Option<&crate::application::ports::ListPosition>,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<crate::application::ports::Page<Claim>, PortError> {
        self.fail.check("list")?;
        let mine: Vec<Claim> = self
            .claims
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.owner.as_ref() == Some(owner) && filter.admits(c, now))
            .cloned()
            .collect();
        let listed = |c: &Claim| {
            (
                crate::application::clock::rfc3339(c.created_at),
                c.id.to_string(),
            )
        };
        Ok(page_of(mine, listed, after, limit))
    }

    async fn rerun_source(
        &self,
        id: &JobId,
    ) -> Result<Option<crate::application::ports::RerunSource>, PortError> {
        let claim = self.get_now(id.as_str());
        let kept = self.reruns.lock().unwrap().get(id.as_str()).cloned();
        Ok(claim.map(|claim| crate::application::ports::RerunSource {
            message: kept.as_ref().and_then(|(m, _)| m.clone()),
            redrives: kept.map_or(0, |(_, r)| r),
            events: claim.events.len(),
        }))
    }

    async fn carry_slot(
        &self,
        id: &JobId,
        slot: &str,
        replacing: Option<&str>,
    ) -> Result<bool, PortError> {
        self.fail.check("carry_slot")?;
        let mut claims = self.claims.lock().unwrap();
        Ok(match claims.get_mut(id.as_str()) {
            Some(claim)
                if claim.status == JobStatus::Pending && claim.slot.as_deref() == replacing =>
            {
                claim.slot = Some(slot.to_owned());
                true
            }
            _ => false,
        })
    }

    async fn rerun(
        &self,
        id: &JobId,
        owner: &Principal,
        redrive: u32,
        slot: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<bool, PortError> {
        self.fail.check("rerun")?;
        let mut claims = self.claims.lock().unwrap();
        let mut reruns = self.reruns.lock().unwrap();
        let Some(claim) = claims.get_mut(id.as_str()) else {
            return Ok(false);
        };
        let fresh = reruns.get(id.as_str()).is_some_and(|(_, r)| *r < redrive);
        match job::transition(claim.status, JobEvent::Rerun) {
            Some(to) if claim.visible_to(owner, now) && fresh => {
                claim.status = to;
                claim.error = None;
                claim.completed_at = None;
                if claim.slot.is_none() {
                    claim.slot = slot.map(str::to_owned);
                }
                // What DynamoDB keeps on the claim: the redrive number, not the message.
                if let Some(kept) = reruns.get_mut(id.as_str()) {
                    *kept = (None, redrive);
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn withdraw(&self, id: &JobId) -> Result<Withdrawal, PortError> {
        let mut claims = self.claims.lock().unwrap();
        let taken_over = self.taken_over.lock().unwrap().contains(id.as_str());
        Ok(match claims.get(id.as_str()) {
            Some(claim) if claim.has_started() => Withdrawal::Started,
            Some(_) if taken_over => Withdrawal::Started,
            _ => {
                claims.remove(id.as_str());
                Withdrawal::Withdrawn
            }
        })
    }

    async fn take_over(&self, id: &JobId) -> Result<TakeOver, PortError> {
        self.fail.check("claims.take_over")?;
        let claims = self.claims.lock().unwrap();
        Ok(match claims.get(id.as_str()) {
            None => TakeOver::Gone,
            Some(claim) if claim.has_started() => TakeOver::Started,
            Some(_) => {
                self.taken_over.lock().unwrap().insert(id.to_string());
                TakeOver::TakenOver { held: false }
            }
        })
    }
}

/// Records which jobs had their callback started, once each, as the DynamoDB condition does.
#[derive(Default)]
pub struct RecordingCallbacks {
    started: Mutex<Vec<String>>,
    /// The starts that wrote the claim's mark themselves (the ending write had not).
    marks_written: Mutex<u32>,
}

impl RecordingCallbacks {
    /// The jobs whose delivery was started, once each.
    pub fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }

    /// How many starts wrote the claim's QUEUED mark themselves.
    pub fn marks_written(&self) -> u32 {
        *self.marks_written.lock().unwrap()
    }

    fn queued(&self, envelope: &WorkMessage) {
        let mut started = self.started.lock().unwrap();
        if !started.contains(&envelope.message_id) {
            started.push(envelope.message_id.clone());
        }
    }
}

#[async_trait]
impl CallbackStarter for RecordingCallbacks {
    async fn start(&self, envelope: &WorkMessage) -> Result<(), PortError> {
        *self.marks_written.lock().unwrap() += 1;
        self.queued(envelope);
        Ok(())
    }

    async fn queue_marked(&self, envelope: &WorkMessage) -> Result<(), PortError> {
        self.queued(envelope);
        Ok(())
    }
}

/// Connection records with their frame counters, like `CONN#<id>` items.
#[derive(Default)]
pub struct InMemoryConnections {
    pub records: Mutex<HashMap<String, (crate::application::ports::Connection, u64)>>,
    pub fail: FailSwitch,
}

impl InMemoryConnections {
    pub fn is_open(&self, id: &str) -> bool {
        self.records.lock().unwrap().contains_key(id)
    }
}

#[async_trait]
impl crate::application::ports::ConnectionStore for InMemoryConnections {
    async fn open(
        &self,
        connection: &crate::application::ports::Connection,
    ) -> Result<(), PortError> {
        self.fail.check("connection open")?;
        self.records
            .lock()
            .unwrap()
            .insert(connection.id.clone(), (connection.clone(), 0));
        Ok(())
    }

    async fn close(&self, connection_id: &str) -> Result<Option<Principal>, PortError> {
        self.fail.check("connection close")?;
        let removed = self.records.lock().unwrap().remove(connection_id);
        Ok(removed.and_then(|(connection, _)| connection.owner))
    }

    async fn next_seq(
        &self,
        connection_id: &str,
        owner: Option<&Principal>,
    ) -> Result<Option<u64>, PortError> {
        self.fail.check("next seq")?;
        Ok(self
            .records
            .lock()
            .unwrap()
            .get_mut(connection_id)
            .filter(|(connection, _)| owner.is_none_or(|o| connection.owner.as_ref() == Some(o)))
            .map(|(_, seq)| {
                *seq += 1;
                *seq
            }))
    }
}

/// Records posted frames per connection; connections listed in `gone` answer `Gone`.
#[derive(Default)]
pub struct RecordingPoster {
    pub posted: Mutex<Vec<(String, courier_protocol::frames::ServerFrame)>>,
    pub gone: Mutex<Vec<String>>,
    /// Every post fails, as a throttled or failing `@connections` API would.
    pub fail: FailSwitch,
}

impl RecordingPoster {
    pub fn frames_to(&self, connection_id: &str) -> Vec<courier_protocol::frames::ServerFrame> {
        self.posted
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, _)| to == connection_id)
            .map(|(_, frame)| frame.clone())
            .collect()
    }
}

#[async_trait]
impl crate::application::ports::ConnectionPoster for RecordingPoster {
    async fn post(
        &self,
        connection_id: &str,
        data: &[u8],
    ) -> Result<crate::application::ports::PostOutcome, PortError> {
        self.fail.check("post")?;
        if self.gone.lock().unwrap().iter().any(|g| g == connection_id) {
            return Ok(crate::application::ports::PostOutcome::Gone);
        }
        // API Gateway refuses a larger frame (`PayloadTooLargeException`).
        if data.len() > courier_protocol::frames::MAX_FRAME_BYTES {
            return Err(PortError::new(
                "post",
                format!("{} bytes is over the frame limit", data.len()),
            ));
        }
        // Every frame any unit test posts is one `asyncapi.json` documents, byte for byte.
        #[cfg(test)]
        crate::adapters::websocket::contract_tests::assert_documented(data);
        let frame = serde_json::from_slice(data)
            .map_err(|e| PortError::new("post", format!("not a frame: {e}")))?;
        self.posted
            .lock()
            .unwrap()
            .push((connection_id.to_owned(), frame));
        Ok(crate::application::ports::PostOutcome::Delivered)
    }
}

/// Webhook endpoints by id, with the DynamoDB adapter's conditions.
#[derive(Default)]
pub struct InMemoryWebhookEndpoints {
    pub endpoints: Mutex<HashMap<String, crate::domain::WebhookEndpoint>>,
    pub fail: FailSwitch,
}

#[async_trait]
impl crate::application::ports::WebhookEndpointStore for InMemoryWebhookEndpoints {
    async fn create(&self, endpoint: &crate::domain::WebhookEndpoint) -> Result<(), PortError> {
        self.fail.check("create endpoint")?;
        let mut endpoints = self.endpoints.lock().unwrap();
        assert!(
            !endpoints.contains_key(endpoint.id.as_str()),
            "endpoint ids are fresh"
        );
        endpoints.insert(endpoint.id.to_string(), endpoint.clone());
        Ok(())
    }

    async fn get(
        &self,
        id: &crate::domain::EndpointId,
    ) -> Result<Option<crate::domain::WebhookEndpoint>, PortError> {
        self.fail.check("get endpoint")?;
        Ok(self.endpoints.lock().unwrap().get(id.as_str()).cloned())
    }

    async fn replace_secrets(
        &self,
        endpoint: &crate::domain::WebhookEndpoint,
    ) -> Result<bool, PortError> {
        self.fail.check("rotate endpoint secret")?;
        let mut endpoints = self.endpoints.lock().unwrap();
        match endpoints.get_mut(endpoint.id.as_str()) {
            Some(stored) if stored.revision + 1 == endpoint.revision => {
                stored.secrets = endpoint.secrets.clone();
                stored.revision = endpoint.revision;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(
        &self,
        id: &crate::domain::EndpointId,
        owner: &Principal,
    ) -> Result<bool, PortError> {
        self.fail.check("delete endpoint")?;
        let mut endpoints = self.endpoints.lock().unwrap();
        if endpoints
            .get(id.as_str())
            .is_some_and(|e| e.visible_to(owner))
        {
            endpoints.remove(id.as_str());
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn list(
        &self,
        owner: &Principal,
        kind: crate::domain::EndpointKind,
        after: Option<&crate::application::ports::ListPosition>,
        limit: usize,
    ) -> Result<crate::application::ports::Page<crate::domain::WebhookEndpoint>, PortError> {
        self.fail.check("list endpoints")?;
        let mine: Vec<_> = self
            .endpoints
            .lock()
            .unwrap()
            .values()
            .filter(|e| e.visible_to(owner) && e.id.kind() == kind)
            .cloned()
            .collect();
        let listed = |e: &crate::domain::WebhookEndpoint| {
            (
                crate::application::clock::rfc3339(e.created_at),
                e.id.to_string(),
            )
        };
        Ok(page_of(mine, listed, after, limit))
    }
}

/// A page of `items` as the table's index gives it: newest first by (creation, id), after
/// `after`, at most `limit`.
fn page_of<T: Clone>(
    mut items: Vec<T>,
    listed: impl Fn(&T) -> (String, String),
    after: Option<&crate::application::ports::ListPosition>,
    limit: usize,
) -> crate::application::ports::Page<T> {
    items.retain(|item| after.is_none_or(|a| listed(item) < (a.created_at.clone(), a.id.clone())));
    items.sort_by_key(|item| std::cmp::Reverse(listed(item)));
    let next = (items.len() > limit).then(|| {
        let (created_at, id) = listed(&items[limit - 1]);
        crate::application::ports::ListPosition { created_at, id }
    });
    items.truncate(limit);
    crate::application::ports::Page { items, next }
}

/// A stand-in key service: "seals" by XOR with a pad derived from the context, so a secret
/// opened under another endpoint or owner comes out wrong, as with KMS's encryption context.
#[derive(Default)]
pub struct InMemorySealer {
    pub fail: FailSwitch,
}

impl InMemorySealer {
    fn pad(context: &crate::application::ports::SealingContext) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::digest(format!("{} {}", context.endpoint, context.owner.key())).into()
    }

    fn xor(bytes: &[u8], context: &crate::application::ports::SealingContext) -> Vec<u8> {
        let pad = Self::pad(context);
        bytes
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ pad[i % pad.len()])
            .collect()
    }
}

#[async_trait]
impl crate::application::ports::SecretSealer for InMemorySealer {
    async fn seal(
        &self,
        secret: &courier_protocol::webhook::Secret,
        context: &crate::application::ports::SealingContext,
    ) -> Result<crate::domain::SealedSecret, PortError> {
        self.fail.check("seal secret")?;
        Ok(crate::domain::SealedSecret(Self::xor(
            secret.expose_bytes(),
            context,
        )))
    }

    async fn open(
        &self,
        sealed: &crate::domain::SealedSecret,
        context: &crate::application::ports::SealingContext,
    ) -> Result<courier_protocol::webhook::Secret, PortError> {
        self.fail.check("open secret")?;
        courier_protocol::webhook::Secret::from_bytes(Self::xor(&sealed.0, context))
            .map_err(|e| PortError::new("open secret", e.to_string()))
    }
}

/// Attempts of workers that finish later, on the same conditions as the DynamoDB ledger's.
#[derive(Default)]
pub struct InMemoryTasks {
    entries: Mutex<HashMap<String, (bool, crate::domain::TaskState)>>,
    /// Each attempt's timer (`task.due`).
    timers: Mutex<HashMap<String, i64>>,
    pub fail: FailSwitch,
}

impl InMemoryTasks {
    /// Ends the job (for good) without touching its attempt.
    pub fn finish(&self, job: &JobId) {
        if let Some(entry) = self.entries.lock().unwrap().get_mut(job.as_str()) {
            entry.0 = false;
        }
    }

    pub fn state(&self, job: &JobId) -> Option<crate::domain::TaskState> {
        self.entries
            .lock()
            .unwrap()
            .get(job.as_str())
            .map(|e| e.1.clone())
    }
}

#[async_trait]
impl crate::application::ports::TaskLedger for InMemoryTasks {
    async fn begin(
        &self,
        job: &JobId,
        begin: &crate::application::ports::TaskBegin,
    ) -> Result<bool, PortError> {
        self.fail.check("task begin")?;
        let state = crate::domain::TaskState {
            attempt: begin.attempt,
            round: begin.round,
            digest: begin.digest.clone(),
            awaiting: false,
            last_heard: OffsetDateTime::now_utc(),
            heartbeat: begin.heartbeat,
            attempt_by: begin.attempt_by,
            reported: None,
            envelope: begin.envelope.clone(),
            settled: false,
        };
        self.entries
            .lock()
            .unwrap()
            .insert(job.to_string(), (true, state));
        Ok(true)
    }

    async fn acknowledged(
        &self,
        job: &JobId,
        attempt: u32,
        _attempt_by: OffsetDateTime,
    ) -> Result<bool, PortError> {
        let mut entries = self.entries.lock().unwrap();
        match entries.get_mut(job.as_str()) {
            Some((true, state)) if state.attempt == attempt => {
                state.awaiting = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn report(
        &self,
        token: &crate::domain::TaskToken,
        report: &courier_protocol::task::TaskReport,
    ) -> Result<crate::application::ports::ReportAnswer, PortError> {
        use crate::application::ports::{ReportAnswer, ReportRefusal};
        use courier_protocol::task::TaskReport;
        self.fail.check("task report")?;
        let mut entries = self.entries.lock().unwrap();
        let Some((running, state)) = entries.get_mut(token.job_id.as_str()) else {
            return Ok(ReportAnswer::Refused(ReportRefusal::Unknown));
        };
        let refusal = if state.attempt == token.attempt && state.digest != token.digest {
            Some(ReportRefusal::Unknown)
        } else if state.attempt != token.attempt {
            Some(ReportRefusal::Stale)
        } else if !*running {
            Some(ReportRefusal::Finished)
        } else if state.attempt_by <= OffsetDateTime::now_utc() {
            Some(ReportRefusal::Expired)
        } else if state.reported.is_some() {
            Some(ReportRefusal::AlreadyReported)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Ok(ReportAnswer::Refused(refusal));
        }
        state.last_heard = OffsetDateTime::now_utc();
        let settle = match report {
            TaskReport::Result(result) => {
                state.reported = Some(crate::domain::Reported::Result(result.clone()));
                true
            }
            TaskReport::Error { kind, reason } => {
                state.reported = Some(crate::domain::Reported::Error {
                    kind: *kind,
                    reason: reason.clone(),
                });
                true
            }
            TaskReport::Progress { .. } | TaskReport::Heartbeat => false,
        };
        Ok(ReportAnswer::Recorded {
            claim: None,
            settle,
        })
    }

    async fn task(
        &self,
        job: &JobId,
    ) -> Result<Option<crate::application::ports::TaskView>, PortError> {
        Ok(self
            .entries
            .lock()
            .unwrap()
            .get(job.as_str())
            .map(|(running, state)| crate::application::ports::TaskView {
                running: *running,
                task: Some(state.clone()),
                reply_to: None,
                ending: None,
            }))
    }

    async fn release(&self, job: &JobId, attempt: u32) -> Result<bool, PortError> {
        let mut entries = self.entries.lock().unwrap();
        match entries.get_mut(job.as_str()) {
            Some((true, state)) if state.attempt == attempt && state.reported.is_none() => {
                state.awaiting = false;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn retire(&self, job: &JobId, attempt: u32, _reason: &str) -> Result<bool, PortError> {
        let mut entries = self.entries.lock().unwrap();
        match entries.get(job.as_str()) {
            Some((true, state)) if state.attempt == attempt => {
                entries.remove(job.as_str());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn settled(&self, job: &JobId, attempt: u32) -> Result<(), PortError> {
        if let Some((_, state)) = self.entries.lock().unwrap().get_mut(job.as_str())
            && state.attempt == attempt
        {
            state.settled = true;
        }
        Ok(())
    }

    async fn rearm(
        &self,
        job: &JobId,
        attempt: u32,
        due: Option<i64>,
        next: i64,
    ) -> Result<bool, PortError> {
        let mut timers = self.timers.lock().unwrap();
        let running = self
            .entries
            .lock()
            .unwrap()
            .get(job.as_str())
            .is_some_and(|(running, state)| *running && state.attempt == attempt);
        let current = timers.get(job.as_str()).copied();
        // As the DynamoDB condition: the timer the claim names, or already `next`.
        if running && (current == due || current == Some(next)) {
            timers.insert(job.to_string(), next);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Task checks, recorded with their delays.
#[derive(Default)]
pub struct RecordingTaskChecks {
    pub sent: Mutex<Vec<(courier_protocol::queue::TaskCheck, Duration)>>,
    pub fail: FailSwitch,
}

#[async_trait]
impl crate::application::ports::TaskChecks for RecordingTaskChecks {
    async fn schedule(
        &self,
        check: &courier_protocol::queue::TaskCheck,
        delay: Duration,
    ) -> Result<(), PortError> {
        self.fail.check("task check")?;
        self.sent.lock().unwrap().push((check.clone(), delay));
        Ok(())
    }
}

/// Callers' quotas in memory, as the DynamoDB adapter counts them.
#[derive(Default)]
pub struct InMemoryQuotas {
    own: Mutex<HashMap<String, crate::domain::quota::OwnLimits>>,
    /// (caller's tag, second) → requests counted.
    requests: Mutex<HashMap<(String, i64), u32>>,
    /// Caller's tag → their jobs in flight by generation.
    counts: Mutex<HashMap<String, crate::domain::quota::SlotCount>>,
    /// Job → the slot its claim holds (the twin's stand-in for the claim's `quotaSlot`).
    slots: Mutex<HashMap<JobId, crate::domain::quota::JobSlot>>,
    /// Caller's tag → connection → counted until.
    connections: Mutex<HashMap<String, HashMap<String, i64>>>,
    pub fail: FailSwitch,
}

impl InMemoryQuotas {
    pub fn set_own_limits(&self, owner: &Principal, limits: crate::domain::quota::OwnLimits) {
        self.own.lock().unwrap().insert(owner.tag(), limits);
    }

    /// Slots `owner` holds, as their count stands.
    pub fn slots_held(&self, owner: &Principal) -> u32 {
        self.counts
            .lock()
            .unwrap()
            .get(&owner.tag())
            .map_or(0, |c| c.total())
    }

    /// As if a job's slot were lost (its give-back never made): the count keeps it.
    pub fn lose(&self, job: &JobId) {
        self.slots.lock().unwrap().remove(job);
    }

    fn check(&self, operation: &'static str) -> Result<(), PortError> {
        self.fail.check(operation)
    }
}

#[async_trait]
impl crate::application::ports::QuotaStore for InMemoryQuotas {
    async fn own_limits(
        &self,
        owner: &Principal,
    ) -> Result<crate::domain::quota::OwnLimits, PortError> {
        self.check("own limits")?;
        Ok(self
            .own
            .lock()
            .unwrap()
            .get(&owner.tag())
            .copied()
            .unwrap_or_default())
    }

    async fn count_request(
        &self,
        owner: &Principal,
        second: i64,
        limit: u32,
    ) -> Result<bool, PortError> {
        self.check("count request")?;
        let mut requests = self.requests.lock().unwrap();
        let counted = requests.entry((owner.tag(), second)).or_default();
        if *counted >= limit {
            return Ok(false);
        }
        *counted += 1;
        Ok(true)
    }

    async fn take_job_slot(
        &self,
        owner: &Principal,
        job: &JobId,
        generation: u64,
        limit: u32,
    ) -> Result<Option<crate::domain::quota::JobSlot>, PortError> {
        use crate::domain::quota::{JobSlot, Take, after_take, take, taken_in};
        self.check("take job slot")?;
        let tag = owner.tag();
        let mut counts = self.counts.lock().unwrap();
        let seen = counts.get(&tag).copied();
        let how = take(seen, generation, limit);
        if how == Take::Full {
            return Ok(None);
        }
        let generation = taken_in(seen, generation, how);
        let count = after_take(seen, generation, how).expect("taken");
        counts.insert(tag.clone(), count);
        let slot = JobSlot::taken(tag, generation);
        self.slots.lock().unwrap().insert(job.clone(), slot.clone());
        Ok(Some(slot))
    }

    async fn give_back_job_slot(
        &self,
        slot: &crate::domain::quota::JobSlot,
    ) -> Result<(), PortError> {
        use crate::domain::quota::{after_give_back, give_back};
        self.check("give back job slot")?;
        self.slots.lock().unwrap().retain(|_, held| held != slot);
        let mut counts = self.counts.lock().unwrap();
        if let Some(count) = counts.get(&slot.tag).copied() {
            let place = give_back(Some(count), slot.generation);
            counts.insert(slot.tag.clone(), after_give_back(count, place));
        }
        Ok(())
    }

    async fn release_job(
        &self,
        job: &JobId,
    ) -> Result<Option<crate::domain::quota::JobSlot>, PortError> {
        self.check("release job")?;
        let slot = self.slots.lock().unwrap().remove(job);
        if let Some(slot) = &slot {
            crate::application::ports::QuotaStore::give_back_job_slot(self, slot).await?;
        }
        Ok(slot)
    }

    async fn open_connection(
        &self,
        owner: &Principal,
        connection: &str,
        until: i64,
        now: i64,
        limit: u32,
    ) -> Result<bool, PortError> {
        self.check("open connection")?;
        let mut all = self.connections.lock().unwrap();
        let open = all.entry(owner.tag()).or_default();
        open.retain(|_, counted_until| *counted_until > now);
        if open.len() >= limit as usize {
            return Ok(false);
        }
        open.insert(connection.to_owned(), until);
        Ok(true)
    }

    async fn close_connection(&self, owner: &Principal, connection: &str) -> Result<(), PortError> {
        self.check("close connection")?;
        if let Some(open) = self.connections.lock().unwrap().get_mut(&owner.tag()) {
            open.remove(connection);
        }
        Ok(())
    }
}

/// Quotas no test reaches unless it sets a caller's own, over an in-memory store.
pub fn roomy_quotas(
    store: Arc<InMemoryQuotas>,
    clock: Arc<dyn Clock>,
) -> Arc<crate::application::quotas::Quotas> {
    Arc::new(crate::application::quotas::Quotas::new(
        store,
        crate::application::quotas::Limits {
            jobs_in_flight: 10_000,
            requests_per_second: 10_000,
            connections: 10_000,
            webhook_endpoints: 10_000,
        },
        clock,
        Duration::from_secs(3600),
    ))
}

/// A destination probe that answers as told and remembers what it was asked.
#[derive(Default)]
pub struct RecordingProbe {
    refusal: Mutex<Option<String>>,
    probed: Mutex<Vec<crate::domain::EndpointId>>,
}

impl RecordingProbe {
    pub fn refusing(reason: &str) -> Self {
        let probe = Self::default();
        probe.refuse(Some(reason));
        probe
    }

    /// From now on, refuse with `reason` (`None`: deliver).
    pub fn refuse(&self, reason: Option<&str>) {
        *self.refusal.lock().unwrap() = reason.map(str::to_owned);
    }

    pub fn probed(&self) -> Vec<crate::domain::EndpointId> {
        self.probed.lock().unwrap().clone()
    }
}

#[async_trait]
impl crate::application::ports::DestinationProbe for RecordingProbe {
    async fn probe(
        &self,
        destination: &crate::domain::EndpointId,
    ) -> Result<Result<(), String>, PortError> {
        self.probed.lock().unwrap().push(destination.clone());
        Ok(self.refusal.lock().unwrap().clone().map_or(Ok(()), Err))
    }
}

/// The bucket, in memory: URLs are `memory://<key>?expires=<seconds>` (nothing fetches them).
#[derive(Default)]
pub struct InMemoryBlobs {
    objects: Mutex<HashMap<String, Vec<u8>>>,
    pub fail: FailSwitch,
}

impl InMemoryBlobs {
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }

    /// A version tag as S3's: the content's digest.
    fn etag(object: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(object))
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.objects.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl crate::application::ports::BlobStore for InMemoryBlobs {
    async fn put(&self, key: &crate::domain::BlobKey, bytes: Vec<u8>) -> Result<(), PortError> {
        self.fail.check("put object")?;
        self.objects
            .lock()
            .unwrap()
            .insert(key.as_str().to_owned(), bytes);
        Ok(())
    }

    async fn get(
        &self,
        key: &crate::domain::BlobKey,
        limit: u64,
    ) -> Result<crate::application::ports::Fetched, PortError> {
        use crate::application::ports::Fetched;
        self.fail.check("get object")?;
        Ok(match self.object(key.as_str()) {
            None => Fetched::Missing,
            Some(object) if object.len() as u64 > limit => Fetched::TooLarge(object.len() as u64),
            Some(object) => Fetched::Bytes(object),
        })
    }

    async fn head(
        &self,
        key: &crate::domain::BlobKey,
    ) -> Result<Option<crate::application::ports::ObjectInfo>, PortError> {
        self.fail.check("head object")?;
        Ok(self
            .object(key.as_str())
            .map(|o| crate::application::ports::ObjectInfo {
                size: o.len() as u64,
                etag: Self::etag(&o),
            }))
    }

    async fn copy(
        &self,
        from: &crate::domain::BlobKey,
        etag: &str,
        to: &crate::domain::BlobKey,
    ) -> Result<bool, PortError> {
        self.fail.check("copy object")?;
        let Some(object) = self.object(from.as_str()).filter(|o| Self::etag(o) == etag) else {
            return Ok(false);
        };
        self.objects
            .lock()
            .unwrap()
            .insert(to.as_str().to_owned(), object);
        Ok(true)
    }

    async fn download_url(
        &self,
        key: &crate::domain::BlobKey,
        lifetime: Duration,
    ) -> Result<String, PortError> {
        self.fail.check("presign")?;
        Ok(format!(
            "memory://{}?expires={}",
            key.as_str(),
            lifetime.as_secs()
        ))
    }

    async fn upload_url(
        &self,
        key: &crate::domain::BlobKey,
        lifetime: Duration,
    ) -> Result<String, PortError> {
        self.fail.check("presign")?;
        Ok(format!(
            "memory://{}?put&expires={}",
            key.as_str(),
            lifetime.as_secs()
        ))
    }
}

/// Schedules, in memory.
#[derive(Default)]
pub struct InMemorySchedules {
    schedules: Mutex<HashMap<String, crate::domain::schedule::Schedule>>,
    pub fail: FailSwitch,
}

#[async_trait]
impl crate::application::ports::ScheduleStore for InMemorySchedules {
    async fn create(&self, schedule: &crate::domain::schedule::Schedule) -> Result<(), PortError> {
        self.fail.check("create schedule")?;
        self.schedules
            .lock()
            .unwrap()
            .insert(schedule.id.to_string(), schedule.clone());
        Ok(())
    }

    async fn get(
        &self,
        id: &crate::domain::schedule::ScheduleId,
    ) -> Result<Option<crate::domain::schedule::Schedule>, PortError> {
        self.fail.check("get schedule")?;
        Ok(self.schedules.lock().unwrap().get(id.as_str()).cloned())
    }

    async fn set_paused(
        &self,
        id: &crate::domain::schedule::ScheduleId,
        owner: &Principal,
        paused: bool,
    ) -> Result<bool, PortError> {
        self.fail.check("pause schedule")?;
        let mut schedules = self.schedules.lock().unwrap();
        match schedules.get_mut(id.as_str()) {
            Some(s) if &s.owner == owner => {
                s.paused = paused;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(
        &self,
        id: &crate::domain::schedule::ScheduleId,
        owner: &Principal,
    ) -> Result<bool, PortError> {
        self.fail.check("delete schedule")?;
        let mut schedules = self.schedules.lock().unwrap();
        match schedules.get(id.as_str()) {
            Some(s) if &s.owner == owner => {
                schedules.remove(id.as_str());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn list(
        &self,
        owner: &Principal,
        after: Option<&crate::application::ports::ListPosition>,
        limit: usize,
    ) -> Result<crate::application::ports::Page<crate::domain::schedule::Schedule>, PortError> {
        self.fail.check("list schedules")?;
        let _ = after;
        let mut mine: Vec<_> = self
            .schedules
            .lock()
            .unwrap()
            .values()
            .filter(|s| &s.owner == owner)
            .cloned()
            .collect();
        mine.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        mine.truncate(limit);
        Ok(crate::application::ports::Page {
            items: mine,
            next: None,
        })
    }
}

/// A scheduler that remembers what it was told.
#[derive(Default)]
pub struct RecordingScheduler {
    pub put: Mutex<Vec<crate::domain::schedule::Schedule>>,
    pub deleted: Mutex<Vec<String>>,
    pub fail: FailSwitch,
    /// Time zones it does not know (as Scheduler refuses them).
    pub unknown_zones: Mutex<Vec<String>>,
}

#[async_trait]
impl crate::application::ports::RecurringScheduler for RecordingScheduler {
    async fn put(
        &self,
        schedule: &crate::domain::schedule::Schedule,
    ) -> Result<crate::application::ports::Definition, PortError> {
        self.fail.check("put schedule")?;
        if self
            .unknown_zones
            .lock()
            .unwrap()
            .contains(&schedule.timezone)
        {
            return Ok(crate::application::ports::Definition::Refused(format!(
                "Invalid timezone {}",
                schedule.timezone
            )));
        }
        self.put.lock().unwrap().push(schedule.clone());
        Ok(crate::application::ports::Definition::Taken)
    }

    async fn update(
        &self,
        schedule: &crate::domain::schedule::Schedule,
    ) -> Result<bool, PortError> {
        self.fail.check("update schedule")?;
        let gone = self
            .deleted
            .lock()
            .unwrap()
            .contains(&schedule.id.to_string());
        if !gone {
            self.put.lock().unwrap().push(schedule.clone());
        }
        Ok(!gone)
    }

    async fn delete(&self, id: &crate::domain::schedule::ScheduleId) -> Result<(), PortError> {
        self.fail.check("delete schedule")?;
        self.deleted.lock().unwrap().push(id.to_string());
        Ok(())
    }
}
