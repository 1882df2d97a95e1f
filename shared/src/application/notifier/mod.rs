//! The callback side: one message on the callback queue → one signed delivery of the job's
//! outcome to the caller's URL (a POST), queue (a message) or bus (an event), retried with backoff until it is delivered, refused for good (410), or
//! out of attempts (then the notifier records it FAILED and sends it to the callback DLQ with
//! the reason). Attempts are POSTs made, counted on the claim: a receive that ends in courier's
//! own dependency error costs none. Should SQS redrive give up on a message all the same (every
//! receive crashed or failed), it lands in the callback dead-letter inbox, and the notifier
//! records that failure and passes the letter on to the DLQ.
//!
//! One delivery attempt is four steps: **prepare** (read the claim, decide whether there is
//! anything to send, sign it), **send**, **classify** the response ([`classify`]), and
//! **schedule** what comes next ([`schedule`]); the last two are pure functions.

use crate::application::backoff::RetryPolicy;
use crate::application::clock::{Clock, rfc3339};
use crate::application::consumer::{
    Delivery, SqsBatchResponse, SqsEvent, SqsMessage, hand_back, handle_batch,
};
use crate::application::ports::{
    CallbackLedger, CallbackUpdate, ClaimStore, DeadLetter, DeadLetterQueue, Failure, FailureKind,
    PortError, RetryScheduler, SecretSealer, WebhookEndpointStore,
};
use crate::application::ssrf::SsrfPolicy;
use crate::application::webhook_endpoints::signing_secrets;
use crate::domain::{
    CallbackEvent, CallbackStatus, CallbackTarget, Claim, EndpointId, JobId, WebhookEndpoint,
};
use crate::telemetry::{TraceHeader, record_trace_id};
use async_trait::async_trait;
use courier_protocol::queue::{CallbackMessage, QueueMessage};
use courier_protocol::webhook::signature_header;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;
use tracing::Instrument;

