//! The REST API function: API Gateway (HTTP API) → one axum router.

use super::settings::HttpApiSettings;
use super::{JobCatalog, load_aws_config, start};
use crate::adapters::aws::{DynamoClaimStore, DynamoIdempotencyStore, SqsWorkQueue};
use crate::adapters::http::AppState;
use crate::application::clock::{Clock, SystemClock};
use crate::application::intake::Intake;
use std::sync::Arc;

/// Real SQS and DynamoDB behind the HTTP handlers' ports.
pub fn wire(
    config: &aws_config::SdkConfig,
    settings: &HttpApiSettings,
    jobs: courier_jobs::Registry,
) -> AppState {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let claims = Arc::new(DynamoClaimStore::new(
        dynamodb.clone(),
        &settings.table_name,
    ));
    AppState {
        intake: Arc::new(Intake {
            registry: Arc::new(jobs),
            queue: Arc::new(SqsWorkQueue::new(
                aws_sdk_sqs::Client::new(config),
                &settings.work_queue_url,
            )),
            claims: claims.clone(),
            idempotency: Arc::new(DynamoIdempotencyStore::new(
                dynamodb,
                &settings.table_name,
                settings.idempotency_ttl,
                clock.clone(),
            )),
            callback_policy: Arc::new(settings.callback_policy.clone()),
            clock: clock.clone(),
            claim_lifetime: settings.claim_lifetime,
        }),
        claims,
        clock,
    }
}

pub async fn run(catalog: JobCatalog) -> Result<(), lambda_http::Error> {
    start("http-api");
    let settings = HttpApiSettings::from_env()?;
    let aws = load_aws_config().await;
    let app = crate::adapters::http::router(wire(&aws, &settings, catalog(&aws)));
    lambda_http::run(app).await
}
