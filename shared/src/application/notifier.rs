//! The callback side: one message on the callback queue → one signed POST of the job's outcome
//! to the caller's URL, retried with backoff until it is delivered, refused for good (410), or
//! out of attempts (then SQS redrive moves it to the callback DLQ).

use crate::application::backoff::retry_delay;
use crate::application::clock::{Clock, rfc3339};
use crate::application::consumer::{SqsBatchResponse, SqsEvent, SqsMessage, handle_batch};
use crate::application::ports::{
    CallbackLedger, CallbackUpdate, ClaimStore, PortError, RetryScheduler,
};
use crate::application::processor::RetryPolicy;
use crate::application::ssrf::SsrfPolicy;
use crate::domain::{CallbackEvent, CallbackStatus, JobId};
use crate::telemetry::{TraceHeader, record_trace_id};
use async_trait::async_trait;
use courier_protocol::queue::{CallbackMessage, QueueMessage};
use courier_protocol::webhook::{Secret, signature_header};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tracing::Instrument;

/// One POST to a callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What came back: a status, or no response at all (timeout, refused, blocked address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookResponse {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    NoResponse(String),
}

#[async_trait]
pub trait WebhookSender: Send + Sync {
    async fn send(&self, request: &WebhookRequest) -> WebhookResponse;
}

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error(transparent)]
    Dependency(#[from] PortError),
    #[error("not a callback request: {0}")]
    Unparseable(String),
    #[error("delivery will be retried: {0}")]
    WillRetry(String),
}

pub struct Notifier {
    pub claims: Arc<dyn ClaimStore>,
    pub ledger: Arc<dyn CallbackLedger>,
    pub sender: Arc<dyn WebhookSender>,
    pub retries: Arc<dyn RetryScheduler>,
    pub secrets: Vec<Secret>,
    pub url_policy: SsrfPolicy,
    pub retry: RetryPolicy,
    pub clock: Arc<dyn Clock>,
}

/// The stable `webhook-id` of a job's callback: the same across every retry.
pub fn webhook_id(job_id: &str) -> String {
    format!("msg_{job_id}")
}

impl Notifier {
    pub async fn handle_event(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_batch(event, |record| self.deliver(record)).await
    }

    pub async fn deliver(&self, record: SqsMessage) -> Result<(), NotifyError> {
        let request = match QueueMessage::from_json(record.body.as_deref().unwrap_or("")) {
            Ok(QueueMessage::Callback(request)) => request,
            Ok(other) => {
                let error = format!("a {} message on the callback queue", other.kind());
                tracing::error!(%error, "not a callback request; redrive moves it to the callback DLQ");
                return Err(NotifyError::Unparseable(error));
            }
            Err(error) => {
                tracing::error!(%error, sqs_message_id = record.message_id.as_deref().unwrap_or("-"),
                        "not a callback request; redrive moves it to the callback DLQ");
                return Err(NotifyError::Unparseable(error.to_string()));
            }
        };
        let span = tracing::info_span!(
            "callback",
            job_id = %request.job_id,
            correlation_id = %request.correlation_id,
            trace_id = tracing::field::Empty,
        );
        record_trace_id(&span, TraceHeader::of_record(&record).as_ref());
        let result = self
            .deliver_in_span(record, request)
            .instrument(span.clone())
            .await;
        if let Err(NotifyError::Dependency(error)) = &result {
            span.in_scope(
                || tracing::error!(%error, "a dependency failed; SQS delivers the callback again"),
            );
        }
        result
    }

