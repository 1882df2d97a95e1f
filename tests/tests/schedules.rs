//! Recurring schedules, end to end through the emulator's EventBridge Scheduler (which reads
//! every expression in UTC: time zones are held to Scheduler's definition by unit tests): a
//! `rate(1 minute)` schedule's runs each appear as a job of their own, listed by
//! `GET /v1/jobs` under the schedule's id as correlation id; pausing stops them, deleting
//! ends the schedule; another caller sees none of it; malformed schedules are refused.

use courier_e2e::{Stack, eventually_within};
use serde_json::{Value, json};
use std::time::Duration;

/// The ids of the jobs a schedule's runs made so far.
async fn runs(stack: &Stack, schedule: &str) -> Vec<String> {
    let listed = stack.get("/v1/jobs?type=echo&limit=100").await.json();
    listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["correlationId"] == schedule)
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_schedules_runs_are_jobs_until_it_is_paused_and_deleted() {
    let stack = Stack::load().await;
    let tag = uuid::Uuid::new_v4().to_string();
    let made = stack
        .post_json(
            "/v1/schedules",
            &json!({"expression": "rate(1 minute)", "timezone": "Europe/Paris",
                    "job": {"type": "echo", "payload": {"tag": tag}}}),
            &[],
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let schedule = made.json();
    let id = schedule["id"].as_str().unwrap().to_owned();
    assert_eq!(schedule["state"], "ACTIVE");
    assert_eq!(schedule["timezone"], "Europe/Paris");
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/schedules/{id}").as_str())
    );

    // Another caller sees nothing of it.
    let bob = stack.other_callers_token().await;
    let theirs = stack.get_as(&bob, &format!("/v1/schedules/{id}")).await;
    assert_eq!(theirs.status, 404, "{theirs:?}");
    assert_eq!(theirs.problem_type(), "schedule-not-found");
    let paused_by_bob = stack
        .post_json_as(&bob, &format!("/v1/schedules/{id}/pause"), &json!({}))
        .await;
    assert_eq!(paused_by_bob.status, 404, "{paused_by_bob:?}");

    // A run a minute on: each a job of its own, with the schedule's job in it.
    let first = eventually_within(Duration::from_secs(150), "a first run", || async {
        runs(&stack, &id).await.first().cloned()
    })
    .await;
    let job = stack.wait_for_job(&first).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"], json!({"tag": tag}));

    let paused = stack
        .post_json(&format!("/v1/schedules/{id}/pause"), &json!({}), &[])
        .await;
    assert_eq!(paused.status, 200, "{paused:?}");
    assert_eq!(paused.json()["state"], "PAUSED");
    let before = runs(&stack, &id).await.len();
    tokio::time::sleep(Duration::from_secs(75)).await; // a paused schedule must stay silent
    assert_eq!(runs(&stack, &id).await.len(), before, "no run while paused");

    let deleted = stack.delete(&format!("/v1/schedules/{id}")).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let gone = stack.get(&format!("/v1/schedules/{id}")).await;
    assert_eq!(gone.status, 404, "{gone:?}");
    // Its runs stay the caller's jobs.
    let job = stack.get(&format!("/v1/jobs/{first}")).await;
    assert_eq!(job.status, 200, "{job:?}");
}

#[tokio::test]
async fn malformed_schedules_are_refused_precisely() {
    let stack = Stack::load().await;
    for (body, says) in [
        (
            json!({"expression": "cron(0 9 * * * *)", "job": {"type": "echo"}}),
            "day-of-month",
        ),
        (
            json!({"expression": "cron(61 9 * * ? *)", "job": {"type": "echo"}}),
            "minutes",
        ),
        (
            json!({"expression": "rate(5 minute)", "job": {"type": "echo"}}),
            "minutes",
        ),
        (
            json!({"expression": "every hour", "job": {"type": "echo"}}),
            "neither rate",
        ),
        (
            json!({"expression": "rate(1 hour)", "timezone": "Mars/Olympus Mons", "job": {"type": "echo"}}),
            "timezone",
        ),
        (
            json!({"expression": "rate(1 hour)", "job": {"type": "nope"}}),
            "nope",
        ),
        (
            json!({"expression": "rate(1 hour)", "job": {"type": "sleep", "payload": {"ms": -1}}}),
            "payload",
        ),
        (
            json!({"expression": "rate(1 hour)", "job": {"type": "echo", "callback": {"endpointId": "ep_0123456789abcdef0123456789abcdef"}}}),
            "not one of yours",
        ),
    ] {
        let refused = stack.post_json("/v1/schedules", &body, &[]).await;
        assert_eq!(refused.status, 400, "{body}: {refused:?}");
        assert_eq!(refused.problem_type(), "invalid-schedule", "{body}");
        let detail = refused.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(detail.contains(says), "{body}: {detail}");
    }
    let listed: Value = stack.get("/v1/schedules").await.json();
    assert!(listed["schedules"].is_array(), "{listed}");
}
