//! Processor tests: SQS events built from a Lambda fixture, in-memory ledger and queues.

use super::{Limits, MessageProcessor, SqsEvent};
use crate::adapters::memory::{
    InMemoryDeadLetters, InMemoryLedger, RecordingCallbacks, RecordingRetries,
};
use crate::application::backoff::RetryPolicy;
use crate::application::ports::FailureKind;
use crate::domain::{JobStatus, Pattern, WorkId, WorkMessage};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const FIXTURE: &str = include_str!("../../../fixtures/sqs-event.json");

struct Harness {
    ledger: Arc<InMemoryLedger>,
    dead_letters: Arc<InMemoryDeadLetters>,
    retries: Arc<RecordingRetries>,
    callbacks: Arc<RecordingCallbacks>,
    processor: MessageProcessor,
}

impl Harness {
    fn new() -> Self {
        Self::with_registry(courier_jobs::examples::offline())
    }

    fn with_registry(registry: courier_jobs::Registry) -> Self {
        let ledger = Arc::new(InMemoryLedger::default());
        let dead_letters = Arc::new(InMemoryDeadLetters::default());
        let retries = Arc::new(RecordingRetries::default());
        let callbacks = Arc::new(RecordingCallbacks::default());
        let processor = MessageProcessor::new(
            Arc::new(registry),
            ledger.clone(),
            dead_letters.clone(),
            retries.clone(),
            callbacks.clone(),
            Limits {
                retry: RetryPolicy {
                    max_attempts: 5,
                    base_delay: Duration::from_secs(2),
                    max_delay: Duration::from_secs(60),
                },
                max_receive_count: 5,
                claim_lifetime: Duration::from_secs(86_400),
            },
            Arc::new(crate::application::clock::SystemClock),
        );
        Self {
            ledger,
            dead_letters,
            retries,
            callbacks,
            processor,
        }
    }

    /// Delivers `body` as the fixture's single record on its `receive`th receive; returns the
    /// ids reported as batch item failures.
    async fn deliver(&self, body: &str, receive: u32) -> Vec<String> {
        self.deliver_traced(body, receive, None).await
    }

    /// Delivers `body` as a letter from the work queue's dead-letter inbox; returns the ids
    /// reported as batch item failures.
    async fn deliver_abandoned(&self, body: &str) -> Vec<String> {
        let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
        event["Records"][0]["body"] = Value::String(body.to_owned());
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        self.processor
            .handle_abandoned_event(event, false)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    /// As `deliver`, with the producer's X-Ray header in the record's system attributes.
    async fn deliver_traced(&self, body: &str, receive: u32, trace: Option<&str>) -> Vec<String> {
        let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
        event["Records"][0]["body"] = Value::String(body.to_owned());
        event["Records"][0]["attributes"]["ApproximateReceiveCount"] =
            Value::String(receive.to_string());
        if let Some(trace) = trace {
            event["Records"][0]["attributes"]["AWSTraceHeader"] = Value::String(trace.to_owned());
        }
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        let response = self.processor.handle_event(event, None).await;
        // What Lambda sends back to SQS must be the documented shape.
        let wire = serde_json::to_value(&response).unwrap();
        assert!(wire["batchItemFailures"].is_array(), "{wire}");
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }
}

fn envelope(job_type: &str, payload: Value) -> WorkMessage {
    crate::fixtures::work_message(
        format!("msg-{job_type}"),
        Pattern::FireAndForget,
        job_type,
        payload,
    )
}

const FIXTURE_ID: &str = "059f36b4-87a3-44ab-83d2-661975830a7d";

#[tokio::test]
async fn success_is_recorded_once_and_a_redelivery_is_a_no_op() {
    let h = Harness::new();
    let env = envelope("echo", json!({"x": 1}));
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 1));
    assert_eq!(entry.result, Some(json!({"x": 1})));

    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    assert_eq!(
        h.ledger.entry(&WorkId::message("msg-echo")).unwrap(),
        entry,
        "redelivery changed nothing"
    );
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once_and_acknowledged() {
    let h = Harness::new();
    let env = envelope("fail", json!({"reason": "no"}));
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].failure.kind, FailureKind::Permanent);
    assert_eq!(letters[0].failure.reason, "no");
    assert_eq!(letters[0].correlation_id.as_deref(), Some("corr-fixture"));
    let entry = h.ledger.entry(&WorkId::message("msg-fail")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Failed, 1));
}

#[tokio::test]
async fn a_failed_dead_letter_write_leaves_the_message_for_retry() {
    let h = Harness::new();
    h.dead_letters.fail.set(true);
    let env = envelope("fail", json!({}));
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    assert_eq!(
        h.ledger.entry(&WorkId::message("msg-fail")).unwrap().status,
        JobStatus::Running
    );
}

#[tokio::test]
async fn transient_failures_back_off_then_succeed() {
    let h = Harness::new();
    let env = envelope("flaky", json!({"failures": 2}));
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    assert_eq!(h.deliver(&env.to_json(), 2).await, vec![FIXTURE_ID]);
    assert!(h.deliver(&env.to_json(), 3).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-flaky")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 3));
    let delays = h.retries.delays();
    assert_eq!(delays.len(), 2);
    assert!(
        delays[0] >= Duration::from_secs(1) && delays[0] <= Duration::from_secs(2),
        "{delays:?}"
    );
    assert!(
        delays[1] >= Duration::from_secs(2) && delays[1] <= Duration::from_secs(4),
        "{delays:?}"
    );
}

/// Fails with a `Retry-After` of `payload` seconds.
struct Busy;

#[async_trait::async_trait]
impl courier_jobs::JobType for Busy {
    const NAME: &'static str = "busy";
    type Input = u64;
    type Output = Value;

    async fn run(
        &self,
        seconds: u64,
        _: &courier_jobs::JobContext<'_>,
    ) -> Result<Value, courier_jobs::JobError> {
        Err(courier_jobs::JobError::retry_after(
            "busy",
            Duration::from_secs(seconds),
        ))
    }
}

/// A target's `Retry-After` is honoured, but never past the schedule's longest delay: a
/// hostile or confused service cannot park a message (or a connection's FIFO group) for hours.
#[tokio::test]
async fn a_retry_after_is_honoured_up_to_the_schedules_longest_delay() {
    let mut registry = courier_jobs::Registry::new();
    registry.register(Busy);
    let h = Harness::with_registry(registry);
    for (seconds, expected) in [(30, 30), (36_000, 60)] {
        let mut env = envelope("busy", json!(seconds));
        env.message_id = format!("msg-busy-{seconds}");
        assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
        let delay = *h.retries.delays().last().unwrap();
        assert_eq!(
            delay,
            Duration::from_secs(expected),
            "Retry-After {seconds}"
        );
    }
}

#[tokio::test]
async fn the_last_allowed_receive_records_failure_and_dead_letters_it_with_the_reason() {
    let h = Harness::new();
    let env = envelope("flaky", json!({"failures": 50}));
    for receive in 1..=4 {
        assert_eq!(h.deliver(&env.to_json(), receive).await, vec![FIXTURE_ID]);
    }
    assert!(
        h.deliver(&env.to_json(), 5).await.is_empty(),
        "the last receive is acknowledged: the processor dead-lettered it"
    );
    let entry = h.ledger.entry(&WorkId::message("msg-flaky")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Failed, 5));
    let failure = entry.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::RetriesExhausted);
    assert!(
        failure.reason.contains("planned failure 5 of 50"),
        "{}",
        failure.reason
    );
    assert_eq!(h.retries.delays().len(), 4, "backed off before each retry");
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].failure,
        failure_of(&h, &WorkId::message("msg-flaky"))
    );
}

fn failure_of(h: &Harness, work: &WorkId) -> crate::application::ports::Failure {
    h.ledger.entry(work).unwrap().failure.unwrap()
}

#[tokio::test]
async fn an_unparseable_body_is_dead_lettered_with_the_reason() {
    let h = Harness::new();
    assert!(h.deliver("{not json", 1).await.is_empty());
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].failure.kind, FailureKind::Unparseable);
    assert_eq!(letters[0].body, "{not json");
    assert_eq!(letters[0].correlation_id.as_deref(), Some("corr-fixture"));
}

#[tokio::test]
async fn a_ledger_outage_leaves_the_message_for_retry_without_running_it() {
    let h = Harness::new();
    h.ledger.fail.set(true);
    let env = envelope("echo", json!(1));
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    assert!(h.ledger.entry(&WorkId::message("msg-echo")).is_none());
}

#[tokio::test]
async fn an_oversized_result_fails_the_job_clearly() {
    let h = Harness::new();
    let big = "x".repeat(courier_jobs::api::MAX_RESULT_BYTES + 1);
    let env = envelope("echo", json!(big));
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
    assert_eq!(entry.status, JobStatus::Failed);
    assert!(entry.failure.unwrap().reason.contains("-byte limit"));
}

#[tokio::test]
async fn a_dead_letter_keeps_the_trace_its_work_was_accepted_under() {
    const TRACE: &str =
        "Root=1-6b053a39-467db03884e6bcef80e376d6;Parent=02611718fca8e0bf;Sampled=1";
    let h = Harness::new();
    let failing = envelope("fail", json!({"reason": "no"})).to_json();
    assert!(h.deliver_traced(&failing, 1, Some(TRACE)).await.is_empty());
    let unparseable = "not an envelope";
    assert!(
        h.deliver_traced(unparseable, 1, Some(TRACE))
            .await
            .is_empty()
    );
    let untraced = WorkMessage {
        message_id: "msg-untraced".into(),
        ..envelope("fail", json!({"reason": "no"}))
    };
    assert!(h.deliver(&untraced.to_json(), 1).await.is_empty());
    let traces: Vec<Option<String>> = h
        .dead_letters
        .letters()
        .iter()
        .map(|letter| letter.trace.as_ref().map(|t| t.as_str().to_owned()))
        .collect();
    assert_eq!(
        traces,
        vec![Some(TRACE.to_owned()), Some(TRACE.to_owned()), None]
    );
}

