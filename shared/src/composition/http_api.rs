//! The REST API function: API Gateway's HTTP API, or a Lambda function URL with courier's own
//! check of the caller (the `Door`), → one axum router.

use super::settings::{AuthorizerSettings, Door, HttpApiSettings};
use super::{JobCatalog, load_aws_config, start};
use crate::adapters::aws::{
    DynamoClaimStore, DynamoIdempotencyStore, DynamoMessageLedger, DynamoWebhookEndpoints,
    KmsSecretSealer, NotifierProbe, SqsWorkQueue,
};
use crate::adapters::http::{AppState, GatewayRequestId};
use crate::application::clock::{Clock, SystemClock};
use crate::application::intake::Intake;
use crate::application::ports::TokenVerifier;
use crate::application::task_reports::TaskReports;
use crate::application::webhook_endpoints::WebhookEndpoints;
use crate::domain::Principal;
use std::sync::Arc;

/// Real SQS, DynamoDB and KMS behind the HTTP handlers' ports.
pub fn wire(
    config: &aws_config::SdkConfig,
    settings: &HttpApiSettings,
    jobs: courier_jobs::Registry,
) -> AppState {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let dynamodb = crate::metering::dynamodb_client(config);
    let claims = Arc::new(DynamoClaimStore::new(
        dynamodb.clone(),
        &settings.table_name,
        Arc::new(SystemClock),
    ));
    let endpoints = Arc::new(DynamoWebhookEndpoints::new(
        dynamodb.clone(),
        &settings.table_name,
    ));
    let work_queue = crate::adapters::aws::TimedWorkQueue {
        queue: SqsWorkQueue::new(aws_sdk_sqs::Client::new(config), &settings.work_queue_url),
        schedules: crate::adapters::aws::OneTimeSchedules::new(
            aws_sdk_scheduler::Client::new(config),
            &settings.schedule_group,
            &settings.scheduler_role_arn,
            &settings.work_queue_arn,
            settings.scheduler_dead_letter_arn.clone(),
        ),
        schedule_after: settings.schedule_after,
    };
    let quotas = super::quotas(
        dynamodb.clone(),
        &settings.table_name,
        settings.quota_limits,
        clock.clone(),
        settings.claim_lifetime,
    );
    let tasks = TaskReports::new(
        Arc::new(DynamoMessageLedger::new(
            dynamodb.clone(),
            &settings.table_name,
            // Only attempts' claims are written through it: no message record to keep.
            std::time::Duration::ZERO,
            clock.clone(),
        )),
        Arc::new(SqsWorkQueue::new(
            aws_sdk_sqs::Client::new(config),
            &settings.task_check_queue_url,
        )),
        Some(super::frame_sender(
            config,
            dynamodb.clone(),
            &settings.table_name,
            &settings.websocket_management_url,
            clock.clone(),
        )),
    );
    let payloads = super::payloads(config, &settings.payload_bucket);
    let registry = Arc::new(jobs);
    AppState {
        schedules: Arc::new(crate::application::schedules::Schedules {
            store: Arc::new(crate::adapters::aws::DynamoSchedules::new(
                dynamodb.clone(),
                &settings.table_name,
            )),
            scheduler: Arc::new(crate::adapters::aws::RecurringSchedules {
                client: aws_sdk_scheduler::Client::new(config),
                group: settings.schedule_group.clone(),
                role_arn: settings.scheduler_role_arn.clone(),
                queue_arn: settings.work_queue_arn.clone(),
                dead_letter_arn: settings.scheduler_dead_letter_arn.clone(),
            }),
            registry: registry.clone(),
            endpoints: endpoints.clone(),
            clock: clock.clone(),
        }),
        payloads: payloads.clone(),
        intake: Arc::new(Intake {
            payloads: Some(payloads),
            registry,
            queue: Arc::new(work_queue),
            claims: claims.clone(),
            idempotency: Arc::new(DynamoIdempotencyStore::new(
                dynamodb,
                &settings.table_name,
                settings.idempotency_ttl,
                clock.clone(),
            )),
            endpoints: endpoints.clone(),
            clock: clock.clone(),
            claim_lifetime: settings.claim_lifetime,
            quotas: quotas.clone(),
        }),
        claims,
        endpoints: Arc::new(WebhookEndpoints {
            store: endpoints,
            sealer: Arc::new(KmsSecretSealer::new(config, &settings.webhook_key_id)),
            url_policy: Arc::new(settings.callback_policy.clone()),
            destinations: settings.destination_policy.clone(),
            probe: Arc::new(NotifierProbe::new(
                aws_sdk_lambda::Client::new(config),
                &settings.notifier_function,
            )),
            clock: clock.clone(),
            quotas: quotas.clone(),
        }),
        clock,
        attempt_limits: settings.attempt_limits,
        tasks: Arc::new(tasks),
        quotas,
        // The door decides (`run`).
        own_caller_check: None,
    }
}

