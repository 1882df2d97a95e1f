//! A fair share per caller, against the deployed stack: each quota accepts at its limit,
//! refuses past it (429 `quota-exceeded` with `Retry-After`, a refused `$connect`) and accepts
//! again once back under it; an operator's limits (`courier quotas set`) are one caller's only;
//! and a caller flooding courier past their jobs in flight loses nothing it was told was
//! accepted and does not hold up another caller.
//!
//! Every test is a fresh caller whose own limits are set before their first request (the
//! functions keep a caller's limits for up to a minute). The local stack's own limits are far
//! above anything the other tests reach.

use courier_client::ws::{Auth, Event, WsClient};
use courier_e2e::fair_share::{
    flood, limit, median, subject_of, submit, trickle, wait_until_ended,
};
use courier_e2e::{Reply, Stack, eventually, run_courier};
use serde_json::{Value, json};
use std::time::Duration;

fn assert_quota_exceeded(reply: &Reply, quota: &str, limit: u64) {
    assert_eq!(reply.status, 429, "{reply:?}");
    assert_eq!(reply.problem_type(), "quota-exceeded");
    let body = reply.json();
    assert_eq!(body["quota"], quota, "{body}");
    assert_eq!(body["limit"], limit, "{body}");
    let after: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(after >= 1, "{after}");
}