fn job_with_callback(job_type: &str, payload: Value) -> WorkMessage {
    WorkMessage {
        message_id: format!("job-{job_type}"),
        pattern: Pattern::ClaimCheck,
        has_callback: true,
        reply_to: None,
        redrive: 0,
        owner: None,
        trace_header: None,
        ..envelope(job_type, payload)
    }
}

#[tokio::test]
async fn a_finished_job_starts_its_callback_once_even_when_redelivered() {
    let h = Harness::new();
    let env = job_with_callback("echo", json!(1));
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    assert_eq!(h.callbacks.started(), vec!["job-echo"]);
}

#[tokio::test]
async fn the_write_that_ends_a_job_marks_its_callback_and_a_redelivery_marks_it_itself() {
    let h = Harness::new();
    let env = job_with_callback("echo", json!(1));
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    assert_eq!(h.callbacks.started(), vec!["job-echo"]);
    assert_eq!(
        h.callbacks.marks_written(),
        0,
        "the ending write marked it QUEUED: only its message was sent"
    );
    // A redelivery (the first one's message unsent, say) finds the job ended: its start
    // makes the conditional mark itself before sending again.
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    assert_eq!(h.callbacks.marks_written(), 1);
    let failed = job_with_callback("fail", json!({}));
    assert!(h.deliver(&failed.to_json(), 1).await.is_empty());
    assert_eq!(h.callbacks.started(), vec!["job-echo", "job-fail"]);
    assert_eq!(
        h.callbacks.marks_written(),
        1,
        "a failure's end marks it too"
    );
    // An operator redrives the failed job: the new round's end leaves the last round's
    // delivery where it stands, and the start restarts it with its own write.
    let redriven = WorkMessage {
        redrive: 1,
        ..failed
    };
    assert!(h.deliver(&redriven.to_json(), 1).await.is_empty());
    assert_eq!(
        h.ledger.entry(&WorkId::job("job-fail")).unwrap().attempts,
        2,
        "the redrive ran it again"
    );
    assert_eq!(
        h.callbacks.marks_written(),
        2,
        "a later round's end marks nothing"
    );
}

#[tokio::test]
async fn failed_jobs_start_their_callback_and_running_ones_do_not() {
    let h = Harness::new();
    assert!(
        h.deliver(&job_with_callback("fail", json!({})).to_json(), 1)
            .await
            .is_empty()
    );
    let flaky = job_with_callback("flaky", json!({"failures": 9}));
    assert_eq!(h.deliver(&flaky.to_json(), 1).await, vec![FIXTURE_ID]);
    assert_eq!(
        h.callbacks.started(),
        vec!["job-fail"],
        "a retrying job has no outcome yet"
    );
    for receive in 2..=5 {
        h.deliver(&flaky.to_json(), receive).await;
    }
    assert_eq!(h.callbacks.started(), vec!["job-fail", "job-flaky"]);
}

#[tokio::test]
async fn messages_without_callbacks_start_none() {
    let h = Harness::new();
    assert!(
        h.deliver(&envelope("echo", json!(1)).to_json(), 1)
            .await
            .is_empty()
    );
    assert!(h.callbacks.started().is_empty());
}

mod bidirectional {
    use super::*;
    use crate::adapters::memory::{InMemoryConnections, RecordingPoster};
    use crate::application::frames::FrameSender;
    use crate::application::ports::{Connection, ConnectionStore};
    use crate::domain::ReplyTo;
    use courier_protocol::frames::{FrameKind, error_code};

    const CONN: &str = "conn-1";

    async fn harness() -> (Harness, Arc<InMemoryConnections>, Arc<RecordingPoster>) {
        let mut h = Harness::new();
        let connections = Arc::new(InMemoryConnections::default());
        let poster = Arc::new(RecordingPoster::default());
        let now = time::OffsetDateTime::now_utc();
        connections
            .open(&Connection {
                id: CONN.into(),
                owner: None,
                connected_at: now,
                expires_at: now + Duration::from_secs(3600),
            })
            .await
            .unwrap();
        h.processor = MessageProcessor::new(
            Arc::new(courier_jobs::examples::offline()),
            h.ledger.clone(),
            h.dead_letters.clone(),
            h.retries.clone(),
            h.callbacks.clone(),
            Limits {
                retry: RetryPolicy {
                    max_attempts: 5,
                    base_delay: Duration::ZERO,
                    max_delay: Duration::ZERO,
                },
                max_receive_count: 5,
                claim_lifetime: Duration::from_secs(86_400),
            },
            Arc::new(crate::application::clock::SystemClock),
        )
        .with_frames(FrameSender::new(connections.clone(), poster.clone()));
        (h, connections, poster)
    }

    fn ws_envelope(job_type: &str, payload: Value) -> WorkMessage {
        WorkMessage {
            pattern: Pattern::Bidirectional,
            reply_to: Some(ReplyTo {
                connection_id: CONN.into(),
                request_id: "req-1".into(),
            }),
            redrive: 0,
            owner: None,
            trace_header: None,
            ..envelope(job_type, payload)
        }
    }

    #[tokio::test]
    async fn progress_then_result_frames_in_seq_order() {
        let (h, _, poster) = harness().await;
        let env = ws_envelope("sleep", json!({"ms": 10}));
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        let frames = poster.frames_to(CONN);
        let kinds: Vec<FrameKind> = frames.iter().map(|f| f.kind).collect();
        assert_eq!(kinds.last(), Some(&FrameKind::Result));
        assert!(
            kinds[..kinds.len() - 1]
                .iter()
                .all(|k| *k == FrameKind::Progress)
        );
        assert!(frames.len() >= 3, "progress reports, then the result");
        let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
        assert_eq!(seqs, (1..=frames.len() as u64).collect::<Vec<_>>());
        assert!(
            frames
                .iter()
                .all(|f| f.request_id.as_deref() == Some("req-1")
                    && f.job_id.as_deref() == Some("msg-sleep")
                    && f.correlation_id.as_deref() == Some("corr-fixture"))
        );
        assert_eq!(frames[0].data, json!({"percent": 10}));
    }

