//! The WebSocket API function: `$connect` (after the authorizer), `$disconnect`, `submit` and
//! `$default`.

use super::settings::WebSocketSettings;
use super::{JobCatalog, frame_sender, load_aws_config, start};
use crate::adapters::aws::{
    DynamoClaimStore, DynamoConnectionStore, DynamoIdempotencyStore, DynamoWebhookEndpoints,
    SqsWorkQueue,
};
use crate::adapters::websocket::{WebSocketApp, WebSocketRequest};
use crate::application::clock::{Clock, SystemClock};
use crate::application::intake::Intake;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

pub fn wire(
    config: &aws_config::SdkConfig,
    settings: &WebSocketSettings,
    jobs: courier_jobs::Registry,
) -> WebSocketApp {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dynamodb = crate::metering::dynamodb_client(config);
    let quotas = super::quotas(
        dynamodb.clone(),
        &settings.table_name,
        settings.quota_limits,
        clock.clone(),
        settings.claim_lifetime,
    );
    WebSocketApp {
        connections: Arc::new(DynamoConnectionStore::new(
            dynamodb.clone(),
            &settings.table_name,
            clock.clone(),
        )),
        frames: frame_sender(
            config,
            dynamodb.clone(),
            &settings.table_name,
            &settings.websocket_management_url,
            clock.clone(),
        ),
        intake: Arc::new(Intake {
            payloads: Some(super::payloads(config, &settings.payload_bucket)),
            registry: Arc::new(jobs),
            queue: Arc::new(SqsWorkQueue::new(
                aws_sdk_sqs::Client::new(config),
                &settings.ordered_work_queue_url,
            )),
            claims: Arc::new(DynamoClaimStore::new(
                dynamodb.clone(),
                &settings.table_name,
                Arc::new(SystemClock),
            )),
            idempotency: Arc::new(DynamoIdempotencyStore::new(
                dynamodb.clone(),
                &settings.table_name,
                settings.idempotency_ttl,
                clock.clone(),
            )),
            // WebSocket jobs take no callback (the intake refuses one before any look-up).
            endpoints: Arc::new(DynamoWebhookEndpoints::new(dynamodb, &settings.table_name)),
            clock: clock.clone(),
            claim_lifetime: settings.claim_lifetime,
            quotas: quotas.clone(),
        }),
        clock,
        quotas,
    }
}

pub async fn run(catalog: JobCatalog) -> Result<(), Error> {
    start("websocket");
    let settings = WebSocketSettings::from_env()?;
    let aws = load_aws_config().await;
    let app = wire(
        &aws,
        &settings,
        super::deployment_registry(&aws, catalog, settings.claim_lifetime, None).await?,
    );
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<WebSocketRequest>| {
        crate::metering::invocation(async move { Ok::<_, Error>(app.handle(event.payload).await) })
    }))
    .await
}
