//! The WebSocket API's `$connect` authorizer, a Lambda REQUEST authorizer (what API Gateway
//! runs for WebSocket APIs): the caller's JWT — from `Authorization: Bearer`, or the `token`
//! query parameter for browsers, which cannot set headers on a WebSocket — checked as the HTTP
//! API's authorizer checks it. A good token gets a policy allowing the connection, with the
//! caller in its context (the WebSocket function reads it from every event); anything else a
//! Deny, which API Gateway answers with 403. Never an error: that would be a 500.

use crate::application::ports::{TokenRejected, TokenVerifier};
use crate::domain::Principal;
use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::{Value, json};

/// The authorizer's context keys: the caller, as the WebSocket function reads it back.
pub mod context {
    pub const ISSUER: &str = "issuer";
    pub const SUBJECT: &str = "subject";
}

/// The token a `$connect` request presents: the `token` query parameter, else a bearer token.
pub fn presented_token<'a>(
    query_token: Option<&'a str>,
    authorization: Option<&'a str>,
) -> Option<&'a str> {
    query_token
        .filter(|t| !t.is_empty())
        .or_else(|| authorization.and_then(crate::adapters::jwt::bearer_token))
}

fn policy(
    effect: IamPolicyEffect,
    resource: &str,
    principal_id: &str,
    context: Value,
) -> ApiGatewayCustomAuthorizerResponse<Value> {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = effect;
    statement.resource = vec![resource.to_owned()];
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".to_owned());
    document.statement = vec![statement];
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal_id.to_owned());
    response.policy_document = document;
    response.context = context;
    response
}

/// Allows or denies one `$connect`.
pub async fn authorize(
    verifier: &dyn TokenVerifier,
    request: &ApiGatewayCustomAuthorizerRequestTypeRequest,
) -> ApiGatewayCustomAuthorizerResponse<Value> {
    let resource = request.method_arn.as_deref().unwrap_or("*");
    let authorization = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let token = presented_token(
        request.query_string_parameters.first("token"),
        authorization,
    );
    let verdict = match token {
        None => Err(TokenRejected::Invalid("no token presented".into())),
        Some(token) => verifier.verify(token).await,
    };
    match verdict {
        Ok(Principal { issuer, subject }) => {
            tracing::info!(subject = %subject, "connection allowed");
            let context = json!({context::ISSUER: issuer, context::SUBJECT: subject});
            policy(IamPolicyEffect::Allow, resource, &subject, context)
        }
        Err(rejected) => {
            tracing::warn!(reason = %crate::telemetry::capped(&rejected.to_string()), "connection denied");
            policy(IamPolicyEffect::Deny, resource, "anonymous", json!({}))
        }
    }
}

/// The caller the authorizer let in, from the context API Gateway passes to every event of
/// the connection.
pub fn caller_of(authorizer: &std::collections::HashMap<String, Value>) -> Option<Principal> {
    let text = |key: &str| authorizer.get(key)?.as_str().filter(|v| !v.is_empty());
    Some(Principal::new(
        text(context::ISSUER)?,
        text(context::SUBJECT)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct OnlyAlice;

    #[async_trait]
    impl TokenVerifier for OnlyAlice {
        async fn verify(&self, token: &str) -> Result<Principal, TokenRejected> {
            match token {
                "alice-token" => Ok(Principal::new("https://issuer", "alice")),
                "keys-down" => Err(TokenRejected::KeysUnavailable("timeout".into())),
                _ => Err(TokenRejected::Invalid("bad".into())),
            }
        }
    }

    fn request(
        query: Option<&str>,
        header: Option<&str>,
    ) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let mut event = json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:000000000000:api/v1/$connect",
            "headers": {},
            "queryStringParameters": {},
            "requestContext": {"connectionId": "conn-A", "routeKey": "$connect",
                               "eventType": "CONNECT", "apiId": "api", "stage": "v1",
                               "identity": {"sourceIp": "127.0.0.1"}},
        });
        if let Some(token) = query {
            event["queryStringParameters"]["token"] = json!(token);
        }
        if let Some(value) = header {
            event["headers"]["Authorization"] = json!(value);
        }
        serde_json::from_value(event).unwrap()
    }

    fn effect(response: &ApiGatewayCustomAuthorizerResponse<Value>) -> IamPolicyEffect {
        response.policy_document.statement[0].effect.clone()
    }

    #[tokio::test]
    async fn a_good_token_in_the_header_or_the_query_is_allowed_with_the_caller_in_context() {
        for event in [
            request(None, Some("Bearer alice-token")),
            // HTTP's schemes go in any case (one reader with the lean door's).
            request(None, Some("BEARER alice-token")),
            request(Some("alice-token"), None),
            // An empty query parameter is none: the header's token counts.
            request(Some(""), Some("bearer alice-token")),
        ] {
            let response = authorize(&OnlyAlice, &event).await;
            assert_eq!(effect(&response), IamPolicyEffect::Allow);
            assert_eq!(
                response.policy_document.statement[0].resource,
                vec!["arn:aws:execute-api:us-east-1:000000000000:api/v1/$connect"]
            );
            let context: std::collections::HashMap<String, Value> =
                serde_json::from_value(response.context.clone()).unwrap();
            assert_eq!(
                caller_of(&context),
                Some(Principal::new("https://issuer", "alice"))
            );
        }
    }

    #[tokio::test]
    async fn anything_else_is_denied_never_an_error() {
        for event in [
            request(None, None),
            request(Some("bad"), None),
            request(None, Some("Bearer bad")),
            request(None, Some("Basic alice-token")),
            request(Some("keys-down"), None),
        ] {
            let response = authorize(&OnlyAlice, &event).await;
            assert_eq!(effect(&response), IamPolicyEffect::Deny);
            assert_eq!(response.principal_id.as_deref(), Some("anonymous"));
        }
    }

    #[test]
    fn takes_the_query_parameter_or_a_bearer_header() {
        assert_eq!(presented_token(Some("q"), Some("Bearer h")), Some("q"));
        assert_eq!(presented_token(None, Some("Bearer h")), Some("h"));
        assert_eq!(presented_token(Some(""), Some("Bearer h")), Some("h"));
        assert_eq!(presented_token(None, Some("Basic h")), None);
        assert_eq!(presented_token(None, Some("Bearer ")), None);
        assert_eq!(presented_token(None, None), None);
    }
}
