//! Crash safety on the deployed stack: failpoints (compiled into the local build only) armed in
//! one function at a time, for jobs whose correlation id starts with `failpoint-`, then the
//! invariants: every accepted job ends, none runs to completion twice, a retry names the same
//! job, a panic fails one message only.

use courier_client::frames::{FrameKind, SubmitFrame, error_code};
use courier_client::ws::Event;
use courier_e2e::{Stack, eventually, unique};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Armed points are per function, not per test, and a crash fails a whole batch: the tests
/// here take turns.
static ARMING: Mutex<()> = Mutex::const_new(());

fn marked(name: &str) -> String {
    unique(&format!("failpoint-{name}"))
}

fn number(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    name: &str,
) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_retry_after_a_crash_before_the_key_is_completed_names_the_same_job() {
    let _turn = ARMING.lock().await;
    retry_after_an_intake_crash("intake.before-complete").await;
}

#[tokio::test]
async fn a_retry_after_a_crash_before_the_message_is_sent_names_the_same_job() {
    let _turn = ARMING.lock().await;
    retry_after_an_intake_crash("intake.before-send").await;
}

/// The HTTP API dies at `point` while accepting a job with an `Idempotency-Key`; the client's
/// retry is accepted once the first try's lock lapses, names the job the first try may have
/// recorded, and the job runs once.
async fn retry_after_an_intake_crash(point: &str) {
    let stack = Stack::load().await;
    stack
        .arm_failpoints("HttpApiFunctionName", &format!("{point}=return(crash)"))
        .await;
    let account = unique("acct");
    let body = json!({"type": "ledger", "payload": {"account": account, "amountCents": 7}});
    let key = unique("key");
    let correlation_id = marked(point);
    let headers = [
        ("idempotency-key", key.as_str()),
        ("x-correlation-id", correlation_id.as_str()),
    ];
    // The function dies part way: no answer.
    let first = stack.post_json("/v1/jobs", &body, &headers).await;
    assert!(first.status >= 500, "the caller saw the crash: {first:?}");
    stack.arm_failpoints("HttpApiFunctionName", "").await;
    // The client retries with the same key; once the first try's lock lapses it is let in. A
    // request with another body under that key is refused all along, the lapse included.
    let other = json!({"type": "ledger", "payload": {"account": account, "amountCents": 8}});
    let id = eventually("the retry to be accepted", || async {
        let reused = stack.post_json("/v1/jobs", &other, &headers).await;
        assert_eq!(reused.status, 409, "another body under the key: {reused:?}");
        let reply = stack.post_json("/v1/jobs", &body, &headers).await;
        match reply.status {
            202 => Some(reply.json()["id"].as_str().unwrap().to_owned()),
            409 => {
                assert_eq!(reply.problem_type(), "request-in-progress", "{reply:?}");
                None
            }
            other => panic!("unexpected {other}: {reply:?}"),
        }
    })
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    // Both tries' messages named this job: it ran once, and there is no second job.
    stack.wait_for_work_queue_idle().await;
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "one job booked: {entries:?}");
    assert_eq!(entries[0]["jobId"].as_s().unwrap(), &id);
    assert_eq!(number(&entries[0], "runs"), 1, "run to completion once");
    assert_eq!(job["attempts"], 1, "{job}");
}

/// The claim write is applied but reported as failed (a timeout after DynamoDB wrote it) while
/// the message was sent: the job will run, so the caller is told it was accepted.
#[tokio::test]
async fn a_claim_write_applied_but_reported_failed_is_accepted_not_a_503() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    stack
        .arm_failpoints("HttpApiFunctionName", "intake.after-claim=return(error)")
        .await;
    let account = unique("acct");
    let body = json!({"type": "ledger", "payload": {"account": account, "amountCents": 3}});
    let reply = stack
        .post_json(
            "/v1/jobs",
            &body,
            &[("x-correlation-id", &marked("after-claim"))],
        )
        .await;
    stack.arm_failpoints("HttpApiFunctionName", "").await;
    assert_eq!(
        reply.status, 202,
        "the job runs, so it was accepted: {reply:?}"
    );
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(stack.ledger_entries(&account).await.len(), 1);
}

