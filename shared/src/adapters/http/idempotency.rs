//! `Idempotency-Key` handling shared by every POST: claim the key, do the work once, store the
//! response; a retry with the same body gets that response again, a different body gets 409.

use super::headers::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use super::problem::Problem;
use crate::application::ports::{IdempotencyClaim, IdempotencyStore, StoredResponse};
use crate::domain::IdempotencyKey;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::future::Future;

/// Identifies a request body regardless of key order and whitespace.
pub fn fingerprint(scope: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    // serde_json's map is ordered by key, so this is a canonical form.
    hasher.update(body.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

pub fn key_from(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, Problem> {
    match headers.get(IDEMPOTENCY_KEY) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|raw| IdempotencyKey::parse(raw).ok())
            .map(Some)
            .ok_or_else(|| {
                Problem::invalid_header("Idempotency-Key must be 1 to 255 visible ASCII characters")
            }),
    }
}

pub fn into_response(stored: &StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = Response::new(Body::from(stored.body.clone()));
    *response.status_mut() = status;
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Runs `work` at most once per key and body. Without a key it simply runs.
pub async fn run_once<F, Fut>(
    store: &dyn IdempotencyStore,
    scope: &str,
    key: Option<IdempotencyKey>,
    body: &Value,
    work: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<StoredResponse, Problem>>,
{
    let Some(key) = key else {
        return match work().await {
            Ok(stored) => into_response(&stored),
            Err(problem) => problem.into_response(),
        };
    };
    let print = fingerprint(scope, body);
    match store.acquire(scope, &key, &print).await {
        Err(error) => {
            tracing::error!(%error, "idempotency store unavailable");
            Problem::unavailable("could not record the Idempotency-Key; nothing was accepted")
                .into_response()
        }
        Ok(IdempotencyClaim::KeyReused) => Problem::idempotency_key_reused().into_response(),
        Ok(IdempotencyClaim::InProgress) => Problem::request_in_progress().into_response(),
        Ok(IdempotencyClaim::Replay(stored)) => {
            tracing::info!(idempotency_key = %key, "replaying the stored response");
            let mut response = into_response(&stored);
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            response
        }
        Ok(IdempotencyClaim::Acquired) => match work().await {
            Ok(stored) => {
                // The work is durable already; a lost completion only costs the replay, and the
                // key frees itself when its in-progress lock lapses.
                if let Err(error) = store.complete(scope, &key, &stored).await {
                    tracing::error!(%error, "response accepted but not stored for replay");
                }
                into_response(&stored)
            }
            Err(problem) => {
                if let Err(error) = store.release(scope, &key).await {
                    tracing::warn!(%error, "could not release the Idempotency-Key; it frees itself when its lock lapses");
                }
                problem.into_response()
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprint_ignores_key_order_but_not_values_or_scope() {
        let a = fingerprint(
            "messages",
            &json!({"type": "echo", "payload": {"a": 1, "b": 2}}),
        );
        let b = fingerprint(
            "messages",
            &serde_json::from_str(r#"{ "payload": {"b": 2, "a": 1}, "type": "echo" }"#).unwrap(),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint(
                "messages",
                &json!({"type": "echo", "payload": {"a": 2, "b": 2}})
            )
        );
        assert_ne!(
            a,
            fingerprint(
                "jobs",
                &json!({"type": "echo", "payload": {"a": 1, "b": 2}})
            )
        );
    }
}
