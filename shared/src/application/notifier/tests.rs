//! The notifier's steps over fakes: one test per kind of answer a receiver can give.

use super::*;
use crate::adapters::memory::{
    FixedClock, InMemoryClaims, InMemoryDeadLetters, InMemorySealer, InMemoryWebhookEndpoints,
    RecordingRetries,
};
use crate::application::ports::SealingContext;
use crate::domain::{CallbackState, CorrelationId, EndpointId, JobStatus, WebhookEndpoint};
use courier_protocol::webhook::Secret;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Mutex;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);
const JOB: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ENDPOINT: &str = "ep_0123456789abcdef0123456789abcdef";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEWER_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn alice() -> crate::domain::Principal {
    crate::domain::Principal::new("https://issuer.example", "alice")
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(60),
    }
}

/// Answers every request with one scripted response, and keeps the requests.
struct ScriptedReceiver {
    response: WebhookResponse,
    requests: Mutex<Vec<WebhookRequest>>,
}

#[async_trait]
impl WebhookSender for ScriptedReceiver {
    async fn send(&self, request: &WebhookRequest) -> WebhookResponse {
        self.requests.lock().unwrap().push(request.clone());
        self.response.clone()
    }
}

#[derive(Default)]
struct RecordingLedger {
    updates: Mutex<Vec<CallbackUpdate>>,
    /// Another copy of the delivery recorded an attempt since this one read the claim.
    overtaken: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl CallbackLedger for RecordingLedger {
    async fn record(&self, _: &JobId, update: &CallbackUpdate) -> Result<bool, PortError> {
        self.updates.lock().unwrap().push(update.clone());
        Ok(!self.overtaken.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn reopen(&self, _: &JobId, _: u32) -> Result<bool, PortError> {
        Ok(true)
    }
}

const INBOX: &str = "courier-CallbackDeadLetterInbox-1";

struct Harness {
    notifier: Notifier,
    claims: Arc<InMemoryClaims>,
    dead_letters: Arc<InMemoryDeadLetters>,
    receiver: Arc<ScriptedReceiver>,
    ledger: Arc<RecordingLedger>,
    retries: Arc<RecordingRetries>,
    endpoints: Arc<InMemoryWebhookEndpoints>,
    sealer: Arc<InMemorySealer>,
}

async fn harness(url: &str, response: WebhookResponse) -> Harness {
    let claims = Arc::new(InMemoryClaims::default());
    let mut claim = Claim::pending(
        JobId::parse(JOB).unwrap(),
        "echo".into(),
        CorrelationId::parse("corr-1").unwrap(),
        alice(),
        NOW,
        Duration::from_secs(3600),
    );
    claim.status = JobStatus::Succeeded;
    claim.result = Some(serde_json::json!({"ok": true}));
    claim.callback = Some(CallbackState {
        state: CallbackStatus::Queued,
        ..CallbackState::waiting(EndpointId::parse(ENDPOINT).unwrap())
    });
    claims.create(&claim).await.unwrap();
    let sealer = Arc::new(InMemorySealer::default());
    let id = EndpointId::parse(ENDPOINT).unwrap();
    let context = SealingContext {
        endpoint: id.clone(),
        owner: alice(),
    };
    let sealed = sealer
        .seal(&Secret::parse(SECRET).unwrap(), &context)
        .await
        .unwrap();
    let endpoints = Arc::new(InMemoryWebhookEndpoints::default());
    endpoints
        .create(&WebhookEndpoint::new(
            id,
            alice(),
            crate::domain::CallbackTarget::Url(url.into()),
            sealed,
            NOW,
        ))
        .await
        .unwrap();
    let receiver = Arc::new(ScriptedReceiver {
        response,
        requests: Mutex::default(),
    });
    let ledger = Arc::new(RecordingLedger::default());
    let retries = Arc::new(RecordingRetries::default());
    let dead_letters = Arc::new(InMemoryDeadLetters::default());
    Harness {
        claims: claims.clone(),
        dead_letters: dead_letters.clone(),
        notifier: Notifier {
            claims,
            dead_letters,
            inbox: INBOX.into(),
            max_receive_count: 8,
            payloads: None,
            ledger: ledger.clone(),
            sender: receiver.clone(),
            retries: retries.clone(),
            endpoints: endpoints.clone(),
            sealer: sealer.clone(),
            url_policy: SsrfPolicy::default(),
            retry: policy(),
            clock: Arc::new(FixedClock::at(NOW)),
        },
        receiver,
        ledger,
        retries,
        endpoints,
        sealer,
    }
}

impl Harness {
    /// A raw body on the callback queue.
    async fn deliver_body(&self, body: &str) -> Result<(), NotifyError> {
        let mut record = SqsMessage::default();
        record.body = Some(body.into());
        record.event_source_arn = Some("arn:aws:sqs:us-east-1:1:courier-callbacks".into());
        record.receipt_handle = Some("handle".into());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        self.notifier.deliver(Delivery::parse(record)).await
    }

    /// Delivery attempt `attempt` (the claim has counted `attempt - 1` before), on the receive
    /// of the same number.
    async fn deliver_attempt(&self, attempt: u32) -> Result<(), NotifyError> {
        self.claims.update(JOB, |claim| {
            claim.callback.as_mut().unwrap().attempts = attempt - 1;
        });
        self.deliver(attempt).await
    }

    /// The callback message on its `receive_count`th receive.
    async fn deliver(&self, receive_count: u32) -> Result<(), NotifyError> {
        self.deliver_from("courier-callbacks", receive_count).await
    }

    async fn deliver_from(&self, queue: &str, receive_count: u32) -> Result<(), NotifyError> {
        let mut record = SqsMessage::default();
        record.message_id = Some("sqs-1".into());
        record.body = Some(
            CallbackMessage {
                job_id: JOB.into(),
                correlation_id: "corr-1".into(),
                redrive: 0,
            }
            .to_json(),
        );
        record.event_source_arn = Some(format!("arn:aws:sqs:us-east-1:1:{queue}"));
        record.receipt_handle = Some("handle".into());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        self.notifier.deliver(Delivery::parse(record)).await
    }

    fn sent_header(&self, name: &str) -> String {
        let request = self.receiver.requests.lock().unwrap()[0].clone();
        request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    fn update(&self) -> CallbackUpdate {
        let updates = self.ledger.updates.lock().unwrap();
        assert_eq!(updates.len(), 1, "one update per attempt: {updates:?}");
        updates[0].clone()
    }
}

fn status(code: u16, retry_after: Option<u64>) -> WebhookResponse {
    WebhookResponse::Status {
        code,
        retry_after: retry_after.map(Duration::from_secs),
    }
}

const URL: &str = "https://hooks.example.com/courier";

#[tokio::test]
async fn a_2xx_is_delivered_signed_with_a_stable_id() {
    let h = harness(URL, status(204, None)).await;
    h.deliver(1).await.unwrap();
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Delivered);
    assert_eq!(update.last_status, Some(204));
    assert_eq!(
        update.delivered_at.as_deref(),
        Some("2026-11-30T12:00:00.000Z")
    );
    assert!(h.retries.delays().is_empty());
    assert_eq!(h.sent_header("webhook-id"), format!("msg_{JOB}"));
    assert!(verifies(&h, SECRET), "signed with the endpoint's secret");
    let request = h.receiver.requests.lock().unwrap()[0].clone();
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["status"], "SUCCEEDED");
    assert!(
        body.get("callback").is_none(),
        "the body is the job, less its delivery state"
    );
}

#[tokio::test]
async fn a_delivery_under_way_while_its_job_runs_again_waits_and_a_new_round_has_its_own_id() {
    let h = harness(URL, status(204, None)).await;
    let job = JobId::parse(JOB).unwrap();
    // Reopened by a redrive while its callback was retrying: nothing is posted, the message
    // comes back later.
    h.claims.update(JOB, |c| {
        c.status = JobStatus::Running;
        c.callback.as_mut().unwrap().state = CallbackStatus::Retrying;
    });
    assert!(matches!(h.deliver(1).await, Err(NotifyError::WillRetry(_))));
    assert!(h.receiver.requests.lock().unwrap().is_empty());
    assert_eq!(h.retries.delays().len(), 1);
    assert!(h.ledger.updates.lock().unwrap().is_empty());
    // Its new outcome restarted the delivery as round 2: posted under an id of its own, the
    // update bound to that round.
    h.claims.update(JOB, |c| {
        c.status = JobStatus::Succeeded;
        let callback = c.callback.as_mut().unwrap();
        callback.state = CallbackStatus::Queued;
        callback.round = 2;
    });
    h.deliver(1).await.unwrap();
    assert_eq!(h.sent_header("webhook-id"), format!("msg_{job}_2"));
    assert_eq!(h.update().round, 2);
}

fn verifies(h: &Harness, secret: &str) -> bool {
    let request = h.receiver.requests.lock().unwrap()[0].clone();
    courier_protocol::webhook::verify(
        &Secret::parse(secret).unwrap(),
        &h.sent_header("webhook-id"),
        h.sent_header("webhook-timestamp").parse().unwrap(),
        request.body.as_bytes(),
        &h.sent_header("webhook-signature"),
        NOW.unix_timestamp(),
        300,
    )
    .is_ok()
}

/// Rotates the endpoint's secret to `NEWER_SECRET`, the old one signing a minute longer.
async fn rotate_to_the_newer_secret(h: &Harness) {
    let id = EndpointId::parse(ENDPOINT).unwrap();
    let mut endpoint = h.endpoints.get(&id).await.unwrap().unwrap();
    let context = SealingContext::of(&endpoint);
    let newer = h
        .sealer
        .seal(&Secret::parse(NEWER_SECRET).unwrap(), &context)
        .await
        .unwrap();
    endpoint
        .rotate(newer, Duration::from_secs(60), NOW)
        .unwrap();
    assert!(h.endpoints.replace_secrets(&endpoint).await.unwrap());
}

#[tokio::test]
async fn during_a_rotation_the_delivery_is_signed_with_both_secrets() {
    let h = harness(URL, status(204, None)).await;
    rotate_to_the_newer_secret(&h).await;
    h.deliver(1).await.unwrap();
    assert_eq!(h.sent_header("webhook-signature").split(' ').count(), 2);
    assert!(verifies(&h, SECRET) && verifies(&h, NEWER_SECRET));
}

#[tokio::test]
async fn a_deleted_endpoint_fails_the_callback_without_a_request() {
    let h = harness(URL, status(204, None)).await;
    let id = EndpointId::parse(ENDPOINT).unwrap();
    assert!(h.endpoints.delete(&id, &alice()).await.unwrap());
    h.deliver(1).await.unwrap();
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Failed);
    assert!(
        update
            .last_error
            .as_deref()
            .unwrap()
            .contains("was deleted"),
        "{update:?}"
    );
    assert!(h.receiver.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_key_service_failure_retries_the_delivery_and_sends_nothing() {
    let h = harness(URL, status(204, None)).await;
    h.sealer.fail.set(true);
    assert!(matches!(
        h.deliver(1).await,
        Err(NotifyError::Dependency(_))
    ));
    assert!(h.receiver.requests.lock().unwrap().is_empty());
    assert!(
        h.ledger.updates.lock().unwrap().is_empty(),
        "nothing recorded"
    );
    assert_eq!(h.retries.delays().len(), 1, "handed back with a backoff");
}

#[tokio::test]
async fn a_410_gives_up_at_once() {
    let h = harness(URL, status(410, None)).await;
    h.deliver(1).await.unwrap();
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Failed);
    assert_eq!(update.last_status, Some(410));
    assert!(h.retries.delays().is_empty(), "not retried");
}

#[tokio::test]
async fn a_429_waits_at_least_its_retry_after_within_the_ceiling() {
    let h = harness(URL, status(429, Some(45))).await;
    assert!(matches!(h.deliver(1).await, Err(NotifyError::WillRetry(_))));
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Retrying);
    assert_eq!(h.retries.delays(), vec![Duration::from_secs(45)]);
    assert_eq!(
        update.next_attempt_at.as_deref(),
        Some("2026-11-30T12:00:45.000Z")
    );

    let greedy = harness(URL, status(429, Some(86_400))).await;
    assert!(greedy.deliver(1).await.is_err());
    assert_eq!(
        greedy.retries.delays(),
        vec![Duration::from_secs(60)],
        "capped"
    );
}

#[tokio::test]
async fn a_5xx_is_retried_with_growing_backoff() {
    let h = harness(URL, status(503, None)).await;
    assert!(h.deliver_attempt(3).await.is_err());
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Retrying);
    assert_eq!(
        update.last_error.as_deref(),
        Some("the receiver answered 503")
    );
    let delay = h.retries.delays()[0];
    // Attempt 3: step 2 s × 2² = 8 s, equal jitter → 4–8 s.
    assert!(
        (Duration::from_secs(4)..=Duration::from_secs(8)).contains(&delay),
        "{delay:?}"
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let h = harness(URL, WebhookResponse::NoResponse("timed out".into())).await;
    assert!(h.deliver(1).await.is_err());
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Retrying);
    assert_eq!(update.last_status, None);
    assert_eq!(update.last_error.as_deref(), Some("timed out"));
}

