//! Seeing every job, end to end: a caller's jobs listed, filtered and paged (only theirs, with
//! cursors nobody else can use), each job's timeline of attempts and callback answers, and the
//! bulk actions. Each test signs in as a caller of its own, so it sees exactly its own jobs
//! while other tests submit theirs.

use courier_e2e::receiver::{Answer, Receiver};
use courier_e2e::{Stack, eventually};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Submits a job as `token`; its id.
async fn submit(stack: &Stack, token: &str, body: Value) -> String {
    let reply = stack.post_json_as(token, "/v1/jobs", &body).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    reply.json()["id"].as_str().unwrap().to_owned()
}

/// Polls the job (as `token`) until its status is `status`.
async fn wait_for_status(stack: &Stack, token: &str, id: &str, status: &str) -> Value {
    eventually(&format!("job {id} to be {status}"), || async {
        let job = stack.get_as(token, &format!("/v1/jobs/{id}")).await.json();
        (job["status"] == status).then_some(job)
    })
    .await
}

/// The job's timeline, as its owner reads it.
async fn events(stack: &Stack, token: &str, id: &str) -> Vec<Value> {
    let reply = stack.get_as(token, &format!("/v1/jobs/{id}/events")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["events"].as_array().unwrap().clone()
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// Numbered 1, 2, 3, ... with timestamps that never go back.
fn assert_ordered(events: &[Value]) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"], i as u64 + 1, "{events:#?}");
    }
    for pair in events.windows(2) {
        assert!(
            pair[0]["at"].as_str() <= pair[1]["at"].as_str(),
            "timestamps go back: {pair:#?}"
        );
    }
}

/// Every page of a list (as `token`), following `nextCursor`; the pages' ids in order.
async fn all_pages(
    stack: &Stack,
    token: &str,
    query: &str,
    mut between_pages: impl FnMut(usize) -> Option<Vec<Value>>,
) -> (Vec<Vec<String>>, Vec<String>) {
    let mut pages = Vec::new();
    let mut cursors = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/jobs?{query}"),
            Some(c) => format!("/v1/jobs?{query}&cursor={}", urlencode(c)),
        };
        let reply = stack.get_as(token, &path).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let body = reply.json();
        pages.push(
            body["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        if let Some(bodies) = between_pages(pages.len()) {
            for body in bodies {
                submit(stack, token, body).await;
            }
        }
        match body["nextCursor"].as_str() {
            Some(next) => {
                cursors.push(next.to_owned());
                cursor = Some(next.to_owned());
            }
            None => return (pages, cursors),
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_callers_jobs_are_listed_filtered_and_paged_newest_first_and_only_theirs() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let bob = stack.fresh_caller().await;
    // 30 jobs of three types, the `fail` ones failing.
    let mut failing = Vec::new();
    let mut all = Vec::new();
    for i in 0..10 {
        let echo = submit(&stack, &alice, json!({"type": "echo", "payload": i})).await;
        let fail = submit(
            &stack,
            &alice,
            json!({"type": "fail", "payload": {"reason": format!("no {i}")}}),
        )
        .await;
        let sleep = submit(
            &stack,
            &alice,
            json!({"type": "sleep", "payload": {"ms": 1}}),
        )
        .await;
        failing.push(fail.clone());
        all.extend([echo, fail, sleep]);
    }
    for id in &failing {
        wait_for_status(&stack, &alice, id, "FAILED").await;
    }
    // Every job is alice's; the newest first by when each was created.
    let mut expected: Vec<(String, String)> = Vec::new();
    for id in &failing {
        let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
        expected.push((job["createdAt"].as_str().unwrap().to_owned(), id.clone()));
    }
    expected.sort();
    expected.reverse();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    // Pages of 7 while 10 more failing jobs arrive: exactly the ten, in order, once each.
    let (pages, cursors) = all_pages(&stack, &alice, "status=FAILED&type=fail&limit=7", |page| {
        (page == 1).then(|| {
            (0..10)
                .map(|i| json!({"type": "fail", "payload": {"reason": format!("late {i}")}}))
                .collect()
        })
    })
    .await;
    assert_eq!(pages[0].len(), 7, "{pages:?}");
    let listed: Vec<String> = pages.concat();
    assert_eq!(listed, expected, "no duplicates, no gaps, newest first");
    assert_eq!(
        listed.iter().collect::<HashSet<_>>().len(),
        listed.len(),
        "no duplicates"
    );

    // Unfiltered, every job of hers is there (and none of anyone else's).
    let (everything, _) = all_pages(&stack, &alice, "limit=100", |_| None).await;
    let everything: HashSet<String> = everything.concat().into_iter().collect();
    assert!(all.iter().all(|id| everything.contains(id)));
    assert_eq!(everything.len(), 40, "her 40 jobs and nothing else");

    // Bob sees none of them, and neither her cursor nor an altered one reaches her page.
    let theirs = stack.get_as(&bob, "/v1/jobs?limit=100").await;
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.json()["jobs"], json!([]));
    assert_eq!(theirs.json()["nextCursor"], Value::Null);
    let hers = &cursors[0];
    let path = |cursor: &str| {
        format!(
            "/v1/jobs?status=FAILED&type=fail&limit=7&cursor={}",
            urlencode(cursor)
        )
    };
    let stolen = stack.get_as(&bob, &path(hers)).await;
    assert_eq!(stolen.status, 400, "{stolen:?}");
    assert_eq!(stolen.problem_type(), "invalid-cursor");
    let mut altered = hers.clone().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for (token, cursor) in [(&alice, &altered), (&bob, &altered)] {
        let reply = stack.get_as(token, &path(cursor)).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert_eq!(reply.problem_type(), "invalid-cursor");
    }
    // Her cursor with other filters is no cursor of that list either.
    let other_filters = stack
        .get_as(
            &alice,
            &format!("/v1/jobs?status=SUCCEEDED&cursor={}", urlencode(hers)),
        )
        .await;
    assert_eq!(other_filters.status, 400);

    // Endpoints are listed the same way, without their secrets.
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint_as(&alice, &receiver.url).await;
    let listed = stack.get_as(&alice, "/v1/webhook-endpoints").await.json();
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["endpoints"][0]["id"], endpoint.id.as_str());
    assert!(listed["endpoints"][0].get("secret").is_none());
    assert!(!listed.to_string().contains(&endpoint.secret));
    let none = stack.get_as(&bob, "/v1/webhook-endpoints").await.json();
    assert_eq!(none["endpoints"], json!([]));
}