    #[tokio::test]
    async fn a_failed_job_ends_with_an_error_frame() {
        let (h, _, poster) = harness().await;
        let env = ws_envelope("fail", json!({"reason": "bad input"}));
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        let frames = poster.frames_to(CONN);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].error_code(), Some(error_code::JOB_FAILED));
        assert_eq!(frames[0].data["message"], "bad input");
    }

    #[tokio::test]
    async fn a_long_failure_reason_arrives_capped_within_the_frame_limit() {
        let (h, _, poster) = harness().await;
        let reason = "\u{0001}".repeat(40_000);
        let env = ws_envelope("fail", json!({"reason": reason}));
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        let frames = poster.frames_to(CONN);
        assert_eq!(frames.len(), 1, "posted, within the frame limit");
        assert_eq!(frames[0].error_code(), Some(error_code::JOB_FAILED));
        let shown = frames[0].data["message"].as_str().unwrap();
        assert!(shown.len() < reason.len(), "capped");
        assert!(shown.starts_with("\u{0001}"));
    }

    #[tokio::test]
    async fn frames_go_only_to_a_connection_of_the_jobs_owner() {
        let (h, connections, poster) = harness().await;
        let now = time::OffsetDateTime::now_utc();
        connections
            .open(&Connection {
                id: CONN.into(),
                owner: Some(crate::domain::Principal::new("https://issuer", "mallory")),
                connected_at: now,
                expires_at: now + Duration::from_secs(3600),
            })
            .await
            .unwrap();
        let env = WorkMessage {
            owner: Some(crate::domain::Principal::new("https://issuer", "alice")),
            ..ws_envelope("echo", json!({"x": 1}))
        };
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        assert!(poster.frames_to(CONN).is_empty(), "nothing for mallory");
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-echo")).unwrap().status,
            JobStatus::Succeeded
        );
    }

    #[tokio::test]
    async fn a_redelivery_of_a_finished_job_sends_its_final_frame_again() {
        let (h, _, poster) = harness().await;
        let env = ws_envelope("echo", json!({"x": 1}));
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        // As if the delivery stopped after recording the outcome, before its frame: the copy
        // SQS delivers again runs nothing and sends the frame.
        assert!(h.deliver(&env.to_json(), 2).await.is_empty());
        let frames = poster.frames_to(CONN);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(frames.iter().all(|f| f.kind == FrameKind::Result
            && f.data == json!({"x": 1})
            && f.job_id.as_deref() == Some("msg-echo")));
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-echo")).unwrap().attempts,
            1,
            "run once"
        );
    }

    #[tokio::test]
    async fn a_held_result_is_a_reference_in_its_frame_and_again_on_a_redelivery() {
        let (mut h, _, poster) = harness().await;
        let blobs = Arc::new(crate::adapters::memory::InMemoryBlobs::default());
        h.processor = h
            .processor
            .with_payloads(Arc::new(crate::application::payloads::Payloads {
                store: blobs.clone(),
            }));
        let big = json!("b".repeat(crate::domain::blob::MAX_INLINE_RESULT_BYTES));
        let env = ws_envelope("echo", big.clone());
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        // As if the first delivery stopped before its frame: the copy sends it again.
        assert!(h.deliver(&env.to_json(), 2).await.is_empty());
        let frames = poster.frames_to(CONN);
        assert_eq!(frames.len(), 2, "{frames:?}");
        let size = big.to_string().len();
        for frame in &frames {
            assert_eq!(frame.kind, FrameKind::Result);
            assert_eq!(frame.data, Value::Null, "the bytes travel through the URL");
            let reference = frame.result_ref.as_ref().expect("a reference to the claim");
            assert_eq!(reference.href, "/v1/jobs/msg-echo");
            assert_eq!(reference.bytes, size);
        }
        assert_eq!(blobs.keys().len(), 1, "held once");
    }

    #[tokio::test]
    async fn a_resubmit_on_another_connection_takes_the_jobs_frames_over() {
        let (h, connections, poster) = harness().await;
        let now = time::OffsetDateTime::now_utc();
        connections
            .open(&Connection {
                id: "conn-2".into(),
                owner: None,
                connected_at: now,
                expires_at: now + Duration::from_secs(3600),
            })
            .await
            .unwrap();
        let env = ws_envelope("sleep", json!({"ms": 10}));
        h.ledger.redirect(
            &WorkId::job("msg-sleep"),
            ReplyTo {
                connection_id: "conn-2".into(),
                request_id: "again".into(),
            },
        );
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        assert!(
            poster.frames_to(CONN).is_empty(),
            "the old connection is left"
        );
        let frames = poster.frames_to("conn-2");
        assert_eq!(frames.last().map(|f| f.kind), Some(FrameKind::Result));
        assert!(
            frames
                .iter()
                .all(|f| f.request_id.as_deref() == Some("again"))
        );
    }

    #[tokio::test]
    async fn a_final_frame_whose_post_failed_is_sent_again_by_the_redelivery() {
        let (h, _, poster) = harness().await;
        let env = ws_envelope("echo", json!({"x": 2}));
        poster.fail.set(true);
        assert_eq!(
            h.deliver(&env.to_json(), 1).await,
            vec![FIXTURE_ID],
            "not acknowledged: the frame is still owed"
        );
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-echo")).unwrap().status,
            JobStatus::Succeeded
        );
        poster.fail.set(false);
        assert!(h.deliver(&env.to_json(), 2).await.is_empty());
        let frames = poster.frames_to(CONN);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].kind, FrameKind::Result);
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-echo")).unwrap().attempts,
            1,
            "run once"
        );
    }

    #[tokio::test]
    async fn a_gone_client_does_not_stop_the_job() {
        let (h, connections, poster) = harness().await;
        poster.gone.lock().unwrap().push(CONN.into());
        let env = ws_envelope("sleep", json!({"ms": 10}));
        assert!(h.deliver(&env.to_json(), 1).await.is_empty());
        assert!(
            !connections.is_open(CONN),
            "the stale connection is forgotten"
        );
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-sleep")).unwrap().status,
            JobStatus::Succeeded
        );
    }

    /// The ordered queue's batches: a connection's jobs, up to ten an invocation, in order.
    mod ordered {
        use super::*;
        use tokio::time::Instant;

        /// A job of the connection's, under its own id.
        fn job(id: &str, job_type: &str, payload: Value) -> WorkMessage {
            WorkMessage {
                message_id: id.into(),
                ..ws_envelope(job_type, payload)
            }
        }

        /// One FIFO batch of the connection's group: `(SQS message id, job, receive)` each.
        fn batch(messages: &[(&str, &WorkMessage, u32)]) -> SqsEvent {
            let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
            let records: Vec<Value> = messages
                .iter()
                .map(|(id, work, receive)| {
                    let mut record = fixture["Records"][0].clone();
                    record["messageId"] = json!(id);
                    record["body"] = json!(work.to_json());
                    record["eventSourceARN"] =
                        json!("arn:aws:sqs:us-east-1:123456789012:courier-ordered-work.fifo");
                    record["attributes"]["ApproximateReceiveCount"] = json!(receive.to_string());
                    record["attributes"]["MessageGroupId"] = json!(CONN);
                    record
                })
                .collect();
            serde_json::from_value(json!({ "Records": records })).unwrap()
        }

        async fn run(
            h: &Harness,
            event: SqsEvent,
            deadline: crate::application::processor::Deadline,
        ) -> Vec<String> {
            let mut failed: Vec<String> = h
                .processor
                .handle_ordered_event(event, deadline)
                .await
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect();
            failed.sort();
            failed
        }

        /// Notes `times` held-back receives of SQS message `message` on `work`'s record.
        async fn held_back(h: &Harness, work: &WorkMessage, message: &str, times: u32) {
            use crate::application::ports::MessageLedger;
            for _ in 0..times {
                h.ledger.note_held(work, message).await.unwrap();
            }
        }

        fn held_of(h: &Harness, id: &str) -> Option<(String, u32)> {
            h.ledger
                .entry(&WorkId::job(id))
                .and_then(|entry| entry.held_receives)
                .map(|held| (held.message_id, held.count))
        }

        /// A batch SQS delivers again (its function died mid-run) counts no receive against a
        /// job behind others that succeeded, yet each of its jobs starts with its lease: a run
        /// that died there counts as an attempt. A first delivery's jobs run on a look.
        #[tokio::test]
        async fn a_batch_delivered_again_starts_every_job_with_its_lease() {
            use std::sync::atomic::Ordering;
            let (h, _, _) = harness().await;
            let (a, b) = (job("a", "echo", json!("a")), job("b", "echo", json!("b")));
            for work in [&a, &b] {
                h.ledger.accept(work);
            }
            let failed = run(&h, batch(&[("m-a", &a, 2), ("m-b", &b, 2)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            assert_eq!(h.ledger.looks.load(Ordering::SeqCst), 0, "no look: leased");
            for id in ["a", "b"] {
                let entry = h.ledger.entry(&WorkId::job(id)).unwrap();
                assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 1));
            }
            let (c, d) = (job("c", "echo", json!("c")), job("d", "echo", json!("d")));
            let failed = run(&h, batch(&[("m-c", &c, 1), ("m-d", &d, 1)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            assert_eq!(h.ledger.looks.load(Ordering::SeqCst), 2, "each on a look");
        }

        #[tokio::test]
        async fn a_failed_middle_job_holds_back_the_rest_of_its_group_and_notes_their_receives() {
            let (h, _, poster) = harness().await;
            let (a, b, c) = (
                job("a", "echo", json!("a")),
                job("b", "flaky", json!({"failures": 1})),
                job("c", "echo", json!("c")),
            );
            let failed = run(
                &h,
                batch(&[("m-a", &a, 1), ("m-b", &b, 1), ("m-c", &c, 1)]),
                None,
            )
            .await;
            assert_eq!(failed, vec!["m-b", "m-c"]);
            assert_eq!(
                h.ledger.entry(&WorkId::job("a")).unwrap().status,
                JobStatus::Succeeded
            );
            assert_eq!(h.ledger.entry(&WorkId::job("b")).unwrap().attempts, 1);
            assert_eq!(
                h.ledger
                    .entry(&WorkId::job("c"))
                    .map(|e| e.attempts)
                    .unwrap_or(0),
                0,
                "not run behind the failure"
            );
            assert_eq!(held_of(&h, "c"), Some(("m-c".into(), 1)));
            assert_eq!(held_of(&h, "b"), None, "its own failure is its own receive");
            // The next batch: b first again, then c; both run, in order.
            let failed = run(&h, batch(&[("m-b", &b, 2), ("m-c", &c, 2)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            let results: Vec<_> = poster
                .frames_to(CONN)
                .into_iter()
                .filter(|f| f.kind == FrameKind::Result)
                .map(|f| f.job_id.unwrap())
                .collect();
            assert_eq!(results, vec!["a", "b", "c"]);
            assert_eq!(h.ledger.entry(&WorkId::job("c")).unwrap().attempts, 1);
        }

        #[tokio::test]
        async fn receives_held_back_do_not_count_against_max_receive_count() {
            let (h, _, _) = harness().await;
            let c = job("c", "echo", json!("c"));
            // Held back six times behind failing jobs ahead of it: nine receives in all, three
            // its own, under the five allowed.
            held_back(&h, &c, "m-c", 6).await;
            let failed = run(&h, batch(&[("m-c", &c, 9)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            let entry = h.ledger.entry(&WorkId::job("c")).unwrap();
            assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 1));
            assert!(h.dead_letters.letters().is_empty());
        }

        #[tokio::test]
        async fn past_its_own_receives_a_job_ends_as_dead_lettered_as_redrive_would_end_it() {
            let (h, _, poster) = harness().await;
            let c = job("c", "echo", json!("c"));
            // Held receives of an earlier message of the job (a redrive sends a new one) are
            // not this message's.
            held_back(&h, &c, "m-earlier", 6).await;
            held_back(&h, &c, "m-c", 1).await;
            // Seven receives, one held: six its own, past the five allowed.
            let failed = run(&h, batch(&[("m-c", &c, 7)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            let entry = h.ledger.entry(&WorkId::job("c")).unwrap();
            assert_eq!(entry.status, JobStatus::Failed);
            assert_eq!(entry.failure.unwrap().kind, FailureKind::DeadLettered);
            assert_eq!(entry.attempts, 0, "not run");
            assert_eq!(h.dead_letters.letters().len(), 1);
            let last = poster.frames_to(CONN).pop().unwrap();
            assert_eq!(last.kind, FrameKind::Error);
        }

        /// An outage the first job of the connection waits out (every receive a dependency
        /// error) is one its followers wait out too, received with it each time and noted
        /// nowhere: once it is over, they run, since a job behind others that succeeded has
        /// had no failed receive of its own.
        #[tokio::test]
        async fn jobs_held_back_through_an_outage_their_first_job_waited_out_still_run() {
            let (h, _, _) = harness().await;
            let (a, c) = (job("a", "echo", json!("a")), job("c", "echo", json!("c")));
            h.ledger.accept(&a);
            h.ledger.accept(&c);
            h.ledger.fail.set(true);
            for receive in 1..=6 {
                let failed = run(
                    &h,
                    batch(&[("m-a", &a, receive), ("m-c", &c, receive)]),
                    None,
                )
                .await;
                assert_eq!(failed, vec!["m-a", "m-c"], "receive {receive}");
            }
            h.ledger.fail.set(false);
            let failed = run(&h, batch(&[("m-a", &a, 7), ("m-c", &c, 7)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            // The first job met the errors itself: past its own receives, as redrive would.
            assert_eq!(
                h.ledger.entry(&WorkId::job("a")).unwrap().status,
                JobStatus::Failed
            );
            let c = h.ledger.entry(&WorkId::job("c")).unwrap();
            assert_eq!((c.status, c.attempts), (JobStatus::Succeeded, 1));
            let letters: Vec<_> = h
                .dead_letters
                .letters()
                .into_iter()
                .filter_map(|l| l.message_id)
                .collect();
            assert_eq!(letters, vec!["a"]);
        }

        /// Through an outage (its held receives not noted), then a failure of its own once it
        /// gets to run behind others: it is first from then on, and its receives before the
        /// failure were not its own.
        #[tokio::test]
        async fn a_job_held_back_through_an_outage_that_then_fails_once_is_retried_not_dead_lettered()
         {
            let (h, _, _) = harness().await;
            let (z, m) = (
                job("z", "echo", json!("z")),
                job("m", "flaky", json!({"failures": 1})),
            );
            h.ledger.accept(&z);
            h.ledger.accept(&m);
            h.ledger.fail.set(true);
            for receive in 1..=6 {
                run(
                    &h,
                    batch(&[("m-z", &z, receive), ("m-m", &m, receive)]),
                    None,
                )
                .await;
            }
            h.ledger.fail.set(false);
            let failed = run(&h, batch(&[("m-z", &z, 7), ("m-m", &m, 7)]), None).await;
            assert_eq!(failed, vec!["m-m"], "m's own transient failure");
            assert_eq!(
                h.ledger.entry(&WorkId::job("z")).unwrap().status,
                JobStatus::Failed
            );
            let failed = run(&h, batch(&[("m-m", &m, 8)]), None).await;
            assert!(failed.is_empty(), "{failed:?}");
            let m = h.ledger.entry(&WorkId::job("m")).unwrap();
            assert_eq!((m.status, m.attempts), (JobStatus::Succeeded, 2));
        }

        /// Through an outage, then held for the next invocation's time behind a long job: its
        /// receives so far were all held.
        #[tokio::test(start_paused = true)]
        async fn a_job_held_back_through_an_outage_then_for_time_still_runs() {
            let (h, _, _) = harness().await;
            let (z, a, m) = (
                job("z", "echo", json!("z")),
                job("a", "sleep", json!({"ms": 2000})),
                job("m", "sleep", json!({"ms": 10})),
            );
            for work in [&z, &a, &m] {
                h.ledger.accept(work);
            }
            let all = |receive| {
                batch(&[
                    ("m-z", &z, receive),
                    ("m-a", &a, receive),
                    ("m-m", &m, receive),
                ])
            };
            h.ledger.fail.set(true);
            for receive in 1..=6 {
                run(&h, all(receive), None).await;
            }
            h.ledger.fail.set(false);
            // `sleep` may run 10 s; 14 s left: after a's 2 s, m waits for the next invocation.
            let deadline = Some(Instant::now() + Duration::from_secs(14));
            let failed = run(&h, all(7), deadline).await;
            assert_eq!(failed, vec!["m-m"], "held for time");
            assert_eq!(
                h.ledger.entry(&WorkId::job("a")).unwrap().status,
                JobStatus::Succeeded
            );
            let deadline = Some(Instant::now() + Duration::from_secs(14));
            let failed = run(&h, batch(&[("m-m", &m, 8)]), deadline).await;
            assert!(failed.is_empty(), "{failed:?}");
            let m = h.ledger.entry(&WorkId::job("m")).unwrap();
            assert_eq!((m.status, m.attempts), (JobStatus::Succeeded, 1));
        }

        /// The instance's held-payload turn taken by another job (maybe another connection's)
        /// is no fault of this one: its receive is noted as held.
        #[tokio::test]
        async fn a_receive_lost_to_another_jobs_held_payload_turn_is_noted_as_held() {
            let (h, _, _) = harness().await;
            let _other = h
                .processor
                .held_payloads
                .clone()
                .acquire_owned()
                .await
                .unwrap();
            let held = WorkMessage {
                payload_ref: Some(courier_protocol::queue::PayloadRef {
                    key: "payloads/tag/x".into(),
                    unchecked: false,
                }),
                ..job("p", "echo", Value::Null)
            };
            h.ledger.accept(&held);
            let deadline = Some(Instant::now() + Duration::from_secs(10));
            let failed = run(&h, batch(&[("m-p", &held, 1)]), deadline).await;
            assert_eq!(failed, vec!["m-p"], "handed back unstarted");
            assert_eq!(h.ledger.entry(&WorkId::job("p")).unwrap().attempts, 0);
            assert_eq!(held_of(&h, "p"), Some(("m-p".into(), 1)));
        }

        #[tokio::test(start_paused = true)]
        async fn a_job_behind_others_starts_only_with_its_types_whole_timeout_left() {
            let (h, _, _) = harness().await;
            // `sleep` may run 10 s; the invocation has 14 s (11 s to work in).
            let (a, b) = (
                job("a", "sleep", json!({"ms": 500})),
                job("b", "sleep", json!({"ms": 10})),
            );
            let deadline = Some(Instant::now() + Duration::from_secs(14));
            let failed = run(&h, batch(&[("m-a", &a, 1), ("m-b", &b, 1)]), deadline).await;
            assert!(failed.is_empty(), "10.5 s were left for b: {failed:?}");

            let (c, d) = (
                job("c", "sleep", json!({"ms": 2000})),
                job("d", "sleep", json!({"ms": 10})),
            );
            let deadline = Some(Instant::now() + Duration::from_secs(14));
            let failed = run(&h, batch(&[("m-c", &c, 1), ("m-d", &d, 1)]), deadline).await;
            assert_eq!(failed, vec!["m-d"], "9 s were left for d");
            assert_eq!(
                h.ledger.entry(&WorkId::job("c")).unwrap().status,
                JobStatus::Succeeded
            );
            assert_eq!(
                h.ledger
                    .entry(&WorkId::job("d"))
                    .map(|e| e.attempts)
                    .unwrap_or(0),
                0
            );
            assert_eq!(
                held_of(&h, "d"),
                Some(("m-d".into(), 1)),
                "held, not its own"
            );
            assert_eq!(
                h.retries.delays().last(),
                Some(&Duration::ZERO),
                "visible again at once"
            );
        }
    }
}

#[tokio::test]
async fn a_redriven_message_runs_failed_work_once_more_and_only_once_per_redrive() {
    let h = Harness::new();
    let mut env = envelope("flaky", json!({"failures": 5}));
    // Five attempts, five transient failures: FAILED, then final.
    for receive in 1..=5 {
        h.deliver(&env.to_json(), receive).await;
    }
    assert_eq!(
        h.ledger
            .entry(&WorkId::message("msg-flaky"))
            .unwrap()
            .status,
        JobStatus::Failed
    );
    assert!(h.deliver(&env.to_json(), 6).await.is_empty());
    assert_eq!(
        h.ledger
            .entry(&WorkId::message("msg-flaky"))
            .unwrap()
            .attempts,
        5
    );
    // An operator redrives it: a new round of the budget; the sixth attempt succeeds.
    env.redrive = 1;
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-flaky")).unwrap();
    assert_eq!(entry.status, JobStatus::Succeeded);
    assert_eq!(entry.result, Some(json!({"attempts": 6})));
    // A duplicate of the redriven message changes nothing.
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    assert_eq!(
        h.ledger.entry(&WorkId::message("msg-flaky")).unwrap(),
        entry
    );
}

#[tokio::test]
async fn receives_that_run_nothing_spend_none_of_the_budget() {
    let h = Harness::new();
    let env = envelope("flaky", json!({"failures": 1}));
    // Received many times before (held behind another job, handed back before starting):
    // this is still its first attempt, and a transient failure is retried.
    assert_eq!(h.deliver(&env.to_json(), 9).await, vec![FIXTURE_ID]);
    let entry = h.ledger.entry(&WorkId::message("msg-flaky")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Running, 1));
    assert!(h.deliver(&env.to_json(), 10).await.is_empty());
    assert_eq!(
        h.ledger
            .entry(&WorkId::message("msg-flaky"))
            .unwrap()
            .status,
        JobStatus::Succeeded
    );
}

#[tokio::test]
async fn attempts_that_started_and_never_finished_use_up_the_budget() {
    use crate::application::ports::MessageLedger;
    let h = Harness::new();
    let env = envelope("echo", json!({}));
    // Five starts whose function died each time (the lease lapsed at once).
    for _ in 0..5 {
        h.ledger.start_attempt(&env, Duration::ZERO).await.unwrap();
    }
    assert!(h.deliver(&env.to_json(), 6).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
    assert_eq!(entry.status, JobStatus::Failed);
    assert_eq!(entry.result, None, "not run once more");
    let failure = entry.failure.unwrap();
    assert_eq!(failure.kind, FailureKind::RetriesExhausted);
    assert!(
        failure.reason.contains("5 attempts started"),
        "{}",
        failure.reason
    );
    assert_eq!(h.dead_letters.letters().len(), 1);
}

#[tokio::test]
async fn a_copy_delivered_while_the_job_runs_elsewhere_waits_out_the_lease_without_running() {
    use crate::application::ports::{AttemptStart, MessageLedger};
    let h = Harness::new();
    let env = envelope("echo", json!({"x": 1}));
    // Another invocation took the job's lease and is running it.
    let held = h
        .ledger
        .start_attempt(&env, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        held,
        AttemptStart::Run {
            attempt: 1,
            round: 1
        }
    );
    assert_eq!(
        h.deliver(&env.to_json(), 1).await,
        vec![FIXTURE_ID],
        "handed back, not acknowledged: the lease may be this message's own dead run"
    );
    let delays = h.retries.delays();
    assert!(
        delays.len() == 1 && delays[0] > Duration::from_secs(55),
        "until the lease lapses: {delays:?}"
    );
    let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
    assert_eq!(
        (entry.status, entry.attempts),
        (JobStatus::Running, 1),
        "not run again"
    );
    assert_eq!(entry.result, None);
}

#[tokio::test]
async fn a_run_whose_outcome_could_not_be_written_is_finished_by_the_next_delivery() {
    let h = Harness::new();
    let env = envelope("echo", json!({"x": 1}));
    // The job ran unleased; its one write (start and success together) failed, so nothing
    // of that run is recorded; the message comes back and runs as the first attempt.
    h.ledger.fail_success.set(true);
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    h.ledger.fail_success.set(false);
    let entry = h.ledger.entry(&WorkId::message("msg-echo"));
    assert!(
        entry.as_ref().is_none_or(|e| e.attempts == 0),
        "a failed one-write leaves nothing: {entry:?}"
    );
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 1));
}

#[tokio::test]
async fn a_leased_run_whose_outcome_could_not_be_written_is_finished_by_the_next_delivery() {
    let h = Harness::new();
    // `sleep` reports progress, so its attempt takes its lease before it ends.
    let env = envelope("sleep", json!({"ms": 10}));
    h.ledger.fail_success.set(true);
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    h.ledger.fail_success.set(false);
    // While the dead run's lease holds, the copy waits; once it lapses, the job runs again.
    h.ledger.lapse_leases();
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-sleep")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 2));
}

#[test]
fn only_a_first_receive_of_droppable_work_runs_unleased() {
    use super::unleased::may_run_unleased;
    let registry = courier_jobs::examples::offline();
    let echo = registry.get("echo");
    let echo = echo.as_deref();
    // `fail` declares no effects: it may have some outside courier.
    let effectful = registry.get("fail");
    let effectful = effectful.as_deref();
    assert_eq!(
        effectful.map(|j| j.settings().effects),
        Some(courier_jobs::Effects::Outside)
    );
    let message = envelope("echo", json!({}));
    assert!(may_run_unleased(&message, 1, echo));
    assert!(
        may_run_unleased(&message, 1, effectful),
        "a fire-and-forget message is delivered at least once anyway"
    );
    assert!(
        !may_run_unleased(&message, 2, echo),
        "a redelivery takes its lease: a run that died counts"
    );
    for claimed in [Pattern::ClaimCheck, Pattern::Bidirectional] {
        let job = WorkMessage {
            pattern: claimed,
            ..message.clone()
        };
        assert!(
            may_run_unleased(&job, 1, echo),
            "a result-only type's run may be dropped"
        );
        assert!(
            !may_run_unleased(&job, 1, effectful),
            "a claim can be cancelled: an effectful type's attempt starts leased"
        );
        assert!(!may_run_unleased(&job, 2, echo));
    }
    let redriven = WorkMessage {
        redrive: 1,
        ..message.clone()
    };
    assert!(!may_run_unleased(&redriven, 1, echo));
    assert!(!may_run_unleased(&message, 1, None), "an unknown type");
}

/// A message's first progress report and its lease's timer both fall due after
/// `LEASE_AFTER`: whichever takes the lease, the other waits for that write while the attempt
/// keeps running — the delivery ends (it once stopped polling the attempt mid-write, for good).
#[tokio::test(start_paused = true)]
async fn a_progress_report_and_the_lease_timer_at_once_take_the_lease_once() {
    let h = Harness::new();
    *h.ledger.lease_write_takes.lock().unwrap() = Duration::from_millis(50);
    // Ten steps of 995 ms: its first report is taking the lease (a 50 ms write) when the
    // lease's timer fires.
    let env = envelope("sleep", json!({"ms": 9_950}));
    let delivered = tokio::time::timeout(Duration::from_secs(60), h.deliver(&env.to_json(), 1))
        .await
        .expect("the delivery ends");
    assert!(delivered.is_empty(), "{delivered:?}");
    let entry = h.ledger.entry(&WorkId::message("msg-sleep")).unwrap();
    assert_eq!(
        (entry.status, entry.attempts),
        (JobStatus::Succeeded, 1),
        "one lease, one attempt"
    );
}

/// A lease the timer finds taken meanwhile by another delivery: this run stops, its outcome
/// never recorded, and its message comes back to find the job where the other left it.
#[tokio::test(start_paused = true)]
async fn an_unleased_run_whose_lease_another_took_stops_and_records_nothing() {
    use crate::application::ports::MessageLedger;
    let h = Harness::new();
    let env = envelope("sleep", json!({"ms": 10_000}));
    let ledger = h.ledger.clone();
    let other = env.clone();
    // Another delivery starts the job half a second into this one's unleased run.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ledger
            .start_attempt(&other, Duration::from_secs(600))
            .await
            .unwrap();
    });
    let delivered = h.deliver(&env.to_json(), 1).await;
    assert_eq!(delivered, vec![FIXTURE_ID], "handed back, not acknowledged");
    let entry = h.ledger.entry(&WorkId::message("msg-sleep")).unwrap();
    assert_eq!(
        (entry.status, entry.attempts),
        (JobStatus::Running, 1),
        "the other delivery's attempt only"
    );
    assert!(entry.progress.is_empty(), "{:?}", entry.progress);
}

#[tokio::test]
async fn a_lapsed_lease_lets_a_redelivery_take_over() {
    use crate::application::ports::MessageLedger;
    let h = Harness::new();
    let env = envelope("echo", json!({"x": 1}));
    // A run that died: its lease is over.
    h.ledger.start_attempt(&env, Duration::ZERO).await.unwrap();
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 2));
}

mod abandoned {
    use super::*;
    use crate::application::ports::MessageLedger;

    fn claim_envelope(job_type: &str) -> WorkMessage {
        WorkMessage {
            pattern: Pattern::ClaimCheck,
            has_callback: true,
            ..envelope(job_type, json!({"ms": 10}))
        }
    }

    #[tokio::test]
    async fn a_message_that_never_started_fails_as_dead_lettered_and_its_letter_goes_on() {
        let h = Harness::new();
        let env = envelope("echo", json!({}));
        assert!(h.deliver_abandoned(&env.to_json()).await.is_empty());
        let entry = h.ledger.entry(&WorkId::message("msg-echo")).unwrap();
        assert_eq!((entry.status, entry.attempts), (JobStatus::Failed, 0));
        let failure = entry.failure.unwrap();
        assert_eq!(failure.kind, FailureKind::DeadLettered);
        assert!(
            failure.reason.contains("after 5 receives"),
            "{}",
            failure.reason
        );
        let letters = h.dead_letters.letters();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].failure, failure);
        assert_eq!(letters[0].body, env.to_json());
    }

    #[tokio::test]
    async fn a_job_left_running_fails_and_its_callback_starts() {
        let h = Harness::new();
        let env = claim_envelope("sleep");
        // An attempt that started and whose lease has lapsed (its function died).
        h.ledger.start_attempt(&env, Duration::ZERO).await.unwrap();
        assert!(h.deliver_abandoned(&env.to_json()).await.is_empty());
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-sleep")).unwrap().status,
            JobStatus::Failed
        );
        assert_eq!(h.callbacks.started(), vec!["msg-sleep"]);
        assert_eq!(h.dead_letters.letters().len(), 1);
    }

    #[tokio::test]
    async fn a_job_under_a_live_lease_is_left_to_its_run_and_looked_at_after_the_lease() {
        let h = Harness::new();
        let env = claim_envelope("sleep");
        h.ledger
            .start_attempt(&env, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(h.deliver_abandoned(&env.to_json()).await, vec![FIXTURE_ID]);
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-sleep")).unwrap().status,
            JobStatus::Running
        );
        let delays = h.retries.delays();
        assert_eq!(delays.len(), 1);
        assert!(
            delays[0] > Duration::from_secs(25) && delays[0] <= Duration::from_secs(30),
            "{delays:?}"
        );
        assert!(h.dead_letters.letters().is_empty());
        assert!(h.callbacks.started().is_empty());
    }

    #[tokio::test]
    async fn a_job_that_ended_is_not_dead_lettered_again() {
        let h = Harness::new();
        let done = envelope("echo", json!({}));
        assert!(h.deliver(&done.to_json(), 1).await.is_empty());
        let failed = envelope("fail", json!({"reason": "no"}));
        assert!(h.deliver(&failed.to_json(), 1).await.is_empty());
        assert_eq!(
            h.dead_letters.letters().len(),
            1,
            "the processor's own letter"
        );
        for env in [&done, &failed] {
            assert!(h.deliver_abandoned(&env.to_json()).await.is_empty());
        }
        assert_eq!(
            h.ledger.entry(&WorkId::message("msg-echo")).unwrap().status,
            JobStatus::Succeeded
        );
        assert_eq!(h.dead_letters.letters().len(), 1, "no second letter");
    }

    #[tokio::test]
    async fn an_interrupted_forward_is_finished_by_the_letter_coming_back() {
        let h = Harness::new();
        let env = claim_envelope("sleep");
        h.ledger.start_attempt(&env, Duration::ZERO).await.unwrap();
        h.dead_letters.fail.set(true);
        assert_eq!(h.deliver_abandoned(&env.to_json()).await, vec![FIXTURE_ID]);
        assert_eq!(
            h.ledger.entry(&WorkId::job("msg-sleep")).unwrap().status,
            JobStatus::Failed
        );
        assert!(h.callbacks.started().is_empty());
        h.dead_letters.fail.set(false);
        assert!(h.deliver_abandoned(&env.to_json()).await.is_empty());
        assert_eq!(h.dead_letters.letters().len(), 1);
        assert_eq!(h.callbacks.started(), vec!["msg-sleep"]);
    }

    #[tokio::test]
    async fn a_ledger_outage_keeps_the_letter_in_the_inbox() {
        let h = Harness::new();
        h.ledger.fail.set(true);
        let env = envelope("echo", json!({}));
        assert_eq!(h.deliver_abandoned(&env.to_json()).await, vec![FIXTURE_ID]);
        assert!(h.dead_letters.letters().is_empty());
        assert_eq!(h.retries.delays().len(), 1, "backed off");
    }

    #[tokio::test]
    async fn an_unparseable_letter_goes_on_with_the_reason() {
        let h = Harness::new();
        assert!(h.deliver_abandoned("{not json").await.is_empty());
        let letters = h.dead_letters.letters();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].failure.kind, FailureKind::Unparseable);
    }
}

#[tokio::test]
async fn a_job_whose_claim_expired_is_failed_expired_unrun_and_its_callback_started() {
    let h = Harness::new();
    let mut env = envelope("echo", json!("late"));
    env.pattern = Pattern::ClaimCheck;
    env.message_id = "job-expired".into();
    env.has_callback = true;
    h.ledger.expire_claim(&WorkId::job("job-expired"));
    assert!(
        h.deliver(&env.to_json(), 1).await.is_empty(),
        "acknowledged"
    );
    let entry = h.ledger.entry(&WorkId::job("job-expired")).unwrap();
    assert_eq!(
        (entry.status, entry.attempts),
        (JobStatus::Failed, 0),
        "never run"
    );
    assert_eq!(entry.failure.unwrap().kind, FailureKind::Expired);
    assert_eq!(entry.result, None);
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].failure.kind, FailureKind::Expired);
    assert_eq!(h.callbacks.started(), vec!["job-expired"]);
    // A redelivery finds it finished: nothing more.
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    assert_eq!(h.dead_letters.letters().len(), 1);
}

