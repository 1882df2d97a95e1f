//! `POST /v1/messages`: fire and forget. 202 only once SQS has the message.

use super::state::AppState;
use super::submission::{Submitted, accepted_response, refused};
use crate::application::intake::Door;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::MessageAccepted;

pub async fn post_message(
    State(state): State<AppState>,
    Submitted(request): Submitted,
) -> Response {
    match state.intake.accept(Door::Messages, request).await {
        Ok(accepted) => {
            let acceptance = &accepted.acceptance;
            let body = serde_json::to_string(&MessageAccepted {
                message_id: acceptance.id.to_string(),
                correlation_id: acceptance.correlation_id.clone(),
                accepted_at: acceptance.accepted_at.clone(),
            })
            .expect("serialisable");
            accepted_response(&accepted, body, &[])
        }
        Err(refusal) => refused(refusal).into_response(),
    }
}