#[tokio::test]
async fn bad_list_queries_get_precise_errors() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    for (query, detail) in [
        ("status=DONE", "status must be one of"),
        ("limit=0", "limit must be"),
        ("limit=101", "limit must be"),
        ("limit=ten", "limit must be"),
        ("createdAfter=yesterday", "createdAfter must be an RFC 3339"),
        ("status=FAILED&status=PENDING", "more than once"),
        ("owner=bob", "unknown query parameter"),
        ("cursor=%00%ff", "cursor"),
    ] {
        let reply = stack.get_as(&alice, &format!("/v1/jobs?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert!(
            reply.json()["detail"].as_str().unwrap().contains(detail),
            "{query}: {reply:?}"
        );
    }
    // A window that holds no instant holds no job.
    let empty = stack
        .get_as(
            &alice,
            "/v1/jobs?createdAfter=2026-12-03T10:00:00Z&createdBefore=2026-12-03T09:00:00Z",
        )
        .await;
    assert_eq!(empty.status, 200, "{empty:?}");
    assert_eq!(empty.json()["jobs"], json!([]));
    let unknown = uuid::Uuid::new_v4();
    let reply = stack
        .get_as(&alice, &format!("/v1/jobs/{unknown}/events"))
        .await;
    assert_eq!(reply.status, 404);
    let reply = stack.get_as(&alice, "/v1/jobs/not-a-job/events").await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.problem_type(), "invalid-job-id");
}

