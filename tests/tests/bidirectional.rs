//! Bidirectional, end to end: a real WebSocket client through the emulator's WebSocket API,
//! jobs through the FIFO queue and the processor, frames back through @connections.

use aws_sdk_dynamodb::types::AttributeValue;
use courier_client::frames::{FrameKind, ServerFrame, SubmitFrame, error_code};
use courier_client::ws::{Auth, Event, WsClient, WsError};
use courier_e2e::ws::{connect, for_request, frames_until, frames_until_final, in_seq_order};
use courier_e2e::{DEADLINE, Stack, eventually, unique};
use serde_json::{Value, json};

#[tokio::test]
async fn a_bad_or_missing_token_is_refused_at_connect() {
    let stack = Stack::load().await;
    let url = stack.output("WebSocketUrl");
    let forged = courier_e2e::tampered_token(&stack.token);
    let unsigned = courier_e2e::unsigned_token(&stack.token);
    let foreign = stack.token_for_another_audience().await;
    for auth in [
        Auth::Header("not-a-jwt"),
        Auth::Query("not-a-jwt"),
        Auth::Header(&forged),
        Auth::Query(&forged),
        Auth::Header(&unsigned),
        Auth::Header(&foreign),
        Auth::Query(&foreign),
        Auth::None,
    ] {
        match WsClient::connect(url, auth).await {
            Err(WsError::Refused { status }) => {
                assert!((400..500).contains(&status), "{auth:?}: HTTP {status}")
            }
            Err(other) => panic!("{auth:?}: expected a refusal, got {other}"),
            Ok(_) => panic!("{auth:?}: a bad token was accepted"),
        }
    }
    // The caller's own token, as a header or as a query parameter (what browsers use).
    for auth in [Auth::Header(&stack.token), Auth::Query(&stack.token)] {
        let ws = WsClient::connect(url, auth).await;
        assert!(ws.is_ok(), "{auth:?}: {:?}", ws.err());
    }
}

#[tokio::test]
async fn a_job_streams_progress_then_its_result_with_increasing_seq() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    ws.submit(&SubmitFrame::new("r1", "sleep", json!({"ms": 2000})))
        .await
        .unwrap();
    let frames = in_seq_order(frames_until_final(&mut ws, &["r1"]).await, 1);

    let kinds: Vec<FrameKind> = frames.iter().map(|f| f.kind).collect();
    assert_eq!(kinds.first(), Some(&FrameKind::Accepted), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&FrameKind::Result), "{kinds:?}");
    let progress: Vec<u64> = frames
        .iter()
        .filter(|f| f.kind == FrameKind::Progress)
        .map(|f| f.data["percent"].as_u64().unwrap())
        .collect();
    assert!(progress.len() >= 2, "progress frames: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");

    let job_id = frames[0].job_id.clone().expect("accepted names the job");
    let correlation_id = frames[0].correlation_id.clone().unwrap();
    assert_eq!(frames[0].data["statusUrl"], format!("/v1/jobs/{job_id}"));
    for frame in &frames {
        assert_eq!(frame.request_id.as_deref(), Some("r1"));
        assert_eq!(frame.job_id.as_deref(), Some(job_id.as_str()));
        assert_eq!(
            frame.correlation_id.as_deref(),
            Some(correlation_id.as_str())
        );
    }
    assert_eq!(frames.last().unwrap().data, json!({"sleptMs": 2000}));

    // The claim holds the same outcome.
    let job = stack.wait_for_job(&job_id).await;
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(job["result"], json!({"sleptMs": 2000}));
    assert_eq!(job["correlationId"], correlation_id);
}

#[tokio::test]
async fn two_jobs_on_one_connection_keep_per_connection_order() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    // The slow job first: the connection's FIFO group runs the quick one only after it.
    ws.submit(&SubmitFrame::new("slow", "sleep", json!({"ms": 1500})))
        .await
        .unwrap();
    ws.submit(&SubmitFrame::new("quick", "echo", json!({"n": 2})))
        .await
        .unwrap();
    let frames = in_seq_order(frames_until_final(&mut ws, &["slow", "quick"]).await, 1);

    let last_of = |request: &str, kind: FrameKind| {
        for_request(&frames, request)
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.seq)
            .max()
            .unwrap_or_else(|| panic!("no {kind:?} frame for {request}: {frames:#?}"))
    };
    assert!(
        last_of("slow", FrameKind::Result) < last_of("quick", FrameKind::Result),
        "jobs finish in submission order: {frames:#?}"
    );
    assert_eq!(
        for_request(&frames, "quick").last().unwrap().data,
        json!({"n": 2})
    );
}

