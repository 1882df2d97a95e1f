//! Workers that finish later (`"completion": "external"`), end to end: the `approval` types of
//! examples/job-types.json are served by a Node.js function (examples/lambda/approval-node)
//! that hands each attempt's task to the example worker's inbox and returns. Here the test is
//! whoever finishes the work: it takes the task from the inbox and reports with its token.

use courier_client::frames::{FrameKind, SubmitFrame};
use courier_e2e::worker::{handed_over, report, token};
use courier_e2e::ws::{connect, frames_until_final, in_seq_order};
use courier_e2e::{Stack, eventually};
use serde_json::{Value, json};

async fn submit(stack: &Stack, job_type: &str) -> String {
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": job_type, "payload": {"request": "a day off"}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    reply.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_worker_that_finishes_later_reports_progress_then_its_result() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    ws.submit(&SubmitFrame::new(
        "later",
        "approval",
        json!({"request": "a day off"}),
    ))
    .await
    .unwrap();
    let accepted = courier_e2e::ws::frames_until(&mut ws, "accepted", |f| !f.is_empty()).await;
    let job = accepted[0].job_id.clone().expect("accepted names the job");
    let task = handed_over(&stack, &job, 1).await;
    assert_eq!(task["request"], json!({"request": "a day off"}));

    // The function returned long ago; the job runs on, with nobody waiting on it.
    let running = stack.get(&format!("/v1/jobs/{job}")).await.json();
    assert_eq!(running["status"], "RUNNING", "{running}");
    for percent in [30, 60] {
        let reply = report(
            &stack,
            &task,
            Some(token(&task)),
            json!({"progress": percent}),
        )
        .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.json(), json!({"jobId": job, "attempt": 1}));
        let seen = stack.get(&format!("/v1/jobs/{job}")).await.json();
        assert_eq!(seen["progress"], percent, "{seen}");
        assert_eq!(seen["status"], "RUNNING", "{seen}");
    }
    let reply = report(
        &stack,
        &task,
        Some(token(&task)),
        json!({"result": {"approved": true}}),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");

    let frames = frames_until_final(&mut ws, &["later"]).await;
    let mut all = accepted;
    all.extend(frames);
    let frames = in_seq_order(all, 1);
    let seen: Vec<(FrameKind, Value)> = frames
        .iter()
        .map(|f| {
            (
                f.kind,
                f.data.get("percent").cloned().unwrap_or(f.data.clone()),
            )
        })
        .collect();
    assert_eq!(
        seen[1..],
        [
            (FrameKind::Progress, json!(30)),
            (FrameKind::Progress, json!(60)),
            (FrameKind::Result, json!({"approved": true})),
        ],
        "{frames:#?}"
    );
    let done = stack.wait_for_job(&job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["result"], json!({"approved": true}));
    assert_eq!(done["attempts"], 1, "{done}");
}