/// The message is sent but reported as failed (a timeout after SQS stored it). If the job has
/// started by the time the intake would take the claim back, the claim stays and the caller
/// is told the job was accepted; if it has not, the claim is taken back, the caller gets a 503,
/// and the message, finding no claim, never runs.
#[tokio::test]
async fn a_send_reported_failed_never_deletes_a_started_claim_nor_answers_503_for_work_that_runs() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let account = unique("acct");
    let body = json!({"type": "ledger", "payload": {"account": account, "amountCents": 4}});

    // The intake waits for the processor to start the job before taking the claim back.
    stack
        .arm_failpoints(
            "HttpApiFunctionName",
            "intake.after-send=return(error);intake.before-withdraw=return(until-started)",
        )
        .await;
    let started = stack
        .post_json(
            "/v1/jobs",
            &body,
            &[("x-correlation-id", &marked("after-send"))],
        )
        .await;
    // No pause: the claim is taken back while the message waits.
    stack
        .arm_failpoints("HttpApiFunctionName", "intake.after-send=return(error)")
        .await;
    let other = unique("acct");
    let unstarted = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "ledger", "payload": {"account": other, "amountCents": 5}}),
            &[("x-correlation-id", &marked("after-send"))],
        )
        .await;
    stack.arm_failpoints("HttpApiFunctionName", "").await;

    assert_eq!(
        started.status, 202,
        "the job started, so it was accepted: {started:?}"
    );
    let id = started.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "its claim was kept: {job}");
    assert_eq!(stack.ledger_entries(&account).await.len(), 1);

    assert_eq!(unstarted.status, 503, "{unstarted:?}");
    stack.wait_for_work_queue_idle().await;
    assert!(
        stack.ledger_entries(&other).await.is_empty(),
        "a job answered with a 503 never runs"
    );
}

/// A message whose send was reported failed (but stored) gets a 503; the client's retry under
/// the same key names the same message, so the work runs once, not once per try.
#[tokio::test]
async fn a_retry_after_a_send_reported_failed_names_the_same_message() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let account = unique("acct");
    let body = json!({"type": "ledger", "payload": {"account": account, "amountCents": 6}});
    let key = unique("key");
    let correlation_id = marked("after-send");
    let headers = [
        ("idempotency-key", key.as_str()),
        ("x-correlation-id", correlation_id.as_str()),
    ];
    stack
        .arm_failpoints("HttpApiFunctionName", "intake.after-send=return(error)")
        .await;
    let first = stack.post_json("/v1/messages", &body, &headers).await;
    stack.arm_failpoints("HttpApiFunctionName", "").await;
    assert_eq!(first.status, 503, "{first:?}");
    let retry = stack.post_json("/v1/messages", &body, &headers).await;
    assert_eq!(retry.status, 202, "the retry is let in at once: {retry:?}");
    let id = retry.json()["messageId"].as_str().unwrap().to_owned();
    stack.wait_for_status(&id, "SUCCEEDED").await;
    stack.wait_for_work_queue_idle().await;
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "booked once: {entries:?}");
    assert_eq!(entries[0]["jobId"].as_s().unwrap(), &id);
    assert_eq!(number(&entries[0], "runs"), 1, "run once");
}

/// A WebSocket submit whose claim write failed while its message went out is refused
/// (`unavailable`); the message, finding no claim, is dropped unrun. The client's resubmit of
/// the same `requestId` afterwards is accepted and runs — it is not swallowed by the queue's
/// deduplication of the first message.
#[tokio::test]
async fn a_websocket_resubmit_after_a_failed_claim_write_runs() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let mut ws = courier_e2e::ws::connect(&stack).await;
    stack
        .arm_failpoints("WebSocketFunctionName", "intake.before-claim=return(error)")
        .await;
    let submit = SubmitFrame::new("retry-me", "echo", json!("again"))
        .with_correlation_id(marked("before-claim"));
    ws.submit(&submit).await.unwrap();
    let refused = courier_e2e::ws::frames_until(&mut ws, "the refusal", |frames| {
        frames.iter().any(|f| f.is_final())
    })
    .await;
    stack.arm_failpoints("WebSocketFunctionName", "").await;
    let last = refused.last().unwrap();
    assert_eq!(last.kind, FrameKind::Error, "{refused:?}");
    assert_eq!(last.data["code"], error_code::UNAVAILABLE, "{refused:?}");
    // The claimless message is dropped unrun.
    stack.wait_for_queue_idle("OrderedWorkQueueUrl").await;

    ws.submit(&submit).await.unwrap();
    let frames = courier_e2e::ws::frames_until_final(&mut ws, &["retry-me"]).await;
    let last = frames.last().unwrap();
    assert_eq!(last.kind, FrameKind::Result, "{frames:?}");
    assert_eq!(last.data, json!("again"));
}

#[tokio::test]
async fn a_copy_delivered_while_its_job_runs_does_not_run_it_again() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let account = unique("acct");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "ledger", "payload": {"account": account, "amountCents": 7, "holdMs": 4000}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let running = stack
        .poll_job(&id, |job| job["status"] == "RUNNING")
        .await
        .pop()
        .unwrap();
    // SQS delivers at least once: the same message again, while the first copy runs.
    let copy = json!({
        "kind": "work", "messageId": id, "correlationId": running["correlationId"],
        "pattern": "claim-check", "type": "ledger",
        "payload": {"account": account, "amountCents": 7, "holdMs": 4000},
        "acceptedAt": running["createdAt"],
    });
    stack.send_raw_to_work_queue(&copy.to_string()).await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    stack.wait_for_work_queue_idle().await;
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        number(&entries[0], "runs"),
        1,
        "the copy did not run the job again"
    );
    let after = stack.get(&format!("/v1/jobs/{id}")).await.json();
    assert_eq!(after["attempts"], 1, "{after}");
}