/// The caller API Gateway's JWT authorizer verified: the token's `iss` and `sub`, from the
/// request context `lambda_http` puts on every request. The authorizer checks signature,
/// issuer, audience and times; the kind of token is checked here, as the WebSocket verifier
/// checks it (an ID token is no caller).
fn verified_caller(extensions: &axum::http::Extensions) -> Option<Principal> {
    use lambda_http::request::RequestContext;
    let Some(RequestContext::ApiGatewayV2(context)) = extensions.get::<RequestContext>() else {
        return None;
    };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    if !crate::adapters::jwt::kind_accepted(claims.get("token_use").map(String::as_str)) {
        return None;
    }
    Some(Principal::new(claims.get("iss")?, claims.get("sub")?))
}

/// API Gateway's id of the request, from the same request context.
fn gateway_request_id(extensions: &axum::http::Extensions) -> Option<GatewayRequestId> {
    use lambda_http::request::RequestContext;
    let Some(RequestContext::ApiGatewayV2(context)) = extensions.get::<RequestContext>() else {
        return None;
    };
    context.request_id.clone().map(GatewayRequestId)
}

/// Puts the verified caller on the request, where the router's `Caller` finds it, and the
/// gateway's request id, which its log lines carry.
async fn with_gateway_context(request: axum::extract::Request) -> axum::extract::Request {
    let mut request = with_request_id(request).await;
    if let Some(caller) = verified_caller(request.extensions()) {
        request.extensions_mut().insert(caller);
    }
    request
}

/// Puts the request id of the gateway or function URL on the request.
async fn with_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    if let Some(id) = gateway_request_id(request.extensions()) {
        request.extensions_mut().insert(id);
    }
    request
}

pub async fn run(catalog: JobCatalog) -> Result<(), lambda_http::Error> {
    start("http-api");
    let settings = HttpApiSettings::from_env()?;
    let aws = load_aws_config().await;
    let mut state = wire(
        &aws,
        &settings,
        super::deployment_registry(&aws, catalog, settings.claim_lifetime, None).await?,
    );
    let app = match &settings.door {
        Door::HttpApi => crate::adapters::http::router(state)
            .layer(axum::middleware::map_request(with_gateway_context)),
        Door::FunctionUrl(authorizer) => {
            state.own_caller_check = Some(own_check(authorizer)?);
            crate::adapters::http::router(state)
                .layer(axum::middleware::map_request(with_request_id))
        }
    };
    lambda_http::run(crate::metering::router(app)).await
}

/// The lean door's check of the caller: the WebSocket authorizer's verifier, in this function.
fn own_check(settings: &AuthorizerSettings) -> Result<Arc<dyn TokenVerifier>, lambda_http::Error> {
    Ok(Arc::new(super::authorizer::wire(settings)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;

    #[test]
    fn the_caller_and_the_gateways_request_id_come_from_the_request_context() {
        let context: ApiGatewayV2httpRequestContext = serde_json::from_value(serde_json::json!({
            "accountId": "000000000000", "apiId": "api", "domainName": "d", "domainPrefix": "d",
            "http": {"method": "GET", "path": "/v1/jobs/x", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "t"},
            "requestId": "r", "routeKey": "GET /v1/jobs/{id}", "stage": "$default",
            "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {"iss": "https://issuer", "sub": "alice",
                                              "client_id": "c"}, "scopes": null}},
        }))
        .unwrap();
        let mut extensions = axum::http::Extensions::new();
        assert_eq!(verified_caller(&extensions), None);
        extensions.insert(RequestContext::ApiGatewayV2(context));
        assert_eq!(
            verified_caller(&extensions),
            Some(Principal::new("https://issuer", "alice"))
        );
        assert_eq!(
            gateway_request_id(&extensions).map(|GatewayRequestId(id)| id),
            Some("r".to_owned())
        );
    }

    #[test]
    fn an_id_token_is_no_caller() {
        let context = |token_use: &str| -> ApiGatewayV2httpRequestContext {
            serde_json::from_value(serde_json::json!({
                "accountId": "000000000000", "apiId": "api", "domainName": "d",
                "domainPrefix": "d", "requestId": "r", "routeKey": "GET /v1/jobs",
                "http": {"method": "GET", "path": "/v1/jobs", "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "t"},
                "stage": "$default", "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 0,
                "authorizer": {"jwt": {"claims": {"iss": "https://issuer", "sub": "alice",
                                                  "aud": "c", "token_use": token_use},
                                       "scopes": null}},
            }))
            .unwrap()
        };
        for (token_use, caller) in [("id", false), ("refresh", false), ("access", true)] {
            let mut extensions = axum::http::Extensions::new();
            extensions.insert(RequestContext::ApiGatewayV2(context(token_use)));
            assert_eq!(
                verified_caller(&extensions).is_some(),
                caller,
                "{token_use}"
            );
        }
    }
}