/// Workers that finish later: looks at an attempt, over the in-memory task ledger.
mod later {
    use super::*;
    use crate::adapters::memory::{InMemoryQueue, InMemoryTasks, RecordingTaskChecks};
    use crate::application::ports::{TaskBegin, TaskLedger};
    use crate::application::processor::Tasks;
    use crate::domain::{JobId, TaskToken};
    use courier_protocol::queue::TaskCheck;

    struct Later {
        h: Harness,
        tasks: Arc<InMemoryTasks>,
        checks: Arc<RecordingTaskChecks>,
        requeued: Arc<InMemoryQueue>,
        job: JobId,
    }

    fn later() -> Later {
        let tasks = Arc::new(InMemoryTasks::default());
        let checks = Arc::new(RecordingTaskChecks::default());
        let requeued = Arc::new(InMemoryQueue::default());
        let mut h = Harness::new();
        h.processor = h.processor.with_tasks(Tasks {
            ledger: tasks.clone(),
            checks: checks.clone(),
            requeue: requeued.clone(),
            report_url: "https://api.example/v1/tasks/report".into(),
        });
        Later {
            h,
            tasks,
            checks,
            requeued,
            job: JobId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap(),
        }
    }

    async fn begin(l: &Later, heartbeat: Duration) {
        let (_, issued) = TaskToken::issue(&l.job, 1, [1; 32]);
        let mut work = envelope("echo", json!(1));
        work.message_id = l.job.to_string();
        work.pattern = Pattern::ClaimCheck;
        let begin = TaskBegin {
            attempt: 1,
            round: 1,
            digest: issued.digest,
            attempt_by: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            heartbeat: Some(heartbeat),
            envelope: work.to_json(),
        };
        l.tasks.begin(&l.job, &begin).await.unwrap();
    }

