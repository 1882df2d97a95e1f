//! Seeing every job: `GET /v1/jobs` lists and filters a caller's jobs, `GET /v1/jobs/{id}/events`
//! shows one job's timeline, and `POST /v1/jobs/cancel` and `POST /v1/jobs/rerun` act on the
//! jobs a filter picks. Every one of them reads and touches only the caller's own jobs.

use super::body::JsonBody;
use super::caller::Caller;
use super::problem::Problem;
use super::state::AppState;
use crate::application::bulk::{BulkActions, BulkKind, BulkOutcome, MAX_PER_CALL, Touched};
use crate::application::clock::parse_rfc3339;
use crate::application::job_view::timeline;
use crate::application::listing::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::application::ports::JobFilter;
use crate::domain::{JobId, JobStatus};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use courier_protocol::rest::{BulkAction, BulkJob, BulkJobOutcome, BulkResult, JobList};
use time::OffsetDateTime;

/// Query parameters as sent, each at most once and each one known.
pub(super) fn query_params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    known: &[&str],
) -> Result<Vec<(String, String)>, Problem> {
    let Query(params) = query.map_err(|e| Problem::invalid_query(e.body_text()))?;
    for (i, (name, _)) in params.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(Problem::invalid_query(format!(
                "unknown query parameter {name:?}; known: {}",
                known.join(", ")
            )));
        }
        if params[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Problem::invalid_query(format!(
                "query parameter {name:?} is given more than once"
            )));
        }
    }
    Ok(params)
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub(super) fn page_limit(raw: Option<&str>) -> Result<usize, Problem> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::invalid_query(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not {raw:?}"
                ))
            }),
    }
}

