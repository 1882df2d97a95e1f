//! The composition root: one module per Lambda function, each reading that function's settings,
//! wiring the AWS adapters behind the application's ports with the job registry it is given,
//! and handing the handler to the Lambda runtime. `functions/*/src/main.rs` call `run` and
//! nothing else.
//!
//! Nothing here makes a network call — cold starts build clients, not connections — except one
//! `GetObject` of the deployment's job-types document, made only when the template names one.

pub mod authorizer;
pub mod http_api;
pub mod notifier;
pub mod processor;
pub mod settings;
pub mod websocket;

/// Builds a deployment's job registry from the function's AWS configuration (the
/// `courier-jobs` crate's `deployment`).
pub type JobCatalog = fn(&aws_config::SdkConfig) -> courier_jobs::Registry;

/// The registry a function that accepts or runs work is built with: the compiled catalog, and
/// the types the deployment's job-types document declares (`JOB_TYPES_OBJECT`, from the
/// template's `JobTypesObject`), each run through `caller` (`None` where work is only
/// accepted). A document that does not hold stops the function at start: it was checked
/// before it was deployed, so it has been changed since.
async fn deployment_registry(
    aws: &aws_config::SdkConfig,
    catalog: JobCatalog,
    claim_lifetime: std::time::Duration,
    caller: Option<std::sync::Arc<dyn courier_jobs::remote::TargetCaller>>,
) -> Result<courier_jobs::Registry, lambda_runtime::Error> {
    let mut registry = catalog(aws);
    let Some(object) = std::env::var("JOB_TYPES_OBJECT")
        .ok()
        .filter(|o| !o.is_empty())
    else {
        return Ok(registry);
    };
    let s3 = crate::adapters::aws::s3_client(aws);
    let owner = std::env::var("AWS_ACCOUNT_ID")
        .ok()
        .filter(|a| !a.is_empty());
    let text = crate::adapters::aws::read_job_types_object(&s3, &object, owner.as_deref()).await?;
    let compiled: Vec<&str> = registry.names().collect();
    let policy = settings::callback_policy_from_env();
    let plain_http: Vec<&str> = match policy.allow_http {
        true => policy.allowed_hosts.iter().map(String::as_str).collect(),
        false => Vec::new(),
    };
    let limits = courier_jobs::declared::DeploymentLimits {
        claim_lifetime,
        compiled: &compiled,
        plain_http_hosts: &plain_http,
    };
    let document = courier_jobs::declared::parse(&text, limits).map_err(|problems| {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!(
            "the job-types document {object} does not hold: {}",
            problems.join("; ")
        )
    })?;
    tracing::info!(
        object,
        types = document.types.len(),
        "declared job types loaded"
    );
    registry.declare(&document, caller);
    Ok(registry)
}

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

/// The stack's payload bucket, as every function that accepts, runs or reports work reads it.
fn payloads(
    aws: &aws_config::SdkConfig,
    bucket: &str,
) -> std::sync::Arc<crate::application::payloads::Payloads> {
    std::sync::Arc::new(crate::application::payloads::Payloads {
        store: std::sync::Arc::new(crate::adapters::aws::S3Blobs::new(
            crate::adapters::aws::s3_client(aws),
            bucket,
        )),
    })
}

/// The quotas both doors count callers' work against, on the function's own DynamoDB client.
fn quotas(
    dynamodb: aws_sdk_dynamodb::Client,
    table: &str,
    limits: crate::application::quotas::Limits,
    clock: std::sync::Arc<dyn crate::application::clock::Clock>,
    claim_lifetime: std::time::Duration,
) -> std::sync::Arc<crate::application::quotas::Quotas> {
    std::sync::Arc::new(crate::application::quotas::Quotas::new(
        std::sync::Arc::new(crate::adapters::aws::DynamoQuotas::new(
            dynamodb,
            table,
            claim_lifetime,
        )),
        limits,
        clock,
        claim_lifetime,
    ))
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