    fn check(l: &Later, due: Option<i64>) -> String {
        TaskCheck {
            job_id: l.job.to_string(),
            attempt: 1,
            correlation_id: "corr".into(),
            due,
        }
        .to_json()
    }

    /// A look whose timer move was written but not sent is redelivered and sends it: the
    /// attempt is never left without a timer.
    #[tokio::test]
    async fn a_timer_move_whose_send_failed_is_completed_by_the_redelivery() {
        let l = later();
        begin(&l, Duration::from_secs(600)).await;
        // The attempt's timer, as its acknowledgement set it: due at 1 (long past).
        assert!(l.tasks.rearm(&l.job, 1, None, 1).await.unwrap());
        l.checks.fail.set(true);
        assert_eq!(l.h.deliver(&check(&l, Some(1)), 1).await, vec![FIXTURE_ID]);
        assert!(l.checks.sent.lock().unwrap().is_empty());
        l.checks.fail.set(false);
        assert!(l.h.deliver(&check(&l, Some(1)), 2).await.is_empty());
        let sent = l.checks.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "the next look is on its way: {sent:?}");
        assert!(sent[0].0.due.is_some_and(|due| due > 1));
    }

    /// A missed heartbeat runs the job again (its work message, at least a second later) and
    /// retires the attempt; a second look at that attempt does nothing.
    #[tokio::test]
    async fn a_missed_heartbeat_sends_the_job_again_and_retires_the_attempt_once() {
        let l = later();
        begin(&l, Duration::ZERO).await;
        assert!(l.h.deliver(&check(&l, None), 1).await.is_empty());
        assert_eq!(l.requeued.sent().len(), 1);
        let delays = l.requeued.delays.lock().unwrap().clone();
        assert!(delays[0] >= 1, "at least a second later: {delays:?}");
        assert_eq!(l.tasks.state(&l.job), None, "retired");
        assert!(l.h.deliver(&check(&l, None), 1).await.is_empty());
        assert_eq!(l.requeued.sent().len(), 1, "sent again once");
    }
}