fn instant(name: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, Problem> {
    raw.map(|raw| {
        parse_rfc3339(raw).ok_or_else(|| {
            Problem::invalid_query(format!(
                "{name} must be an RFC 3339 date-time such as 2026-12-03T09:00:00Z, not {raw:?}"
            ))
        })
    })
    .transpose()
}

/// The filter a list or a bulk action names.
fn filter(
    status: Option<&str>,
    job_type: Option<&str>,
    created_after: Option<&str>,
    created_before: Option<&str>,
) -> Result<JobFilter, Problem> {
    let status = status
        .map(|raw| {
            JobStatus::parse(raw).ok_or_else(|| {
                Problem::invalid_query(format!(
                    "status must be one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED, not {raw:?}"
                ))
            })
        })
        .transpose()?;
    if let Some(raw) = job_type
        && (raw.is_empty() || raw.len() > 64)
    {
        return Err(Problem::invalid_query(
            "type must be a job type's name (1 to 64 characters)",
        ));
    }
    let filter = JobFilter {
        status,
        job_type: job_type.map(str::to_owned),
        created_from: instant("createdAfter", created_after)?,
        created_until: instant("createdBefore", created_before)?,
    };
    Ok(filter)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /v1/jobs`: a page of the caller's jobs, newest first.
pub async fn list_jobs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let known = [
        "status",
        "type",
        "createdAfter",
        "createdBefore",
        "limit",
        "cursor",
    ];
    let params = match query_params(query, &known) {
        Ok(params) => params,
        Err(problem) => return problem.into_response(),
    };
    let (filter, limit) = match filter(
        param(&params, "status"),
        param(&params, "type"),
        param(&params, "createdAfter"),
        param(&params, "createdBefore"),
    )
    .and_then(|f| Ok((f, page_limit(param(&params, "limit"))?)))
    {
        Ok(parsed) => parsed,
        Err(problem) => return problem.into_response(),
    };
    let scope = listing::job_scope(&filter);
    let after = match param(&params, "cursor") {
        None => None,
        Some(cursor) => match listing::decode(cursor, &caller, &scope) {
            Ok(position) if listing::within(&filter, &position) => Some(position),
            Ok(_) | Err(_) => {
                return Problem::invalid_cursor(listing::BadCursor.to_string()).into_response();
            }
        },
    };
    let now = state.clock.now();
    match state
        .claims
        .list(&caller, &filter, after.as_ref(), limit, now)
        .await
    {
        Ok(page) => {
            let mut jobs = Vec::with_capacity(page.items.len());
            for claim in &page.items {
                match state.payloads.job(claim, now).await {
                    Ok(job) => jobs.push(job),
                    Err(error) => {
                        tracing::error!(%error, "a result's URL could not be minted");
                        return Problem::unavailable("the jobs could not be listed; retry later")
                            .into_response();
                    }
                }
            }
            no_store(
                Json(JobList {
                    jobs,
                    next_cursor: page
                        .next
                        .map(|next| listing::encode(&next, &caller, &scope)),
                })
                .into_response(),
            )
        }
        Err(error) => {
            tracing::error!(%error, "claim store unavailable");
            Problem::unavailable("the jobs could not be listed; retry later").into_response()
        }
    }
}

/// `GET /v1/jobs/{id}/events`: the job's timeline.
pub async fn job_events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match path
        .map_err(|e| Problem::invalid_job_id(e.body_text()))
        .and_then(|Path(raw)| {
            JobId::parse(&raw).map_err(|e| Problem::invalid_job_id(e.to_string()))
        }) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match state.claims.get(&id).await {
        Ok(Some(claim)) if claim.visible_to(&caller, state.clock.now()) => {
            no_store(Json(timeline(&claim)).into_response())
        }
        Ok(_) => Problem::job_not_found(id.as_str()).into_response(),
        Err(error) => {
            tracing::error!(%error, "claim store unavailable");
            Problem::unavailable("the job's events could not be read; retry later").into_response()
        }
    }
}

/// A bulk action's body: its filter, its cap and whether it is a dry run.
fn bulk_request(body: serde_json::Value) -> Result<(BulkAction, JobFilter, usize), Problem> {
    if !body.is_object() {
        return Err(Problem::invalid_body(
            "the request body must be a JSON object",
        ));
    }
    let action: BulkAction =
        serde_json::from_value(courier_protocol::json::whole_numbers_as_integers(body))
            .map_err(|e| Problem::invalid_body(e.to_string()))?;
    let filter = filter(
        None,
        action.job_type.as_deref(),
        action.created_after.as_deref(),
        action.created_before.as_deref(),
    )
    .map_err(|p| Problem::invalid_body(p.detail))?;
    let limit = match action.limit {
        None => MAX_PER_CALL,
        Some(n) if (1..=MAX_PER_CALL as u32).contains(&n) => n as usize,
        Some(n) => {
            return Err(Problem::invalid_body(format!(
                "limit must be from 1 to {MAX_PER_CALL}, not {n}"
            )));
        }
    };
    Ok((action, filter, limit))
}

fn bulk_response(outcome: BulkOutcome, done: BulkJobOutcome, would: BulkJobOutcome) -> Response {
    let jobs = outcome
        .jobs
        .into_iter()
        .map(|(id, touched)| BulkJob {
            id: id.to_string(),
            outcome: match touched {
                Touched::Done if outcome.dry_run => would,
                Touched::Done => done,
                Touched::Skipped => BulkJobOutcome::Skipped,
                Touched::NotRerunnable => BulkJobOutcome::NotRerunnable,
            },
        })
        .collect();
    no_store(
        Json(BulkResult {
            dry_run: outcome.dry_run,
            jobs,
            more: outcome.more,
        })
        .into_response(),
    )
}

fn bulk_actions(state: &AppState) -> BulkActions {
    BulkActions {
        claims: state.claims.clone(),
        queue: state.intake.queue.clone(),
        quotas: state.quotas.clone(),
    }
}

/// `POST /v1/jobs/cancel`: cancels the caller's PENDING jobs that the filter picks.
pub async fn bulk_cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> Response {
    bulk(BulkKind::Cancel, &state, &caller, body).await
}

/// `POST /v1/jobs/rerun`: runs the caller's FAILED jobs of a type, created in a window, again.
pub async fn bulk_rerun(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody,
) -> Response {
    bulk(BulkKind::Rerun, &state, &caller, body).await
}

async fn bulk(
    kind: BulkKind,
    state: &AppState,
    caller: &crate::domain::Principal,
    body: serde_json::Value,
) -> Response {
    let (action, filter, limit) = match bulk_request(body) {
        Ok(request) => request,
        Err(problem) => return problem.into_response(),
    };
    if let Err(missing) = kind.check(&filter) {
        return Problem::invalid_body(missing).into_response();
    }
    let (done, would) = match kind {
        BulkKind::Cancel => (BulkJobOutcome::Cancelled, BulkJobOutcome::WouldCancel),
        BulkKind::Rerun => (BulkJobOutcome::Rerun, BulkJobOutcome::WouldRerun),
    };
    match bulk_actions(state)
        .run(
            kind,
            caller,
            filter,
            limit,
            action.dry_run,
            state.clock.now(),
        )
        .await
    {
        Ok(outcome) => bulk_response(outcome, done, would),
        Err(crate::application::bulk::BulkRefused::Quota(exceeded)) => {
            Problem::quota_exceeded(&exceeded).into_response()
        }
        Err(crate::application::bulk::BulkRefused::Dependency(error)) => {
            tracing::error!(%error, "bulk action stopped by a dependency");
            Problem::unavailable(
                "a dependency failed part-way; the jobs already done stay done, retry to go on",
            )
            .into_response()
        }
    }
}
