//! The SQS consumer skeleton both queue consumers (processor, notifier) run on: each record's
//! body is parsed once into a courier [`QueueMessage`] and handed, with the record, to a
//! per-message async function; the batch answers with `batchItemFailures`, so only the failed
//! messages are retried. A panic while handling one message fails that message only. Standard
//! queues run messages concurrently; FIFO queues run each message group in order.

use aws_lambda_events::event::sqs::BatchItemFailure;
pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use courier_protocol::queue::QueueMessage;
use futures_util::stream;
use futures_util::{FutureExt, StreamExt};
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// One SQS record, with its body parsed (once) as a courier queue message.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub record: SqsMessage,
    /// The body as a queue message, or why it is not one.
    pub message: Result<QueueMessage, String>,
}

/// SQS's count of receives of `record`, this one included (1 when absent).
pub fn sqs_receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

impl Delivery {
    pub fn parse(record: SqsMessage) -> Self {
        let mut message = QueueMessage::from_json(record.body.as_deref().unwrap_or(""))
            .map_err(|e| e.to_string());
        // Beside the body: the request whose claim a work message may run, if it names one.
        if let Ok(QueueMessage::Work(work)) = &mut message {
            work.request_print = record
                .message_attributes
                .get(courier_protocol::queue::attribute::REQUEST_PRINT)
                .and_then(|attribute| attribute.string_value.clone());
        }
        Self { record, message }
    }

    /// SQS's count of receives, this one included (1 when absent).
    pub fn receive_count(&self) -> u32 {
        sqs_receive_count(&self.record)
    }

    /// A message attribute's string value.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.record
            .message_attributes
            .get(name)
            .and_then(|a| a.string_value.as_deref())
    }
}

/// Why a message was reported as a batch item failure.
#[derive(Debug)]
pub enum ItemFailure<E> {
    /// The handler said so (and logged why, in the message's span).
    Failed(E),
    /// The handler panicked.
    Panicked(String),
    /// FIFO: an earlier message of its group failed, so it was not processed.
    BehindAFailure,
}

impl<E: std::fmt::Display> std::fmt::Display for ItemFailure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(error) => error.fmt(f),
            Self::Panicked(message) => write!(f, "the handler panicked: {message}"),
            Self::BehindAFailure => f.write_str("an earlier message of its group failed"),
        }
    }
}

/// What a panic said, for the log and the failure reason.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Runs `handle` on one delivery, turning a panic into that message's failure.
async fn guarded<F, Fut, E>(handle: &F, record: SqsMessage) -> Result<(), ItemFailure<E>>
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    match AssertUnwindSafe(handle(Delivery::parse(record)))
        .catch_unwind()
        .await
    {
        Ok(result) => result.map_err(ItemFailure::Failed),
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(panic = %crate::telemetry::capped(&message), "a message's handler panicked; only it is retried");
            Err(ItemFailure::Panicked(message))
        }
    }
}

/// Messages of one batch handled at once. Standard queues carry no order, so concurrency is safe.
pub const BATCH_CONCURRENCY: usize = 10;

/// Has SQS deliver a message again after `delay` (best effort: without it, after the queue's
/// visibility timeout). The one way both consumers retry, wait or let go of a message.
pub async fn hand_back(
    retries: &dyn crate::application::ports::RetryScheduler,
    record: &SqsMessage,
    delay: std::time::Duration,
) {
    if let (Some(arn), Some(handle)) = (&record.event_source_arn, &record.receipt_handle)
        && let Err(error) = retries.retry_after(arn, handle, delay).await
    {
        tracing::warn!(%error, "the message comes back after its visibility timeout instead");
    }
}

pub async fn handle_batch<F, Fut, E>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let handle = &handle;
    let outcomes: Vec<Outcome<ItemFailure<E>>> = stream::iter(event.records)
        .map(|record| async move {
            let id = record.message_id.clone();
            (id, guarded(handle, record).await)
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;

    failures(outcomes)
}

/// One message's id and how handling it went.
type Outcome<E> = (Option<String>, Result<(), E>);

fn failures<E: std::fmt::Display>(outcomes: Vec<Outcome<E>>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if let Err(error) = outcome {
            match id {
                Some(id) => {
                    // The handler logged why, inside the message's own span (correlation id).
                    tracing::debug!(sqs_message_id = %id, %error, "reported as a batch item failure");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    response.batch_item_failures.push(failure);
                }
                None => tracing::error!(%error, "failed message has no id to report"),
            }
        }
    }
    response
}

/// Where a message of a FIFO batch stands in its group's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// The first of its group in this batch: it starts as a message of a batch of one would.
    First,
    /// Behind earlier messages of its group that this invocation has run; `fresh` is the time
    /// an invocation had when the batch began (a message starts only with as much as it would
    /// have had at the front of its own batch).
    Behind { fresh: std::time::Duration },
}