/// A processor whose ledger gives ended jobs' slots back to an in-memory count, and two jobs of
/// alice's holding a slot each.
async fn holding_slots() -> (
    Harness,
    Arc<crate::adapters::memory::InMemoryQuotas>,
    crate::domain::Principal,
    [crate::domain::JobId; 2],
) {
    use crate::application::ports::QuotaStore;
    let quotas = Arc::new(crate::adapters::memory::InMemoryQuotas::default());
    let h = Harness::new();
    h.ledger.give_back_slots_to(quotas.clone());
    let owner = crate::domain::Principal::new("https://issuer", "alice");
    let jobs = [
        crate::domain::JobId::generate(),
        crate::domain::JobId::generate(),
    ];
    for id in &jobs {
        assert!(
            quotas
                .take_job_slot(&owner, id, 0, 10)
                .await
                .unwrap()
                .is_some()
        );
    }
    (h, quotas, owner, jobs)
}

/// The claim-check job `id`'s work message.
fn job(id: &crate::domain::JobId, job_type: &str, payload: Value) -> WorkMessage {
    WorkMessage {
        message_id: id.to_string(),
        pattern: Pattern::ClaimCheck,
        ..envelope(job_type, payload)
    }
}

#[tokio::test]
async fn an_ended_job_gives_its_callers_slot_back_once_and_a_running_one_keeps_it() {
    let (h, quotas, owner, [done, failing]) = holding_slots().await;
    let succeeding = job(&done, "echo", json!(1));
    assert!(h.deliver(&succeeding.to_json(), 1).await.is_empty());
    assert_eq!(
        quotas.slots_held(&owner),
        1,
        "the finished job's slot is back"
    );
    // A redelivery of the finished job gives back nothing more.
    assert!(h.deliver(&succeeding.to_json(), 2).await.is_empty());
    assert_eq!(quotas.slots_held(&owner), 1);
    // A job that will be retried still holds its slot; failed for good, it gives it back.
    let flaky = job(&failing, "flaky", json!({"failures": 1}));
    assert!(!h.deliver(&flaky.to_json(), 1).await.is_empty());
    assert_eq!(quotas.slots_held(&owner), 1);
    assert!(h.deliver(&flaky.to_json(), 2).await.is_empty());
    assert_eq!(quotas.slots_held(&owner), 0);
}

#[tokio::test]
async fn a_cancelled_jobs_lost_give_back_is_made_when_its_message_finds_it_ended_and_a_dead_letter_gives_back_once()
 {
    let (h, quotas, owner, [cancelled, abandoned]) = holding_slots().await;
    let job = |id: &crate::domain::JobId| job(id, "echo", json!(1));
    // Cancelled by its owner, whose give-back was lost: the message finds it ended.
    h.ledger.cancel(&WorkId::Job(cancelled.to_string()));
    assert!(h.deliver(&job(&cancelled).to_json(), 1).await.is_empty());
    assert_eq!(
        quotas.slots_held(&owner),
        1,
        "the cancelled job's slot is back"
    );
    // SQS redrive gave up on the other (its attempts died unrecorded): its letter ends it.
    let letter = job(&abandoned);
    crate::application::ports::MessageLedger::start_attempt(
        &*h.ledger,
        &letter,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    h.ledger.lapse_leases();
    assert!(h.deliver_abandoned(&letter.to_json()).await.is_empty());
    assert_eq!(
        quotas.slots_held(&owner),
        0,
        "the dead-lettered job's slot is back"
    );
}

/// Sleeps `payload` milliseconds without reporting progress; its result is its only effect.
struct Pause;

#[async_trait::async_trait]
impl courier_jobs::JobType for Pause {
    const NAME: &'static str = "pause";
    type Input = u64;
    type Output = u64;

    fn settings(&self) -> courier_jobs::JobSettings {
        courier_jobs::JobSettings::default().effects(courier_jobs::Effects::ResultOnly)
    }

    async fn run(
        &self,
        ms: u64,
        _: &courier_jobs::JobContext<'_>,
    ) -> Result<u64, courier_jobs::JobError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }
}

/// A job of a type whose result is its only effect, on its first receive: its start and its
/// success are one write, which also gives its caller's slot back and marks its callback
/// QUEUED. No lease is ever taken (every lease write here fails).
#[tokio::test]
async fn a_result_only_jobs_short_run_is_started_and_ended_by_one_write() {
    let (h, quotas, owner, [short, _]) = holding_slots().await;
    let env = WorkMessage {
        has_callback: true,
        ..job(&short, "echo", json!({"x": 1}))
    };
    h.ledger.accept(&env);
    h.ledger.fail_lease.set(true);
    assert!(h.deliver(&env.to_json(), 1).await.is_empty());
    let entry = h.ledger.entry(&WorkId::Job(short.to_string())).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 1));
    assert_eq!(entry.result, Some(json!({"x": 1})));
    assert_eq!(quotas.slots_held(&owner), 1, "its slot is back");
    assert_eq!(h.callbacks.started(), vec![short.to_string()]);
    assert_eq!(
        h.callbacks.marks_written(),
        0,
        "the one write marked the callback QUEUED"
    );
}

/// A type that declares no effects may have some outside courier: its job starts with its
/// lease (here refused), so nothing runs before a cancel could be refused.
#[tokio::test]
async fn a_job_of_a_type_with_effects_outside_starts_with_its_lease() {
    let (h, quotas, owner, [effectful, _]) = holding_slots().await;
    let env = job(&effectful, "flaky", json!({"failures": 0}));
    h.ledger.accept(&env);
    h.ledger.fail_lease.set(true);
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    let entry = h.ledger.entry(&WorkId::Job(effectful.to_string())).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Pending, 0));
    assert_eq!(quotas.slots_held(&owner), 2, "still held: it has not run");
}

