//! The callback-queue consumer: signed webhook deliveries with retries, partial batch failures.

use super::settings::NotifierSettings;
use super::{load_aws_config, start};
use crate::adapters::aws::{
    DynamoClaimStore, DynamoWebhookEndpoints, KmsSecretSealer, SqsRetryScheduler,
};
use crate::adapters::webhook_sender::HttpWebhookSender;
use crate::application::clock::SystemClock;
use crate::application::consumer::SqsEvent;
use crate::application::notifier::Notifier;
use crate::application::processor::RetryPolicy;
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
    ));
    Ok(Notifier {
        claims: claims.clone(),
        ledger: claims,
        sender: Arc::new(HttpWebhookSender::new(
            settings.url_policy.clone(),
            settings.timeout,
        )?),
        retries: Arc::new(SqsRetryScheduler::new(
            aws_sdk_sqs::Client::new(config),
            vec![settings.callback_queue_url.clone()],
        )),
        endpoints: Arc::new(DynamoWebhookEndpoints::new(dynamodb, &settings.table_name)),
        sealer: Arc::new(KmsSecretSealer::new(config, &settings.webhook_key_id)),
        url_policy: settings.url_policy.clone(),
        retry: RetryPolicy {
            max_attempts: settings.max_attempts,
            base_delay: settings.retry_base_delay,
            max_delay: settings.retry_max_delay,
        },
        clock: Arc::new(SystemClock),
    })
}

pub async fn run() -> Result<(), Error> {
    start("notifier");
    let settings = NotifierSettings::from_env()?;
    let aws = load_aws_config().await;
    let notifier = wire(&aws, &settings)?;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        crate::metering::invocation(async move {
            Ok::<_, Error>(notifier.handle_event(event.payload).await)
        })
    }))
    .await
}
