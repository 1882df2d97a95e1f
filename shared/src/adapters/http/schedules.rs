//! `/v1/schedules`: a caller's recurring schedules — made, read, listed, paused, resumed and
//! deleted; each run a job of its own (listed by `GET /v1/jobs`, its correlation id the
//! schedule's id).

use super::body::JsonBody;
use super::caller::Caller;
use super::problem::Problem;
use super::state::AppState;
use crate::application::clock::rfc3339;
use crate::application::schedules::ScheduleError;
use crate::domain::schedule::Schedule;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::{self, NewSchedule};

fn view(schedule: &Schedule) -> rest::Schedule {
    rest::Schedule {
        id: schedule.id.to_string(),
        expression: schedule.expression.as_str().to_owned(),
        timezone: schedule.timezone.clone(),
        job: schedule.job.clone(),
        state: match schedule.paused {
            true => "PAUSED",
            false => "ACTIVE",
        }
        .to_owned(),
        created_at: rfc3339(schedule.created_at),
    }
}

fn problem(error: ScheduleError) -> Problem {
    match error {
        ScheduleError::Invalid(detail) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-schedule",
            "The schedule is refused",
            detail,
        ),
        ScheduleError::NotFound(id) => Problem::new(
            StatusCode::NOT_FOUND,
            "schedule-not-found",
            "No such schedule",
            format!("no schedule {id} is yours"),
        ),
        ScheduleError::TooMany => Problem::new(
            StatusCode::CONFLICT,
            "too-many-schedules",
            "Too many schedules",
            error.to_string(),
        ),
        ScheduleError::Dependency(error) => {
            tracing::error!(%error, "a dependency failed");
            Problem::unavailable("a dependency failed; nothing was changed, retry later")
        }
    }
}

fn respond(status: StatusCode, schedule: &Schedule) -> Response {
    (status, Json(view(schedule))).into_response()
}

/// `POST /v1/schedules`: 201 with the schedule and where it lives.
pub async fn create_schedule(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> Response {
    if !body.is_object() {
        return Problem::invalid_body("the request body must be a JSON object").into_response();
    }
    let new: NewSchedule = match serde_json::from_value(body) {
        Ok(new) => new,
        Err(e) => return Problem::invalid_body(e.to_string()).into_response(),
    };
    match state.schedules.create(&caller, new).await {
        Ok(schedule) => {
            let mut response = respond(StatusCode::CREATED, &schedule);
            let location = format!("/v1/schedules/{}", schedule.id);
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("ids are header-safe"),
            );
            response
        }
        Err(error) => problem(error).into_response(),
    }
}

/// `GET /v1/schedules`: a page of the caller's schedules, newest first.
pub async fn list_schedules(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<
        axum::extract::Query<Vec<(String, String)>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Response {
    use super::job_lists::{page_limit, param, query_params};
    use crate::application::listing::{self, SCHEDULE_SCOPE};
    let params = match query_params(query, &["limit", "cursor"]) {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let limit = match page_limit(param(&params, "limit")) {
        Ok(limit) => limit,
        Err(problem) => return problem.into_response(),
    };
    let after = match param(&params, "cursor")
        .map(|cursor| listing::decode(cursor, &caller, SCHEDULE_SCOPE))
        .transpose()
    {
        Ok(after) => after,
        Err(bad) => return Problem::invalid_cursor(bad.to_string()).into_response(),
    };
    match state.schedules.list(&caller, after.as_ref(), limit).await {
        Ok(page) => Json(rest::ScheduleList {
            schedules: page.items.iter().map(view).collect(),
            next_cursor: page
                .next
                .map(|next| listing::encode(&next, &caller, SCHEDULE_SCOPE)),
        })
        .into_response(),
        Err(error) => problem(error).into_response(),
    }
}

/// `GET /v1/schedules/{id}`.
pub async fn get_schedule(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.schedules.get(&caller, &id).await {
        Ok(schedule) => respond(StatusCode::OK, &schedule),
        Err(error) => problem(error).into_response(),
    }
}

/// `POST /v1/schedules/{id}/pause`: no more runs until resumed.
pub async fn pause_schedule(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.schedules.set_paused(&caller, &id, true).await {
        Ok(schedule) => respond(StatusCode::OK, &schedule),
        Err(error) => problem(error).into_response(),
    }
}

/// `POST /v1/schedules/{id}/resume`.
pub async fn resume_schedule(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.schedules.set_paused(&caller, &id, false).await {
        Ok(schedule) => respond(StatusCode::OK, &schedule),
        Err(error) => problem(error).into_response(),
    }
}

/// `DELETE /v1/schedules/{id}`: 204; no more runs.
pub async fn delete_schedule(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    match state.schedules.delete(&caller, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => problem(error).into_response(),
    }
}