/// A short fire-and-forget job runs unleased (its start and end are one write): a copy SQS
/// delivers while it runs may run it beside it, and exactly one of the two outcomes is
/// recorded — one attempt on the message's record; the job's downstream idempotency key makes
/// its effect happen once.
#[tokio::test]
async fn a_copy_delivered_while_a_short_message_runs_unleased_is_recorded_once() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let account = unique("acct");
    // 700 ms: inside the unleased second, long enough for the copy to arrive meanwhile.
    let payload = json!({"account": account, "amountCents": 7, "holdMs": 700});
    let reply = stack
        .post_json(
            "/v1/messages",
            &json!({"type": "ledger", "payload": payload}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let accepted = reply.json();
    let id = accepted["messageId"].as_str().unwrap().to_owned();
    let copy = json!({
        "kind": "work", "messageId": id, "correlationId": accepted["correlationId"],
        "pattern": "fire-and-forget", "type": "ledger", "payload": payload,
        "acceptedAt": "2026-12-03T00:00:00.000Z",
    });
    stack.send_raw_to_work_queue(&copy.to_string()).await;
    let record = stack.wait_for_status(&id, "SUCCEEDED").await;
    stack.wait_for_work_queue_idle().await;
    let record = stack
        .item(&format!("MSG#{id}"))
        .await
        .map(courier_e2e::Record)
        .unwrap_or(record);
    assert_eq!(record.attempts(), 1, "one outcome recorded");
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "booked once: {entries:?}");
    let runs = number(&entries[0], "runs");
    assert!((1..=2).contains(&runs), "ran once or twice: {entries:?}");
}

#[tokio::test]
async fn a_panic_in_one_job_fails_only_its_own_message() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    // The first marked run panics inside the job; every other message is left alone.
    stack
        .arm_failpoints("ProcessorFunctionName", "job.run=1*return(panic)")
        .await;
    // Held back together, so they come to the processor in one batch.
    let submit = |correlation_id: String| {
        let stack = &stack;
        async move {
            let reply = stack
                .post_json(
                    "/v1/jobs",
                    &json!({"type": "echo", "payload": 1, "delaySeconds": 2}),
                    &[("x-correlation-id", correlation_id.as_str())],
                )
                .await;
            assert_eq!(reply.status, 202, "{reply:?}");
            reply.json()["id"].as_str().unwrap().to_owned()
        }
    };
    let panicking = submit(marked("panic")).await;
    let others = [submit(unique("calm")).await, submit(unique("calm")).await];
    let job = stack.wait_for_job(&panicking).await;
    assert_eq!(job["status"], "SUCCEEDED", "retried after the panic: {job}");
    assert_eq!(job["attempts"], 2, "{job}");
    for id in others {
        let job = stack.wait_for_job(&id).await;
        assert_eq!(
            (job["status"].clone(), job["attempts"].clone()),
            (json!("SUCCEEDED"), json!(1)),
            "{job}"
        );
    }
    stack.arm_failpoints("ProcessorFunctionName", "").await;
}

#[tokio::test]
async fn a_crash_between_marking_a_callback_and_queueing_it_still_delivers_it_once() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    // The processor dies after the claim's callback is QUEUED and before its message is sent.
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "callback.after-mark=return(crash-once)",
        )
        .await;
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let correlation_id = marked("callback");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": "once", "callback": {"endpointId": endpoint.id}}),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    // The work message comes back after the queue's visibility timeout; its redelivery finds
    // the job finished and the callback QUEUED, and queues the message that was never sent.
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    stack.wait_for_work_queue_idle().await;
    stack.wait_for_queue_idle("CallbackQueueUrl").await;
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 1, "one delivery");
    assert_eq!(arrivals[0].header("webhook-id"), format!("msg_{id}"));
    stack.arm_failpoints("ProcessorFunctionName", "").await;
}

