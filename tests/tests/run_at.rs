//! `runAt`, end to end: a job three minutes ahead (past the local stack's one-minute threshold,
//! so through EventBridge Scheduler, as on AWS past SQS's 15 minutes) is PENDING with its
//! `runAt` until then, SUCCEEDED within a minute after it; one cancelled before never runs; a
//! `runAt` in the past, beyond a year or beside `delaySeconds` is refused.

use courier_e2e::{Stack, eventually_within};
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[tokio::test]
async fn a_job_runs_at_its_time_and_one_cancelled_before_never_does() {
    let stack = Stack::load().await;
    let at = (OffsetDateTime::now_utc() + time::Duration::minutes(3))
        .replace_millisecond(0)
        .unwrap();
    let run_at = at.format(&Rfc3339).unwrap();
    let accepted = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": "later", "runAt": run_at}),
            &[],
        )
        .await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let expires =
        OffsetDateTime::parse(accepted.json()["expiresAt"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(
        expires > at + time::Duration::hours(1),
        "the claim lives past runAt"
    );
    let cancelled = stack
        .post_json("/v1/jobs", &json!({"type": "echo", "runAt": run_at}), &[])
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = stack.delete(&format!("/v1/jobs/{cancelled}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // PENDING, with its runAt, while its time has not come.
    let job = stack.get(&format!("/v1/jobs/{id}")).await.json();
    assert_eq!(job["status"], "PENDING", "{job}");
    let shown = OffsetDateTime::parse(job["runAt"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_eq!(shown, at);
    let done = eventually_within(
        Duration::from_secs(330),
        "the job run at its time",
        || async {
            let job = stack.get(&format!("/v1/jobs/{id}")).await.json();
            match job["status"].as_str() {
                Some("PENDING") => {
                    assert!(
                        OffsetDateTime::now_utc() < at + time::Duration::minutes(1),
                        "late: {job}"
                    );
                    None
                }
                _ => Some(job),
            }
        },
    )
    .await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let started = OffsetDateTime::parse(done["startedAt"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(started >= at, "not before its time: {done}");
    assert!(
        started < at + time::Duration::minutes(1),
        "within a minute: {done}"
    );
    // The cancelled one's schedule fired too, and ran nothing.
    let gone = stack.get(&format!("/v1/jobs/{cancelled}")).await.json();
    assert_eq!(gone["status"], "CANCELLED", "{gone}");
    assert_eq!(gone["attempts"], 0, "{gone}");
}

#[tokio::test]
async fn a_run_at_in_the_past_beyond_a_year_or_beside_a_delay_is_refused() {
    let stack = Stack::load().await;
    let now = OffsetDateTime::now_utc();
    let format = |t: OffsetDateTime| t.format(&Rfc3339).unwrap();
    for (body, says) in [
        (
            json!({"type": "echo", "runAt": format(now - time::Duration::minutes(5))}),
            "in the past",
        ),
        (
            json!({"type": "echo", "runAt": format(now + time::Duration::days(366))}),
            "more than a year",
        ),
        (
            json!({"type": "echo", "runAt": format(now + time::Duration::minutes(5)), "delaySeconds": 5}),
            "not both",
        ),
        (json!({"type": "echo", "runAt": "next tuesday"}), "RFC 3339"),
    ] {
        for door in ["/v1/jobs", "/v1/messages"] {
            let refused = stack.post_json(door, &body, &[]).await;
            assert_eq!(refused.status, 400, "{door} {body}: {refused:?}");
            assert_eq!(refused.problem_type(), "invalid-body");
            assert!(
                refused.json()["detail"].as_str().unwrap().contains(says),
                "{door} {body}: {refused:?}"
            );
        }
    }
}
