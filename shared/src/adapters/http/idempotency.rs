//! The `Idempotency-Key` header: parsed here; what a key means (the work done once, replays,
//! 409s) is the intake's.

use super::headers::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use super::problem::Problem;
use crate::domain::IdempotencyKey;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

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

/// Marks a response that repeats an earlier one for the same `Idempotency-Key`.
pub fn replayed(response: &mut Response) {
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
}