/// A fresh message of a job whose earlier run died (a copy sent again under the same id):
/// it starts with its lease, so that run counts against the job's attempts, and never runs on
/// a look.
#[tokio::test]
async fn a_job_an_earlier_run_started_starts_with_its_lease_even_on_a_first_receive() {
    use crate::application::ports::MessageLedger;
    let (h, _, _, [started, _]) = holding_slots().await;
    let env = job(&started, "echo", json!(1));
    h.ledger.accept(&env);
    // A run that took its lease and died: the lease is over.
    h.ledger.start_attempt(&env, Duration::ZERO).await.unwrap();
    h.ledger.fail_lease.set(true);
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    let entry = h.ledger.entry(&WorkId::Job(started.to_string())).unwrap();
    assert_eq!(
        (entry.status, entry.attempts),
        (JobStatus::Running, 1),
        "not run unleased"
    );
    h.ledger.fail_lease.set(false);
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    let entry = h.ledger.entry(&WorkId::Job(started.to_string())).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 2));
}

/// A cancel that lands while a result-only job runs unleased wins: the job stays CANCELLED,
/// no attempt is counted and the run's result is dropped (the run changed nothing else).
#[tokio::test(start_paused = true)]
async fn a_cancel_during_an_unleased_run_wins_and_the_result_is_dropped() {
    let mut registry = courier_jobs::Registry::new();
    registry.register(Pause);
    let h = Harness::with_registry(registry);
    let id = crate::domain::JobId::generate();
    let env = job(&id, "pause", json!(300));
    h.ledger.accept(&env);
    let ledger = h.ledger.clone();
    let work = WorkId::Job(id.to_string());
    let cancelled = work.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ledger.cancel(&cancelled);
    });
    assert!(
        h.deliver(&env.to_json(), 1).await.is_empty(),
        "acknowledged: the job has ended"
    );
    let entry = h.ledger.entry(&work).unwrap();
    assert_eq!(
        (entry.status, entry.attempts, entry.result),
        (JobStatus::Cancelled, 0, None)
    );
}

/// A result held in the bucket is stored under the job's key: an unleased run takes its lease
/// before storing it, so a run whose outcome is dropped never overwrites the recorded one's.
#[tokio::test]
async fn an_unleased_run_takes_its_lease_before_holding_its_result_in_the_bucket() {
    let mut h = Harness::new();
    let blobs = Arc::new(crate::adapters::memory::InMemoryBlobs::default());
    h.processor = h
        .processor
        .with_payloads(Arc::new(crate::application::payloads::Payloads {
            store: blobs.clone(),
        }));
    let id = crate::domain::JobId::generate();
    let big = json!("b".repeat(crate::domain::blob::MAX_INLINE_RESULT_BYTES));
    let env = job(&id, "echo", big);
    h.ledger.accept(&env);
    h.ledger.fail_lease.set(true);
    assert_eq!(h.deliver(&env.to_json(), 1).await, vec![FIXTURE_ID]);
    assert!(blobs.keys().is_empty(), "nothing stored without the lease");
    h.ledger.fail_lease.set(false);
    assert!(h.deliver(&env.to_json(), 2).await.is_empty());
    assert_eq!(blobs.keys().len(), 1);
    let entry = h.ledger.entry(&WorkId::Job(id.to_string())).unwrap();
    assert_eq!((entry.status, entry.attempts), (JobStatus::Succeeded, 1));
}

/// A schedule's firings, made jobs only while the schedule is kept, active and its owner's.
mod schedule_runs {
    use super::*;
    use crate::adapters::memory::{
        FixedClock, InMemoryClaims, InMemoryIdempotencyStore, InMemoryQueue, InMemorySchedules,
        InMemoryWebhookEndpoints, RecordingScheduler,
    };
    use crate::application::ports::ScheduleStore;
    use crate::domain::schedule::{Expression, Schedule, ScheduleId};

    struct Runs {
        h: Harness,
        queue: Arc<InMemoryQueue>,
        claims: Arc<InMemoryClaims>,
        schedules: Arc<InMemorySchedules>,
        scheduler: Arc<RecordingScheduler>,
    }

    fn alice() -> crate::domain::Principal {
        crate::domain::Principal::new("https://issuer.example", "alice")
    }

    fn runs() -> Runs {
        let mut h = Harness::new();
        let clock = Arc::new(FixedClock::at(
            time::macros::datetime!(2026-12-03 12:00 UTC),
        ));
        let (queue, claims) = (
            Arc::new(InMemoryQueue::default()),
            Arc::new(InMemoryClaims::default()),
        );
        let schedules = Arc::new(InMemorySchedules::default());
        let scheduler = Arc::new(RecordingScheduler::default());
        let intake = crate::application::intake::Intake {
            registry: Arc::new(courier_jobs::examples::offline()),
            queue: queue.clone(),
            claims: claims.clone(),
            idempotency: Arc::new(InMemoryIdempotencyStore::default()),
            endpoints: Arc::new(InMemoryWebhookEndpoints::default()),
            clock: clock.clone(),
            claim_lifetime: Duration::from_secs(3600),
            quotas: crate::adapters::memory::roomy_quotas(
                Arc::new(crate::adapters::memory::InMemoryQuotas::default()),
                clock,
            ),
            payloads: None,
        };
        h.processor = h.processor.with_schedule_runs(super::super::ScheduleRuns {
            intake: Arc::new(intake),
            schedules: schedules.clone(),
            scheduler: scheduler.clone(),
        });
        Runs {
            h,
            queue,
            claims,
            schedules,
            scheduler,
        }
    }

    fn schedule(paused: bool) -> Schedule {
        Schedule {
            id: ScheduleId::generate(),
            owner: alice(),
            expression: Expression::parse("rate(1 minute)").unwrap(),
            timezone: "UTC".into(),
            job: courier_protocol::rest::ScheduledJob {
                job_type: "echo".into(),
                payload: json!({"kept": true}),
                callback: None,
            },
            paused,
            created_at: time::macros::datetime!(2026-12-03 12:00 UTC),
        }
    }

    /// The firing as the scheduler sends it (here with a job that differs from the kept one).
    fn firing(schedule: &Schedule, owner: crate::domain::Principal, at: &str) -> String {
        courier_protocol::queue::QueueMessage::ScheduleRun(courier_protocol::queue::ScheduleRun {
            schedule_id: schedule.id.to_string(),
            owner,
            job: courier_protocol::rest::ScheduledJob {
                job_type: "echo".into(),
                payload: json!({"forged": true}),
                callback: None,
            },
            scheduled_at: at.into(),
        })
        .to_json()
    }

    #[tokio::test]
    async fn a_firing_is_one_job_of_the_kept_schedule_however_often_it_is_delivered() {
        let r = runs();
        let kept = schedule(false);
        r.schedules.create(&kept).await.unwrap();
        let body = firing(&kept, alice(), "2026-12-03T12:01:00Z");
        assert!(r.h.deliver(&body, 1).await.is_empty());
        assert!(r.h.deliver(&body, 2).await.is_empty());
        let sent = r.queue.sent();
        // The second delivery queues the job's message again (it cannot tell whether the first
        // did), under the same id: one claim, one job, which a copy never runs twice.
        assert!(
            sent.iter().all(|m| m.message_id == sent[0].message_id),
            "one job for one firing: {sent:?}"
        );
        assert_eq!(
            sent[0].payload,
            json!({"kept": true}),
            "the kept job, not the message's"
        );
        assert_eq!(sent[0].correlation_id, kept.id.to_string());
        let id =
            crate::application::schedules::run_id(&kept.id.to_string(), "2026-12-03T12:01:00Z");
        let claim = r.claims.get_now(id.as_str()).expect("the run's claim");
        assert_eq!(claim.owner, Some(alice()));
        assert_eq!(claim.slot, None, "a schedule's run takes no job slot");
        assert!(
            r.h.deliver(&firing(&kept, alice(), "2026-12-03T12:02:00Z"), 1)
                .await
                .is_empty()
        );
        let ids: std::collections::HashSet<String> =
            r.queue.sent().into_iter().map(|m| m.message_id).collect();
        assert_eq!(ids.len(), 2, "the next firing, the next job");
    }

    #[tokio::test]
    async fn a_paused_deleted_or_foreign_schedules_firing_makes_nothing() {
        let r = runs();
        let paused = schedule(true);
        r.schedules.create(&paused).await.unwrap();
        assert!(
            r.h.deliver(&firing(&paused, alice(), "t1"), 1)
                .await
                .is_empty()
        );
        let gone = schedule(false);
        assert!(
            r.h.deliver(&firing(&gone, alice(), "t1"), 1)
                .await
                .is_empty()
        );
        assert_eq!(
            *r.scheduler.deleted.lock().unwrap(),
            vec![gone.id.to_string()],
            "a schedule with no record is removed from the scheduler"
        );
        let kept = schedule(false);
        r.schedules.create(&kept).await.unwrap();
        let bob = crate::domain::Principal::new("https://issuer.example", "bob");
        assert!(r.h.deliver(&firing(&kept, bob, "t1"), 1).await.is_empty());
        assert!(
            r.queue.sent().is_empty(),
            "nothing was made: {:?}",
            r.queue.sent()
        );
    }
}

/// Work for later (`runAt`, a schedule's run) takes its caller's job slot as it comes due: at
/// their limit it waits, sent again for later, without running or spending an attempt.
mod due_admission {
    use super::*;
    use crate::adapters::memory::{FixedClock, InMemoryClaims, InMemoryQueue, InMemoryQuotas};
    use crate::application::ports::{ClaimStore, QuotaStore};
    use crate::domain::{Claim, CorrelationId, JobId, Principal};

    struct Due {
        h: Harness,
        quotas: Arc<InMemoryQuotas>,
        claims: Arc<InMemoryClaims>,
        requeued: Arc<InMemoryQueue>,
    }

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    fn bob() -> Principal {
        Principal::new("https://issuer.example", "bob")
    }

    /// The generation of job slots the processor's clock is in.
    fn generation() -> u64 {
        time::macros::datetime!(2026-12-03 12:00 UTC).unix_timestamp() as u64 / 3600
    }