#[tokio::test]
async fn a_flaky_jobs_timeline_shows_its_attempts_and_its_callbacks_answers_in_order() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let receiver = Receiver::start(
        vec![Answer::Status(500), Answer::Status(500)],
        Some(Answer::Status(200)),
    )
    .await;
    let endpoint = stack.register_endpoint_as(&alice, &receiver.url).await;
    let id = submit(
        &stack,
        &alice,
        json!({"type": "flaky", "payload": {"failures": 2},
               "callback": {"endpointId": endpoint.id}}),
    )
    .await;
    eventually("the callback to be delivered", || async {
        let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
        (job["callback"]["state"] == "DELIVERED").then_some(())
    })
    .await;
    let events = events(&stack, &alice, &id).await;
    assert_ordered(&events);
    assert_eq!(
        kinds(&events),
        [
            "accepted",
            "attempt-started",
            "attempt-failed",
            "attempt-started",
            "attempt-failed",
            "attempt-started",
            "attempt-succeeded",
            "callback-attempt",
            "callback-attempt",
            "callback-attempt",
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["door"], "http");
    for (i, attempt) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)] {
        assert_eq!(events[i]["attempt"], attempt, "{:#}", events[i]);
    }
    for failed in [&events[2], &events[4]] {
        assert_eq!(failed["failureKind"], "transient");
        assert_eq!(failed["willRetry"], true);
        assert!(!failed["reason"].as_str().unwrap().is_empty());
        assert!(failed["attemptDurationMs"].is_u64());
    }
    let answers: Vec<(&Value, &Value)> = events[7..]
        .iter()
        .map(|e| (&e["status"], &e["outcome"]))
        .collect();
    assert_eq!(
        answers,
        [
            (&json!(500), &json!("retrying")),
            (&json!(500), &json!("retrying")),
            (&json!(200), &json!("delivered")),
        ]
    );
    for attempt in &events[7..] {
        assert_eq!(attempt["endpointId"], endpoint.id.as_str());
        assert!(attempt["durationMs"].is_u64(), "{attempt}");
    }
    assert!(events[7]["nextAttemptAt"].is_string());
    // Nobody else reads it.
    let bob = stack.fresh_caller().await;
    let reply = stack.get_as(&bob, &format!("/v1/jobs/{id}/events")).await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn a_cancelled_jobs_timeline_ends_cancelled() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let id = submit(
        &stack,
        &alice,
        json!({"type": "echo", "payload": 1, "delaySeconds": 5}),
    )
    .await;
    let reply = stack.delete_as(&alice, &format!("/v1/jobs/{id}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let events = events(&stack, &alice, &id).await;
    assert_eq!(kinds(&events), ["accepted", "cancelled"], "{events:#?}");
    assert_eq!(events[0]["delaySeconds"], 5);
    assert_ordered(&events);
}

#[tokio::test]
async fn bulk_rerun_reruns_exactly_the_failed_jobs_of_a_type_in_the_window() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let before = submit(&stack, &alice, json!({"type": "fail", "payload": {}})).await;
    let before_job = wait_for_status(&stack, &alice, &before, "FAILED").await;
    // The window opens after the first job was created.
    let opens = bump(before_job["createdAt"].as_str().unwrap());
    let mut inside = Vec::new();
    for i in 0..3 {
        inside.push(
            submit(
                &stack,
                &alice,
                json!({"type": "fail", "payload": {"reason": format!("r{i}")}}),
            )
            .await,
        );
    }
    let succeeded = submit(&stack, &alice, json!({"type": "echo", "payload": 1})).await;
    for id in &inside {
        wait_for_status(&stack, &alice, id, "FAILED").await;
    }
    wait_for_status(&stack, &alice, &succeeded, "SUCCEEDED").await;
    let closes = "2099-01-01T00:00:00Z";
    let filter = |dry: bool| json!({"type": "fail", "createdAfter": opens, "createdBefore": closes, "dryRun": dry});
    let mut newest_first = inside.clone();
    newest_first.reverse();

    let dry = stack
        .post_json_as(&alice, "/v1/jobs/rerun", &filter(true))
        .await;
    assert_eq!(dry.status, 200, "{dry:?}");
    assert_eq!(dry.json()["dryRun"], true);
    assert_eq!(ids_with(&dry.json(), "would-rerun"), newest_first);
    // A dry run changes nothing.
    for id in &inside {
        assert_eq!(
            stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json()["status"],
            "FAILED"
        );
    }

    let done = stack
        .post_json_as(&alice, "/v1/jobs/rerun", &filter(false))
        .await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(ids_with(&done.json(), "rerun"), newest_first);
    for id in &inside {
        // Ran again (a `fail` fails again), under the same id, as its timeline tells.
        let job = eventually(&format!("job {id} to fail again"), || async {
            let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
            (job["status"] == "FAILED" && job["attempts"] == 2).then_some(job)
        })
        .await;
        assert_eq!(job["id"], id.as_str());
        let events = events(&stack, &alice, id).await;
        assert_eq!(
            kinds(&events),
            [
                "accepted",
                "attempt-started",
                "attempt-failed",
                "redriven",
                "attempt-started",
                "attempt-failed",
            ],
            "{events:#?}"
        );
        assert_ordered(&events);
    }
    // Outside the window, or not FAILED: untouched.
    let untouched = stack
        .get_as(&alice, &format!("/v1/jobs/{before}"))
        .await
        .json();
    assert_eq!(untouched["attempts"], 1);
    assert_eq!(
        stack
            .get_as(&alice, &format!("/v1/jobs/{succeeded}"))
            .await
            .json()["status"],
        "SUCCEEDED"
    );
    // Another caller's rerun touches none of hers.
    let bob = stack.fresh_caller().await;
    let theirs = stack
        .post_json_as(&bob, "/v1/jobs/rerun", &filter(false))
        .await;
    assert_eq!(theirs.json()["jobs"], json!([]));
    // A rerun names a type and a window.
    let vague = stack
        .post_json_as(&alice, "/v1/jobs/rerun", &json!({"type": "fail"}))
        .await;
    assert_eq!(vague.status, 400);
    assert_eq!(vague.problem_type(), "invalid-body");
}