#[tokio::test]
async fn a_url_refused_at_delivery_fails_without_a_request() {
    let h = harness("https://127.0.0.1/hook", status(200, None)).await;
    h.deliver(1).await.unwrap();
    let update = h.update();
    assert_eq!(update.state(), CallbackStatus::Failed);
    assert!(update.last_error.is_some());
    assert!(
        h.receiver.requests.lock().unwrap().is_empty(),
        "nothing sent"
    );
}

#[tokio::test]
async fn the_last_attempt_gives_up_and_dead_letters_the_delivery_with_its_reason() {
    let h = harness(URL, status(500, None)).await;
    h.deliver_attempt(5).await.unwrap();
    let update = h.update();
    assert_eq!(
        (update.state(), update.attempts),
        (CallbackStatus::Failed, 5)
    );
    assert!(
        h.retries.delays().is_empty(),
        "acknowledged, not handed back"
    );
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].failure.kind, FailureKind::RetriesExhausted);
    assert!(
        letters[0].failure.reason.contains("5 delivery attempts")
            && letters[0].failure.reason.contains("answered 500"),
        "{}",
        letters[0].failure.reason
    );
    assert_eq!(letters[0].message_id.as_deref(), Some(JOB));
}

/// Receives that ended in courier's own dependency errors (or crashes) posted nothing: the
/// attempts are the claim's count of requests made, not SQS's count of receives.
#[tokio::test]
async fn receives_that_posted_nothing_spend_none_of_the_attempts() {
    let h = harness(URL, status(503, None)).await;
    assert!(h.deliver(7).await.is_err(), "retried");
    let update = h.update();
    assert_eq!(
        (update.state(), update.attempts),
        (CallbackStatus::Retrying, 1)
    );
    assert!(h.dead_letters.letters().is_empty());
}