#[tokio::test]
async fn a_job_sqs_gives_up_on_fails_calls_back_once_and_can_be_redriven_even_after_a_crash() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    // Every receive, the last included, meets a DynamoDB error before the job starts: no
    // delivery records an outcome, and SQS redrive moves the message to the dead-letter inbox.
    // There, the first reading dies after failing the job; the letter comes back (after the
    // inbox's visibility timeout) and the remaining steps are done.
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.before-start=return(error);processor.after-abandon=return(crash-once)",
        )
        .await;
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let correlation_id = marked("stranded");
    let account = unique("acct");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({
                "type": "ledger",
                "payload": {"account": account, "amountCents": 7},
                "callback": {"endpointId": endpoint.id},
            }),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();

    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["kind"], "dead-lettered", "{job}");
    let reason = job["error"]["reason"].as_str().unwrap();
    assert!(reason.contains("after 5 receives"), "{reason}");
    assert!(stack.ledger_entries(&account).await.is_empty(), "never ran");
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 1, "one delivery");
    assert_eq!(arrivals[0].header("webhook-id"), format!("msg_{id}"));
    let body: serde_json::Value = serde_json::from_slice(&arrivals[0].body).unwrap();
    assert_eq!(body["status"], "FAILED", "{body}");

    // The letter waits in the operators' DLQ with the reason, and can be sent back to run.
    let letter = courier_e2e::courier_dlq_until_listed(&["list"], "work", &id).await;
    assert_eq!(letter["failureKind"], "dead-lettered", "{letter}");
    stack.wait_for_queue_idle("WorkDeadLetterInboxUrl").await;
    let moved = courier_e2e::courier_dlq_until_listed(&["redrive"], "work", &id).await;
    assert_eq!(moved["messageId"], id);
    let done = stack
        .poll_job(&id, |job| job["status"] == "SUCCEEDED")
        .await
        .pop()
        .unwrap();
    assert!(done.get("error").is_none(), "{done}");
    // The redriven job's outcome is called back too, as a message of its own.
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    let arrivals = receiver.arrivals();
    let ids: Vec<String> = arrivals
        .iter()
        .map(|a| a.header("webhook-id").to_owned())
        .collect();
    assert_eq!(ids, [format!("msg_{id}"), format!("msg_{id}_1")]);
    let body: serde_json::Value = serde_json::from_slice(&arrivals[1].body).unwrap();
    assert_eq!(body["status"], "SUCCEEDED", "{body}");
    // Its timeline tells the whole path: given up on by SQS, told, redriven, run once, told.
    let events = stack.get(&format!("/v1/jobs/{id}/events")).await.json();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "accepted",
            "dead-lettered",
            "callback-attempt",
            "redriven",
            "attempt-started",
            "attempt-succeeded",
            "callback-attempt"
        ],
        "{events:#}"
    );
    stack.wait_for_work_queue_idle().await;
    stack.wait_for_queue_idle("WorkDeadLetterInboxUrl").await;
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        number(&entries[0], "runs"),
        1,
        "ran once, after the redrive"
    );
}

#[tokio::test]
async fn a_websocket_job_sqs_gives_up_on_gets_its_error_frame_and_the_jobs_behind_it_run_in_order()
{
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.before-start=return(error)",
        )
        .await;
    let mut ws = courier_e2e::ws::connect(&stack).await;
    // The first job of the connection never gets past a DynamoDB error; two more queue behind
    // it in the connection's FIFO group.
    ws.submit(
        &SubmitFrame::new("stuck", "echo", json!("never runs"))
            .with_correlation_id(marked("ws-stranded")),
    )
    .await
    .unwrap();
    for request in ["second", "third"] {
        ws.submit(&SubmitFrame::new(request, "echo", json!(request)))
            .await
            .unwrap();
    }
    let frames = courier_e2e::ws::frames_until_final(&mut ws, &["stuck", "second", "third"]).await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;

    let of = |request: &str| courier_e2e::ws::for_request(&frames, request);
    let stuck = of("stuck");
    let error = stuck.last().unwrap();
    assert_eq!(
        error.error_code(),
        Some(error_code::JOB_FAILED),
        "{stuck:?}"
    );
    assert_eq!(error.data["kind"], "dead-lettered", "{error:?}");
    let job_id = error.job_id.clone().unwrap();
    let job = stack.wait_for_job(&job_id).await;
    assert_eq!(
        (job["status"].clone(), job["error"]["kind"].clone()),
        (json!("FAILED"), json!("dead-lettered")),
        "{job}"
    );
    // The jobs behind it ran once each, in the order they were sent.
    let result_seq = |request: &str| {
        let frames = of(request);
        let result = frames.last().unwrap();
        assert_eq!(result.kind, FrameKind::Result, "{frames:?}");
        assert_eq!(result.data, json!(request));
        result.seq
    };
    assert!(result_seq("second") < result_seq("third"));
    for request in ["second", "third"] {
        let id = of(request)[0].job_id.clone().unwrap();
        assert_eq!(stack.wait_for_job(&id).await["attempts"], 1);
    }
    stack.wait_for_queue_idle("OrderedWorkQueueUrl").await;
    stack
        .wait_for_queue_idle("OrderedWorkDeadLetterInboxUrl")
        .await;
}