#[tokio::test]
async fn two_connections_do_not_see_each_others_frames() {
    let stack = Stack::load().await;
    let mut a = connect(&stack).await;
    let mut same_caller = connect(&stack).await;
    let mut b = courier_e2e::ws::connect_as(&stack, &stack.other_callers_token().await).await;
    a.submit(&SubmitFrame::new("a1", "sleep", json!({"ms": 600})))
        .await
        .unwrap();
    same_caller
        .submit(&SubmitFrame::new("s1", "sleep", json!({"ms": 600})))
        .await
        .unwrap();
    b.submit(&SubmitFrame::new("b1", "sleep", json!({"ms": 600})))
        .await
        .unwrap();
    let (frames_a, frames_same, frames_b) = tokio::join!(
        frames_until_final(&mut a, &["a1"]),
        frames_until_final(&mut same_caller, &["s1"]),
        frames_until_final(&mut b, &["b1"])
    );
    // Another principal's connection, like another of the same principal's, carries only its own.
    let frames_same = in_seq_order(frames_same, 1);
    assert!(
        frames_same
            .iter()
            .all(|f| f.request_id.as_deref() == Some("s1"))
    );
    // Each connection has its own counter, starting at 1.
    let frames_a = in_seq_order(frames_a, 1);
    let frames_b = in_seq_order(frames_b, 1);
    assert!(
        frames_a
            .iter()
            .all(|f| f.request_id.as_deref() == Some("a1"))
    );
    assert!(
        frames_b
            .iter()
            .all(|f| f.request_id.as_deref() == Some("b1"))
    );
    assert_ne!(frames_a[0].job_id, frames_b[0].job_id);
    assert_ne!(frames_a[0].job_id, frames_same[0].job_id);
    // And B's job is B's: A cannot read it.
    let bs_job = frames_b[0].job_id.clone().unwrap();
    assert_eq!(stack.get(&format!("/v1/jobs/{bs_job}")).await.status, 404);
}

async fn connection_of_job(stack: &Stack, job_id: &str) -> String {
    eventually("the job's connection id on its claim", || async {
        stack
            .item(&format!("JOB#{job_id}"))
            .await?
            .get("connectionId")?
            .as_s()
            .ok()
            .cloned()
    })
    .await
}

#[tokio::test]
async fn a_client_that_leaves_mid_job_leaves_the_job_to_finish() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    ws.submit(&SubmitFrame::new("r1", "sleep", json!({"ms": 6000})))
        .await
        .unwrap();
    // Wait until the job is running and has sent progress.
    let mut job_id = None;
    loop {
        match ws.next_event(DEADLINE).await.unwrap() {
            Event::Frame(frame) if frame.kind == FrameKind::Accepted => job_id = frame.job_id,
            Event::Frame(frame) if frame.kind == FrameKind::Progress => break,
            Event::Frame(frame) => panic!("unexpected frame {frame:?}"),
            other => panic!("{other:?} before any progress"),
        }
    }
    let job_id = job_id.expect("accepted came first");
    let connection_id = connection_of_job(&stack, &job_id).await;
    let record = format!("CONN#{connection_id}");
    let recorded = stack.item(&record).await.expect("connected: recorded");

    ws.close().await.unwrap();
    eventually("$disconnect to remove the connection record", || async {
        stack.item(&record).await.is_none().then_some(())
    })
    .await;

    // $disconnect is best effort on AWS: put the record back (its caller and all) as if it had
    // been lost. The next frame the processor posts then meets GoneException, which must remove
    // it again.
    stack
        .dynamodb
        .put_item()
        .table_name(stack.output("TableName"))
        .set_item(Some(recorded))
        .item("seq", AttributeValue::N("100".into()))
        .send()
        .await
        .unwrap();
    eventually(
        "the first failed post to remove the stale record",
        || async { stack.item(&record).await.is_none().then_some(()) },
    )
    .await;

    let job = stack.wait_for_job(&job_id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"], json!({"sleptMs": 6000}));
}