/// One signed delivery: a POST to a URL, a message on a queue or an event on a bus. The
/// signature travels with the body the same way to each: as HTTP headers, as the message's
/// attributes, or as the event's `headers` (the body itself as a string, byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub to: CallbackTarget,
    pub subject: Subject,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`, `content-type`,
    /// `x-correlation-id` (and, over HTTP, `user-agent`).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What a delivery carries: what a bus's rules and a queue's readers tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A job's outcome (its claim, as `GET /v1/jobs/{id}` shows it, less `callback`).
    JobOutcome,
    /// A new destination's proof of delivery, sent once at registration.
    Verification,
}

impl Subject {
    /// The event's `detail-type`, and the message's `courier-subject` attribute.
    pub fn name(self) -> &'static str {
        match self {
            Self::JobOutcome => "Courier Job Outcome",
            Self::Verification => "Courier Destination Verification",
        }
    }
}

/// What came back: a status, or no response at all (timeout, refused, blocked address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookResponse {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    NoResponse(String),
    /// The carrier itself (SQS, EventBridge) failed, throttled or could not be reached: it
    /// says nothing about the destination (a delivery is retried; a registration is a 503).
    Unavailable(String),
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
    /// Where each delivery's URL and signing secrets come from: the job's endpoint.
    pub endpoints: Arc<dyn WebhookEndpointStore>,
    pub sealer: Arc<dyn SecretSealer>,
    pub url_policy: SsrfPolicy,
    /// `max_attempts`: POSTs of one delivery before it is given up.
    pub retry: RetryPolicy,
    pub clock: Arc<dyn Clock>,
    /// The callback DLQ: deliveries given up, with their reason.
    pub dead_letters: Arc<dyn DeadLetterQueue>,
    /// The callback queue's dead-letter inbox (its queue name): what SQS redrive gave up on.
    pub inbox: String,
    /// The callback queue's `maxReceiveCount`, the backstop above `retry.max_attempts`.
    pub max_receive_count: u32,
    /// Where a result too large for the claim is held: its URL goes in the callback.
    pub payloads: Option<Arc<crate::application::payloads::Payloads>>,
}

/// The stable `webhook-id` of a job's callback: the same across every retry. A rerun's outcome
/// (`round` > 0) is another message, under an id of its own.
pub fn webhook_id(job_id: &str, round: u32) -> String {
    match round {
        0 => format!("msg_{job_id}"),
        round => format!("msg_{job_id}_{round}"),
    }
}

impl Notifier {
    pub async fn handle_event(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_batch(event, |record| self.deliver(record)).await
    }

    pub async fn deliver(&self, delivery: Delivery) -> Result<(), NotifyError> {
        let receive_count = delivery.receive_count();
        let from_inbox = queue_name(delivery.record.event_source_arn.as_deref()) == self.inbox;
        let Delivery { record, message } = delivery;
        if from_inbox {
            let result = self.settle_abandoned(&record, message).await;
            if let Err(NotifyError::Dependency(error)) = &result {
                tracing::error!(%error, "a dependency failed; the letter comes back");
                // Its receives in the inbox count on from the callback queue's.
                let tries = receive_count.saturating_sub(self.max_receive_count);
                self.hand_back(&record, self.retry.delay(tries, &mut rand::rng()))
                    .await;
            }
            return result;
        }
        let request = match message {
            Ok(QueueMessage::Callback(request)) => request,
            Ok(other) => {
                let error = format!("a {} message on the callback queue", other.kind());
                return self.reject_unparseable(&record, error).await;
            }
            Err(error) => return self.reject_unparseable(&record, error.to_string()).await,
        };
        let Ok(job_id) = JobId::parse(&request.job_id) else {
            let error = format!("{:?} is not a job id", request.job_id);
            return self.reject_unparseable(&record, error).await;
        };
        let span = tracing::info_span!(
            "callback",
            jobId = %request.job_id,
            correlationId = %request.correlation_id,
            traceId = tracing::field::Empty,
        );
        let trace = TraceHeader::of_record(&record);
        record_trace_id(&span, trace.as_ref());
        let result = self
            .deliver_in_span(
                record.clone(),
                receive_count,
                job_id,
                request,
                trace.as_ref(),
            )
            .instrument(span.clone())
            .await;
        if let Err(NotifyError::Dependency(error)) = &result {
            span.in_scope(
                || tracing::error!(%error, "a dependency failed; SQS delivers the callback again"),
            );
            // On the last receive SQS redrive moves it to the inbox anyway: at once.
            let delay = if receive_count >= self.max_receive_count {
                Duration::ZERO
            } else {
                self.retry.delay(receive_count, &mut rand::rng())
            };
            self.hand_back(&record, delay).await;
        }
        result
    }

    async fn hand_back(&self, record: &SqsMessage, delay: Duration) {
        hand_back(self.retries.as_ref(), record, delay).await;
    }

    /// A message that is not a callback request goes straight to the callback DLQ with the
    /// reason: no delivery could ever do more with it.
    async fn reject_unparseable(
        &self,
        record: &SqsMessage,
        error: String,
    ) -> Result<(), NotifyError> {
        tracing::error!(reason = %crate::telemetry::capped(&error), sqs_message_id = record.message_id.as_deref().unwrap_or("-"),
            "not a callback request; sent to the callback DLQ");
        self.dead_letters
            .dead_letter(&unparseable_letter(record, &error))
            .await?;
        Ok(())
    }

    async fn deliver_in_span(
        &self,
        record: SqsMessage,
        receive_count: u32,
        job_id: JobId,
        request: CallbackMessage,
        trace: Option<&TraceHeader>,
    ) -> Result<(), NotifyError> {
        crate::error_point!("notifier.before-prepare", &request.correlation_id);
        let now = self.clock.now();
        let (claim, webhook) = match self.prepare(&job_id, &request, now).await? {
            Prepared::Nothing(why) => {
                tracing::info!("{why}; nothing to deliver");
                return Ok(());
            }
            Prepared::Later(why) => {
                tracing::info!("{why}; the delivery waits");
                let delay = self.retry.delay(receive_count, &mut rand::rng());
                self.hand_back(&record, delay).await;
                return Err(NotifyError::WillRetry(why.to_owned()));
            }
            Prepared::Undeliverable(failure) => {
                // An operator's redrive of a letter whose claim is gone: back to the DLQ,
                // saying why, rather than dropped.
                tracing::warn!(reason = %failure.reason, "redriven callback cannot be delivered; sent back to the callback DLQ");
                self.dead_letters
                    .dead_letter(&callback_letter(&record, &request, failure, trace))
                    .await?;
                return Ok(());
            }
            Prepared::Refused(update) => {
                tracing::warn!(reason = %crate::telemetry::capped(update.last_error.as_deref().unwrap_or("-")), "callback URL refused at delivery");
                self.ledger.record(&job_id, &update).await?;
                return Ok(());
            }
            Prepared::Send { claim, webhook } => (claim, webhook),
        };
        let sent_at = std::time::Instant::now();
        let response = self.sender.send(&webhook).await;
        let took = sent_at.elapsed();
        // A crash here sends the same delivery again (same `webhook-id`) once the message
        // comes back: receivers deduplicate on it.
        crate::crash_point!("notifier.after-post", claim.correlation_id.as_str());
        let verdict = classify(&response);
        // This POST is the claim's next attempt; on the queue's last receive it is the last.
        let attempt = claim.callback.as_ref().map_or(0, |c| c.attempts) + 1;
        let mut policy = self.retry;
        if receive_count >= self.max_receive_count {
            policy.max_attempts = attempt;
        }
        let mut plan = schedule(&verdict, attempt, &policy, now, &mut rand::rng());
        plan.update.duration_ms = Some(took.as_millis() as u64);
        plan.update.round = claim.callback.as_ref().map_or(0, |c| c.round);
        if let (Verdict::Retry { reason, .. }, CallbackEvent::GiveUp) =
            (&verdict, plan.update.event)
        {
            // The letter first: if recording then fails, the redelivery repeats both, so the
            // DLQ copy is never the one that goes missing.
            let failure = Failure {
                kind: FailureKind::RetriesExhausted,
                reason: format!("gave up after {attempt} delivery attempts; last error: {reason}"),
            };
            self.dead_letters
                .dead_letter(&callback_letter(&record, &request, failure, trace))
                .await?;
        }
        if !self.ledger.record(&job_id, &plan.update).await? {
            // Another copy of this delivery recorded an attempt first (or settled it): that
            // copy carries the delivery on; this one stops here.
            tracing::info!(
                attempt,
                "another copy of the delivery got there first; this one stops"
            );
            return Ok(());
        }
        self.report(&claim, &verdict, &plan, attempt, now, trace);
        match plan.retry_in {
            None => Ok(()),
            Some(delay) => {
                self.hand_back(&record, delay).await;
                Err(NotifyError::WillRetry(
                    plan.update.last_error.clone().unwrap_or_default(),
                ))
            }
        }
    }

    /// Step 1: read the claim and decide whether there is anything to send; if so, the signed
    /// request, to the job's endpoint, signed with every secret of it that signs now. A
    /// redriven delivery reopens a FAILED callback (once per redrive); a settled one is a
    /// duplicate; a deleted endpoint, or a URL the guard now refuses, fails the delivery
    /// without a request.
    async fn prepare(
        &self,
        job_id: &JobId,
        request: &CallbackMessage,
        now: OffsetDateTime,
    ) -> Result<Prepared, PortError> {
        let Some(claim) = self.claims.get(job_id).await? else {
            if request.redrive > 0 {
                return Ok(Prepared::Undeliverable(Failure {
                    kind: FailureKind::Expired,
                    reason: "redriven, but the job's claim is gone (past its lifetime): nothing \
                             left to deliver"
                        .into(),
                }));
            }
            return Ok(Prepared::Nothing("claim gone"));
        };
        let Some(mut callback) = claim.callback.clone() else {
            return Ok(Prepared::Nothing("the job has no callback"));
        };
        if request.redrive > 0 && callback.state == CallbackStatus::Failed {
            if !self.ledger.reopen(job_id, request.redrive).await? {
                return Ok(Prepared::Nothing("redrive already handled"));
            }
            tracing::info!(
                redrive = request.redrive,
                "failed callback redriven; delivering again"
            );
            callback.state = CallbackStatus::Queued;
            // A redrive gives the delivery a fresh budget (the reopen counted it from 0).
            callback.attempts = 0;
        }
        if callback.is_settled() {
            return Ok(Prepared::Nothing("callback already settled (a duplicate)"));
        }
        // Not started yet (a copy of an earlier round's message, arriving after the job was
        // reopened): the job's own end starts it.
        if callback.state == CallbackStatus::Waiting {
            return Ok(Prepared::Nothing("the job's delivery has not started"));
        }
        // Under way while the job runs again (an operator's redrive or a rerun reopened it):
        // the delivery waits for the job's new outcome, which restarts it as a new round.
        if !claim.status.is_terminal() {
            return Ok(Prepared::Later("the job runs again"));
        }
        // Nothing is sent: the count of attempts made stays as it is.
        let attempts = callback.attempts;
        if attempts >= self.retry.max_attempts {
            // The last attempt was made and dead-lettered; only its FAILED was not recorded.
            return Ok(Prepared::Refused(CallbackUpdate::give_up(
                callback.round,
                attempts,
                callback.last_status,
                format!("gave up after {attempts} delivery attempts"),
            )));
        }
        let give_up = |why: String| {
            Ok(Prepared::Refused(CallbackUpdate::give_up(
                callback.round,
                attempts,
                None,
                why,
            )))
        };
        // The endpoint may have been deleted since submission; only the job's owner's counts.
        let endpoint = match self.endpoints.get(&callback.endpoint_id).await? {
            Some(endpoint) if claim.owner.as_ref().is_some_and(|o| endpoint.visible_to(o)) => {
                endpoint
            }
            _ => {
                return give_up(format!(
                    "webhook endpoint {} was deleted; nothing was sent",
                    callback.endpoint_id
                ));
            }
        };
        // Checked again at delivery: configuration may have changed since registration.
        if let Some(url) = endpoint.target.url()
            && let Err(rejected) = self.url_policy.check_url(url)
        {
            return give_up(rejected.to_string());
        }
        let document = match &self.payloads {
            Some(payloads) => payloads.callback_body(&claim, now).await?,
            None => crate::application::job_view::callback_body(&claim),
        };
        let body = serde_json::to_string(&document).expect("serialisable");
        let id = webhook_id(job_id.as_str(), callback.round);
        let webhook = self
            .signed(
                &endpoint,
                Subject::JobOutcome,
                &id,
                &body,
                claim.correlation_id.as_str(),
                now,
            )
            .await?;
        let mut claim = claim;
        // A reopened delivery counts its attempts afresh.
        claim.callback = Some(callback);
        Ok(Prepared::Send {
            webhook,
            claim: Box::new(claim),
        })
    }

    /// `body` signed as `id` with every secret of `endpoint` that signs at `now`, addressed to
    /// it. The text signed is the text sent: made acceptable to every carrier first (a queue
    /// refuses some characters a JSON string may hold; their escapes denote the same JSON).
    async fn signed(
        &self,
        endpoint: &WebhookEndpoint,
        subject: Subject,
        id: &str,
        body: &str,
        correlation_id: &str,
        now: OffsetDateTime,
    ) -> Result<WebhookRequest, PortError> {
        let secrets = signing_secrets(self.sealer.as_ref(), endpoint, now).await?;
        let body = courier_protocol::json::xml_safe(body).into_owned();
        let timestamp = now.unix_timestamp();
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("user-agent".to_owned(), "courier-notifier".to_owned()),
            ("webhook-id".to_owned(), id.to_owned()),
            ("webhook-timestamp".to_owned(), timestamp.to_string()),
            (
                "webhook-signature".to_owned(),
                signature_header(&secrets, id, timestamp, body.as_bytes()),
            ),
            ("x-correlation-id".to_owned(), correlation_id.to_owned()),
        ];
        Ok(WebhookRequest {
            to: endpoint.target.clone(),
            subject,
            headers,
            body,
        })
    }

    /// Proves a new destination can be delivered to: a signed verification (`{"type":
    /// "destination.verification", "destinationId", "sentAt"}`, `webhook-id`
    /// `msg_<destination id>`) sent once. `Ok(Err(reason))`: it was refused.
    pub async fn probe(&self, id: &EndpointId) -> Result<Result<(), String>, PortError> {
        let Some(destination) = self.endpoints.get(id).await? else {
            return Ok(Err(format!("no destination {id} is registered")));
        };
        if destination.target.arn().is_none() {
            return Ok(Err(format!("{id} is not a destination")));
        }
        let now = self.clock.now();
        let body = serde_json::json!({
            "type": "destination.verification",
            "destinationId": id.as_str(),
            "sentAt": rfc3339(now),
        })
        .to_string();
        let request = self
            .signed(
                &destination,
                Subject::Verification,
                &format!("msg_{id}"),
                &body,
                &format!("verify-{id}"),
                now,
            )
            .await?;
        Ok(match self.sender.send(&request).await {
            WebhookResponse::Status { code, .. } if (200..300).contains(&code) => Ok(()),
            WebhookResponse::Status { code, .. } => Err(format!("answered {code}")),
            WebhookResponse::NoResponse(reason) => Err(reason),
            WebhookResponse::Unavailable(reason) => {
                return Err(PortError::new("notifier:probe", reason));
            }
        })
    }

    /// A callback message SQS redrive gave up on: its delivery ends FAILED on the claim (unless
    /// it has settled) with the reason, and the letter goes on to the callback DLQ. Each step
    /// repeats safely.
    async fn settle_abandoned(
        &self,
        record: &SqsMessage,
        message: Result<QueueMessage, String>,
    ) -> Result<(), NotifyError> {
        let trace = TraceHeader::of_record(record);
        let letter = match message {
            Ok(QueueMessage::Callback(request)) => {
                let failure = match JobId::parse(&request.job_id) {
                    Ok(job_id) => match self.give_up_abandoned(&job_id).await? {
                        Abandoned::Ended(failure) => failure,
                        Abandoned::SettledElsewhere => {
                            tracing::info!("the callback had settled; nothing to dead-letter");
                            return Ok(());
                        }
                    },
                    Err(_) => Failure {
                        kind: FailureKind::Unparseable,
                        reason: format!("{:?} is not a job id", request.job_id),
                    },
                };
                callback_letter(record, &request, failure, trace.as_ref())
            }
            Ok(other) => unparseable_letter(record, &format!("a {} message", other.kind())),
            Err(error) => unparseable_letter(record, &error),
        };
        tracing::warn!(correlation_id = letter.correlation_id.as_deref().unwrap_or("-"),
            reason = %crate::telemetry::capped(&letter.failure.reason),
            "callback dead-lettered by SQS; sent on to the callback DLQ");
        self.dead_letters.dead_letter(&letter).await?;
        if let Some(id) = &letter.message_id {
            crate::metrics::dead_lettered(
                "callback",
                crate::metrics::About::new(letter.correlation_id.as_deref().unwrap_or("-"), id),
            );
        }
        Ok(())
    }

    /// Ends a delivery SQS gave up on as FAILED, keeping its count of attempts made; the
    /// failure its letter carries. One that settled otherwise (delivered, or given up by the
    /// notifier, whose letter is in the DLQ already) is left as it is.
    async fn give_up_abandoned(&self, job_id: &JobId) -> Result<Abandoned, PortError> {
        let reason = |attempts: u32| {
            format!(
                "dead-lettered after {} receives; {attempts} delivery attempts recorded, none delivered",
                self.max_receive_count
            )
        };
        let Some(callback) = self.claims.get(job_id).await?.and_then(|c| c.callback) else {
            // Nothing left to mark; operators still get the letter.
            return Ok(Abandoned::Ended(Failure {
                kind: FailureKind::DeadLettered,
                reason: reason(0),
            }));
        };
        let failure = Failure {
            kind: FailureKind::DeadLettered,
            reason: reason(callback.attempts),
        };
        if callback.is_settled() {
            // An earlier try at this letter recorded it, and stopped before passing it on.
            let ours = callback.state == CallbackStatus::Failed
                && callback.last_error.as_deref() == Some(failure.reason.as_str());
            return Ok(match ours {
                true => Abandoned::Ended(failure),
                false => Abandoned::SettledElsewhere,
            });
        }
        let update = CallbackUpdate::give_up(
            callback.round,
            callback.attempts,
            callback.last_status,
            failure.reason.clone(),
        );
        self.ledger.record(job_id, &update).await?;
        Ok(Abandoned::Ended(failure))
    }

    /// Logs and metrics for one attempt's outcome.
    fn report(
        &self,
        claim: &Claim,
        verdict: &Verdict,
        plan: &Plan,
        attempt: u32,
        now: OffsetDateTime,
        trace: Option<&TraceHeader>,
    ) {
        let (correlation_id, job_id) = (claim.correlation_id.as_str(), claim.id.as_str());
        let about = crate::metrics::About::new(correlation_id, job_id)
            .job_type(&claim.job_type)
            .trace_id(trace.map(TraceHeader::trace_id));
        match verdict {
            Verdict::Delivered { code } => {
                tracing::debug!(attempt, code, "callback delivered");
                let latency = claim
                    .completed_at
                    .and_then(|done| Duration::try_from(now - done).ok());
                crate::metrics::callback_attempt(true, false, attempt, Some(*code), latency, about);
            }
            Verdict::Gone => {
                tracing::warn!(attempt, "callback refused with 410 Gone");
                crate::metrics::callback_attempt(false, true, attempt, Some(410), None, about);
            }
            Verdict::Retry { reason, .. } => {
                let gave_up = plan.update.event == CallbackEvent::GiveUp;
                if gave_up {
                    tracing::warn!(attempt, reason = %crate::telemetry::capped(reason), "callback attempts exhausted; sent to the callback DLQ");
                    crate::metrics::dead_lettered("callback", about);
                } else {
                    let delay_ms = plan.retry_in.unwrap_or_default().as_millis() as u64;
                    tracing::warn!(attempt, reason = %crate::telemetry::capped(reason), delay_ms, "callback failed; will retry");
                }
                crate::metrics::callback_attempt(false, gave_up, attempt, None, None, about);
            }
        }
    }
}