/// A delivery SQS redrive gave up on (every receive crashed or met a dependency error) ends
/// FAILED on the claim with the reason, and its letter goes on to the callback DLQ.
#[tokio::test]
async fn a_delivery_sqs_gave_up_on_ends_failed_on_the_claim_with_its_reason() {
    let h = harness(URL, status(204, None)).await;
    h.claims.update(JOB, |claim| {
        claim.callback.as_mut().unwrap().attempts = 2;
    });
    h.deliver_from(INBOX, 9).await.unwrap();
    assert!(
        h.receiver.requests.lock().unwrap().is_empty(),
        "nothing sent"
    );
    let update = h.update();
    assert_eq!(
        (update.state(), update.attempts),
        (CallbackStatus::Failed, 2)
    );
    assert_eq!(
        update.last_error.as_deref(),
        Some("dead-lettered after 8 receives; 2 delivery attempts recorded, none delivered")
    );
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].failure.kind, FailureKind::DeadLettered);
}

#[test]
fn classify_and_schedule_are_plain_functions() {
    assert_eq!(
        classify(&status(200, None)),
        Verdict::Delivered { code: 200 }
    );
    assert_eq!(classify(&status(410, None)), Verdict::Gone);
    assert!(matches!(
        classify(&status(302, None)),
        Verdict::Retry {
            status: Some(302),
            ..
        }
    ));
    let mut rng = StdRng::seed_from_u64(7);
    let retry = classify(&status(500, None));
    for attempt in 1..5 {
        let plan = schedule(&retry, attempt, &policy(), NOW, &mut rng);
        assert_eq!(plan.update.event, CallbackEvent::Retry);
        assert!(plan.retry_in.unwrap() <= policy().max_delay);
    }
    let last = schedule(&retry, 5, &policy(), NOW, &mut rng);
    assert_eq!(
        (last.update.event, last.retry_in),
        (CallbackEvent::GiveUp, None)
    );
}

