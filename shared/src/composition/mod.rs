//! The composition root: one module per Lambda function, each reading that function's settings,
//! wiring the AWS adapters behind the application's ports with the job registry it is given,
//! and handing the handler to the Lambda runtime. `functions/*/src/main.rs` call `run` and
//! nothing else.
//!
//! Nothing here makes a network call: cold starts build clients, not connections.

pub mod authorizer;
pub mod http_api;
pub mod notifier;
pub mod processor;
pub mod settings;
pub mod websocket;

/// Builds a deployment's job registry from the function's AWS configuration (the
/// `courier-jobs` crate's `deployment`).
pub type JobCatalog = fn(&aws_config::SdkConfig) -> courier_jobs::Registry;

/// Shared AWS configuration, loaded once per cold start: credentials and region from the
/// environment Lambda gives every function (no profile, container or instance look-ups), one
/// HTTPS client for every SDK client. Honours `AWS_ENDPOINT_URL`, which is how the local stack
/// points functions at the emulator. Makes no network call.
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::adapters::https::sdk_http_client())
        .credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
        .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
        .load()
        .await
}

/// What every function does first: JSON logs, and the cold-start metric.
fn start(function: &str) {
    crate::telemetry::init();
    crate::metrics::cold_start(function);
}

/// The frame sender both the WebSocket and processor functions use, on the function's own
/// DynamoDB client (one client per service per function keeps cold starts short).
fn frame_sender(
    config: &aws_config::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    table: &str,
    management_url: &str,
    clock: std::sync::Arc<dyn crate::application::clock::Clock>,
) -> crate::application::frames::FrameSender {
    use crate::adapters::aws::{ApiGatewayConnectionPoster, DynamoConnectionStore};
    use std::sync::Arc;
    crate::application::frames::FrameSender::new(
        Arc::new(DynamoConnectionStore::new(dynamodb, table, clock)),
        Arc::new(ApiGatewayConnectionPoster::new(config, management_url)),
    )
}
