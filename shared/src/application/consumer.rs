//! Generic helpers that turn a per-message async function into an SQS batch handler returning
//! `batchItemFailures`, so only the failed messages are retried: one for standard queues (any
//! order, concurrently) and one for FIFO queues (each message group in order).

use aws_lambda_events::event::sqs::BatchItemFailure;
pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::StreamExt;
use futures_util::stream;
use std::future::Future;

/// Messages of one batch handled at once. Standard queues carry no order, so concurrency is safe.
pub const BATCH_CONCURRENCY: usize = 10;

pub async fn handle_batch<F, Fut, E>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let outcomes: Vec<Outcome<E>> = stream::iter(event.records)
        .map(|record| {
            let id = record.message_id.clone();
            let fut = handle(record);
            async move { (id, fut.await) }
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

/// Why a FIFO message was not processed: an earlier one of its group failed.
#[derive(Debug)]
pub enum Ordered<E> {
    Failed(E),
    BehindAFailure,
}

impl<E: std::fmt::Display> std::fmt::Display for Ordered<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Failed(error) => error.fmt(f),
            Self::BehindAFailure => f.write_str("an earlier message of its group failed"),
        }
    }
}

/// A FIFO batch: message groups run concurrently, each group's messages one after another. Once
/// a message fails, the rest of its group is reported failed unprocessed, so SQS redelivers
/// them after it, in order. Each of those is handed to `hold` first, which should make it
/// visible again at once: left in flight for the whole visibility timeout, it would block its
/// group (and so the failed message's retry) that long. SQS still delivers it only after the
/// failed message.
pub async fn handle_ordered_batch<F, Fut, E, H, HFut>(
    event: SqsEvent,
    handle: F,
    hold: H,
) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    H: Fn(SqsMessage) -> HFut,
    HFut: Future<Output = ()>,
{
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
    let (handle, hold) = (&handle, &hold);
    let outcomes: Vec<Vec<Outcome<Ordered<E>>>> = stream::iter(groups)
        .map(|(_, records)| async move {
            let mut outcomes = Vec::with_capacity(records.len());
            let mut failed = false;
            for record in records {
                let id = record.message_id.clone();
                if failed {
                    hold(record).await;
                    outcomes.push((id, Err(Ordered::BehindAFailure)));
                    continue;
                }
                let outcome = handle(record).await.map_err(Ordered::Failed);
                failed = outcome.is_err();
                outcomes.push((id, outcome));
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

    #[tokio::test]
    async fn reports_only_the_failed_messages() {
        let mut event = SqsEvent::default();
        event.records = vec![record("a", "ok"), record("b", "bad"), record("c", "ok")];
        let response = handle_batch(event, |m| async move {
            if m.body.as_deref() == Some("ok") {
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
            |m| {
                seen.lock().unwrap().push(m.message_id.clone().unwrap());
                async move {
                    if m.body.as_deref() == Some("ok") {
                        Ok(())
                    } else {
                        Err("boom")
                    }
                }
            },
            |m| {
                held.lock().unwrap().push(m.message_id.clone().unwrap());
                async {}
            },
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

    #[tokio::test]
    async fn an_empty_batch_has_no_failures() {
        let response = handle_batch(SqsEvent::default(), |_| async { Ok::<(), String>(()) }).await;
        assert!(response.batch_item_failures.is_empty());
    }
}
