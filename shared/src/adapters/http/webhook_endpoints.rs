//! `/v1/webhook-endpoints`: a caller registers the URL their callbacks go to (the answer shows
//! its signing secret, once), reads it, rotates the secret, deletes it.

use super::body::{JsonBody, MAX_REQUEST_BYTES};
use super::caller::Caller;
use super::problem::Problem;
use super::state::AppState;
use crate::application::clock::rfc3339;
use crate::application::webhook_endpoints::{EndpointError, WithNewSecret};
use crate::domain::WebhookEndpoint;
use crate::domain::webhook_endpoint::{DEFAULT_GRACE, RotationRefused};
use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::{self, NewWebhookEndpoint, SecretInfo, SecretRotation};
use serde::de::DeserializeOwned;
use std::time::Duration;

fn endpoint_path(id: &str) -> String {
    format!("/v1/webhook-endpoints/{id}")
}

fn view(
    endpoint: &WebhookEndpoint,
    secret: Option<String>,
    now: time::OffsetDateTime,
) -> rest::WebhookEndpoint {
    rest::WebhookEndpoint {
        id: endpoint.id.to_string(),
        url: endpoint.url.clone(),
        created_at: rfc3339(endpoint.created_at),
        secrets: endpoint
            .active_secrets(now)
            .map(|s| SecretInfo {
                created_at: rfc3339(s.created_at),
                expires_at: s.expires_at.map(rfc3339),
            })
            .collect(),
        secret,
    }
}

/// The endpoint as JSON, never cached (an answer may hold a secret).
fn respond(status: StatusCode, body: &rest::WebhookEndpoint) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_secret(made: &WithNewSecret, now: time::OffsetDateTime) -> rest::WebhookEndpoint {
    view(&made.endpoint, Some(made.secret.to_whsec()), now)
}

fn problem(error: EndpointError) -> Problem {
    match error {
        EndpointError::InvalidUrl(detail) => Problem::invalid_endpoint_url(detail),
        EndpointError::NotFound(id) => Problem::endpoint_not_found(&id),
        EndpointError::Rotation(refused @ RotationRefused::GraceTooLong) => {
            Problem::invalid_body(refused.to_string())
        }
        EndpointError::Rotation(refused @ RotationRefused::TooManySecrets) => {
            Problem::too_many_secrets(refused.to_string())
        }
        EndpointError::QuotaExceeded(exceeded) => Problem::quota_exceeded(&exceeded),
        EndpointError::Conflict | EndpointError::ResolverUnavailable(_) => {
            Problem::unavailable(error.to_string())
        }
        EndpointError::Dependency(error) => {
            tracing::error!(%error, "a dependency failed");
            Problem::unavailable("a dependency failed; nothing was changed, retry later")
        }
    }
}

fn parse<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, Problem> {
    if !body.is_object() {
        return Err(Problem::invalid_body(
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_value(courier_protocol::json::whole_numbers_as_integers(body))
        .map_err(|e| Problem::invalid_body(e.to_string()))
}

/// `POST /v1/webhook-endpoints`: 201 with the endpoint and its secret.
pub async fn create_endpoint(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> Response {
    let new: NewWebhookEndpoint = match parse(body) {
        Ok(new) => new,
        Err(problem) => return problem.into_response(),
    };
    match state.endpoints.register(&caller, &new.url).await {
        Ok(made) => {
            let mut response = respond(StatusCode::CREATED, &with_secret(&made, state.clock.now()));
            let location = endpoint_path(made.endpoint.id.as_str());
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("ids are header-safe"),
            );
            response
        }
        Err(error) => problem(error).into_response(),
    }
}

/// `GET /v1/webhook-endpoints`: a page of the caller's endpoints, newest first, without any
/// secret.
pub async fn list_endpoints(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    use super::job_lists::{page_limit, param, query_params};
    use crate::application::listing::{self, ENDPOINT_SCOPE};
    let params = match query_params(query, &["limit", "cursor"]) {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let limit = match page_limit(param(&params, "limit")) {
        Ok(limit) => limit,
        Err(problem) => return problem.into_response(),
    };
    let after = match param(&params, "cursor")
        .map(|cursor| listing::decode(cursor, &caller, ENDPOINT_SCOPE))
        .transpose()
    {
        Ok(after) => after,
        Err(bad) => return Problem::invalid_cursor(bad.to_string()).into_response(),
    };
    let now = state.clock.now();
    match state.endpoints.list(&caller, after.as_ref(), limit).await {
        Ok(page) => {
            let body = rest::WebhookEndpointList {
                endpoints: page.items.iter().map(|e| view(e, None, now)).collect(),
                next_cursor: page
                    .next
                    .map(|next| listing::encode(&next, &caller, ENDPOINT_SCOPE)),
            };
            let mut response = Json(body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => problem(error).into_response(),
    }
}

/// `GET /v1/webhook-endpoints/{id}`: the endpoint and when its secrets were made and expire.
pub async fn get_endpoint(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.endpoints.get(&caller, &id).await {
        Ok(endpoint) => respond(StatusCode::OK, &view(&endpoint, None, state.clock.now())),
        Err(error) => problem(error).into_response(),
    }
}

/// `POST /v1/webhook-endpoints/{id}/rotate`: a new secret; the old ones sign for the grace
/// period. The body is optional.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let rotation = match optional_body::<SecretRotation>(request).await {
        Ok(rotation) => rotation,
        Err(problem) => return problem.into_response(),
    };
    let grace = rotation
        .grace_period_seconds
        .map_or(DEFAULT_GRACE, Duration::from_secs);
    match state.endpoints.rotate(&caller, &id, grace).await {
        Ok(made) => respond(StatusCode::OK, &with_secret(&made, state.clock.now())),
        Err(error) => problem(error).into_response(),
    }
}

/// `DELETE /v1/webhook-endpoints/{id}`: 204. Callbacks still due to it fail, sending nothing.
pub async fn delete_endpoint(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.endpoints.delete(&caller, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => problem(error).into_response(),
    }
}

/// An empty body is the default; anything else must be a JSON object of `T`'s shape.
async fn optional_body<T: DeserializeOwned + Default>(request: Request) -> Result<T, Problem> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| Problem::body_too_large(MAX_REQUEST_BYTES))?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let JsonBody(value) = JsonBody::from_request(request, &()).await?;
    parse(value)
}