#[tokio::test]
async fn a_websocket_resubmit_after_a_crash_gets_the_same_job_and_it_runs_once() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    // The claim and the message are written, then the function dies before it answers: the
    // client hears nothing.
    stack
        .arm_failpoints(
            "WebSocketFunctionName",
            "intake.before-complete=return(crash)",
        )
        .await;
    let mut ws = courier_e2e::ws::connect(&stack).await;
    let account = unique("acct");
    let submit = SubmitFrame::new(
        "pay-1",
        "ledger",
        json!({"account": account, "amountCents": 7}),
    )
    .with_correlation_id(marked("ws-resubmit"));
    ws.submit(&submit).await.unwrap();
    // The first try's message runs the job (its result frame reaches the client too).
    eventually("the first try's job to run", || async {
        (!stack.ledger_entries(&account).await.is_empty()).then_some(())
    })
    .await;
    stack.arm_failpoints("WebSocketFunctionName", "").await;
    // The client sends the same submit again until it is answered with the first try's job
    // (its id derives from the `requestId`, and the claim is its only record: no lock to
    // wait out; `request-in-progress` is accepted too, as for a caller's key).
    let mut results = Vec::new();
    let mut crashed = false;
    let started = std::time::Instant::now();
    let accepted = loop {
        ws.submit(&submit).await.unwrap();
        let answer = loop {
            match ws.next_event(courier_e2e::DEADLINE).await.unwrap() {
                Event::Frame(frame) if frame.kind == FrameKind::Result => results.push(frame),
                Event::Frame(frame) => break frame,
                // The gateway's word that the crashed try failed.
                Event::Gateway(_) => crashed = true,
                other => panic!("every submit is answered: {other:?}"),
            }
        };
        if answer.kind == FrameKind::Accepted {
            break answer;
        }
        assert_eq!(
            answer.error_code(),
            Some(error_code::REQUEST_IN_PROGRESS),
            "{answer:?}"
        );
        assert!(
            started.elapsed() < courier_e2e::DEADLINE,
            "still in progress"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    assert!(crashed, "the first try died before it answered");
    assert!(
        results.iter().all(|r| r.job_id == accepted.job_id),
        "the result frames name the same job: {results:?}"
    );
    let id = accepted.job_id.clone().unwrap();
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    stack.wait_for_queue_idle("OrderedWorkQueueUrl").await;
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "one job booked: {entries:?}");
    assert_eq!(entries[0]["jobId"].as_s().unwrap(), &id);
    assert_eq!(number(&entries[0], "runs"), 1, "run to completion once");
}

#[tokio::test]
async fn a_crash_after_posting_a_callback_sends_it_again_under_the_same_webhook_id() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    // The notifier dies after the receiver answered and before the delivery is recorded.
    stack
        .arm_failpoints(
            "NotifierFunctionName",
            "notifier.after-post=return(crash-once)",
        )
        .await;
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let correlation_id = marked("notifier");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": "twice?", "callback": {"endpointId": endpoint.id}}),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    // The callback message comes back after its visibility timeout and is sent again.
    let job = stack.wait_for_callback(&id, "DELIVERED").await;
    stack.arm_failpoints("NotifierFunctionName", "").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    stack.wait_for_queue_idle("CallbackQueueUrl").await;
    let arrivals = receiver.arrivals();
    assert_eq!(
        arrivals.len(),
        2,
        "at least once: the unrecorded POST and its repeat"
    );
    for arrival in &arrivals {
        assert_eq!(
            arrival.header("webhook-id"),
            format!("msg_{id}"),
            "one id to deduplicate on"
        );
        assert_eq!(arrival.body, arrivals[0].body);
    }
}

/// Arms one processor point (to crash once) and sends a `ledger` booking of a fresh account
/// to `path` (`/v1/jobs` or `/v1/messages`), marked for the point: the answer and the account.
async fn ledger_work_armed_at(stack: &Stack, point: &str, path: &str) -> (Value, String) {
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            &format!("{point}=return(crash-once)"),
        )
        .await;
    let account = unique("acct");
    let correlation_id = marked(point);
    let reply = stack
        .post_json(
            path,
            &json!({"type": "ledger", "payload": {"account": account, "amountCents": 7}}),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    (reply.json(), account)
}

/// Arms one processor point for a `ledger` job, waits for the job to end, and returns the
/// claim and the ledger entries it booked.
async fn ledger_job_through_a_crash(
    stack: &Stack,
    point: &str,
) -> (
    serde_json::Value,
    Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) {
    let (accepted, account) = ledger_work_armed_at(stack, point, "/v1/jobs").await;
    let id = accepted["id"].as_str().unwrap().to_owned();
    // The message comes back after the queue's visibility timeout, the lease has lapsed.
    let job = stack.wait_for_job(&id).await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    stack.wait_for_work_queue_idle().await;
    (job, stack.ledger_entries(&account).await)
}

#[tokio::test]
async fn a_crash_after_running_is_recorded_and_before_the_job_starts_runs_it_once() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let (job, entries) = ledger_job_through_a_crash(&stack, "processor.after-start").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 2, "the crashed start counts: {job}");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(number(&entries[0], "runs"), 1, "the job itself ran once");
    assert_eq!(job["result"]["alreadyBooked"], false, "{job}");
}

#[tokio::test]
async fn a_crash_after_the_job_and_before_its_outcome_runs_it_again_with_one_effect() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let (job, entries) = ledger_job_through_a_crash(&stack, "processor.before-outcome").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    // Execution is at least once: the outcome was never recorded, so the job ran again. Its
    // downstream idempotency key, the same on both runs, made the booking happen once.
    assert_eq!(entries.len(), 1, "booked once: {entries:?}");
    assert_eq!(number(&entries[0], "runs"), 2, "{entries:?}");
    assert_eq!(job["result"]["alreadyBooked"], true, "{job}");
}