#[tokio::test]
async fn a_caller_at_their_jobs_in_flight_is_refused_until_one_of_their_jobs_ends() {
    let stack = Stack::load().await;
    let (alice, bob) = (stack.fresh_caller().await, stack.fresh_caller().await);
    let shown = limit(&alice, &[("jobs-in-flight", 2)]).await;
    assert_eq!(shown["own"]["jobsInFlight"], 2, "{shown}");
    assert_eq!(shown["own"]["requestsPerSecond"], Value::Null, "{shown}");
    let slow = json!({"type": "sleep", "payload": {"ms": 1500}});
    let mut accepted = Vec::new();
    for _ in 0..2 {
        let reply = submit(&stack, &alice, &slow).await;
        assert_eq!(reply.status, 202, "at the limit: {reply:?}");
        accepted.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let refused = submit(&stack, &alice, &slow).await;
    assert_quota_exceeded(&refused, "jobsInFlight", 2);
    // Only the submission was refused: her jobs, and another caller's, go on.
    assert_eq!(submit(&stack, &bob, &slow).await.status, 202);
    assert_eq!(
        stack
            .get_as(&alice, &format!("/v1/jobs/{}", accepted[0]))
            .await
            .status,
        200
    );
    // Once one of hers has ended, its slot is hers again.
    let ended = wait_until_ended(&stack, &alice, &accepted[0]).await;
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    let again = eventually("a slot to be given back", || {
        let (stack, alice, slow) = (&stack, &alice, &slow);
        async move {
            let reply = submit(stack, alice, slow).await;
            match reply.status {
                202 => Some(reply),
                429 => None,
                _ => panic!("{reply:?}"),
            }
        }
    })
    .await;
    accepted.push(again.json()["id"].as_str().unwrap().to_owned());
    // Everything she was told was accepted ends.
    for id in &accepted {
        assert_eq!(
            wait_until_ended(&stack, &alice, id).await["status"],
            "SUCCEEDED"
        );
    }
}

#[tokio::test]
async fn requests_past_a_callers_rate_are_refused_until_the_next_second() {
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    limit(&alice, &[("requests-per-second", 2)]).await;
    // Twenty at once: whatever the machine's pace, some second holds more than two.
    let replies =
        futures_util::future::join_all((0..20).map(|_| stack.get_as(&alice, "/v1/jobs?limit=1")))
            .await;
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(!refused.is_empty(), "no request was refused");
    assert!(replies.iter().any(|r| r.status == 200), "none got through");
    assert!(
        replies.iter().all(|r| [200, 429].contains(&r.status)),
        "{replies:?}"
    );
    assert_quota_exceeded(refused[0], "requestsPerSecond", 2);
    assert_eq!(refused[0].header("retry-after"), Some("1"));
    // In a later second, under the limit again.
    eventually("a request under the rate", || {
        let (stack, alice) = (&stack, &alice);
        async move { (stack.get_as(alice, "/v1/jobs?limit=1").await.status == 200).then_some(()) }
    })
    .await;
}

/// Whether a WebSocket connection was refused: at the handshake, or closed at once (the
/// emulator closes a refused `$connect` with 1008).
async fn connect_refused(stack: &Stack, token: &str) -> Option<WsClient> {
    match WsClient::connect(stack.output("WebSocketUrl"), Auth::Header(token)).await {
        Err(_) => None,
        Ok(mut client) => match client.next_event(Duration::from_millis(1500)).await {
            Ok(Event::Closed) | Err(_) => None,
            Ok(_) => Some(client),
        },
    }
}

#[tokio::test]
async fn a_connection_past_a_callers_quota_is_refused_until_one_closes() {
    let stack = Stack::load().await;
    let (alice, bob) = (stack.fresh_caller().await, stack.fresh_caller().await);
    limit(&alice, &[("connections", 1)]).await;
    let first = connect_refused(&stack, &alice)
        .await
        .expect("the first connection is accepted");
    assert!(
        connect_refused(&stack, &alice).await.is_none(),
        "a second connection was accepted"
    );
    let _bobs = connect_refused(&stack, &bob)
        .await
        .expect("another caller connects");
    first.close().await.unwrap();
    eventually("a connection once the first has closed", || {
        let (stack, alice) = (&stack, &alice);
        async move { connect_refused(stack, alice).await }
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_past_a_callers_quota_is_refused_until_one_is_deleted() {
    let stack = Stack::load().await;
    let (alice, bob) = (stack.fresh_caller().await, stack.fresh_caller().await);
    limit(&alice, &[("webhook-endpoints", 1)]).await;
    let url = json!({"url": "http://127.0.0.1:9/hook"});
    let first = stack
        .post_json_as(&alice, "/v1/webhook-endpoints", &url)
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    let refused = stack
        .post_json_as(&alice, "/v1/webhook-endpoints", &url)
        .await;
    assert_quota_exceeded(&refused, "webhookEndpoints", 1);
    // The operator's limit is hers alone.
    for _ in 0..2 {
        let reply = stack
            .post_json_as(&bob, "/v1/webhook-endpoints", &url)
            .await;
        assert_eq!(reply.status, 201, "{reply:?}");
    }
    let id = first.json()["id"].as_str().unwrap().to_owned();
    let deleted = stack
        .delete_as(&alice, &format!("/v1/webhook-endpoints/{id}"))
        .await;
    assert_eq!(deleted.status, 204);
    eventually("room for an endpoint once one is deleted", || {
        let (stack, alice, url) = (&stack, &alice, &url);
        async move {
            let reply = stack
                .post_json_as(alice, "/v1/webhook-endpoints", url)
                .await;
            (reply.status == 201).then_some(())
        }
    })
    .await;
    // Cleared, she is back to the deployment's limits.
    let run = run_courier(vec![
        "quotas".into(),
        "clear".into(),
        "--subject".into(),
        subject_of(&alice),
        "--output".into(),
        "json".into(),
    ])
    .await;
    assert!(run.status.success());
    let shown: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(shown["own"]["webhookEndpoints"], Value::Null, "{shown}");
}

#[tokio::test]
async fn a_flooding_caller_gets_429s_loses_nothing_and_does_not_hold_up_another() {
    let stack = Stack::load().await;
    let (alice, bob) = (stack.fresh_caller().await, stack.fresh_caller().await);
    limit(&alice, &[("jobs-in-flight", 3)]).await;
    let alone = median(trickle(&stack, &bob, 5, Duration::from_millis(200)).await);

    // Alice floods: forty slow jobs at once, far past her three in flight; then Bob submits
    // while hers run.
    let replies = flood(&stack, &alice, 40, 3000).await;
    let during = trickle(&stack, &bob, 5, Duration::from_millis(200)).await;
    let accepted: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 202)
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        (1..=3).contains(&accepted.len()),
        "{} accepted",
        accepted.len()
    );
    assert_eq!(accepted.len() + refused.len(), replies.len(), "{replies:?}");
    for reply in &refused {
        assert_quota_exceeded(reply, "jobsInFlight", 3);
    }
    // Nothing she was told was accepted is lost.
    for id in &accepted {
        assert_eq!(
            wait_until_ended(&stack, &alice, id).await["status"],
            "SUCCEEDED"
        );
    }
    let during = median(during);
    println!("bob's median latency: alone {alone:.3} s, during the flood {during:.3} s");
    // Within twice his latency alone (or a second more, when alone is a matter of milliseconds
    // on a loaded machine).
    assert!(
        during <= (2.0 * alone).max(alone + 1.0),
        "alone {alone:.3} s, during the flood {during:.3} s"
    );
}

#[tokio::test]
async fn a_submit_past_a_callers_jobs_in_flight_gets_a_quota_exceeded_error_frame() {
    use courier_client::frames::{FrameKind, SubmitFrame, error_code};
    use courier_e2e::ws::{frames_until, frames_until_final};
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    limit(&alice, &[("jobs-in-flight", 1)]).await;
    let mut ws = courier_e2e::ws::connect_as(&stack, &alice).await;
    ws.submit(&SubmitFrame::new("slow", "sleep", json!({"ms": 3000})))
        .await
        .unwrap();
    frames_until(&mut ws, "slow's accepted frame", |frames| {
        frames.iter().any(|f| f.kind == FrameKind::Accepted)
    })
    .await;
    ws.submit(&SubmitFrame::new("over", "echo", json!({"n": 1})))
        .await
        .unwrap();
    let frames = frames_until_final(&mut ws, &["over"]).await;
    let refused = frames
        .iter()
        .find(|f| f.request_id.as_deref() == Some("over"))
        .unwrap();
    assert_eq!(refused.kind, FrameKind::Error, "{refused:?}");
    assert_eq!(
        refused.data["code"],
        error_code::QUOTA_EXCEEDED,
        "{refused:?}"
    );
    assert!(
        refused.job_id.is_none(),
        "nothing was accepted: {refused:?}"
    );
    // Once the slow job has ended, the same submit is accepted.
    frames_until_final(&mut ws, &["slow"]).await;
    let deadline = std::time::Instant::now() + courier_e2e::DEADLINE;
    for attempt in 1.. {
        let request = format!("again-{attempt}");
        ws.submit(&SubmitFrame::new(&request, "echo", json!({"n": 2})))
            .await
            .unwrap();
        let frames = frames_until_final(&mut ws, &[&request]).await;
        let ended = frames
            .iter()
            .find(|f| f.request_id.as_deref() == Some(request.as_str()) && f.is_final())
            .unwrap();
        if ended.kind == FrameKind::Result {
            break;
        }
        assert_eq!(ended.data["code"], error_code::QUOTA_EXCEEDED, "{ended:?}");
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A schedule's runs take their caller's job slot as they come due and, at her limit, wait
/// for it without running or spending an attempt: the run starts only once the job holding
/// her one slot (a worker's, held until it reports) has ended.
#[tokio::test]
async fn jobs_for_later_take_their_callers_slot_when_due_and_wait_for_it() {
    use courier_e2e::worker::{handed_over, report, token};
    use time::format_description::well_known::Rfc3339;
    let stack = Stack::load().await;
    let alice = stack.fresh_caller().await;
    limit(&alice, &[("jobs-in-flight", 1)]).await;
    let held = submit(
        &stack,
        &alice,
        &json!({"type": "approval", "payload": {"request": "hold her slot"}}),
    )
    .await;
    assert_eq!(held.status, 202, "{held:?}");
    let held = held.json()["id"].as_str().unwrap().to_owned();
    let task = handed_over(&stack, &held, 1).await;
    // At her limit, a schedule can still be made (it takes no slot), ...
    let made = stack
        .post_json_as(
            &alice,
            "/v1/schedules",
            &json!({"expression": "rate(1 minute)", "job": {"type": "echo", "payload": "due"}}),
        )
        .await;
    assert_eq!(made.status, 201, "{made:?}");
    let schedule = made.json()["id"].as_str().unwrap().to_owned();
    // ... and its first run, once made, waits PENDING while her slot is taken.
    let instant = |job: &Value, field: &str| {
        time::OffsetDateTime::parse(job[field].as_str().unwrap(), &Rfc3339).unwrap()
    };
    let run = courier_e2e::eventually_within(
        Duration::from_secs(150),
        "the schedule's first run, waiting past its time",
        || {
            let (stack, alice, schedule) = (&stack, &alice, &schedule);
            async move {
                let listed = stack.get_as(alice, "/v1/jobs?type=echo").await.json();
                let run = listed["jobs"]
                    .as_array()?
                    .iter()
                    .find(|j| j["correlationId"] == *schedule)?
                    .clone();
                let waited = time::OffsetDateTime::now_utc() - instant(&run, "createdAt");
                (run["status"] != "PENDING" || waited > time::Duration::seconds(10)).then_some(run)
            }
        },
    )
    .await;
    assert_eq!(run["status"], "PENDING", "ran past her limit: {run}");
    assert_eq!(run["attempts"], 0, "no attempt spent waiting: {run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    // Her held job ends; the run gets the slot.
    let reply = report(&stack, &task, Some(token(&task)), json!({"result": "done"})).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let ended = wait_until_ended(&stack, &alice, &held).await;
    let ran = courier_e2e::eventually_within(
        Duration::from_secs(120),
        "the waiting run to get her slot",
        || {
            let (stack, alice, run_id) = (&stack, &alice, &run_id);
            async move {
                let job = stack
                    .get_as(alice, &format!("/v1/jobs/{run_id}"))
                    .await
                    .json();
                (job["status"] == "SUCCEEDED").then_some(job)
            }
        },
    )
    .await;
    assert_eq!(ran["attempts"], 1, "{ran}");
    assert!(
        instant(&ran, "startedAt") >= instant(&ended, "completedAt"),
        "started while her only slot was taken: {ran} / {ended}"
    );
    let deleted = stack
        .delete_as(&alice, &format!("/v1/schedules/{schedule}"))
        .await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
}
