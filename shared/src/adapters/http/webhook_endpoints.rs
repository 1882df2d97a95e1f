//! `/v1/webhook-endpoints` and `/v1/destinations`: a caller registers the URL, queue or bus their
//! callbacks go to (the answer shows its signing secret, once), reads it, rotates the secret,
//! deletes it. The two collections are one resource told apart by kind.

use super::body::{JsonBody, MAX_REQUEST_BYTES};
use super::caller::Caller;
use super::problem::Problem;
use super::state::AppState;
use crate::application::clock::rfc3339;
use crate::application::webhook_endpoints::{EndpointError, WithNewSecret};
use crate::domain::webhook_endpoint::{DEFAULT_GRACE, RotationRefused};
use crate::domain::{CallbackTarget, EndpointKind, WebhookEndpoint};
use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::{
    self, NewDestination, NewWebhookEndpoint, SecretInfo, SecretRotation,
};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The collection a kind is served under.
fn collection(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Webhook => "/v1/webhook-endpoints",
        EndpointKind::Destination => "/v1/destinations",
    }
}

/// An endpoint or a destination as the API shows it.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Shown {
    Endpoint(rest::WebhookEndpoint),
    Destination(rest::Destination),
}

fn view(endpoint: &WebhookEndpoint, secret: Option<String>, now: time::OffsetDateTime) -> Shown {
    let id = endpoint.id.to_string();
    let created_at = rfc3339(endpoint.created_at);
    let secrets = endpoint
        .active_secrets(now)
        .map(|s| SecretInfo {
            created_at: rfc3339(s.created_at),
            expires_at: s.expires_at.map(rfc3339),
        })
        .collect();
    match &endpoint.target {
        CallbackTarget::Url(url) => Shown::Endpoint(rest::WebhookEndpoint {
            id,
            url: url.clone(),
            created_at,
            secrets,
            secret,
        }),
        CallbackTarget::Queue(arn) | CallbackTarget::EventBus(arn) => {
            let queue = matches!(endpoint.target, CallbackTarget::Queue(_));
            Shown::Destination(rest::Destination {
                id,
                sqs: queue.then(|| arn.to_string()),
                event_bridge: (!queue).then(|| arn.to_string()),
                created_at,
                secrets,
                secret,
            })
        }
    }
}

/// The endpoint as JSON, never cached (an answer may hold a secret).
fn respond(status: StatusCode, body: &Shown) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_secret(made: &WithNewSecret, now: time::OffsetDateTime) -> Shown {
    view(&made.endpoint, Some(made.secret.to_whsec()), now)
}