/// Arms one processor point for a fire-and-forget `ledger` message (short: its first run is
/// unleased, its start and success one write), waits for it to end, and returns its record
/// and the ledger entries it booked.
async fn ledger_message_through_a_crash(
    stack: &Stack,
    point: &str,
) -> (
    courier_e2e::Record,
    Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) {
    let (accepted, account) = ledger_work_armed_at(stack, point, "/v1/messages").await;
    let id = accepted["messageId"].as_str().unwrap().to_owned();
    // The message comes back after the queue's visibility timeout.
    stack.wait_for_status(&id, "SUCCEEDED").await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    stack.wait_for_work_queue_idle().await;
    let record = stack
        .message_record(&id)
        .await
        .expect("the message's record");
    (record, stack.ledger_entries(&account).await)
}

/// The one write that records a short message's start and success lands, then the processor
/// dies: the redelivery finds it finished and runs nothing.
#[tokio::test]
async fn a_crash_after_a_short_messages_one_write_runs_nothing_again() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let (record, entries) =
        ledger_message_through_a_crash(&stack, "processor.before-final-frame").await;
    assert_eq!(record.status(), "SUCCEEDED");
    assert_eq!(record.attempts(), 1, "one outcome recorded");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(number(&entries[0], "runs"), 1, "the job ran once");
}

/// A short message runs unleased and the processor dies before its one write: nothing was
/// recorded, so the redelivery (leased) runs it again; its downstream key makes one booking.
#[tokio::test]
async fn a_crash_before_a_short_messages_one_write_runs_it_again_with_one_effect() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let (record, entries) =
        ledger_message_through_a_crash(&stack, "processor.before-outcome").await;
    assert_eq!(record.status(), "SUCCEEDED");
    assert_eq!(
        record.attempts(),
        1,
        "the crashed unleased run left no attempt behind"
    );
    assert_eq!(entries.len(), 1, "booked once: {entries:?}");
    assert_eq!(number(&entries[0], "runs"), 2, "ran again: {entries:?}");
}

/// Submits a short `sha256` job (a type whose result is its only effect: its first attempt
/// runs on a look at its claim, and its start and success are one write) with `point` armed
/// in the processor, and returns the job once it has ended and its queue is idle.
async fn short_job_through_a_crash(stack: &Stack, point: &str) -> Value {
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            &format!("{point}=return(crash-once)"),
        )
        .await;
    let correlation_id = marked(point);
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "sha256", "payload": {"data": correlation_id}}),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    // The message comes back after the queue's visibility timeout.
    stack.wait_for_job(&id).await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    stack.wait_for_work_queue_idle().await;
    stack.get(&format!("/v1/jobs/{id}")).await.json()
}

/// A short job runs unleased and the processor dies before its one write: nothing of that run
/// was recorded, so the redelivery (leased) runs it as its first attempt.
#[tokio::test]
async fn a_crash_before_a_short_jobs_one_write_runs_it_again_as_its_only_attempt() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let job = short_job_through_a_crash(&stack, "processor.before-outcome").await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        job["attempts"], 1,
        "the crashed run, unleased, left no attempt behind: {job}"
    );
    assert_eq!(
        job["result"]["sha256"].as_str().map(str::len),
        Some(64),
        "{job}"
    );
}

/// Submits `job_type` over WebSocket (its correlation id marked `name`) with the processor
/// armed to crash once after the job's outcome is recorded and before its result frame is
/// posted; returns the frames up to the final one and the job as it ended.
async fn websocket_job_through_a_crash_before_its_frame(
    stack: &Stack,
    job_type: &str,
    payload: Value,
    name: &str,
) -> (Vec<courier_client::frames::ServerFrame>, Value) {
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.before-final-frame=return(crash-once)",
        )
        .await;
    let mut ws = courier_e2e::ws::connect(stack).await;
    ws.submit(&SubmitFrame::new(name, job_type, payload).with_correlation_id(marked(name)))
        .await
        .unwrap();
    let frames = courier_e2e::ws::frames_until_final(&mut ws, &[name]).await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    let job_id = frames.last().and_then(|last| last.job_id.clone());
    let job = stack.wait_for_job(&job_id.expect("a job id")).await;
    (frames, job)
}

/// The one write that records a short WebSocket job's start and success lands, then the
/// processor dies before the result frame: the redelivery finds the job finished, runs nothing
/// and sends the frame.
#[tokio::test]
async fn a_crash_after_a_short_jobs_one_write_runs_nothing_again_and_still_sends_its_frame() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let (frames, job) = websocket_job_through_a_crash_before_its_frame(
        &stack,
        "sha256",
        json!({"data": "once"}),
        "short-final-frame",
    )
    .await;
    let last = frames.last().unwrap();
    assert_eq!(last.kind, FrameKind::Result, "{frames:?}");
    assert_eq!(last.data["bytes"], 4, "{frames:?}");
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 1, "run once: {job}");
}

