//! Holds `openapi.json` to what the router serves: the same operations, every documented status
//! code produced by a real request, and every response body valid against its documented schema.

use super::tests::Harness;
use crate::domain::JobStatus;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};

const DOC: &str = include_str!("../../../../openapi.json");

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(pointer) => resolve(
            doc,
            doc.pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {pointer}")),
        ),
        None => node,
    }
}

/// The JSON Schema subset the document uses; returns what does not match.
fn violations(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("unsupported type {other}"),
        };
        if !ok {
            return vec![format!("{at}: expected {kind}, got {value}")];
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        out.push(format!("{at}: {value} not in {options:?}"));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push(format!("{at}: {n} < {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push(format!("{at}: {n} > {max}"));
        }
    }
    if let (Some("date-time"), Some(text)) =
        (schema.get("format").and_then(Value::as_str), value.as_str())
        && crate::application::clock::parse_rfc3339(text).is_none()
    {
        out.push(format!("{at}: {text:?} is not a date-time"));
    }
    if let (Some("uuid"), Some(text)) =
        (schema.get("format").and_then(Value::as_str), value.as_str())
        && uuid::Uuid::try_parse(text).is_err()
    {
        out.push(format!("{at}: {text:?} is not a uuid"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !object.contains_key(required.as_str().unwrap()) {
                out.push(format!("{at}: missing {required}"));
            }
        }
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => out.extend(violations(
                    doc,
                    field_schema,
                    field,
                    &format!("{at}.{name}"),
                )),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    out.push(format!("{at}: undocumented field {name}"));
                }
                None => {}
            }
        }
    }
    out
}

#[test]
fn the_schema_check_catches_what_it_should() {
    let doc = doc();
    let job = json!({"$ref": "#/components/schemas/Job"});
    let wrong = json!({"id": "x", "type": 1, "status": "DONE", "progress": 101, "extra": true});
    let found = violations(&doc, &job, &wrong, "body").join("\n");
    for expected in [
        "missing \"attempts\"",
        "body.id",
        "body.type",
        "body.status",
        "body.progress",
        "undocumented field extra",
    ] {
        assert!(found.contains(expected), "{expected} not in:\n{found}");
    }
}

#[test]
fn the_document_lists_exactly_the_router_operations() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<_> = super::OPERATIONS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
}

#[tokio::test]
async fn every_listed_operation_is_routed_and_other_methods_are_not() {
    let h = Harness::new();
    let id = crate::domain::JobId::generate();
    let paths: HashSet<&str> = super::OPERATIONS.iter().map(|(_, p)| *p).collect();
    for path in paths {
        let concrete = path.replace("{id}", id.as_str());
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let request = Request::builder()
                .method(method)
                .uri(&concrete)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let (status, _, body) = h.send(request).await;
            let listed = super::OPERATIONS.contains(&(method, path));
            let not_routed = status == StatusCode::METHOD_NOT_ALLOWED
                || body["type"] == "urn:courier:problem:not-found";
            assert_eq!(!not_routed, listed, "{method} {path}: {status} {body}");
        }
    }
}

/// A CORS preflight reaches the function without a token (the gateway routes `OPTIONS` past
/// its authorizer) and is answered 204 on any path, with no body.
#[tokio::test]
async fn a_preflight_is_answered_without_a_caller() {
    let h = Harness::new();
    for path in ["/v1/jobs", "/v1/jobs/x", "/v1/nowhere"] {
        let request = Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = h.send_as(request, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
    }
}

struct Exchange {
    method: &'static str,
    template: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    h: &Harness,
    method: &'static str,
    template: &'static str,
    path: &str,
    content_type: &str,
    body: String,
    headers: &[(&str, &str)],
) -> Exchange {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, headers, body) = h.send(request.body(Body::from(body)).unwrap()).await;
    Exchange {
        method,
        template,
        status,
        headers,
        body,
    }
}