/// The callback request is the one `openapi.json` documents as its `jobFinished` webhook: every
/// documented header is sent and fits its schema (two signatures during a rotation), nothing
/// else is, and the body is a valid `Job`.
#[tokio::test]
async fn the_request_is_the_webhook_openapi_documents() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../../../openapi.json")).unwrap();
    let webhook = &doc["webhooks"]["jobFinished"]["post"];
    let h = harness(URL, status(204, None)).await;
    rotate_to_the_newer_secret(&h).await;
    h.deliver(1).await.unwrap();
    let request = h.receiver.requests.lock().unwrap()[0].clone();

    let documented: Vec<(String, serde_json::Value)> = webhook["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["in"], "header", "{p}");
            (
                p["name"].as_str().unwrap().to_ascii_lowercase(),
                p["schema"].clone(),
            )
        })
        .collect();
    for (name, schema) in &documented {
        let value = h.sent_header(name);
        assert!(
            jsonschema::is_valid(schema, &serde_json::json!(value)),
            "{name}: {value:?} does not fit {schema}"
        );
    }
    let sent: std::collections::BTreeSet<String> = request
        .headers
        .iter()
        .map(|(name, _)| name.clone())
        .filter(|name| !["content-type", "user-agent"].contains(&name.as_str()))
        .collect();
    let documented_names: std::collections::BTreeSet<String> =
        documented.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(sent, documented_names);

    let job_schema = serde_json::json!({
        "$ref": webhook["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "components": doc["components"],
    });
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    let validator = jsonschema::validator_for(&job_schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}: {body}");
}