/// A cancel that lands while a short job of a result-only type runs unleased (after the look
/// that found it PENDING, before its one write) wins: the write is refused, the run's result
/// is dropped, and the job stays CANCELLED with no attempt counted.
#[tokio::test]
async fn a_cancel_that_lands_while_a_short_job_runs_unleased_wins_and_its_result_is_dropped() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.unleased-run=return(until-moved)",
        )
        .await;
    let correlation_id = marked("unleased-cancel");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "sha256", "payload": {"data": "dropped"}}),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    // The processor looked at the PENDING claim and runs the job without a lease.
    let reached = Stack::failpoint_reached("processor.unleased-run", &correlation_id);
    eventually("the unleased run", || async {
        reached.exists().then_some(())
    })
    .await;
    let cancelled = stack.delete(&format!("/v1/jobs/{id}")).await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    stack.wait_for_work_queue_idle().await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    let _ = std::fs::remove_file(&reached);
    // The run lost the race in its own invocation (not a redelivery's).
    let lost =
        "another delivery moved the job while this one ran it unleased; its outcome is dropped";
    let dropped = eventually("the processor's lines for the job", || async {
        let lines = stack
            .log_events("ProcessorFunctionName", Some(&id), &[])
            .await;
        let dropped = lines
            .iter()
            .filter_map(|e| e.json())
            .filter(|line| line["message"] == lost)
            .count();
        (dropped > 0).then_some(dropped)
    })
    .await;
    assert_eq!(dropped, 1, "the unleased run's outcome dropped once");
    let job = stack.get(&format!("/v1/jobs/{id}")).await.json();
    assert_eq!(job["status"], "CANCELLED", "{job}");
    assert_eq!(job["attempts"], 0, "no attempt counted: {job}");
    assert!(job["result"].is_null(), "the run's result dropped: {job}");
}

/// A batch of one connection's jobs whose invocation dies in the middle job's run: the whole
/// batch comes back; the first job is found finished (its frame sent again), the middle one
/// waits out the lease its dead run holds and runs again, and the last one, held back
/// meanwhile, runs after it. Each runs to completion once, and their results keep the order
/// they were submitted in.
#[tokio::test]
async fn a_crash_in_the_middle_of_a_connections_batch_keeps_its_jobs_in_order_and_each_runs_once() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.before-outcome=return(crash-once)",
        )
        .await;
    let mut ws = courier_e2e::ws::connect(&stack).await;
    let accounts: Vec<String> = (0..3).map(|_| unique("acct")).collect();
    let requests = ["before", "crashing", "after"];
    let jobs: Vec<SubmitFrame> = requests
        .iter()
        .zip(&accounts)
        .map(|(request, account)| {
            let frame = SubmitFrame::new(
                *request,
                "ledger",
                json!({"account": account, "amountCents": 5}),
            );
            match *request {
                "crashing" => frame.with_correlation_id(marked("mid-batch")),
                _ => frame,
            }
        })
        .collect();
    let mut frames = courier_e2e::ws::submit_as_one_batch(&stack, &mut ws, &jobs).await;
    frames.extend(courier_e2e::ws::frames_until_final(&mut ws, &requests).await);
    stack.arm_failpoints("ProcessorFunctionName", "").await;

    let first_result = |request: &str| {
        courier_e2e::ws::for_request(&frames, request)
            .into_iter()
            .filter(|f| f.kind == FrameKind::Result)
            .min_by_key(|f| f.seq)
            .cloned()
            .unwrap_or_else(|| panic!("no result for {request}: {frames:#?}"))
    };
    let seqs: Vec<u64> = requests.iter().map(|r| first_result(r).seq).collect();
    assert!(seqs[0] < seqs[1] && seqs[1] < seqs[2], "{seqs:?}");
    for (request, account) in requests.iter().zip(&accounts) {
        let id = first_result(request).job_id.unwrap();
        let job = stack.wait_for_job(&id).await;
        assert_eq!(job["status"], "SUCCEEDED", "{request}: {job}");
        assert_eq!(
            stack.ledger_entries(account).await.len(),
            1,
            "{request}: one effect"
        );
        let attempts = if *request == "crashing" { 2 } else { 1 };
        assert_eq!(job["attempts"], attempts, "{request}: {job}");
    }
}

/// The processor records a WebSocket job's result and dies before its frame: the redelivery
/// runs nothing and sends the frame, so the client still hears how its job ended.
#[tokio::test]
async fn a_crash_between_a_jobs_outcome_and_its_frame_still_gets_the_frame_sent() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let account = unique("acct");
    let (frames, job) = websocket_job_through_a_crash_before_its_frame(
        &stack,
        "ledger",
        json!({"account": account, "amountCents": 8}),
        "final-frame",
    )
    .await;
    let last = frames.last().unwrap();
    assert_eq!(last.kind, FrameKind::Result, "{frames:?}");
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(job["attempts"], 1, "run once: {job}");
    assert_eq!(stack.ledger_entries(&account).await.len(), 1);
}

