//! Crash safety on the deployed stack: failpoints (compiled into the local build only) armed in
//! one function at a time, for jobs whose correlation id starts with `failpoint-`, then the
//! invariants: every accepted job ends, none runs to completion twice, a retry names the same
//! job, a panic fails one message only.

use courier_e2e::{Stack, eventually, unique};
use serde_json::json;
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
    let stack = Stack::load().await;
    stack
        .arm_failpoints(
            "HttpApiFunctionName",
            "intake.before-complete=return(crash)",
        )
        .await;
    let account = unique("acct");
    let body = json!({"type": "ledger", "payload": {"account": account, "amountCents": 7}});
    let key = unique("key");
    let correlation_id = marked("intake");
    let headers = [
        ("idempotency-key", key.as_str()),
        ("x-correlation-id", correlation_id.as_str()),
    ];
    // The claim and the message are written, then the function dies: no answer.
    let first = stack.post_json("/v1/jobs", &body, &headers).await;
    assert!(first.status >= 500, "the caller saw the crash: {first:?}");
    stack.arm_failpoints("HttpApiFunctionName", "").await;
    // The client retries with the same key; once the first try's lock lapses it is let in.
    let id = eventually("the retry to be accepted", || async {
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
    let correlation_id = marked("callback");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": "once", "callback": {"url": receiver.url}}),
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
async fn a_job_sqs_gives_up_on_fails_calls_back_once_and_can_be_redriven() {
    let _turn = ARMING.lock().await;
    let stack = Stack::load().await;
    // Every receive, the last included, meets a DynamoDB error before the job starts: no
    // delivery records an outcome, and SQS redrive moves the message to the dead-letter inbox.
    stack
        .arm_failpoints(
            "ProcessorFunctionName",
            "processor.before-start=return(error)",
        )
        .await;
    let receiver = courier_e2e::receiver::Receiver::start(vec![], None).await;
    let correlation_id = marked("stranded");
    let account = unique("acct");
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({
                "type": "ledger",
                "payload": {"account": account, "amountCents": 7},
                "callback": {"url": receiver.url},
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
    let moved = courier_e2e::courier_dlq_until_listed(&["redrive"], "work", &id).await;
    assert_eq!(moved["messageId"], id);
    let done = stack
        .poll_job(&id, |job| job["status"] == "SUCCEEDED")
        .await
        .pop()
        .unwrap();
    assert!(done.get("error").is_none(), "{done}");
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
