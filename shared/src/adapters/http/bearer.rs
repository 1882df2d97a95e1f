//! courier's own check of a caller's bearer token, for the lean door: a Lambda function URL,
//! which has no JWT authorizer in front of the function. It verifies what API Gateway's
//! authorizer verifies (the WebSocket authorizer's [`TokenVerifier`]: signature, issuer,
//! audience, times, an access token) and puts the caller on the request as the authorizer's
//! claims would be. What it lets through without a token is what the HTTP API routes past its
//! authorizer: a browser's preflight and a worker's report (which carries a task token).

use super::problem::Problem;
use super::state::AppState;
use crate::application::ports::{TokenRejected, TokenVerifier};
use crate::domain::Principal;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The one route that takes no caller's token: a worker reports with its task token.
const REPORT_PATH: &str = "/v1/tasks/report";

/// Whether a request may pass without a caller's token.
fn needs_no_caller(method: &Method, path: &str) -> bool {
    method == Method::OPTIONS || (method == Method::POST && path == REPORT_PATH)
}

/// The token of an `Authorization: Bearer …` header, if the request carries one.
fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    crate::adapters::jwt::bearer_token(value)
}

/// The router's check of the caller where the function checks tokens itself (the state's
/// `own_caller_check`: the lean door); where an authorizer in front did, nothing to do. Inside
/// the correlation layer, so a refusal carries its correlation id like any other answer.
pub(super) async fn check_caller(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match &state.own_caller_check {
        Some(verifier) => verify_bearer(&**verifier, request, next).await,
        None => next.run(request).await,
    }
}

/// Verifies the caller's bearer token and puts the caller on the request; 401 (with
/// `WWW-Authenticate: Bearer`) without a valid one, 503 when the issuer's keys cannot be had
/// (a token that may be good is not called bad). A `Principal` already on the request is
/// dropped first: only this check names the caller.
async fn verify_bearer(verifier: &dyn TokenVerifier, mut request: Request, next: Next) -> Response {
    request.extensions_mut().remove::<Principal>();
    if needs_no_caller(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let verdict = match bearer_token(&request) {
        None => Err(TokenRejected::Invalid("no bearer token".into())),
        Some(token) => verifier.verify(token).await,
    };
    match verdict {
        Ok(caller) => {
            // The request's span (the correlation layer's) names its caller, as behind the
            // HTTP API, where the caller is known before that layer runs.
            crate::telemetry::record_principal(&tracing::Span::current(), Some(&caller));
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(TokenRejected::KeysUnavailable(reason)) => {
            tracing::error!(reason = %crate::telemetry::capped(&reason), "the issuer's keys are unavailable");
            Problem::unavailable("the caller's token cannot be checked just now").into_response()
        }
        Err(TokenRejected::Invalid(reason)) => {
            tracing::info!(reason = %crate::telemetry::capped(&reason), "request refused: no valid token");
            let mut response = Problem::unauthenticated().into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::{any, post};
    use tower::ServiceExt;

    /// Accepts the token `good` as alice's; `keys-down` finds the issuer unreachable.
    struct Verifier;

    #[async_trait]
    impl TokenVerifier for Verifier {
        async fn verify(&self, token: &str) -> Result<Principal, TokenRejected> {
            match token {
                "good" => Ok(Principal::new("https://issuer", "alice")),
                "keys-down" => Err(TokenRejected::KeysUnavailable("timeout".into())),
                _ => Err(TokenRejected::Invalid("bad signature".into())),
            }
        }
    }

    /// Echoes the caller the check put on the request.
    async fn who(request: Request) -> String {
        request
            .extensions()
            .get::<Principal>()
            .map_or("nobody".to_owned(), |p| p.subject.clone())
    }

    fn app() -> Router {
        Router::new()
            .route(REPORT_PATH, post(who))
            .fallback(any(who))
            .layer(axum::middleware::from_fn(|request, next| {
                verify_bearer(&Verifier, request, next)
            }))
    }

    async fn call(
        method: Method,
        path: &str,
        authorization: Option<&str>,
    ) -> (StatusCode, Response) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let mut request = request.body(Body::empty()).unwrap();
        // A caller planted before the check (as if by a layer outside it) is never believed.
        request
            .extensions_mut()
            .insert(Principal::new("https://issuer", "mallory"));
        let response = app().oneshot(request).await.unwrap();
        (response.status(), response)
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_valid_bearer_token_names_the_caller_whatever_the_schemes_case() {
        for value in ["Bearer good", "bearer good", "BEARER  good "] {
            let (status, response) = call(Method::GET, "/v1/jobs", Some(value)).await;
            assert_eq!(status, StatusCode::OK, "{value}");
            assert_eq!(text(response).await, "alice", "{value}");
        }
    }

    #[tokio::test]
    async fn no_token_or_a_bad_one_is_refused_before_routing_even_on_unknown_paths() {
        for (path, value) in [
            ("/v1/jobs", None),
            ("/v1/jobs", Some("Bearer bad")),
            ("/v1/jobs", Some("Bearer ")),
            ("/v1/jobs", Some("Basic Z29vZA==")),
            ("/v1/jobs", Some("good")),
            ("/no/such/path", None),
            // A report's token is for the report route only, and only by POST.
            ("/v1/tasks/report/x", None),
        ] {
            let (status, response) = call(Method::GET, path, value).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {value:?}");
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
        }
        let (status, _) = call(Method::GET, REPORT_PATH, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a report is a POST");
    }

    #[tokio::test]
    async fn unreachable_keys_answer_503_not_401() {
        let (status, response) = call(Method::POST, "/v1/jobs", Some("Bearer keys-down")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn a_preflight_and_a_workers_report_pass_with_no_caller_on_them() {
        for method in [Method::OPTIONS, Method::POST] {
            let path = if method == Method::OPTIONS {
                "/v1/jobs"
            } else {
                REPORT_PATH
            };
            let (status, response) = call(method.clone(), path, None).await;
            assert_eq!(status, StatusCode::OK, "{method}");
            assert_eq!(
                text(response).await,
                "nobody",
                "{method}: the planted caller is dropped"
            );
        }
    }
}