/// Every receive of a callback meets a dependency error, so no delivery outcome is ever
/// recorded: SQS redrive gives up on it, and the delivery still ends FAILED on the claim, with
/// the reason, and its letter reaches the callback DLQ. Nothing was posted.
#[tokio::test]
async fn a_callback_sqs_gives_up_on_ends_failed_on_the_claim_with_its_reason() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    stack
        .arm_failpoints(
            "NotifierFunctionName",
            "notifier.before-prepare=return(error)",
        )
        .await;
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let correlation_id = marked("callback-given-up");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": "never sent", "callback": {"endpointId": endpoint.id}}),
            &[("x-correlation-id", correlation_id.as_str())],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_callback(&id, "FAILED").await;
    stack.arm_failpoints("NotifierFunctionName", "").await;
    let reason = job["callback"]["lastError"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("dead-lettered after") && reason.contains("0 delivery attempts"),
        "{job}"
    );
    assert_eq!(job["callback"]["attempts"], 0, "nothing was posted: {job}");
    let letter = stack
        .wait_for_message("CallbackDeadLetterQueueUrl", &id, |m| {
            courier_e2e::dead_letter_id(m).as_deref() == Some(id.as_str())
        })
        .await;
    assert_eq!(
        courier_e2e::message_attribute(&letter, "failureKind").as_deref(),
        Some("dead-lettered")
    );
    assert!(receiver.arrivals().is_empty());
}

/// A worker that finishes later misses its heartbeat; the look that times its attempt out
/// sends the job's work message again and crashes before retiring the attempt. The look comes
/// back, does the same again (a second copy of the message), and the job runs once more and
/// only once: the second attempt's worker reports, and the job succeeds on attempt 2.
#[tokio::test]
async fn a_crash_between_running_a_timed_out_attempt_again_and_retiring_it_strands_nothing() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.before-task-retire=return(crash-once)",
        )
        .await;
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "approval-strict", "payload": {"request": "after a crash"}}),
            &[("x-correlation-id", &marked("task-retire"))],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let job = reply.json()["id"].as_str().unwrap().to_owned();
    let inbox = format!("{}/inbox/{job}", stack.output("ExampleWorkerUrl"));
    let second: serde_json::Value = eventually("the second attempt in the inbox", || async {
        let task: serde_json::Value = stack
            .http
            .get(&inbox)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (task["attempt"] == 2).then_some(task)
    })
    .await;
    stack.arm_failpoints("ProcessorFunctionName", "").await;
    let report = stack
        .http
        .post(second["reportUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .header("courier-task-token", second["token"].as_str().unwrap())
        .body(json!({"result": "approved"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 202);
    let done = stack.wait_for_job(&job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["attempts"], 2, "run again once, not per copy: {done}");
}

/// A submit whose message SQS stored though its send was reported failed is refused and its
/// claim withdrawn, so the client may use its `requestId` for other work, which gets the same
/// (derived) job id. The refused try's message, still queued ahead of it, finds that claim:
/// not its own request's, so it runs nothing, and the new work runs once.
#[tokio::test]
async fn a_message_left_by_a_refused_submit_never_runs_other_work_under_its_request_id() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    let mut ws = courier_e2e::ws::connect(&stack).await;
    let (refused_account, account) = (unique("acct"), unique("acct"));
    // Held in the queue until both submits are answered: the left message is first in line.
    let answers = stack
        .while_paused(
            "ProcessorFunctionName",
            courier_e2e::ws::ORDERED_QUEUE,
            async {
                stack
                    .arm_failpoints("WebSocketFunctionName", "intake.after-send=return(error)")
                    .await;
                let refused = SubmitFrame::new(
                    "pay",
                    "ledger",
                    json!({"account": refused_account, "amountCents": 3}),
                )
                .with_correlation_id(marked("left-message"));
                ws.submit(&refused).await.unwrap();
                let mut frames = courier_e2e::ws::frames_until(&mut ws, "the refusal", |frames| {
                    frames.iter().any(|f| f.is_final())
                })
                .await;
                stack.arm_failpoints("WebSocketFunctionName", "").await;
                let other = SubmitFrame::new(
                    "pay",
                    "ledger",
                    json!({"account": account, "amountCents": 4}),
                );
                ws.submit(&other).await.unwrap();
                frames.extend(
                    courier_e2e::ws::frames_until(
                        &mut ws,
                        "the other work's acceptance",
                        |frames| frames.iter().any(|f| f.kind == FrameKind::Accepted),
                    )
                    .await,
                );
                frames
            },
        )
        .await;
    assert_eq!(
        answers[0].error_code(),
        Some(error_code::UNAVAILABLE),
        "{answers:?}"
    );
    let accepted = answers.last().unwrap();
    assert_eq!(accepted.kind, FrameKind::Accepted, "{answers:?}");
    let id = accepted.job_id.clone().unwrap();

    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    stack.wait_for_queue_idle("OrderedWorkQueueUrl").await;
    assert!(
        stack.ledger_entries(&refused_account).await.is_empty(),
        "the refused work never ran"
    );
    let entries = stack.ledger_entries(&account).await;
    assert_eq!(entries.len(), 1, "booked once: {entries:?}");
    assert_eq!(number(&entries[0], "runs"), 1, "run once");
}
