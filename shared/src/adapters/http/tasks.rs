//! `POST /v1/tasks/report`: a worker that finishes later reports on its attempt. No JWT: the
//! task token in the `Courier-Task-Token` header is the credential (never the URL, so no access
//! log holds it), checked against the claim in the write itself; a refused report changed
//! nothing and says why.

use super::body::JsonBody;
use super::problem::Problem;
use super::state::AppState;
use crate::application::ports::ReportRefusal;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use courier_protocol::task::{TASK_TOKEN_HEADER, TaskReport};
use serde_json::json;

fn refused(refusal: ReportRefusal) -> Problem {
    match refusal {
        ReportRefusal::Unknown => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid-task-token",
            "Invalid task token",
            "no attempt has this task token",
        ),
        ReportRefusal::Stale => Problem::new(
            StatusCode::CONFLICT,
            "stale-attempt",
            "The attempt is over",
            "this token's attempt is over: another attempt runs (or ran) the job",
        ),
        ReportRefusal::Finished => Problem::new(
            StatusCode::CONFLICT,
            "job-finished",
            "The job has finished",
            "the job has finished; nothing more is taken for it",
        ),
        ReportRefusal::Expired => Problem::new(
            StatusCode::GONE,
            "attempt-expired",
            "The attempt's time is up",
            "the attempt's deadline has passed; it is retried or failed",
        ),
        ReportRefusal::AlreadyReported => Problem::new(
            StatusCode::CONFLICT,
            "already-reported",
            "The attempt has reported its outcome",
            "this attempt already reported a different outcome",
        ),
    }
}

pub async fn report_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let Some(token) = headers
        .get(TASK_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
    else {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "missing-task-token",
            "No task token",
            "send the attempt's task token in the Courier-Task-Token header",
        )
        .into_response();
    };
    let report = match TaskReport::parse(&body) {
        Ok(report) => report,
        Err(error) => {
            let at = if error.pointer.is_empty() {
                "the body"
            } else {
                &error.pointer
            };
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-report",
                "Not a report",
                format!("{at}: {}", error.message),
            )
            .into_response();
        }
    };
    if let TaskReport::Result(result) = &report {
        let size = result.to_string().len();
        // A report waits on the claim until the processor settles it: a claim's inline limit.
        let limit = crate::domain::blob::MAX_INLINE_RESULT_BYTES;
        if size > limit {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "result-too-large",
                "The result is too large",
                format!("the result is {size} bytes, over the {limit}-byte limit of a report"),
            )
            .into_response();
        }
    }
    match state.tasks.report(token, &report).await {
        Ok(Ok(taken)) => (
            StatusCode::ACCEPTED,
            Json(json!({"jobId": taken.job_id, "attempt": taken.attempt})),
        )
            .into_response(),
        Ok(Err(refusal)) => refused(refusal).into_response(),
        Err(error) => {
            tracing::error!(%error, "a task report could not be recorded");
            Problem::unavailable("the report could not be recorded; send it again")
                .retry_after(1)
                .into_response()
        }
    }
}
