//! Reads a JSON request body with the checks that give each kind of bad input its own answer:
//! wrong media type (415), too large (413), not JSON (400).

use super::problem::Problem;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::Value;

/// Largest request body of the HTTP API's routes, but the two POSTs of work (which take up to
/// [`crate::domain::blob::MAX_DIRECT_BODY_BYTES`]: a payload over a queue message's limit is
/// held in the bucket).
pub const MAX_REQUEST_BYTES: usize = 128 * 1024;

/// A request body that is well-formed JSON of at most [`MAX_REQUEST_BYTES`], with the raw bytes
/// kept for fingerprinting.
pub struct JsonBody(pub Value);

fn is_json_media_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    // JSON is UTF-8 (RFC 8259); a declared charset must agree.
    let charset_ok = parts.all(|param| {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        !name.trim().eq_ignore_ascii_case("charset")
            || value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    });
    json && charset_ok
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_json(request, MAX_REQUEST_BYTES).await.map(JsonBody)
    }
}

/// A JSON body of at most `limit` bytes.
pub async fn read_json(request: Request, limit: usize) -> Result<Value, Problem> {
    {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or(""));
        match content_type {
            None => {
                return Err(Problem::unsupported_media_type(
                    "the request has no Content-Type; send application/json",
                ));
            }
            Some(ct) if !is_json_media_type(ct) => {
                return Err(Problem::unsupported_media_type(format!(
                    "Content-Type {ct:?} is not JSON; send application/json"
                )));
            }
            Some(_) => {}
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(Problem::body_too_large(limit));
        }
        // The declared length may lie or be absent; the limit is enforced on what arrives.
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| Problem::body_too_large(limit))?;
        if bytes.is_empty() {
            return Err(Problem::malformed_json("the request body is empty"));
        }
        serde_json::from_slice(&bytes).map_err(|e| Problem::malformed_json(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn recognises_json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/problem+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "application/jsonx",
            "",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
}