/// How long a message group that has finished waits for the rest of its batch before its
/// messages are deleted (`acknowledge`), rather than when the batch answers: SQS hands out
/// none of a group's later messages while any of it is in flight, so a connection's next job
/// would otherwise wait on other connections' jobs.
pub const EARLY_ACKNOWLEDGE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// A FIFO batch: message groups run concurrently, each group's messages one after another. Once
/// a message fails, the rest of its group is reported failed unprocessed, so SQS redelivers
/// them after it, in order. Each of those is handed to `hold` first, which should make it
/// visible again at once: left in flight for the whole visibility timeout, it would block its
/// group (and so the failed message's retry) that long. SQS still delivers it only after the
/// failed message. A group's messages that succeeded, still waiting for the rest of the batch
/// after [`EARLY_ACKNOWLEDGE_AFTER`], are handed to `acknowledge`. `deadline`: the
/// invocation's, from which each message's [`Turn`] is told.
pub async fn handle_ordered_batch<F, Fut, E, H, HFut, A, AFut>(
    event: SqsEvent,
    deadline: Option<tokio::time::Instant>,
    handle: F,
    hold: H,
    acknowledge: A,
) -> SqsBatchResponse
where
    F: Fn(Delivery, Turn) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    H: Fn(Delivery) -> HFut,
    HFut: Future<Output = ()>,
    A: Fn(Vec<SqsMessage>) -> AFut,
    AFut: Future<Output = ()>,
{
    let fresh = deadline.map_or(std::time::Duration::MAX, |d| {
        d.saturating_duration_since(tokio::time::Instant::now())
    });
    let mut groups: Vec<(String, Vec<SqsMessage>)> = Vec::new();
    for record in event.records {
        let group = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_default();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, records)) => records.push(record),
            None => groups.push((group, vec![record])),
        }
    }
    // Groups still running: a finished one waits (a while) for this to reach none.
    let (running, _) = tokio::sync::watch::channel(groups.len());
    let (handle, hold, acknowledge, running) = (&handle, &hold, &acknowledge, &running);
    let outcomes: Vec<Vec<Outcome<ItemFailure<E>>>> = stream::iter(groups)
        .map(|(_, records)| async move {
            let mut outcomes = Vec::with_capacity(records.len());
            let mut succeeded = Vec::with_capacity(records.len());
            let mut failed = false;
            for (position, record) in records.into_iter().enumerate() {
                let id = record.message_id.clone();
                if failed {
                    hold(Delivery::parse(record)).await;
                    outcomes.push((id, Err(ItemFailure::BehindAFailure)));
                    continue;
                }
                let turn = match position {
                    0 => Turn::First,
                    _ => Turn::Behind { fresh },
                };
                let kept = record.clone();
                let outcome = guarded(&|delivery| handle(delivery, turn), record).await;
                failed = outcome.is_err();
                if !failed {
                    succeeded.push(kept);
                }
                outcomes.push((id, outcome));
            }
            running.send_modify(|left| *left -= 1);
            // Left in flight, they would keep the group's next message (a retry, a new job)
            // from being handed out until the whole batch answers.
            if !succeeded.is_empty() {
                let mut rest = running.subscribe();
                let batch_over = rest.wait_for(|left| *left == 0);
                if tokio::time::timeout(EARLY_ACKNOWLEDGE_AFTER, batch_over)
                    .await
                    .is_err()
                {
                    acknowledge(succeeded).await;
                }
            }
            outcomes
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;
    failures(outcomes.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.to_owned());
        message.body = Some(body.to_owned());
        message
    }

    #[test]
    fn a_work_message_names_the_request_its_attribute_carries() {
        let body = crate::fixtures::work_message(
            "j",
            courier_protocol::queue::Pattern::Bidirectional,
            "echo",
            serde_json::Value::Null,
        )
        .to_json();
        let mut named = record("a", &body);
        let mut attribute = aws_lambda_events::event::sqs::SqsMessageAttribute::default();
        attribute.string_value = Some("print-a".into());
        attribute.data_type = Some("String".into());
        named.message_attributes.insert(
            courier_protocol::queue::attribute::REQUEST_PRINT.to_owned(),
            attribute,
        );
        let print = |delivery: Delivery| match delivery.message {
            Ok(QueueMessage::Work(work)) => work.request_print,
            other => panic!("{other:?}"),
        };
        assert_eq!(print(Delivery::parse(named)), Some("print-a".into()));
        assert_eq!(print(Delivery::parse(record("b", &body))), None);
    }

    #[tokio::test]
    async fn reports_only_the_failed_messages() {
        let mut event = SqsEvent::default();
        event.records = vec![record("a", "ok"), record("b", "bad"), record("c", "ok")];
        let response = handle_batch(event, |d| async move {
            if d.record.body.as_deref() == Some("ok") {
                Ok(())
            } else {
                Err("boom")
            }
        })
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["b"]);
    }

    fn grouped(id: &str, group: &str, body: &str) -> SqsMessage {
        let mut message = record(id, body);
        message
            .attributes
            .insert("MessageGroupId".into(), group.into());
        message
    }

    #[tokio::test]
    async fn a_fifo_failure_holds_back_the_rest_of_its_group_only() {
        let mut event = SqsEvent::default();
        event.records = vec![
            grouped("a1", "A", "ok"),
            grouped("b1", "B", "ok"),
            grouped("a2", "A", "bad"),
            grouped("b2", "B", "ok"),
            grouped("a3", "A", "ok"),
        ];
        let seen = std::sync::Mutex::new(Vec::new());
        let held = std::sync::Mutex::new(Vec::new());
        let response = handle_ordered_batch(
            event,
            Some(tokio::time::Instant::now() + std::time::Duration::from_secs(60)),
            |d, turn| {
                let id = d.record.message_id.clone().unwrap();
                let first = ["a1", "b1"].contains(&id.as_str());
                assert_eq!(turn == Turn::First, first, "{id}: {turn:?}");
                if let Turn::Behind { fresh } = turn {
                    assert!(fresh > std::time::Duration::from_secs(59), "{fresh:?}");
                }
                seen.lock().unwrap().push(id);
                async move {
                    if d.record.body.as_deref() == Some("ok") {
                        Ok(())
                    } else {
                        Err("boom")
                    }
                }
            },
            |d| {
                held.lock()
                    .unwrap()
                    .push(d.record.message_id.clone().unwrap());
                async {}
            },
            |_| async {},
        )
        .await;
        assert_eq!(held.into_inner().unwrap(), vec!["a3"]);
        let mut failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        failed.sort();
        assert_eq!(failed, vec!["a2", "a3"]);
        let seen = seen.into_inner().unwrap();
        assert!(
            !seen.contains(&"a3".to_string()),
            "a3 must not run after a2 failed"
        );
        let position = |id: &str| seen.iter().position(|s| s == id).unwrap();
        assert!(position("a1") < position("a2") && position("b1") < position("b2"));
    }

    /// A group that finished waits a second for the rest of its batch, then the messages of it
    /// that succeeded are deleted: its connection's next jobs (or a failed one's retry) need
    /// not wait on another connection's long job. A batch that ends together is left to the
    /// batch's answer, and so is a failed message.
    #[tokio::test(start_paused = true)]
    async fn a_group_done_long_before_its_batch_is_acknowledged_early() {
        let run = |records: Vec<SqsMessage>| async move {
            let acknowledged = std::sync::Mutex::new(Vec::new());
            let mut event = SqsEvent::default();
            event.records = records;
            handle_ordered_batch(
                event,
                None,
                |d, _| async move {
                    match d.record.body.as_deref() {
                        Some("slow") => {
                            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                            Ok(())
                        }
                        Some("bad") => Err("boom"),
                        _ => Ok(()),
                    }
                },
                |_| async {},
                |records: Vec<SqsMessage>| {
                    acknowledged
                        .lock()
                        .unwrap()
                        .extend(records.into_iter().map(|r| r.message_id.unwrap()));
                    async {}
                },
            )
            .await;
            let mut acknowledged = acknowledged.into_inner().unwrap();
            acknowledged.sort();
            acknowledged
        };
        let early = run(vec![
            grouped("a1", "A", "slow"),
            grouped("b1", "B", "ok"),
            grouped("b2", "B", "ok"),
            grouped("c1", "C", "bad"),
            grouped("d1", "D", "ok"),
            grouped("d2", "D", "bad"),
        ])
        .await;
        assert_eq!(
            early,
            vec!["b1", "b2", "d1"],
            "the successes, before a failure too"
        );
        let together = run(vec![grouped("a1", "A", "ok"), grouped("b1", "B", "ok")]).await;
        assert!(together.is_empty(), "{together:?}");
    }

    #[tokio::test]
    async fn a_panic_fails_only_its_own_message() {
        let mut event = SqsEvent::default();
        event.records = vec![record("a", "ok"), record("b", "panic"), record("c", "ok")];
        let response = handle_batch(event, |d| async move {
            if d.record.body.as_deref() == Some("panic") {
                panic!("a bug in one message's handling");
            }
            Ok::<(), String>(())
        })
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["b"]);
    }

    #[test]
    fn bodies_are_parsed_once_into_queue_messages() {
        let work = record(
            "w",
            r#"{"kind":"callback","jobId":"j","correlationId":"c"}"#,
        );
        let delivery = Delivery::parse(work);
        assert_eq!(delivery.message.unwrap().subject_id(), "j");
        assert_eq!(Delivery::parse(record("x", "{}")).receive_count(), 1);
        assert!(Delivery::parse(record("x", "junk")).message.is_err());
    }

    #[tokio::test]
    async fn an_empty_batch_has_no_failures() {
        let response = handle_batch(SqsEvent::default(), |_| async { Ok::<(), String>(()) }).await;
        assert!(response.batch_item_failures.is_empty());
    }
}