/// Requests that between them produce every documented status code of every operation.
async fn exchanges() -> Vec<Exchange> {
    let mut out = Vec::new();
    let big = format!(
        r#"{{"type":"echo","payload":"{}"}}"#,
        "x".repeat(crate::domain::blob::MAX_DIRECT_BODY_BYTES)
    );
    for (template, path) in [("/v1/messages", "/v1/messages"), ("/v1/jobs", "/v1/jobs")] {
        let h = Harness::new();
        let ok = r#"{"type":"echo","payload":{"a":1}}"#.to_owned();
        out.push(
            call(
                &h,
                "POST",
                template,
                path,
                "application/json",
                ok.clone(),
                &[("idempotency-key", "k")],
            )
            .await,
        );
        out.push(
            call(
                &h,
                "POST",
                template,
                path,
                "application/json",
                ok.clone(),
                &[("idempotency-key", "k")],
            )
            .await,
        );
        out.push(
            call(
                &h,
                "POST",
                template,
                path,
                "application/json",
                r#"{"type":"echo"}"#.into(),
                &[("idempotency-key", "k")],
            )
            .await,
        );
        out.push(
            call(
                &h,
                "POST",
                template,
                path,
                "application/json",
                r#"{"type":"nope"}"#.into(),
                &[],
            )
            .await,
        );
        out.push(
            call(
                &h,
                "POST",
                template,
                path,
                "application/json",
                big.clone(),
                &[],
            )
            .await,
        );
        out.push(call(&h, "POST", template, path, "text/plain", ok.clone(), &[]).await);
        h.queue.fail.set(true);
        out.push(call(&h, "POST", template, path, "application/json", ok, &[]).await);
    }

    let h = Harness::new();
    let submitted = call(
        &h,
        "POST",
        "/v1/jobs",
        "/v1/jobs",
        "application/json",
        r#"{"type":"echo"}"#.into(),
        &[],
    )
    .await;
    let id = submitted.body["id"].as_str().unwrap().to_owned();
    let job = format!("/v1/jobs/{id}");
    let unknown = format!("/v1/jobs/{}", crate::domain::JobId::generate());
    for method in ["GET", "DELETE"] {
        out.push(
            call(
                &h,
                method,
                "/v1/jobs/{id}",
                "/v1/jobs/not-an-id",
                "application/json",
                String::new(),
                &[],
            )
            .await,
        );
        out.push(
            call(
                &h,
                method,
                "/v1/jobs/{id}",
                &unknown,
                "application/json",
                String::new(),
                &[],
            )
            .await,
        );
    }
    out.push(
        call(
            &h,
            "GET",
            "/v1/jobs/{id}",
            &job,
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            &h,
            "DELETE",
            "/v1/jobs/{id}",
            &job,
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            &h,
            "DELETE",
            "/v1/jobs/{id}",
            &job,
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    let finished = call(
        &h,
        "POST",
        "/v1/jobs",
        "/v1/jobs",
        "application/json",
        r#"{"type":"echo"}"#.into(),
        &[],
    )
    .await;
    let finished_id = finished.body["id"].as_str().unwrap().to_owned();
    h.claims.set_status(&finished_id, JobStatus::Succeeded);
    out.push(
        call(
            &h,
            "GET",
            "/v1/jobs/{id}",
            &format!("/v1/jobs/{finished_id}"),
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    h.claims.fail.set(true);
    out.push(
        call(
            &h,
            "GET",
            "/v1/jobs/{id}",
            &job,
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            &h,
            "DELETE",
            "/v1/jobs/{id}",
            &job,
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.push(submitted);
    let h = Harness::new();
    let registered = call(
        &h,
        "POST",
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints",
        "application/json",
        r#"{"url":"http://127.0.0.1:9/cb"}"#.into(),
        &[],
    )
    .await;
    let endpoint_id = registered.body["id"].as_str().unwrap().to_owned();
    let with_callback = call(
        &h,
        "POST",
        "/v1/jobs",
        "/v1/jobs",
        "application/json",
        format!(r#"{{"type":"echo","callback":{{"endpointId":"{endpoint_id}"}}}}"#),
        &[],
    )
    .await;
    let callback_job = format!("/v1/jobs/{}", with_callback.body["id"].as_str().unwrap());
    out.push(
        call(
            &h,
            "GET",
            "/v1/jobs/{id}",
            &callback_job,
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            &h,
            "POST",
            "/v1/jobs",
            "/v1/jobs",
            "application/json",
            r#"{"type":"echo","callback":{"endpointId":"ep_0123456789abcdef0123456789abcdef"}}"#
                .into(),
            &[],
        )
        .await,
    );
    out.push(registered);
    out.extend(endpoint_exchanges(&h, &endpoint_id).await);
    out.extend(destination_exchanges(&Harness::new()).await);
    out.extend(upload_exchanges(&Harness::new()).await);
    out.extend(schedule_exchanges(&Harness::new()).await);
    out.push(with_callback);
    out.push(
        call(
            &h,
            "GET",
            "/v1/job-types",
            "/v1/job-types",
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            &h,
            "GET",
            "/v1/openapi.json",
            "/v1/openapi.json",
            "application/json",
            String::new(),
            &[],
        )
        .await,
    );
    out.extend(task_report_exchanges().await);
    out.extend(list_exchanges().await);
    out.extend(quota_exchanges().await);
    out
}

/// Every operation of a caller's answered 429 once the caller is over their requests per
/// second (here: allowed none).
async fn quota_exchanges() -> Vec<Exchange> {
    let h = Harness::new();
    h.quotas.set_own_limits(
        &super::tests::alice(),
        crate::application::quotas::OwnLimits {
            requests_per_second: Some(0),
            ..Default::default()
        },
    );
    let id = "job_0123456789abcdef0123456789abcdef";
    let endpoint = "ep_0123456789abcdef0123456789abcdef";
    let mut out = Vec::new();
    for &(method, template) in super::router::OPERATIONS {
        if template == "/v1/tasks/report" {
            continue;
        }
        let path = template.replace(
            "{id}",
            if template.contains("webhook") {
                endpoint
            } else {
                id
            },
        );
        let body = match method {
            "POST" => r#"{"type":"echo","payload":1}"#.to_owned(),
            _ => String::new(),
        };
        let exchange = call(&h, method, template, &path, "application/json", body, &[]).await;
        assert_eq!(
            exchange.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{method} {path}"
        );
        assert_eq!(exchange.headers["retry-after"], "1");
        assert_eq!(exchange.body["quota"], "requestsPerSecond");
        out.push(exchange);
    }
    out
}

/// The lists', the timeline's and the bulk actions' statuses.
async fn list_exchanges() -> Vec<Exchange> {
    let mut out = Vec::new();
    let h = Harness::new();
    let get = |template: &'static str, path: String| {
        let h = &h;
        async move {
            call(
                h,
                "GET",
                template,
                &path,
                "application/json",
                String::new(),
                &[],
            )
            .await
        }
    };
    let mut ids = Vec::new();
    for _ in 0..2 {
        let job = call(
            &h,
            "POST",
            "/v1/jobs",
            "/v1/jobs",
            "application/json",
            r#"{"type":"echo"}"#.into(),
            &[],
        )
        .await;
        ids.push(job.body["id"].as_str().unwrap().to_owned());
    }
    let first = get("/v1/jobs", "/v1/jobs?limit=1".into()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    out.push(first);
    out.push(get("/v1/jobs", format!("/v1/jobs?limit=1&cursor={cursor}")).await);
    out.push(get("/v1/jobs", "/v1/jobs?status=DONE".into()).await);
    out.push(
        get(
            "/v1/jobs/{id}/events",
            format!("/v1/jobs/{}/events", ids[0]),
        )
        .await,
    );
    out.push(get("/v1/jobs/{id}/events", "/v1/jobs/not-an-id/events".into()).await);
    let unknown = crate::domain::JobId::generate();
    out.push(get("/v1/jobs/{id}/events", format!("/v1/jobs/{unknown}/events")).await);
    out.push(
        get(
            "/v1/webhook-endpoints",
            "/v1/webhook-endpoints?limit=5".into(),
        )
        .await,
    );
    out.push(
        get(
            "/v1/webhook-endpoints",
            "/v1/webhook-endpoints?limit=0".into(),
        )
        .await,
    );
    let big = format!(
        r#"{{"type":"{}"}}"#,
        "x".repeat(super::body::MAX_REQUEST_BYTES)
    );
    for (template, ok) in [
        ("/v1/jobs/cancel", r#"{"type":"echo","dryRun":true}"#),
        (
            "/v1/jobs/rerun",
            r#"{"type":"echo","createdAfter":"2026-11-23T00:00:00Z","createdBefore":"2026-11-24T00:00:00Z"}"#,
        ),
    ] {
        for (content_type, body) in [
            ("application/json", ok.to_owned()),
            ("application/json", "{}".to_owned()),
            ("application/json", big.clone()),
            ("text/plain", ok.to_owned()),
        ] {
            out.push(call(&h, "POST", template, template, content_type, body, &[]).await);
        }
    }
    h.claims.fail.set(true);
    h.endpoints.fail.set(true);
    out.push(get("/v1/jobs", "/v1/jobs".into()).await);
    out.push(
        get(
            "/v1/jobs/{id}/events",
            format!("/v1/jobs/{}/events", ids[0]),
        )
        .await,
    );
    out.push(get("/v1/webhook-endpoints", "/v1/webhook-endpoints".into()).await);
    for template in ["/v1/jobs/cancel", "/v1/jobs/rerun"] {
        let body = r#"{"type":"echo","createdAfter":"2026-11-23T00:00:00Z","createdBefore":"2026-11-24T00:00:00Z"}"#;
        out.push(
            call(
                &h,
                "POST",
                template,
                template,
                "application/json",
                body.into(),
                &[],
            )
            .await,
        );
    }
    out
}

/// `POST /v1/tasks/report`'s statuses, on attempts begun in the in-memory task ledger.
async fn task_report_exchanges() -> Vec<Exchange> {
    use crate::application::ports::{TaskBegin, TaskLedger};
    use crate::domain::{JobId, TaskToken};
    const PATH: &str = "/v1/tasks/report";
    let h = Harness::new();
    let begin = |attempt: u32, token: &TaskToken, ahead: i64| TaskBegin {
        attempt,
        round: attempt,
        digest: token.digest.clone(),
        attempt_by: time::OffsetDateTime::now_utc() + time::Duration::seconds(ahead),
        heartbeat: None,
        envelope: "{}".into(),
    };
    let job = |n: u8| JobId::parse(&format!("0f8fad5b-d9cb-469f-a165-70867728950{n}")).unwrap();
    // Job 1: a running attempt; job 2: its attempt's time is up; job 3: finished; job 4: on
    // attempt 2, reported with attempt 1's token.
    let (live, live_token) = TaskToken::issue(&job(1), 1, [1; 32]);
    h.tasks
        .begin(&job(1), &begin(1, &live_token, 600))
        .await
        .unwrap();
    let (late, late_token) = TaskToken::issue(&job(2), 1, [2; 32]);
    h.tasks
        .begin(&job(2), &begin(1, &late_token, -5))
        .await
        .unwrap();
    let (done, done_token) = TaskToken::issue(&job(3), 1, [3; 32]);
    h.tasks
        .begin(&job(3), &begin(1, &done_token, 600))
        .await
        .unwrap();
    h.tasks.finish(&job(3));
    let (old, _) = TaskToken::issue(&job(4), 1, [4; 32]);
    let (_, current) = TaskToken::issue(&job(4), 2, [5; 32]);
    h.tasks
        .begin(&job(4), &begin(2, &current, 600))
        .await
        .unwrap();
    let (forged, _) = TaskToken::issue(&job(1), 1, [9; 32]);
    let json = "application/json";
    let big = format!(r#"{{"result": "{}"}}"#, "x".repeat(70 * 1024));
    let mut out = Vec::new();
    for (token, body, content_type) in [
        (
            Some(live.as_str()),
            r#"{"progress": 30, "message": "encoding"}"#.to_owned(),
            json,
        ),
        (
            Some(live.as_str()),
            r#"{"heartbeat": true}"#.to_owned(),
            json,
        ),
        (
            Some(live.as_str()),
            r#"{"result": {"done": true}}"#.to_owned(),
            json,
        ),
        (
            Some(live.as_str()),
            r#"{"error": {"kind": "permanent", "reason": "x"}}"#.to_owned(),
            json,
        ),
        (Some(live.as_str()), r#"{"progress": 101}"#.to_owned(), json),
        (Some(live.as_str()), big, json),
        (Some(live.as_str()), "not json".to_owned(), json),
        (
            Some(live.as_str()),
            r#"{"heartbeat": true}"#.to_owned(),
            "text/plain",
        ),
        (None, r#"{"heartbeat": true}"#.to_owned(), json),
        (
            Some(forged.as_str()),
            r#"{"heartbeat": true}"#.to_owned(),
            json,
        ),
        (
            Some("not-a-token"),
            r#"{"heartbeat": true}"#.to_owned(),
            json,
        ),
        (
            Some(late.as_str()),
            r#"{"heartbeat": true}"#.to_owned(),
            json,
        ),
        (
            Some(done.as_str()),
            r#"{"heartbeat": true}"#.to_owned(),
            json,
        ),
        (
            Some(old.as_str()),
            r#"{"heartbeat": true}"#.to_owned(),
            json,
        ),
    ] {
        let headers: Vec<(&str, &str)> = token
            .map(|t| vec![("courier-task-token", t)])
            .unwrap_or_default();
        out.push(call(&h, "POST", PATH, PATH, content_type, body, &headers).await);
    }
    let too_large = format!(r#"{{"result": "{}"}}"#, "x".repeat(200 * 1024));
    out.push(
        call(
            &h,
            "POST",
            PATH,
            PATH,
            json,
            too_large,
            &[("courier-task-token", live.as_str())],
        )
        .await,
    );
    h.tasks.fail.set(true);
    out.push(
        call(
            &h,
            "POST",
            PATH,
            PATH,
            json,
            r#"{"heartbeat": true}"#.into(),
            &[("courier-task-token", live.as_str())],
        )
        .await,
    );
    out
}

/// The schedule operations' statuses.
async fn schedule_exchanges(h: &Harness) -> Vec<Exchange> {
    const ALL: &str = "/v1/schedules";
    const ONE: &str = "/v1/schedules/{id}";
    const PAUSE: &str = "/v1/schedules/{id}/pause";
    const RESUME: &str = "/v1/schedules/{id}/resume";
    let json = "application/json";
    let new = r#"{"expression":"rate(1 hour)","timezone":"Europe/Paris","job":{"type":"echo","payload":{"a":1}}}"#;
    let made = call(h, "POST", ALL, ALL, json, new.into(), &[]).await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let one = format!("{ALL}/{id}");
    let unknown = "/v1/schedules/sch_0123456789abcdef0123456789abcdef";
    let mut out = vec![made];
    for bad in [
        r#"{"expression":"cron(0 9 * * * *)","job":{"type":"echo"}}"#,
        r#"{"expression":"rate(1 hour)","job":{"type":"nope"}}"#,
        r#"{"expression":"rate(1 hour)"}"#,
    ] {
        out.push(call(h, "POST", ALL, ALL, json, bad.into(), &[]).await);
    }
    out.push(call(h, "POST", ALL, ALL, "text/plain", "{}".into(), &[]).await);
    let big = format!(
        r#"{{"x":"{}"}}"#,
        "x".repeat(super::body::MAX_REQUEST_BYTES)
    );
    out.push(call(h, "POST", ALL, ALL, json, big, &[]).await);
    out.push(call(h, "GET", ALL, ALL, json, String::new(), &[]).await);
    out.push(
        call(
            h,
            "GET",
            ALL,
            "/v1/schedules?limit=0",
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(call(h, "GET", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "GET", ONE, unknown, json, String::new(), &[]).await);
    out.push(
        call(
            h,
            "POST",
            PAUSE,
            &format!("{one}/pause"),
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            h,
            "POST",
            PAUSE,
            &format!("{unknown}/pause"),
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            h,
            "POST",
            RESUME,
            &format!("{one}/resume"),
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            h,
            "POST",
            RESUME,
            &format!("{unknown}/resume"),
            json,
            String::new(),
            &[],
        )
        .await,
    );
    // As many as a caller may have: the next is refused.
    for _ in 1..crate::domain::schedule::MAX_SCHEDULES {
        call(h, "POST", ALL, ALL, json, new.into(), &[]).await;
    }
    out.push(call(h, "POST", ALL, ALL, json, new.into(), &[]).await);
    h.schedules.fail.set(true);
    out.push(call(h, "GET", ALL, ALL, json, String::new(), &[]).await);
    out.push(call(h, "GET", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "POST", ALL, ALL, json, new.into(), &[]).await);
    out.push(
        call(
            h,
            "POST",
            PAUSE,
            &format!("{one}/pause"),
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(
        call(
            h,
            "POST",
            RESUME,
            &format!("{one}/resume"),
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    h.schedules.fail.set(false);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out
}

/// An upload made, used as a job's payload, and refused.
async fn upload_exchanges(h: &Harness) -> Vec<Exchange> {
    let json = "application/json";
    let made = call(
        h,
        "POST",
        "/v1/uploads",
        "/v1/uploads",
        json,
        String::new(),
        &[],
    )
    .await;
    let id = made.body["id"].as_str().unwrap().to_owned();
    let owner = super::tests::alice();
    let key = crate::domain::BlobKey::upload(&owner, &crate::domain::UploadId::parse(&id).unwrap());
    use crate::application::ports::BlobStore;
    h.blobs.put(&key, br#"{"a": 1}"#.to_vec()).await.unwrap();
    let mut out = vec![made];
    for (body, _) in [
        (format!(r#"{{"type":"echo","payloadRef":"{id}"}}"#), 202),
        (
            r#"{"type":"echo","payloadRef":"up_0123456789abcdef0123456789abcdef"}"#.to_owned(),
            400,
        ),
    ] {
        out.push(call(h, "POST", "/v1/jobs", "/v1/jobs", json, body, &[]).await);
    }
    h.blobs.fail.set(true);
    out.push(
        call(
            h,
            "POST",
            "/v1/uploads",
            "/v1/uploads",
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out
}

/// The destination operations' statuses, and a job naming one.
async fn destination_exchanges(h: &Harness) -> Vec<Exchange> {
    const ONE: &str = "/v1/destinations/{id}";
    const ROTATE: &str = "/v1/destinations/{id}/rotate";
    const ALL: &str = "/v1/destinations";
    let json = "application/json";
    let queue = r#"{"sqs":"arn:aws:sqs:us-east-1:123456789012:results"}"#;
    let bus = r#"{"eventBridge":"arn:aws:events:us-east-1:123456789012:event-bus/b"}"#;
    let mut out = vec![
        call(h, "POST", ALL, ALL, json, queue.into(), &[]).await,
        call(h, "POST", ALL, ALL, json, bus.into(), &[]).await,
    ];
    let id = out[0].body["id"].as_str().unwrap().to_owned();
    let one = format!("/v1/destinations/{id}");
    let rotate = format!("{one}/rotate");
    let unknown = "/v1/destinations/dst_0123456789abcdef0123456789abcdef";
    for bad in [
        r#"{"sqs":"arn:aws:sqs:us-east-1:123456789012:results.fifo"}"#,
        r#"{"sqs":"arn:aws:sqs:us-east-1:123456789012:results","eventBridge":"x"}"#,
        r#"{"url":"https://example.com"}"#,
        "{}",
    ] {
        out.push(call(h, "POST", ALL, ALL, json, bad.into(), &[]).await);
    }
    h.probe.refuse(Some("AccessDenied"));
    out.push(call(h, "POST", ALL, ALL, json, queue.into(), &[]).await);
    h.probe.refuse(None);
    out.push(call(h, "POST", ALL, ALL, "text/plain", "{}".into(), &[]).await);
    let big = format!(
        r#"{{"sqs":"{}"}}"#,
        "x".repeat(super::body::MAX_REQUEST_BYTES)
    );
    out.push(call(h, "POST", ALL, ALL, json, big, &[]).await);
    out.push(call(h, "GET", ALL, ALL, json, String::new(), &[]).await);
    out.push(
        call(
            h,
            "GET",
            ALL,
            "/v1/destinations?limit=0",
            json,
            String::new(),
            &[],
        )
        .await,
    );
    out.push(call(h, "GET", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "GET", ONE, unknown, json, String::new(), &[]).await);
    out.push(call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await);
    out.push(
        call(
            h,
            "POST",
            "/v1/jobs",
            "/v1/jobs",
            json,
            format!(r#"{{"type":"echo","callback":{{"destinationId":"{id}"}}}}"#),
            &[],
        )
        .await,
    );
    let grace = r#"{"gracePeriodSeconds":604801}"#;
    out.push(call(h, "POST", ROTATE, &rotate, json, grace.into(), &[]).await);
    let big = format!(
        r#"{{"x":"{}"}}"#,
        "x".repeat(super::body::MAX_REQUEST_BYTES)
    );
    out.push(call(h, "POST", ROTATE, &rotate, json, big, &[]).await);
    out.push(call(h, "POST", ROTATE, &rotate, "text/plain", "{}".into(), &[]).await);
    let unknown_rotate = format!("{unknown}/rotate");
    out.push(call(h, "POST", ROTATE, &unknown_rotate, json, String::new(), &[]).await);
    // Five secrets signing at once: the next rotation is refused.
    for _ in 0..3 {
        call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await;
    }
    out.push(call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await);
    h.endpoints.fail.set(true);
    out.push(call(h, "GET", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "GET", ALL, ALL, json, String::new(), &[]).await);
    out.push(call(h, "POST", ALL, ALL, json, queue.into(), &[]).await);
    out.push(call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    h.endpoints.fail.set(false);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out
}

/// The webhook endpoint operations' statuses, on `h`'s registered endpoint `id`.
async fn endpoint_exchanges(h: &Harness, id: &str) -> Vec<Exchange> {
    const ONE: &str = "/v1/webhook-endpoints/{id}";
    const ROTATE: &str = "/v1/webhook-endpoints/{id}/rotate";
    const ALL: &str = "/v1/webhook-endpoints";
    let one = format!("/v1/webhook-endpoints/{id}");
    let rotate = format!("{one}/rotate");
    let unknown = "/v1/webhook-endpoints/ep_0123456789abcdef0123456789abcdef";
    let big = format!(
        r#"{{"url":"{}"}}"#,
        "x".repeat(super::body::MAX_REQUEST_BYTES)
    );
    let json = "application/json";
    let mut out = vec![
        call(h, "GET", ONE, &one, json, String::new(), &[]).await,
        call(h, "GET", ONE, unknown, json, String::new(), &[]).await,
        call(
            h,
            "POST",
            ALL,
            ALL,
            json,
            r#"{"url":"http://10.0.0.1/"}"#.into(),
            &[],
        )
        .await,
        call(h, "POST", ALL, ALL, json, r#"{"uri":"x"}"#.into(), &[]).await,
        call(h, "POST", ALL, ALL, json, big.clone(), &[]).await,
        call(h, "POST", ALL, ALL, "text/plain", "{}".into(), &[]).await,
        call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await,
        call(
            h,
            "POST",
            ROTATE,
            &rotate,
            json,
            r#"{"gracePeriodSeconds":604801}"#.into(),
            &[],
        )
        .await,
        call(h, "POST", ROTATE, &rotate, json, big, &[]).await,
        call(h, "POST", ROTATE, &rotate, "text/plain", "{}".into(), &[]).await,
        call(
            h,
            "POST",
            ROTATE,
            &format!("{unknown}/rotate"),
            json,
            String::new(),
            &[],
        )
        .await,
    ];
    // Five secrets signing at once: the next rotation is refused.
    for _ in 0..4 {
        call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await;
    }
    out.push(call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await);
    h.endpoints.fail.set(true);
    out.push(call(h, "GET", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "POST", ROTATE, &rotate, json, String::new(), &[]).await);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out.push(
        call(
            h,
            "POST",
            ALL,
            ALL,
            json,
            r#"{"url":"http://127.0.0.1:9/"}"#.into(),
            &[],
        )
        .await,
    );
    h.endpoints.fail.set(false);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out.push(call(h, "DELETE", ONE, &one, json, String::new(), &[]).await);
    out
}

#[tokio::test]
async fn every_documented_status_is_produced_and_every_body_matches_its_schema() {
    let doc = doc();
    let mut produced = BTreeSet::new();
    for exchange in exchanges().await {
        let operation = &doc["paths"][exchange.template][exchange.method.to_lowercase()];
        let code = exchange.status.as_str().to_owned();
        let response = operation["responses"]
            .get(&code)
            .map(|r| resolve(&doc, r))
            .unwrap_or_else(|| {
                panic!(
                    "{} {} answered undocumented {code}: {}",
                    exchange.method, exchange.template, exchange.body
                )
            });
        match exchange.headers.get("content-type") {
            None => assert!(
                response.get("content").is_none() && exchange.body.is_null(),
                "{} {} {code}: a body without a content type",
                exchange.method,
                exchange.template
            ),
            Some(content_type) => {
                let content_type = content_type.to_str().unwrap();
                let schema = &response["content"][content_type]["schema"];
                assert!(
                    !schema.is_null(),
                    "{} {} {code}: undocumented content type {content_type}",
                    exchange.method,
                    exchange.template
                );
                let problems = violations(&doc, schema, &exchange.body, "body");
                assert!(
                    problems.is_empty(),
                    "{} {} {code}: {problems:?}\n{}",
                    exchange.method,
                    exchange.template,
                    exchange.body
                );
            }
        }
        for (name, _) in response["headers"].as_object().into_iter().flatten() {
            // Documented headers are optional unless always sent; the ones always sent are checked here.
            if name == "X-Correlation-Id" || name == "Location" {
                assert!(
                    exchange.headers.contains_key(name.as_str()),
                    "{} {} {code}: missing {name}",
                    exchange.method,
                    exchange.template
                );
            }
        }
        produced.insert((
            exchange.method.to_owned(),
            exchange.template.to_owned(),
            code,
        ));
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
                continue;
            };
            for (code, response) in responses {
                // Answered by API Gateway's JWT authorizer, before courier runs (the end-to-end
                // tests send every route a missing, forged and unsigned token; 403 needs scopes
                // on a route, which courier's have none of).
                if response["$ref"] == "#/components/responses/Unauthorized"
                    || response["$ref"] == "#/components/responses/Forbidden"
                {
                    continue;
                }
                assert!(
                    produced.contains(&(method.to_uppercase(), path.clone(), code.clone())),
                    "documented but never produced: {method} {path} {code}"
                );
            }
        }
    }
}

/// The catalog a deployment with the example types runs (what the committed document shows).
fn deployed_catalog() -> courier_jobs::Registry {
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let options = courier_jobs::CatalogOptions {
        examples: true,
        ledger_table: Some("courier".into()),
    };
    courier_jobs::catalog(&options, &aws)
}

/// `UPDATE_OPENAPI=1 cargo test -p courier-shared --lib openapi` rewrites the generated parts.
#[test]
fn the_documented_job_types_are_the_registrys() {
    let mut expected = doc();
    super::openapi::apply(
        &mut expected,
        &deployed_catalog(),
        super::openapi::OtherTypes::Generic,
    );
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(path, text).unwrap();
        return;
    }
    assert!(
        doc() == expected,
        "openapi.json is out of step with the job registry; run \
         UPDATE_OPENAPI=1 cargo test -p courier-shared --lib openapi"
    );
    let names: Vec<_> = doc()["components"]["schemas"]["JobSubmission"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|branch| branch["$ref"].as_str().unwrap().rsplit('.').next().unwrap())
        .map(str::to_owned)
        .collect();
    assert_eq!(
        names,
        [
            "echo", "fail", "flaky", "ledger", "sha256", "sleep", "declared"
        ]
    );
}

/// A validator for one of the document's schemas, with its `$ref`s resolved in the document.
fn validator(name: &str) -> jsonschema::Validator {
    let document = doc();
    let root = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": document["components"],
    });
    jsonschema::validator_for(&root).expect("the document's schemas compile")
}

#[tokio::test]
async fn bodies_valid_against_the_document_are_accepted_and_invalid_ones_are_not() {
    let jobs = validator("JobSubmission");
    let messages = validator("MessageSubmission");
    let valid = [
        json!({"type": "echo"}),
        json!({"type": "echo", "payload": [1, {"a": null}], "delaySeconds": 3}),
        json!({"type": "fail"}),
        json!({"type": "sleep", "payload": {"ms": 0}}),
        json!({"type": "sha256", "payload": {"data": ""}}),
        json!({"type": "flaky", "payload": {"failures": 50}}),
    ];
    let h = Harness::new();
    for body in &valid {
        assert!(jobs.is_valid(body) && messages.is_valid(body), "{body}");
        for path in ["/v1/jobs", "/v1/messages"] {
            let (status, _, answer) = h.post_to(path, &body.to_string(), &[]).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{path} {body}: {answer}");
        }
    }
    // A type the committed document cannot know (a deployment's declared one) is taken
    // generically by it, and refused by a deployment that has no such type, whose own
    // document refuses it too.
    let undeclared = json!({"type": "nope", "payload": {"any": 1}});
    assert!(jobs.is_valid(&undeclared) && messages.is_valid(&undeclared));
    let (status, _, _) = h.post_to("/v1/jobs", &undeclared.to_string(), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let served = super::openapi::deployment_document(&deployed_catalog());
    let served_jobs = jsonschema::validator_for(&json!({
        "$ref": "#/components/schemas/JobSubmission",
        "components": served["components"],
    }))
    .unwrap();
    assert!(!served_jobs.is_valid(&undeclared));
    assert!(served_jobs.is_valid(&json!({"type": "echo"})));
    let invalid = [
        json!({"type": ""}),
        json!({"type": "Nope"}),
        json!({"type": "echo", "payload": 1, "extra": true}),
        json!({"type": "sleep"}),
        json!({"type": "sleep", "payload": {"ms": 20001}}),
        json!({"type": "sleep", "payload": {"ms": 1, "extra": true}}),
        json!({"type": "echo", "priority": 1}),
        json!({"type": "echo", "delaySeconds": 901}),
    ];
    for body in &invalid {
        assert!(!jobs.is_valid(body), "the document refuses {body}");
        let (status, _, _) = h.post_to("/v1/jobs", &body.to_string(), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let with_callback =
        json!({"type": "echo", "callback": {"endpointId": "ep_0123456789abcdef0123456789abcdef"}});
    assert!(jobs.is_valid(&with_callback));
    for wrong in [
        json!({"type": "echo", "callback": {"url": "https://example.com/hook"}}),
        json!({"type": "echo", "callback": {"endpointId": "0123"}}),
    ] {
        assert!(!jobs.is_valid(&wrong), "{wrong}");
    }
    assert!(
        !messages.is_valid(&with_callback),
        "messages take no callback"
    );
}

/// The documented header schemas accept exactly what the API accepts.
#[test]
fn the_documented_headers_are_the_ones_the_api_takes() {
    let document = doc();
    let header = |name: &str| {
        jsonschema::validator_for(&document["components"]["parameters"][name]["schema"])
            .expect("the header schema compiles")
    };
    let (keys, correlation_ids) = (header("IdempotencyKey"), header("CorrelationId"));
    let long = "k".repeat(256);
    for sample in [
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "a",
        "!~",
        "",
        " ",
        "with space",
        "tab\t",
        "ключ",
        "é",
        long.as_str(),
        &long[..255],
        "req:1.2_x",
        "<script>",
    ] {
        let value = json!(sample);
        assert_eq!(
            keys.is_valid(&value),
            crate::domain::IdempotencyKey::parse(sample).is_ok(),
            "Idempotency-Key {sample:?}"
        );
        assert_eq!(
            correlation_ids.is_valid(&value),
            crate::domain::CorrelationId::parse(sample).is_ok(),
            "X-Correlation-Id {sample:?}"
        );
    }
}

#[test]
fn the_documented_failure_kinds_are_the_ones_the_processor_records() {
    let doc = doc();
    let documented: BTreeSet<&str> = doc
        .pointer("/components/schemas/JobError/properties/kind/enum")
        .and_then(Value::as_array)
        .expect("JobError.kind is an enum")
        .iter()
        .map(|kind| kind.as_str().unwrap())
        .collect();
    let recorded: BTreeSet<&str> = crate::application::ports::FailureKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect();
    assert_eq!(documented, recorded);
}

/// Every OpenAPI link leads somewhere real: an operation of the document, given exactly its
/// path parameters, each read from a property the linking response always has.
#[test]
fn links_name_real_operations_and_fill_their_parameters_from_the_answer() {
    let doc = doc();
    let mut operations = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for operation in item.as_object().unwrap().values() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.insert(id.to_owned(), (path.clone(), operation.clone()));
            }
        }
    }
    let mut links = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            for response in responses.values() {
                let response = resolve(&doc, response);
                let Some(found) = response["links"].as_object() else {
                    continue;
                };
                let schema = resolve(&doc, &response["content"]["application/json"]["schema"]);
                let required: BTreeSet<&str> = schema["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                for (name, link) in found {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap();
                    let (path, _) = operations
                        .get(target)
                        .unwrap_or_else(|| panic!("link {name} names no operation {target}"));
                    let path_parameters: BTreeSet<&str> = path
                        .split('/')
                        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                        .collect();
                    let given = link["parameters"].as_object().unwrap();
                    assert_eq!(
                        given.keys().map(String::as_str).collect::<BTreeSet<_>>(),
                        path_parameters,
                        "link {name}"
                    );
                    for expression in given.values() {
                        let field = expression
                            .as_str()
                            .and_then(|e| e.strip_prefix("$response.body#/"))
                            .unwrap_or_else(|| panic!("link {name}: {expression}"));
                        assert!(required.contains(field), "link {name}: {field}");
                    }
                }
            }
        }
    }
    assert_eq!(
        links, 4,
        "POST /v1/jobs links to GET and DELETE /v1/jobs/{{id}} and its events; GET to its events"
    );
}