#[tokio::test]
async fn bad_frames_get_precise_error_frames_and_the_connection_keeps_working() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    let long_id = "x".repeat(500);
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("{not json".into(), error_code::MALFORMED_FRAME, None),
        ("[1, 2]".into(), error_code::MALFORMED_FRAME, None),
        (
            r#"{"action":"dance","requestId":"e1"}"#.into(),
            error_code::UNKNOWN_ACTION,
            Some("e1"),
        ),
        (
            r#"{"requestId":"e2"}"#.into(),
            error_code::UNKNOWN_ACTION,
            Some("e2"),
        ),
        (
            r#"{"action":"submit","requestId":"e3"}"#.into(),
            error_code::INVALID_FRAME,
            Some("e3"),
        ),
        (
            r#"{"action":"submit","requestId":"e4","type":"nope"}"#.into(),
            error_code::UNKNOWN_JOB_TYPE,
            Some("e4"),
        ),
        (
            r#"{"action":"submit","requestId":"e5","type":"sleep","payload":{"ms":-1}}"#.into(),
            error_code::INVALID_PAYLOAD,
            Some("e5"),
        ),
        (
            format!(r#"{{"action":"submit","requestId":"{long_id}","type":"echo"}}"#),
            error_code::INVALID_FRAME,
            None,
        ),
        (
            format!(
                r#"{{"action":"submit","requestId":"e6","type":"echo","payload":"{}"}}"#,
                "y".repeat(130 * 1024)
            ),
            error_code::FRAME_TOO_LARGE,
            None,
        ),
    ];
    let mut seen = Vec::new();
    for (text, code, request_id) in &cases {
        ws.send_text(text.clone()).await.unwrap();
        // One reply per message, before the next is sent: replies pair with cases.
        let frame = ws
            .next_frame(DEADLINE)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no reply to {}", &text[..text.len().min(80)]));
        assert_eq!(frame.kind, FrameKind::Error, "{frame:?}");
        assert_eq!(
            frame.error_code(),
            Some(*code),
            "{}: {frame:?}",
            &text[..text.len().min(80)]
        );
        assert_eq!(frame.request_id.as_deref(), *request_id);
        assert!(frame.job_id.is_none(), "nothing was accepted: {frame:?}");
        seen.push(frame);
    }
    in_seq_order(seen, 1);

    // A resent submit is accepted once; reusing its requestId for other work is refused.
    let submit = SubmitFrame::new(unique("ok"), "echo", json!({"fine": true}));
    ws.submit(&submit).await.unwrap();
    ws.submit(&submit).await.unwrap();
    let mut changed = submit.clone();
    changed.payload = json!({"fine": false});
    ws.submit(&changed).await.unwrap();
    let request_id = submit.request_id.as_str();
    let reused = |f: &ServerFrame| f.error_code() == Some(error_code::REQUEST_ID_REUSED);
    // Two acceptances, the refusal, and the one job's result, in whatever order they arrive.
    let frames = frames_until(
        &mut ws,
        "the job's result and the reuse refusal",
        |frames| {
            frames.iter().any(reused)
                && frames.iter().any(|f| f.kind == FrameKind::Result)
                && frames
                    .iter()
                    .filter(|f| f.kind == FrameKind::Accepted)
                    .count()
                    == 2
        },
    )
    .await;
    let frames = in_seq_order(frames, cases.len() as u64 + 1);
    assert!(
        frames
            .iter()
            .all(|f| f.request_id.as_deref() == Some(request_id))
    );
    let accepted: Vec<&ServerFrame> = frames
        .iter()
        .filter(|f| f.kind == FrameKind::Accepted)
        .collect();
    assert_eq!(accepted[0].job_id, accepted[1].job_id, "the same job");
    assert_eq!(frames.len(), 4, "one job ran, one result: {frames:#?}");
    let job = stack
        .wait_for_job(accepted[0].job_id.as_deref().unwrap())
        .await;
    assert_eq!(job["result"], json!({"fine": true}));
}

#[tokio::test]
async fn a_result_too_large_for_a_frame_arrives_as_a_claim_reference() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    let payload = json!({"blob": "z".repeat(40 * 1024)});
    ws.submit(&SubmitFrame::new("big", "echo", payload.clone()))
        .await
        .unwrap();
    let frames = in_seq_order(frames_until_final(&mut ws, &["big"]).await, 1);
    let result = frames.last().unwrap();
    assert_eq!(result.kind, FrameKind::Result);
    assert_eq!(result.data, Value::Null);
    let job_id = result.job_id.clone().unwrap();
    let reference = result.result_ref.clone().expect("a claim reference");
    assert_eq!(reference.href, format!("/v1/jobs/{job_id}"));
    assert_eq!(reference.bytes, payload.to_string().len());
    let job = stack.get(&reference.href).await.json();
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(job["result"], payload);
}

