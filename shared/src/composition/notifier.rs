//! The callback-queue consumer: signed webhook deliveries with retries, partial batch failures.

use super::settings::NotifierSettings;
use super::{load_aws_config, start};
use crate::adapters::aws::{
    DestinationSender, DynamoClaimStore, DynamoWebhookEndpoints, EventBridgeJobEvents,
    KmsSecretSealer, ProbeAnswer, ProbeRequest, SqsDeadLetterQueue, SqsRetryScheduler,
};
use crate::adapters::callback_sender::CallbackSender;
use crate::adapters::webhook_sender::HttpWebhookSender;
use crate::application::backoff::RetryPolicy;
use crate::application::clock::SystemClock;
use crate::application::consumer::SqsEvent;
use crate::application::job_events::JobEvents;
use crate::application::notifier::Notifier;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

pub fn wire(
    config: &aws_config::SdkConfig,
    settings: &NotifierSettings,
) -> Result<Notifier, reqwest::Error> {
    let dynamodb = crate::metering::dynamodb_client(config);
    let claims = Arc::new(DynamoClaimStore::new(
        dynamodb.clone(),
        &settings.table_name,
        Arc::new(SystemClock),
    ));
    let sqs = aws_sdk_sqs::Client::new(config);
    Ok(Notifier {
        claims: claims.clone(),
        ledger: claims,
        dead_letters: Arc::new(SqsDeadLetterQueue::new(
            sqs.clone(),
            &settings.callback_dead_letter_queue_url,
        )),
        inbox: queue_name(&settings.callback_dead_letter_inbox_url),
        max_receive_count: settings.max_receive_count,
        payloads: Some(super::payloads(config, &settings.payload_bucket)),
        sender: Arc::new(CallbackSender {
            http: HttpWebhookSender::new(settings.url_policy.clone(), settings.timeout)?,
            destinations: DestinationSender::new(
                sqs.clone(),
                aws_sdk_eventbridge::Client::new(config),
            ),
        }),
        retries: Arc::new(SqsRetryScheduler::new(
            sqs,
            vec![
                settings.callback_queue_url.clone(),
                settings.callback_dead_letter_inbox_url.clone(),
            ],
        )),
        endpoints: Arc::new(DynamoWebhookEndpoints::new(dynamodb, &settings.table_name)),
        sealer: Arc::new(KmsSecretSealer::new(config, &settings.webhook_key_id)),
        url_policy: settings.url_policy.clone(),
        retry: RetryPolicy {
            // Every attempt needs a receive: no more than the queue allows, one to spare.
            max_attempts: settings
                .max_attempts
                .min(settings.max_receive_count.saturating_sub(1))
                .max(1),
            base_delay: settings.retry_base_delay,
            max_delay: settings.retry_max_delay,
        },
        clock: Arc::new(SystemClock),
    })
}

/// A queue URL's last segment: the name its events' ARNs end in.
fn queue_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

pub async fn run() -> Result<(), Error> {
    start("notifier");
    let settings = NotifierSettings::from_env()?;
    let aws = load_aws_config().await;
    let notifier = wire(&aws, &settings)?;
    let job_events = settings.job_event_bus.as_ref().map(|bus| JobEvents {
        bus: Arc::new(EventBridgeJobEvents::new(
            aws_sdk_eventbridge::Client::new(&aws),
            bus,
        )),
    });
    let (notifier, job_events) = (&notifier, &job_events);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        crate::metering::batch_invocation(crate::metrics::per_invocation(async move {
            handle(notifier, job_events.as_ref(), event.payload).await
        }))
    }))
    .await
}

/// The notifier's three kinds of invocation: a batch from the callback queue, a batch of the
/// table's stream (job state events, when on), or the HTTP API's request to prove a new
/// destination.
async fn handle(
    notifier: &Notifier,
    job_events: Option<&JobEvents>,
    event: serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let source = event
        .pointer("/Records/0/eventSource")
        .and_then(serde_json::Value::as_str);
    if source == Some("aws:dynamodb") {
        let Some(job_events) = job_events else {
            return Err("a stream batch, but job events are off (no JOB_EVENT_BUS)".into());
        };
        let batch: aws_lambda_events::event::dynamodb::Event = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(
            publish_changes(job_events, &batch).await,
        )?);
    }
    if let Ok(probe) = serde_json::from_value::<ProbeRequest>(event.clone()) {
        let Ok(id) = crate::domain::EndpointId::parse(&probe.probe_destination) else {
            return Err(format!("{:?} is not a destination id", probe.probe_destination).into());
        };
        let answer = ProbeAnswer::from(notifier.probe(&id).await?);
        tracing::info!(destination_id = %id, delivered = answer.delivered, "destination probed");
        return Ok(serde_json::to_value(answer)?);
    }
    let batch: SqsEvent = serde_json::from_value(event)?;
    Ok(serde_json::to_value(notifier.handle_event(batch).await)?)
}

/// Publishes a stream batch's job state changes; a change not published is reported as the
/// batch's failure, so the stream gives it (and what follows it) again.
async fn publish_changes(
    job_events: &JobEvents,
    batch: &aws_lambda_events::event::dynamodb::Event,
) -> aws_lambda_events::event::streams::DynamoDbEventResponse {
    let changes = crate::adapters::aws::claim_changes(batch);
    let mut response = aws_lambda_events::event::streams::DynamoDbEventResponse::default();
    match job_events.publish(&changes).await {
        Ok(published) => tracing::debug!(published, "job state changes published"),
        Err(unpublished) => {
            tracing::error!(error = %unpublished.error, "job state changes not published; the stream gives them again");
            let mut failure =
                aws_lambda_events::event::streams::DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(unpublished.position);
            response.batch_item_failures.push(failure);
        }
    }
    response
}
