//! One generic helper turns a per-message async function into an SQS batch handler that returns
//! `batchItemFailures`, so only the failed messages are retried.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
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
    let outcomes: Vec<(Option<String>, Result<(), E>)> = stream::iter(event.records)
        .map(|record| {
            let id = record.message_id.clone();
            let fut = handle(record);
            async move { (id, fut.await) }
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .collect()
        .await;

    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if let Err(error) = outcome {
            match id {
                Some(id) => {
                    tracing::warn!(sqs_message_id = %id, %error, "message will be retried");
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

    #[tokio::test]
    async fn an_empty_batch_has_no_failures() {
        let response = handle_batch(SqsEvent::default(), |_| async { Ok::<(), String>(()) }).await;
        assert!(response.batch_item_failures.is_empty());
    }
}
