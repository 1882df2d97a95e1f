//! The `$connect` authorizer function: API Gateway (WebSocket) REQUEST authorizer → the JWT
//! verifier → an Allow or Deny policy.

use super::settings::AuthorizerSettings;
use super::start;
use crate::adapters::jwt::{HttpKeySource, JwtVerifier};
use crate::adapters::websocket::auth::authorize;
use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};

pub fn wire(settings: &AuthorizerSettings) -> Result<JwtVerifier, Error> {
    Ok(JwtVerifier::new(
        &settings.issuer,
        settings.audiences.clone(),
        Box::new(HttpKeySource::new(&settings.jwks_url)?),
    ))
}

pub async fn run() -> Result<(), Error> {
    start("authorizer");
    let settings = AuthorizerSettings::from_env()?;
    let verifier = wire(&settings)?;
    let verifier = &verifier;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            crate::metering::invocation(async move {
                Ok::<_, Error>(authorize(verifier, &event.payload).await)
            })
        },
    ))
    .await
}