    async fn deliver_in_span(
        &self,
        record: SqsMessage,
        request: CallbackMessage,
    ) -> Result<(), NotifyError> {
        let job_id =
            JobId::parse(&request.job_id).map_err(|e| NotifyError::Unparseable(e.to_string()))?;
        let Some(claim) = self.claims.get(&job_id).await? else {
            tracing::warn!("claim gone; nothing to report");
            return Ok(());
        };
        let Some(mut callback) = claim.callback.clone() else {
            return Ok(());
        };
        if request.redrive > 0 && callback.state == CallbackStatus::Failed {
            if self.ledger.reopen(&job_id, request.redrive).await? {
                tracing::info!(
                    redrive = request.redrive,
                    "failed callback redriven; delivering again"
                );
                callback.state = CallbackStatus::Queued;
            } else {
                tracing::info!("redrive already handled; duplicate ignored");
                return Ok(());
            }
        }
        if callback.is_settled() {
            tracing::info!(state = %callback.state, "callback already settled; duplicate ignored");
            return Ok(());
        }
        let attempt: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let now = self.clock.now();
        let mut update = CallbackUpdate {
            event: CallbackEvent::GiveUp,
            attempts: attempt,
            last_status: None,
            last_error: None,
            next_attempt_at: None,
            delivered_at: None,
        };

        // Checked again at delivery: configuration may have changed since submission.
        if let Err(rejected) = self.url_policy.check_url(&callback.url) {
            update.last_error = Some(rejected.to_string());
            self.ledger.record(&job_id, &update).await?;
            tracing::warn!(%rejected, "callback URL refused at delivery");
            return Ok(());
        }

        let body = serde_json::to_string(&crate::application::job_view::callback_body(&claim))
            .expect("serialisable");
        let id = webhook_id(job_id.as_str());
        let timestamp = now.unix_timestamp();
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), "courier-notifier".to_owned()),
            ("webhook-id".to_owned(), id.clone()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            (
                "webhook-signature".to_owned(),
                signature_header(&self.secrets, &id, timestamp, body.as_bytes()),
            ),
            (
                "x-correlation-id".to_owned(),
                claim.correlation_id.to_string(),
            ),
        ];
        let response = self
            .sender
            .send(&WebhookRequest {
                url: callback.url.clone(),
                headers,
                body,
            })
            .await;

        let (status, retry_after, error) = match &response {
            WebhookResponse::Status { code, retry_after } => (Some(*code), *retry_after, None),
            WebhookResponse::NoResponse(reason) => (None, None, Some(reason.clone())),
        };
        update.last_status = status;
        match status {
            Some(code) if (200..300).contains(&code) => {
                update.event = CallbackEvent::Deliver;
                update.delivered_at = Some(rfc3339(now));
                self.ledger.record(&job_id, &update).await?;
                tracing::info!(attempt, code, "callback delivered");
                let latency = claim
                    .completed_at
                    .and_then(|done| Duration::try_from(now - done).ok());
                crate::metrics::callback_attempt(
                    true,
                    false,
                    latency,
                    claim.correlation_id.as_str(),
                    job_id.as_str(),
                );
                Ok(())
            }
            Some(410) => {
                update.last_error = Some("the receiver answered 410 Gone; not retried".into());
                self.ledger.record(&job_id, &update).await?;
                tracing::warn!(attempt, "callback refused with 410 Gone");
                crate::metrics::callback_attempt(
                    false,
                    true,
                    None,
                    claim.correlation_id.as_str(),
                    job_id.as_str(),
                );
                Ok(())
            }
            _ => {
                let reason = error
                    .unwrap_or_else(|| format!("the receiver answered {}", status.unwrap_or(0)));
                update.last_error = Some(reason.clone());
                let delay = if attempt >= self.retry.max_receive_count {
                    tracing::warn!(attempt, %reason, "callback attempts exhausted; redrive moves it to the callback DLQ");
                    Duration::ZERO
                } else {
                    let backoff = retry_delay(
                        attempt,
                        self.retry.base_delay,
                        self.retry.max_delay,
                        &mut rand::rng(),
                    );
                    // The receiver may ask for longer; never longer than our own ceiling.
                    let delay = retry_after.map_or(backoff, |asked| {
                        backoff.max(asked.min(self.retry.max_delay))
                    });
                    update.event = CallbackEvent::Retry;
                    update.next_attempt_at = Some(rfc3339(now + delay));
                    tracing::warn!(attempt, %reason, delay_ms = delay.as_millis() as u64, "callback failed; will retry");
                    delay
                };
                self.ledger.record(&job_id, &update).await?;
                let gave_up = attempt >= self.retry.max_receive_count;
                crate::metrics::callback_attempt(
                    false,
                    gave_up,
                    None,
                    claim.correlation_id.as_str(),
                    job_id.as_str(),
                );
                if gave_up {
                    crate::metrics::dead_lettered(
                        "callback",
                        claim.correlation_id.as_str(),
                        job_id.as_str(),
                    );
                }
                if let (Some(arn), Some(handle)) =
                    (&record.event_source_arn, &record.receipt_handle)
                    && let Err(error) = self.retries.retry_after(arn, handle, delay).await
                {
                    tracing::warn!(%error, "could not set the retry delay");
                }
                Err(NotifyError::WillRetry(reason))
            }
        }
    }
}