#[tokio::test]
async fn bulk_cancel_cancels_only_pending_jobs() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let finished = submit(
        &stack,
        &alice,
        json!({"type": "sleep", "payload": {"ms": 1}}),
    )
    .await;
    wait_for_status(&stack, &alice, &finished, "SUCCEEDED").await;
    let mut pending = Vec::new();
    for _ in 0..3 {
        pending.push(
            submit(
                &stack,
                &alice,
                json!({"type": "sleep", "payload": {"ms": 1}, "delaySeconds": 20}),
            )
            .await,
        );
    }
    let other_type = submit(
        &stack,
        &alice,
        json!({"type": "echo", "payload": 1, "delaySeconds": 20}),
    )
    .await;
    pending.reverse();
    let dry = stack
        .post_json_as(
            &alice,
            "/v1/jobs/cancel",
            &json!({"type": "sleep", "dryRun": true}),
        )
        .await;
    assert_eq!(dry.status, 200, "{dry:?}");
    assert_eq!(ids_with(&dry.json(), "would-cancel"), pending);
    let done = stack
        .post_json_as(&alice, "/v1/jobs/cancel", &json!({"type": "sleep"}))
        .await;
    assert_eq!(ids_with(&done.json(), "cancelled"), pending);
    assert_eq!(done.json()["more"], false);
    for id in &pending {
        let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
        assert_eq!(job["status"], "CANCELLED");
    }
    for (id, status) in [(&finished, "SUCCEEDED"), (&other_type, "PENDING")] {
        let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
        assert_eq!(job["status"], status, "{job}");
    }
    // A cancel with no filter at all is refused, not applied to everything.
    let everything = stack
        .post_json_as(&alice, "/v1/jobs/cancel", &json!({}))
        .await;
    assert_eq!(everything.status, 400);
    // Hostile bodies: unknown fields, a limit past the cap, a non-object.
    for body in [
        json!({"type": "sleep", "owner": "bob"}),
        json!({"type": "sleep", "limit": 1000}),
        json!(["sleep"]),
    ] {
        let reply = stack.post_json_as(&alice, "/v1/jobs/cancel", &body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
    }
    let reply = stack
        .delete_as(&alice, &format!("/v1/jobs/{other_type}"))
        .await;
    assert_eq!(reply.status, 200);
}

/// The ids of a bulk answer's jobs with `outcome`, in order.
fn ids_with(body: &Value, outcome: &str) -> Vec<String> {
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["outcome"] == outcome)
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect()
}