#[tokio::test]
async fn a_missed_heartbeat_runs_the_attempt_again_and_its_old_token_is_refused() {
    let stack = Stack::load().await;
    // approval-strict: a report at least every 3 s.
    let job = submit(&stack, "approval-strict").await;
    let first = handed_over(&stack, &job, 1).await;
    // Nobody reports: the attempt times out and the job runs again, with a new token.
    let second = handed_over(&stack, &job, 2).await;
    assert_ne!(token(&first), token(&second));
    let stale = report(
        &stack,
        &first,
        Some(token(&first)),
        json!({"result": "late"}),
    )
    .await;
    assert_eq!(stale.status, 409, "{stale:?}");
    assert_eq!(stale.problem_type(), "stale-attempt");
    let reply = report(
        &stack,
        &second,
        Some(token(&second)),
        json!({"result": "in time"}),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let done = stack.wait_for_job(&job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(
        done["result"], "in time",
        "the stale report changed nothing: {done}"
    );
}

#[tokio::test]
async fn forged_foreign_missing_or_late_reports_are_refused_and_change_nothing() {
    let stack = Stack::load().await;
    let (a, b) = (
        submit(&stack, "approval").await,
        submit(&stack, "approval").await,
    );
    let (task_a, task_b) = (
        handed_over(&stack, &a, 1).await,
        handed_over(&stack, &b, 1).await,
    );
    let heartbeat = json!({"heartbeat": true});

    // A's token with B's job in it: a token nobody was given.
    let moved = token(&task_a).replace(&a, &b);
    let forged = format!("ctt1.{a}.1.{}", "0".repeat(64));
    for (token, problem) in [
        (Some(moved.as_str()), "invalid-task-token"),
        (Some(forged.as_str()), "invalid-task-token"),
        (Some("ctt1.nonsense"), "invalid-task-token"),
        (None, "missing-task-token"),
    ] {
        let reply = report(&stack, &task_a, token, json!({"result": "forged"})).await;
        assert_eq!(reply.status, 401, "{token:?}: {reply:?}");
        assert_eq!(reply.problem_type(), problem);
    }
    // Bad bodies are refused with where they are wrong.
    for (body, pointer) in [
        (json!({"progress": 150}), "/progress"),
        (
            json!({"error": {"kind": "fatal", "reason": "x"}}),
            "/error/kind",
        ),
        (json!({"result": 1, "extra": 2}), "/extra"),
    ] {
        let reply = report(&stack, &task_a, Some(token(&task_a)), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.problem_type(), "invalid-report");
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with(pointer), "{detail}");
    }
    for job in [&a, &b] {
        let seen = stack.get(&format!("/v1/jobs/{job}")).await.json();
        assert_eq!(
            (&seen["status"], &seen["progress"]),
            (&json!("RUNNING"), &json!(0))
        );
    }

    // A finishes; afterwards its token is refused, and B's is still its own.
    let reply = report(
        &stack,
        &task_a,
        Some(token(&task_a)),
        json!({"result": "done"}),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    stack.wait_for_job(&a).await;
    let late = report(&stack, &task_a, Some(token(&task_a)), heartbeat.clone()).await;
    assert_eq!(late.status, 409, "{late:?}");
    assert_eq!(late.problem_type(), "job-finished");
    let other = report(
        &stack,
        &task_b,
        Some(token(&task_b)),
        json!({"error": {"kind": "permanent", "reason": "declined"}}),
    )
    .await;
    assert_eq!(other.status, 202, "{other:?}");
    let b_done = stack.wait_for_job(&b).await;
    assert_eq!(b_done["status"], "FAILED", "{b_done}");
    assert_eq!(b_done["error"]["reason"], "declined", "{b_done}");
    let a_done = stack.get(&format!("/v1/jobs/{a}")).await.json();
    assert_eq!(a_done["result"], "done", "{a_done}");
}

/// A job whose worker reported it failed for good, rerun by its owner: the new attempt is
/// handed to the worker again (with a new token) and its report ends the job.
#[tokio::test]
async fn a_rerun_of_a_job_whose_worker_failed_it_is_handed_to_the_worker_again() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let reply = stack
        .post_json_as(
            &alice,
            "/v1/jobs",
            &json!({"type": "approval", "payload": {"request": "a day off"}}),
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let job = reply.json()["id"].as_str().unwrap().to_owned();
    let first = handed_over(&stack, &job, 1).await;
    let reply = report(
        &stack,
        &first,
        Some(token(&first)),
        json!({"error": {"kind": "permanent", "reason": "declined"}}),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let failed = eventually("the job to fail", || async {
        let job = stack
            .get_as(&alice, &format!("/v1/jobs/{job}"))
            .await
            .json();
        (job["status"] == "FAILED").then_some(job)
    })
    .await;
    let created = failed["createdAt"].as_str().unwrap();
    let rerun = stack
        .post_json_as(
            &alice,
            "/v1/jobs/rerun",
            &json!({"type": "approval", "createdAfter": created,
                    "createdBefore": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(rerun.status, 200, "{rerun:?}");
    assert_eq!(rerun.json()["jobs"][0]["outcome"], "rerun", "{rerun:?}");
    // The second attempt reaches the worker with a token of its own, and its result ends it.
    let second = handed_over(&stack, &job, 2).await;
    assert_ne!(token(&second), token(&first));
    let reply = report(
        &stack,
        &second,
        Some(token(&second)),
        json!({"result": {"approved": true}}),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let done = eventually("the rerun to succeed", || async {
        let job = stack
            .get_as(&alice, &format!("/v1/jobs/{job}"))
            .await
            .json();
        (job["status"] == "SUCCEEDED").then_some(job)
    })
    .await;
    assert_eq!(done["result"], json!({"approved": true}));
    assert_eq!(done["attempts"], 2);
}