fn problem(error: EndpointError) -> Problem {
    match error {
        EndpointError::InvalidUrl(detail) => Problem::invalid_endpoint_url(detail),
        EndpointError::InvalidDestination(invalid) => {
            Problem::invalid_destination(invalid.to_string())
        }
        EndpointError::Unreachable { .. } => Problem::destination_unreachable(error.to_string()),
        EndpointError::NotFound { kind, id } => match kind {
            EndpointKind::Webhook => Problem::endpoint_not_found(&id),
            EndpointKind::Destination => Problem::destination_not_found(&id),
        },
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

/// 201 with what was made, its secret, and where it lives.
fn created(made: Result<WithNewSecret, EndpointError>, now: time::OffsetDateTime) -> Response {
    match made {
        Ok(made) => {
            let mut response = respond(StatusCode::CREATED, &with_secret(&made, now));
            let id = &made.endpoint.id;
            let location = format!("{}/{id}", collection(id.kind()));
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("ids are header-safe"),
            );
            response
        }
        Err(error) => problem(error).into_response(),
    }
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
    let made = state.endpoints.register(&caller, &new.url).await;
    created(made, state.clock.now())
}

/// `POST /v1/destinations`: 201 with the destination and its secret, once the notifier has
/// delivered a signed verification to it.
pub async fn create_destination(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> Response {
    let new: NewDestination = match parse(body) {
        Ok(new) => new,
        Err(problem) => return problem.into_response(),
    };
    let made = state
        .endpoints
        .register_destination(&caller, new.sqs.as_deref(), new.event_bridge.as_deref())
        .await;
    created(made, state.clock.now())
}

type Query =
    Result<axum::extract::Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// `GET /v1/webhook-endpoints`: a page of the caller's endpoints, newest first, without any
/// secret.
pub async fn list_endpoints(state: State<AppState>, caller: Caller, query: Query) -> Response {
    list(state, caller, EndpointKind::Webhook, query).await
}

/// `GET /v1/destinations`: a page of the caller's destinations, newest first, without any
/// secret.
pub async fn list_destinations(state: State<AppState>, caller: Caller, query: Query) -> Response {
    list(state, caller, EndpointKind::Destination, query).await
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    kind: EndpointKind,
    query: Query,
) -> Response {
    use super::job_lists::{page_limit, param, query_params};
    use crate::application::listing::{self, DESTINATION_SCOPE, ENDPOINT_SCOPE};
    let scope = match kind {
        EndpointKind::Webhook => ENDPOINT_SCOPE,
        EndpointKind::Destination => DESTINATION_SCOPE,
    };
    let params = match query_params(query, &["limit", "cursor"]) {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let limit = match page_limit(param(&params, "limit")) {
        Ok(limit) => limit,
        Err(problem) => return problem.into_response(),
    };
    let after = match param(&params, "cursor")
        .map(|cursor| listing::decode(cursor, &caller, scope))
        .transpose()
    {
        Ok(after) => after,
        Err(bad) => return Problem::invalid_cursor(bad.to_string()).into_response(),
    };
    let now = state.clock.now();
    let page = match state
        .endpoints
        .list(&caller, kind, after.as_ref(), limit)
        .await
    {
        Ok(page) => page,
        Err(error) => return problem(error).into_response(),
    };
    let next_cursor = page.next.map(|next| listing::encode(&next, &caller, scope));
    let shown = page.items.iter().map(|e| view(e, None, now));
    let mut response = match kind {
        EndpointKind::Webhook => Json(rest::WebhookEndpointList {
            endpoints: shown
                .filter_map(|shown| match shown {
                    Shown::Endpoint(endpoint) => Some(endpoint),
                    Shown::Destination(_) => None,
                })
                .collect(),
            next_cursor,
        })
        .into_response(),
        EndpointKind::Destination => Json(rest::DestinationList {
            destinations: shown
                .filter_map(|shown| match shown {
                    Shown::Destination(destination) => Some(destination),
                    Shown::Endpoint(_) => None,
                })
                .collect(),
            next_cursor,
        })
        .into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /v1/webhook-endpoints/{id}`: the endpoint and when its secrets were made and expire.
pub async fn get_endpoint(state: State<AppState>, caller: Caller, id: Path<String>) -> Response {
    get_one(state, caller, EndpointKind::Webhook, id).await
}

/// `GET /v1/destinations/{id}`.
pub async fn get_destination(state: State<AppState>, caller: Caller, id: Path<String>) -> Response {
    get_one(state, caller, EndpointKind::Destination, id).await
}

async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    kind: EndpointKind,
    Path(id): Path<String>,
) -> Response {
    match state.endpoints.get(&caller, kind, &id).await {
        Ok(endpoint) => respond(StatusCode::OK, &view(&endpoint, None, state.clock.now())),
        Err(error) => problem(error).into_response(),
    }
}

/// `POST /v1/webhook-endpoints/{id}/rotate`: a new secret; the old ones sign for the grace
/// period. The body is optional.
pub async fn rotate_secret(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    request: Request,
) -> Response {
    rotate(state, caller, EndpointKind::Webhook, id, request).await
}

/// `POST /v1/destinations/{id}/rotate`, as for an endpoint.
pub async fn rotate_destination_secret(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    request: Request,
) -> Response {
    rotate(state, caller, EndpointKind::Destination, id, request).await
}

async fn rotate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    kind: EndpointKind,
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
    match state.endpoints.rotate(&caller, kind, &id, grace).await {
        Ok(made) => respond(StatusCode::OK, &with_secret(&made, state.clock.now())),
        Err(error) => problem(error).into_response(),
    }
}

/// `DELETE /v1/webhook-endpoints/{id}`: 204. Callbacks still due to it fail, sending nothing.
pub async fn delete_endpoint(state: State<AppState>, caller: Caller, id: Path<String>) -> Response {
    delete(state, caller, EndpointKind::Webhook, id).await
}

/// `DELETE /v1/destinations/{id}`: 204, as for an endpoint.
pub async fn delete_destination(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
) -> Response {
    delete(state, caller, EndpointKind::Destination, id).await
}

async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    kind: EndpointKind,
    Path(id): Path<String>,
) -> Response {
    match state.endpoints.delete(&caller, kind, &id).await {
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