/// An instant a millisecond after `at` (courier's fixed-width format).
fn bump(at: &str) -> String {
    let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .unwrap()
        + time::Duration::milliseconds(1);
    parsed
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Runs the CLI as `token`'s caller; its standard output as JSON.
async fn courier_json(token: &str, args: &[&str]) -> Value {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--token".into(), token.into(), "-o".into(), "json".into()]);
    let out = courier_e2e::run_courier(all).await;
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"))
}

#[tokio::test]
async fn the_cli_lists_jobs_shows_a_timeline_and_runs_bulk_actions() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let mut failed = Vec::new();
    for i in 0..3 {
        let id = submit(
            &stack,
            &alice,
            json!({"type": "fail", "payload": {"reason": format!("cli {i}")}}),
        )
        .await;
        wait_for_status(&stack, &alice, &id, "FAILED").await;
        failed.push(id);
    }
    let echo = submit(&stack, &alice, json!({"type": "echo", "payload": 1})).await;
    wait_for_status(&stack, &alice, &echo, "SUCCEEDED").await;
    failed.reverse();

    // Pages are followed for you (three pages of one), up to --limit.
    let listed = courier_json(
        &alice,
        &[
            "jobs", "--status", "failed", "--type", "fail", "--limit", "3",
        ],
    )
    .await;
    let ids: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, failed);
    let two = courier_json(&alice, &["jobs", "--limit", "2"]).await;
    assert_eq!(two["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(two["jobs"][0]["id"], echo.as_str());

    // The timeline, as JSON (the API's document) and for people.
    let timeline = courier_json(&alice, &["events", &failed[0]]).await;
    assert_eq!(
        timeline["events"].as_array().unwrap().clone(),
        events(&stack, &alice, &failed[0]).await
    );
    let text = courier_e2e::run_courier(
        ["events", &failed[0], "--token", &alice]
            .map(String::from)
            .to_vec(),
    )
    .await;
    assert!(text.status.success(), "{text:?}");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("accepted over http"), "{text}");
    assert!(
        text.contains("attempt 1 failed") && text.contains("cli 2"),
        "{text}"
    );

    // Bulk actions: a dry run first, then the rerun itself.
    let created: Vec<String> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["createdAt"].as_str().unwrap().to_owned())
        .collect();
    let window = [
        "--type",
        "fail",
        "--created-after",
        created.last().unwrap(),
        "--created-before",
        "2099-01-01T00:00:00Z",
    ];
    let mut dry = vec!["jobs", "rerun", "--dry-run"];
    dry.extend(window);
    let would = courier_json(&alice, &dry).await;
    assert_eq!(ids_with(&would, "would-rerun"), failed);
    let mut rerun = vec!["jobs", "rerun"];
    rerun.extend(window);
    let done = courier_json(&alice, &rerun).await;
    assert_eq!(ids_with(&done, "rerun"), failed);
    let none = courier_json(&alice, &["jobs", "cancel", "--type", "echo", "--dry-run"]).await;
    assert_eq!(none["jobs"], json!([]), "a finished job is never cancelled");
}

#[tokio::test]
async fn a_rerun_jobs_new_outcome_is_called_back_as_a_message_of_its_own() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint_as(&alice, &receiver.url).await;
    let id = submit(
        &stack,
        &alice,
        json!({"type": "fail", "payload": {"reason": "first"},
               "callback": {"endpointId": endpoint.id}}),
    )
    .await;
    let first = eventually("the first outcome to be called back", || async {
        let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
        (job["callback"]["state"] == "DELIVERED").then_some(job)
    })
    .await;
    let rerun = stack
        .post_json_as(
            &alice,
            "/v1/jobs/rerun",
            &json!({"type": "fail", "createdAfter": first["createdAt"],
                    "createdBefore": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(rerun.json()["jobs"][0]["outcome"], "rerun", "{rerun:?}");
    eventually("the rerun's outcome to be called back", || async {
        (receiver.arrivals().len() == 2).then_some(())
    })
    .await;
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals[0].header("webhook-id"), format!("msg_{id}"));
    assert_eq!(arrivals[1].header("webhook-id"), format!("msg_{id}_1"));
    let body: Value = serde_json::from_slice(&arrivals[1].body).unwrap();
    assert_eq!(body["status"], "FAILED");
    assert_eq!(body["attempts"], 2, "the rerun's outcome: {body}");
    let job = stack.get_as(&alice, &format!("/v1/jobs/{id}")).await.json();
    assert_eq!(job["callback"]["state"], "DELIVERED");
    assert_eq!(job["callback"]["attempts"], 1, "a fresh budget: {job}");
}