#[tokio::test]
async fn the_courier_tool_streams_frames_in_order() {
    let stack = Stack::load().await;
    let output = courier_e2e::run_courier_with(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        [
            "ws",
            "sleep",
            r#"{"ms":500}"#,
            "--count",
            "2",
            "-o",
            "json",
            "--timeout",
            "90",
        ]
        .map(String::from)
        .to_vec(),
        vec![(
            "COURIER_WS_URL".into(),
            stack.output("WebSocketUrl").to_owned(),
        )],
        None,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "courier ws failed: {stderr}");
    assert!(!stderr.contains("gap"), "{stderr}");
    let frames: Vec<ServerFrame> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one frame per line"))
        .collect();
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(
        seqs,
        (1..=frames.len() as u64).collect::<Vec<_>>(),
        "printed in seq order"
    );
    let results = frames
        .iter()
        .filter(|f| f.kind == FrameKind::Result)
        .count();
    assert_eq!(results, 2);
}

#[tokio::test]
async fn a_failed_job_ends_with_an_error_frame_and_reaches_the_fifo_dead_letter_queue() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    ws.submit(&SubmitFrame::new(
        "f1",
        "fail",
        json!({"reason": "refused by test"}),
    ))
    .await
    .unwrap();
    let frames = in_seq_order(frames_until_final(&mut ws, &["f1"]).await, 1);
    let error = frames.last().unwrap();
    assert_eq!(
        error.error_code(),
        Some(error_code::JOB_FAILED),
        "{error:?}"
    );
    assert_eq!(error.data["message"], "refused by test");
    let job_id = error.job_id.clone().unwrap();
    let job = stack.wait_for_job(&job_id).await;
    assert_eq!(job["status"], "FAILED");
    let letter = stack
        .wait_for_message("OrderedWorkDeadLetterQueueUrl", &job_id, |m| {
            courier_e2e::dead_letter_id(m).as_deref() == Some(job_id.as_str())
        })
        .await;
    assert_eq!(
        courier_e2e::message_attribute(&letter, "failureReason").as_deref(),
        Some("refused by test")
    );
}

/// A reason far over the frame limit (control characters, six bytes each once escaped) still
/// ends the job with its error frame, the message cut short, the claim keeping it whole.
#[tokio::test]
async fn a_long_failure_reason_arrives_in_a_frame_within_the_limit() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    let reason = "\u{0007}".repeat(20_000);
    ws.submit(&SubmitFrame::new("long", "fail", json!({"reason": reason})))
        .await
        .unwrap();
    let frames = in_seq_order(frames_until_final(&mut ws, &["long"]).await, 1);
    let error = frames.last().unwrap();
    assert_eq!(error.error_code(), Some(error_code::JOB_FAILED));
    let shown = error.data["message"].as_str().unwrap();
    assert!(
        !shown.is_empty() && shown.len() < reason.len() && reason.starts_with(shown),
        "cut short: {} of {} characters",
        shown.len(),
        reason.len()
    );
    assert!(serde_json::to_string(error).unwrap().len() <= courier_client::frames::MAX_FRAME_BYTES);
    let job = stack.wait_for_job(error.job_id.as_deref().unwrap()).await;
    assert_eq!(
        job["error"]["reason"].as_str().map(str::len),
        Some(reason.len())
    );
}

#[tokio::test]
async fn a_retried_job_holds_back_the_next_job_of_its_connection() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    // Two transient failures: the message goes back to the FIFO queue twice with backoff, and
    // its group (this connection) waits for it.
    ws.submit(&SubmitFrame::new("flaky", "flaky", json!({"failures": 2})))
        .await
        .unwrap();
    ws.submit(&SubmitFrame::new("next", "echo", json!("after")))
        .await
        .unwrap();
    let frames = in_seq_order(frames_until_final(&mut ws, &["flaky", "next"]).await, 1);
    let result_seq = |request: &str| {
        for_request(&frames, request)
            .iter()
            .find(|f| f.kind == FrameKind::Result)
            .map(|f| f.seq)
            .unwrap_or_else(|| panic!("no result for {request}: {frames:#?}"))
    };
    assert!(result_seq("flaky") < result_seq("next"), "{frames:#?}");
    let flaky = for_request(&frames, "flaky");
    assert_eq!(flaky.last().unwrap().data, json!({"attempts": 3}));
}