#[tokio::test]
async fn a_message_that_is_not_a_callback_request_is_dead_lettered_at_once() {
    let h = harness(URL, status(204, None)).await;
    let redrived_job_id = CallbackMessage {
        job_id: "not-a-job-id".into(),
        correlation_id: "corr-1".into(),
        redrive: 0,
    }
    .to_json();
    for body in ["{not json", redrived_job_id.as_str()] {
        h.deliver_body(body).await.unwrap();
    }
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.failure.kind == FailureKind::Unparseable)
    );
    assert!(h.receiver.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_redrive_whose_claim_is_gone_goes_back_to_the_dlq_saying_so() {
    let h = harness(URL, status(204, None)).await;
    h.claims.sweep(JOB);
    let mut record = SqsMessage::default();
    record.body = Some(
        CallbackMessage {
            job_id: JOB.into(),
            correlation_id: "corr-1".into(),
            redrive: 1,
        }
        .to_json(),
    );
    record.event_source_arn = Some("arn:aws:sqs:us-east-1:1:courier-callbacks".into());
    h.notifier.deliver(Delivery::parse(record)).await.unwrap();
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1, "not dropped");
    assert_eq!(letters[0].failure.kind, FailureKind::Expired);
}

/// The last attempt was made and dead-lettered, but its FAILED was not recorded: the
/// redelivery records it without another request or another letter.
#[tokio::test]
async fn a_spent_budget_is_recorded_without_another_request() {
    let h = harness(URL, status(204, None)).await;
    h.claims.update(JOB, |claim| {
        claim.callback.as_mut().unwrap().attempts = 5;
    });
    h.deliver(6).await.unwrap();
    assert!(
        h.receiver.requests.lock().unwrap().is_empty(),
        "no sixth POST"
    );
    let update = h.update();
    assert_eq!(
        (update.state(), update.attempts),
        (CallbackStatus::Failed, 5)
    );
    assert!(
        h.dead_letters.letters().is_empty(),
        "its letter went with attempt 5"
    );
}

