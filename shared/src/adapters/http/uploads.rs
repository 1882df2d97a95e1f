//! `POST /v1/uploads`: a presigned URL a caller `PUT`s a payload of any size (up to the limit) to,
//! then names as a job's `payloadRef`.

use super::caller::Caller;
use super::problem::Problem;
use super::state::AppState;
use crate::application::clock::rfc3339;
use crate::domain::blob::MAX_UPLOAD_BYTES;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::Upload;

/// 201 with the upload's id, its URL and until when it takes a `PUT`. No body is read.
pub async fn create_upload(State(state): State<AppState>, Caller(caller): Caller) -> Response {
    match state.payloads.new_upload(&caller, state.clock.now()).await {
        Ok(upload) => {
            let body = Upload {
                id: upload.id.as_str().to_owned(),
                upload_url: upload.url,
                expires_at: rfc3339(upload.expires_at),
                max_bytes: MAX_UPLOAD_BYTES,
            };
            let mut response = (StatusCode::CREATED, Json(body)).into_response();
            // The URL is a credential for as long as it lives.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "an upload URL could not be minted");
            Problem::unavailable("the upload could not be prepared; retry later").into_response()
        }
    }
}