    /// A processor admitting due work against a limit of `limit` jobs in flight per caller.
    fn due(limit: u32) -> Due {
        let quotas = Arc::new(InMemoryQuotas::default());
        let claims = Arc::new(InMemoryClaims::default());
        let requeued = Arc::new(InMemoryQueue::default());
        let clock = Arc::new(FixedClock::at(
            time::macros::datetime!(2026-12-03 12:00 UTC),
        ));
        let mut h = Harness::new();
        h.ledger.give_back_slots_to(quotas.clone());
        h.processor = h.processor.with_due_admission(super::super::DueAdmission {
            quotas: Arc::new(crate::application::quotas::Quotas::new(
                quotas.clone(),
                crate::application::quotas::Limits {
                    jobs_in_flight: limit,
                    requests_per_second: 100,
                    connections: 10,
                    webhook_endpoints: 10,
                },
                clock,
                Duration::from_secs(3600),
            )),
            claims: claims.clone(),
            requeue: requeued.clone(),
        });
        Due {
            h,
            quotas,
            claims,
            requeued,
        }
    }

    /// A job of `owner`'s for later, accepted (its claim PENDING, holding no slot): its message.
    async fn later(d: &Due, owner: Principal) -> WorkMessage {
        let id = JobId::generate();
        let claim = Claim::pending(
            id.clone(),
            "echo".into(),
            CorrelationId::parse("corr-later").unwrap(),
            owner.clone(),
            time::macros::datetime!(2026-12-03 12:00 UTC),
            Duration::from_secs(3600),
        );
        d.claims.create(&claim).await.unwrap();
        WorkMessage {
            message_id: id.to_string(),
            pattern: Pattern::ClaimCheck,
            owner: Some(owner),
            slot_when_due: true,
            request_print: None,
            ..envelope("echo", json!({"later": true}))
        }
    }

    fn ran(d: &Due, message: &WorkMessage) -> bool {
        d.h.ledger
            .entry(&WorkId::Job(message.message_id.clone()))
            .is_some_and(|r| r.status == JobStatus::Succeeded)
    }

    #[tokio::test]
    async fn due_work_takes_its_slot_then_and_gives_it_back_when_it_ends() {
        let d = due(1);
        let job = later(&d, alice()).await;
        assert_eq!(d.quotas.slots_held(&alice()), 0, "none while it waits");
        assert!(d.h.deliver(&job.to_json(), 1).await.is_empty());
        assert!(ran(&d, &job));
        let id = JobId::parse(&job.message_id).unwrap();
        assert!(
            d.claims.get_now(id.as_str()).unwrap().slot.is_some(),
            "the claim carried the slot it took"
        );
        assert_eq!(d.quotas.slots_held(&alice()), 0, "given back as it ended");
        assert!(d.requeued.sent().is_empty());
    }

    #[tokio::test]
    async fn at_its_callers_limit_due_work_waits_without_running_and_others_run() {
        let d = due(1);
        // Alice has one job in flight already: her limit.
        let busy = JobId::generate();
        assert!(
            d.quotas
                .take_job_slot(&alice(), &busy, generation(), 1)
                .await
                .unwrap()
                .is_some()
        );
        let waiting = later(&d, alice()).await;
        assert!(
            d.h.deliver(&waiting.to_json(), 1).await.is_empty(),
            "acknowledged: it was sent again"
        );
        assert!(!ran(&d, &waiting), "not run past her limit");
        let (sent, delays) = (d.requeued.sent(), d.requeued.delays.lock().unwrap().clone());
        assert_eq!(sent, vec![waiting.clone()], "the same work, for later");
        assert!((30..=45).contains(&delays[0]), "{delays:?}");
        assert_eq!(d.quotas.slots_held(&alice()), 1, "no slot taken");
        // Bob's due work is not held back by Alice's.
        let his = later(&d, bob()).await;
        assert!(d.h.deliver(&his.to_json(), 1).await.is_empty());
        assert!(ran(&d, &his));
        // Her job in flight ends: the waiting one runs when it comes back.
        d.quotas.release_job(&busy).await.unwrap();
        assert!(d.h.deliver(&waiting.to_json(), 1).await.is_empty());
        assert!(ran(&d, &waiting));
        assert_eq!(d.requeued.sent().len(), 1, "not sent again");
    }

    #[tokio::test]
    async fn due_work_that_holds_its_slot_already_runs_at_the_limit() {
        let d = due(1);
        let job = later(&d, alice()).await;
        let id = JobId::parse(&job.message_id).unwrap();
        // An earlier delivery took the slot (and its run died): the claim carries it.
        let slot = d
            .quotas
            .take_job_slot(&alice(), &id, generation(), 1)
            .await
            .unwrap()
            .unwrap();
        assert!(
            d.claims
                .carry_slot(&id, &slot.to_string(), None)
                .await
                .unwrap()
        );
        assert!(d.h.deliver(&job.to_json(), 2).await.is_empty());
        assert!(ran(&d, &job), "it runs on the slot it holds");
        assert!(d.requeued.sent().is_empty());
    }

    #[tokio::test]
    async fn work_that_took_its_slot_when_accepted_is_not_admitted_again() {
        let d = due(1);
        let busy = JobId::generate();
        d.quotas
            .take_job_slot(&alice(), &busy, generation(), 1)
            .await
            .unwrap()
            .unwrap();
        let now = WorkMessage {
            slot_when_due: false,
            request_print: None,
            ..later(&d, alice()).await
        };
        assert!(d.h.deliver(&now.to_json(), 1).await.is_empty());
        assert!(ran(&d, &now));
    }

    #[tokio::test]
    async fn a_job_whose_slot_no_longer_counts_takes_a_new_one_as_it_comes_due_or_waits() {
        let d = due(1);
        let job = later(&d, alice()).await;
        let id = JobId::parse(&job.message_id).unwrap();
        // Accepted long ago: the slot it was accepted with counts no more.
        let lapsed = crate::domain::quota::JobSlot::taken(alice().tag(), generation() - 2);
        assert!(
            d.claims
                .carry_slot(&id, &lapsed.to_string(), None)
                .await
                .unwrap()
        );
        let busy = JobId::generate();
        d.quotas
            .take_job_slot(&alice(), &busy, generation(), 1)
            .await
            .unwrap()
            .unwrap();
        assert!(d.h.deliver(&job.to_json(), 1).await.is_empty());
        assert!(!ran(&d, &job), "her one counted slot is taken");
        assert_eq!(d.requeued.sent().len(), 1);
        d.quotas.release_job(&busy).await.unwrap();
        assert!(d.h.deliver(&job.to_json(), 1).await.is_empty());
        assert!(ran(&d, &job));
        let carried = d.claims.get_now(id.as_str()).unwrap().slot.unwrap();
        assert_ne!(
            carried,
            lapsed.to_string(),
            "a counted slot in place of the old one"
        );
        assert_eq!(d.quotas.slots_held(&alice()), 0, "given back as it ended");
    }

    #[tokio::test]
    async fn due_work_whose_claim_is_not_there_yet_is_looked_at_again_before_it_runs() {
        let d = due(1);
        // A schedule's run: its message may come before its claim.
        let job = WorkMessage {
            message_id: JobId::generate().to_string(),
            pattern: Pattern::ClaimCheck,
            owner: Some(alice()),
            slot_when_due: true,
            request_print: None,
            ..envelope("echo", json!(1))
        };
        let failed = d.h.deliver(&job.to_json(), 1).await;
        assert_eq!(failed.len(), 1, "handed back to look again");
        assert!(!ran(&d, &job));
        assert_eq!(d.quotas.slots_held(&alice()), 0);
    }

    #[tokio::test]
    async fn a_cancelled_jobs_due_message_gives_back_the_slot_it_took() {
        let d = due(5);
        let job = later(&d, alice()).await;
        let id = JobId::parse(&job.message_id).unwrap();
        d.claims.set_status(id.as_str(), JobStatus::Cancelled);
        let _ = d.h.deliver(&job.to_json(), 1).await;
        assert_eq!(d.quotas.slots_held(&alice()), 0, "nothing kept");
        assert_eq!(d.claims.get_now(id.as_str()).unwrap().slot, None);
    }

    #[tokio::test]
    async fn an_unreachable_quota_store_hands_the_message_back() {
        let d = due(5);
        let job = later(&d, alice()).await;
        d.quotas.fail.set(true);
        let failed = d.h.deliver(&job.to_json(), 1).await;
        assert_eq!(failed.len(), 1, "delivered again later");
        assert!(!ran(&d, &job));
    }
}

/// Held payloads are read and run one at a time per instance: another job's waits its turn
/// while it could still finish in the invocation, else its message goes back, not started.
#[tokio::test]
async fn a_held_payload_waits_for_the_instances_other_one_and_an_inline_one_does_not() {
    let h = Harness::new();
    let _other = h
        .processor
        .held_payloads
        .clone()
        .acquire_owned()
        .await
        .unwrap();
    let held = WorkMessage {
        message_id: crate::domain::JobId::generate().to_string(),
        pattern: Pattern::ClaimCheck,
        payload_ref: Some(courier_protocol::queue::PayloadRef {
            key: "payloads/tag/x".into(),
            unchecked: false,
        }),
        ..envelope("echo", Value::Null)
    };
    let deliver_by = |message: &WorkMessage, seconds: u64| {
        let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
        event["Records"][0]["body"] = Value::String(message.to_json());
        let event: SqsEvent = serde_json::from_value(event).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        h.processor.handle_event(event, Some(deadline))
    };
    // echo may run 20 s: with 10 s left, there is no waiting for a turn.
    let answered = deliver_by(&held, 10).await;
    assert_eq!(answered.batch_item_failures.len(), 1, "handed back");
    assert!(
        h.ledger
            .entry(&WorkId::Job(held.message_id.clone()))
            .is_none_or(|e| e.attempts == 0),
        "not started"
    );
    // An inline payload needs no turn.
    let inline = WorkMessage {
        message_id: crate::domain::JobId::generate().to_string(),
        pattern: Pattern::ClaimCheck,
        ..envelope("echo", json!(1))
    };
    assert!(deliver_by(&inline, 10).await.batch_item_failures.is_empty());
}
