//! The callback-queue consumer: signed webhook deliveries with retries, partial batch failures.

use super::settings::NotifierSettings;
use super::{load_aws_config, start};
use crate::adapters::aws::{
    DestinationSender, DynamoClaimStore, DynamoWebhookEndpoints, KmsSecretSealer, ProbeAnswer,
    ProbeRequest, SqsDeadLetterQueue, SqsRetryScheduler,
};
use crate::adapters::callback_sender::CallbackSender;
use crate::adapters::webhook_sender::HttpWebhookSender;
use crate::application::backoff::RetryPolicy;
use crate::application::clock::SystemClock;
use crate::application::consumer::SqsEvent;
use crate::application::notifier::Notifier;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

pub fn wire(
    config: &aws_config::SdkConfig,
    settings: &NotifierSettings,
) -> Result<Notifier, reqwest::Error> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
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
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        crate::metering::invocation(async move { handle(notifier, event.payload).await })
    }))
    .await
}

/// The notifier's two kinds of invocation: a batch from the callback queue, or the HTTP API's
/// request to prove a new destination.
async fn handle(notifier: &Notifier, event: serde_json::Value) -> Result<serde_json::Value, Error> {
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
