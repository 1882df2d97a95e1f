//! Adapters from courier's ports to SQS and DynamoDB.

mod callback_start;
mod connections_api;
mod dynamo_claims;
mod dynamo_connections;
mod dynamo_idempotency;
mod dynamo_ledger;
mod sqs;

pub use callback_start::QueuedCallbackStarter;
pub use connections_api::ApiGatewayConnectionPoster;
pub use dynamo_claims::DynamoClaimStore;
pub use dynamo_connections::DynamoConnectionStore;
pub use dynamo_idempotency::DynamoIdempotencyStore;
pub use dynamo_ledger::DynamoMessageLedger;
pub use sqs::{SqsDeadLetterQueue, SqsRetryScheduler, SqsWorkQueue};

use crate::ports::PortError;
use aws_sdk_dynamodb::types::AttributeValue;

/// Shared AWS configuration, loaded once per cold start. Honours `AWS_ENDPOINT_URL`, which is how
/// the local stack points functions at the emulator. Makes no network call.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Wraps any SDK error with the full chain of causes, which `Display` alone hides.
pub(crate) fn port_error<E>(operation: &'static str, error: E) -> PortError
where
    E: std::error::Error + 'static,
{
    PortError::new(
        operation,
        aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
    )
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Epoch seconds for DynamoDB's TTL attribute.
pub(crate) fn ttl_after(now: time::OffsetDateTime, keep: std::time::Duration) -> AttributeValue {
    n(now.unix_timestamp() + keep.as_secs() as i64)
}

/// Wiring for the HTTP API function: real SQS and DynamoDB behind the ports.
pub fn http_app_state(
    config: &aws_config::SdkConfig,
    settings: &crate::config::HttpApiSettings,
) -> crate::http::AppState {
    use std::sync::Arc;
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let sqs = aws_sdk_sqs::Client::new(config);
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    crate::http::AppState {
        queue: Arc::new(SqsWorkQueue::new(sqs, &settings.work_queue_url)),
        claims: Arc::new(DynamoClaimStore::new(
            dynamodb.clone(),
            &settings.table_name,
        )),
        claim_lifetime: settings.claim_lifetime,
        callback_policy: Arc::new(settings.callback_policy.clone()),
        idempotency: Arc::new(DynamoIdempotencyStore::new(
            dynamodb,
            &settings.table_name,
            settings.idempotency_ttl,
            clock.clone(),
        )),
        registry: Arc::new(crate::worker::WorkerRegistry::with_builtins()),
        clock,
    }
}

/// The frame sender both the WebSocket and processor functions use.
fn frame_sender(
    config: &aws_config::SdkConfig,
    table: &str,
    management_url: &str,
) -> crate::websocket::FrameSender {
    use std::sync::Arc;
    crate::websocket::FrameSender::new(
        Arc::new(DynamoConnectionStore::new(
            aws_sdk_dynamodb::Client::new(config),
            table,
        )),
        Arc::new(ApiGatewayConnectionPoster::new(config, management_url)),
    )
}

/// Wiring for the processor function: one processor per source queue, each with its own
/// dead-letter queue; the FIFO one also sends WebSocket frames.
pub fn work_consumer(
    config: &aws_config::SdkConfig,
    settings: &crate::config::ProcessorSettings,
) -> crate::processor::WorkConsumer {
    use std::sync::Arc;
    let sqs = aws_sdk_sqs::Client::new(config);
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let registry = Arc::new(crate::worker::WorkerRegistry::with_builtins());
    let ledger = Arc::new(DynamoMessageLedger::new(
        dynamodb.clone(),
        &settings.table_name,
        settings.record_ttl,
        Arc::new(crate::clock::SystemClock),
    ));
    let retries = Arc::new(SqsRetryScheduler::new(
        sqs.clone(),
        vec![
            settings.work_queue_url.clone(),
            settings.ordered_work_queue_url.clone(),
        ],
    ));
    let callbacks = Arc::new(QueuedCallbackStarter::new(
        dynamodb,
        &settings.table_name,
        sqs.clone(),
        &settings.callback_queue_url,
    ));
    let policy = crate::processor::RetryPolicy {
        max_receive_count: settings.max_receive_count,
        base_delay: settings.retry_base_delay,
        max_delay: settings.retry_max_delay,
    };
    let processor = |dead_letter_queue_url: &str| {
        crate::processor::MessageProcessor::new(
            registry.clone(),
            ledger.clone(),
            Arc::new(SqsDeadLetterQueue::new(sqs.clone(), dead_letter_queue_url)),
            retries.clone(),
            callbacks.clone(),
            policy,
        )
    };
    crate::processor::WorkConsumer {
        standard: processor(&settings.dead_letter_queue_url),
        ordered: processor(&settings.ordered_dead_letter_queue_url).with_frames(frame_sender(
            config,
            &settings.table_name,
            &settings.websocket_management_url,
        )),
    }
}

/// Wiring for the WebSocket function.
pub fn websocket_app(
    config: &aws_config::SdkConfig,
    settings: &crate::config::WebSocketSettings,
) -> crate::websocket::WebSocketApp {
    use std::sync::Arc;
    let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock);
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    crate::websocket::WebSocketApp {
        connections: Arc::new(DynamoConnectionStore::new(
            dynamodb.clone(),
            &settings.table_name,
        )),
        frames: frame_sender(
            config,
            &settings.table_name,
            &settings.websocket_management_url,
        ),
        queue: Arc::new(SqsWorkQueue::new(
            aws_sdk_sqs::Client::new(config),
            &settings.ordered_work_queue_url,
        )),
        claims: Arc::new(DynamoClaimStore::new(
            dynamodb.clone(),
            &settings.table_name,
        )),
        idempotency: Arc::new(DynamoIdempotencyStore::new(
            dynamodb,
            &settings.table_name,
            settings.idempotency_ttl,
            clock.clone(),
        )),
        registry: Arc::new(crate::worker::WorkerRegistry::with_builtins()),
        clock,
        claim_lifetime: settings.claim_lifetime,
        tokens: settings.tokens.clone(),
    }
}

/// Wiring for the notifier function.
pub fn notifier(
    config: &aws_config::SdkConfig,
    settings: &crate::config::NotifierSettings,
) -> Result<crate::notifier::Notifier, reqwest::Error> {
    use std::sync::Arc;
    let claims = Arc::new(DynamoClaimStore::new(
        aws_sdk_dynamodb::Client::new(config),
        &settings.table_name,
    ));
    Ok(crate::notifier::Notifier {
        claims: claims.clone(),
        ledger: claims,
        sender: Arc::new(crate::notifier::HttpWebhookSender::new(
            settings.url_policy.clone(),
            settings.timeout,
        )?),
        retries: Arc::new(SqsRetryScheduler::new(
            aws_sdk_sqs::Client::new(config),
            vec![settings.callback_queue_url.clone()],
        )),
        secrets: settings.secrets.clone(),
        url_policy: settings.url_policy.clone(),
        retry: crate::processor::RetryPolicy {
            max_receive_count: settings.max_attempts,
            base_delay: settings.retry_base_delay,
            max_delay: settings.retry_max_delay,
        },
        clock: Arc::new(crate::clock::SystemClock),
    })
}