/// A connection's jobs are read ten at a time. The first batch here is a job that succeeds,
/// then four that each fail twice before succeeding, then one more: each failure holds back
/// the jobs behind it, received with it but not run. The last job is held back more often
/// than `MaxReceiveCount` (5 locally) allows receives, and still runs, once, after the others,
/// since held-back receives are not its own.
#[tokio::test]
async fn a_job_held_back_behind_many_failing_jobs_of_its_connection_still_runs_in_order() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    let mut jobs = vec![SubmitFrame::new("first", "echo", json!("first"))];
    let heads = ["h1", "h2", "h3", "h4"];
    for head in heads {
        jobs.push(SubmitFrame::new(head, "flaky", json!({"failures": 2})));
    }
    jobs.push(SubmitFrame::new("last", "echo", json!("last")));
    let mut frames = courier_e2e::ws::submit_as_one_batch(&stack, &mut ws, &jobs).await;
    let requests: Vec<&str> = jobs.iter().map(|j| j.request_id.as_str()).collect();
    frames.extend(frames_until_final(&mut ws, &requests).await);
    let frames = in_seq_order(frames, 1);
    let result_seqs: Vec<u64> = requests
        .iter()
        .map(|request| {
            let result = for_request(&frames, request)
                .into_iter()
                .find(|f| f.kind == FrameKind::Result)
                .unwrap_or_else(|| panic!("no result for {request}: {frames:#?}"));
            result.seq
        })
        .collect();
    assert!(
        result_seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "results in submission order: {result_seqs:?}"
    );
    for head in heads {
        let result = for_request(&frames, head).last().unwrap().data.clone();
        assert_eq!(result, json!({"attempts": 3}), "{head}");
    }
    let last_id = for_request(&frames, "last")[0].job_id.clone().unwrap();
    let job = stack.wait_for_job(&last_id).await;
    assert_eq!(
        (&job["status"], &job["attempts"]),
        (&json!("SUCCEEDED"), &json!(1))
    );
    let claim = stack.item(&format!("JOB#{last_id}")).await.unwrap();
    let held: u32 = claim["heldReceives"].as_n().unwrap().parse().unwrap();
    assert!(
        held >= 5,
        "held back at least as often as SQS allows receives ({held}): the case is exercised"
    );
}

/// A resubmit of a job still waiting its turn (behind a slow job of its connection) names the
/// same job: the resubmit takes the claim over and queues its message again, since the first
/// try's may never have gone out, and the claim runs the job once however many messages name it.
#[tokio::test]
async fn a_resubmit_of_a_job_waiting_its_turn_names_it_and_it_runs_once() {
    let stack = Stack::load().await;
    let mut ws = connect(&stack).await;
    let account = unique("acct");
    ws.submit(&SubmitFrame::new("slow", "sleep", json!({"ms": 4000})))
        .await
        .unwrap();
    let pay = SubmitFrame::new(
        "pay",
        "ledger",
        json!({"account": account, "amountCents": 7}),
    );
    ws.submit(&pay).await.unwrap();
    let accepted = |frames: &[ServerFrame]| {
        frames
            .iter()
            .filter(|f| f.request_id.as_deref() == Some("pay") && f.kind == FrameKind::Accepted)
            .count()
    };
    let mut frames = frames_until(&mut ws, "the first acceptance", |frames| {
        accepted(frames) == 1
    })
    .await;
    ws.submit(&pay).await.unwrap();
    frames.extend(
        frames_until(&mut ws, "the resubmit's acceptance", |more| {
            accepted(more) == 1
        })
        .await,
    );
    let answers: Vec<&ServerFrame> = for_request(&frames, "pay")
        .into_iter()
        .filter(|f| f.kind == FrameKind::Accepted)
        .collect();
    assert_eq!(answers.len(), 2, "{frames:#?}");
    assert_eq!(answers[0].job_id, answers[1].job_id, "the same job");
    assert_eq!(answers[0].correlation_id, answers[1].correlation_id);
    let id = answers[0].job_id.clone().unwrap();
    // Still behind the slow job: the resubmit found it unstarted and took it over.
    let claim = stack.item(&format!("JOB#{id}")).await.expect("the claim");
    assert_eq!(claim["attempts"].as_n().unwrap(), "0", "{claim:?}");
    assert_eq!(
        claim.get("takenOver"),
        Some(&AttributeValue::Bool(true)),
        "{claim:?}"
    );

    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    stack.wait_for_queue_idle("OrderedWorkQueueUrl").await;
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "booked once: {entries:?}");
    assert_eq!(
        entries[0]["runs"].as_n().unwrap(),
        "1",
        "run once: {entries:?}"
    );
}