/// On the queue's last receive, whatever the budget left, the attempt is the last one: the
/// notifier gives up with the true count rather than leave it to SQS redrive.
#[tokio::test]
async fn the_queues_last_receive_makes_the_last_attempt() {
    let h = harness(URL, status(503, None)).await;
    h.deliver(8).await.unwrap();
    let update = h.update();
    assert_eq!(
        (update.state(), update.attempts),
        (CallbackStatus::Failed, 1)
    );
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].failure.kind, FailureKind::RetriesExhausted);
}

#[tokio::test]
async fn a_letter_for_a_callback_that_settled_meanwhile_is_not_passed_on() {
    let h = harness(URL, status(204, None)).await;
    h.claims.update(JOB, |claim| {
        claim.callback.as_mut().unwrap().state = CallbackStatus::Delivered;
    });
    h.deliver_from(INBOX, 9).await.unwrap();
    assert!(h.ledger.updates.lock().unwrap().is_empty(), "left as it is");
    assert!(h.dead_letters.letters().is_empty());
}

/// Two copies of one delivery (a redelivered work message may queue it twice): the one whose
/// attempt is recorded second stops, rather than run a second chain of retries.
#[tokio::test]
async fn a_copy_overtaken_by_another_stops_instead_of_retrying_in_parallel() {
    let h = harness(URL, status(503, None)).await;
    h.ledger
        .overtaken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    h.deliver_attempt(2).await.unwrap();
    let update = h.update();
    assert_eq!(update.follows, Some(1), "conditional on the count it read");
    assert!(
        h.retries.delays().is_empty(),
        "not handed back: the other copy retries"
    );
}

/// A registration's probe: a destination that refuses is the caller's to mend (a reason); the
/// carrier's own trouble (throttled, failing, unreachable) is an outage, tried again later.
#[tokio::test]
async fn a_probe_tells_a_refusing_destination_from_an_unavailable_carrier() {
    let answer = |response: WebhookResponse| async move {
        let h = harness(URL, response).await;
        let id = EndpointId::generate(crate::domain::EndpointKind::Destination);
        let context = SealingContext {
            endpoint: id.clone(),
            owner: alice(),
        };
        let sealed = h
            .sealer
            .seal(&Secret::parse(SECRET).unwrap(), &context)
            .await
            .unwrap();
        let queue = crate::domain::ResourceArn::queue("arn:aws:sqs:us-east-1:111122223333:results")
            .unwrap();
        h.endpoints
            .create(&WebhookEndpoint::new(
                id.clone(),
                alice(),
                crate::domain::CallbackTarget::Queue(queue),
                sealed,
                NOW,
            ))
            .await
            .unwrap();
        h.notifier.probe(&id).await
    };
    let refused = answer(WebhookResponse::NoResponse(
        "the queue refused it: AccessDenied: no".into(),
    ))
    .await;
    assert!(
        matches!(&refused, Ok(Err(reason)) if reason.contains("AccessDenied")),
        "{refused:?}"
    );
    let unavailable = answer(WebhookResponse::Unavailable(
        "the queue is unavailable: ThrottlingException: slow down".into(),
    ))
    .await;
    assert!(
        unavailable.is_err(),
        "an outage, not a refusal: {unavailable:?}"
    );
    let taken = answer(WebhookResponse::Status {
        code: 200,
        retry_after: None,
    })
    .await;
    assert!(matches!(taken, Ok(Ok(()))), "{taken:?}");
}