/// What ending a delivery SQS gave up on found.
enum Abandoned {
    /// It is FAILED now (or was, by an earlier try at this letter): pass the letter on.
    Ended(Failure),
    /// It had settled otherwise: nothing to pass on.
    SettledElsewhere,
}

/// What step 1 found.
enum Prepared {
    /// Nothing to send, and nothing to record (the reason is logged).
    Nothing(&'static str),
    /// Nothing to send yet: the message comes back later.
    Later(&'static str),
    /// Nothing can ever be sent (an operator redrove it after its claim was gone): back to
    /// the DLQ with the reason.
    Undeliverable(Failure),
    /// The URL is refused: record the failure, send nothing.
    Refused(CallbackUpdate),
    Send {
        claim: Box<Claim>,
        webhook: WebhookRequest,
    },
}

/// What an attempt's response means for the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx within the timeout.
    Delivered { code: u16 },
    /// 410: the receiver wants no more; not retried.
    Gone,
    /// Anything else: 3xx (redirects are not followed), 4xx, 429, 5xx, no response. The
    /// receiver may ask for a pause (`Retry-After`).
    Retry {
        status: Option<u16>,
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// Step 3: classify the response.
pub fn classify(response: &WebhookResponse) -> Verdict {
    match response {
        WebhookResponse::Status { code, .. } if (200..300).contains(code) => {
            Verdict::Delivered { code: *code }
        }
        WebhookResponse::Status { code: 410, .. } => Verdict::Gone,
        WebhookResponse::Status { code, retry_after } => Verdict::Retry {
            status: Some(*code),
            reason: format!("the receiver answered {code}"),
            retry_after: *retry_after,
        },
        WebhookResponse::NoResponse(reason) | WebhookResponse::Unavailable(reason) => {
            Verdict::Retry {
                status: None,
                reason: reason.clone(),
                retry_after: None,
            }
        }
    }
}

/// What to record, and when (if ever) to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub update: CallbackUpdate,
    /// `Some`: hand the message back to SQS this long.
    pub retry_in: Option<Duration>,
}

/// The callback DLQ's copy of a delivery, with why it will not be made.
fn callback_letter(
    record: &SqsMessage,
    request: &CallbackMessage,
    failure: Failure,
    trace: Option<&TraceHeader>,
) -> DeadLetter {
    DeadLetter {
        body: record.body.clone().unwrap_or_default(),
        message_id: Some(request.job_id.clone()),
        correlation_id: Some(request.correlation_id.clone()),
        failure,
        trace: trace.cloned(),
        request_print: None,
    }
}

/// The callback DLQ's copy of a message that is not a callback request.
fn unparseable_letter(record: &SqsMessage, error: &str) -> DeadLetter {
    DeadLetter {
        body: record.body.clone().unwrap_or_default(),
        message_id: None,
        correlation_id: None,
        failure: Failure {
            kind: FailureKind::Unparseable,
            reason: format!("not a callback request: {error}"),
        },
        trace: TraceHeader::of_record(record),
        request_print: None,
    }
}

/// The queue an event's ARN names.
fn queue_name(arn: Option<&str>) -> &str {
    arn.and_then(|arn| arn.rsplit(':').next()).unwrap_or("")
}

/// Step 4: schedule. Exponential backoff with jitter, never sooner than the receiver's
/// `Retry-After` and never later than the policy's ceiling; the last attempt gives up.
pub fn schedule(
    verdict: &Verdict,
    attempt: u32,
    policy: &RetryPolicy,
    now: OffsetDateTime,
    rng: &mut impl rand::Rng,
) -> Plan {
    let mut update = CallbackUpdate {
        event: CallbackEvent::GiveUp,
        attempts: attempt,
        follows: Some(attempt - 1),
        last_status: None,
        last_error: None,
        next_attempt_at: None,
        delivered_at: None,
        duration_ms: None,
        round: 0,
    };
    match verdict {
        Verdict::Delivered { code } => {
            update.event = CallbackEvent::Deliver;
            update.last_status = Some(*code);
            update.delivered_at = Some(rfc3339(now));
            Plan {
                update,
                retry_in: None,
            }
        }
        Verdict::Gone => {
            update.last_status = Some(410);
            update.last_error = Some("the receiver answered 410 Gone; not retried".into());
            Plan {
                update,
                retry_in: None,
            }
        }
        Verdict::Retry {
            status,
            reason,
            retry_after,
        } => {
            update.last_status = *status;
            update.last_error = Some(reason.clone());
            if attempt >= policy.max_attempts {
                return Plan {
                    update,
                    retry_in: None,
                };
            }
            let backoff = policy.delay(attempt, rng);
            // The receiver may ask for longer; never longer than our own ceiling.
            let delay =
                retry_after.map_or(backoff, |asked| backoff.max(asked.min(policy.max_delay)));
            update.event = CallbackEvent::Retry;
            update.next_attempt_at = Some(rfc3339(now + delay));
            Plan {
                update,
                retry_in: Some(delay),
            }
        }
    }
}

#[cfg(test)]
mod tests;
