//! Claim check, end to end: submit, poll, cancel, expire, through the deployed local stack.

use aws_sdk_dynamodb::types::AttributeValue;
use courier_e2e::{Reply, Stack, unique};
use serde_json::{Value, json};

async fn submit(stack: &Stack, body: Value, headers: &[(&str, &str)]) -> String {
    let reply = stack.post_json("/v1/jobs", &body, headers).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let accepted = reply.json();
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/jobs/{id}").as_str())
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(accepted["status"], "PENDING");
    assert_eq!(accepted["statusUrl"], format!("/v1/jobs/{id}"));
    assert!(accepted["expiresAt"].as_str().unwrap().ends_with('Z'));
    id
}

#[tokio::test]
async fn a_job_goes_pending_running_with_rising_progress_then_succeeded() {
    let stack = Stack::load().await;
    let id = submit(
        &stack,
        json!({"type": "sleep", "payload": {"ms": 4000}}),
        &[],
    )
    .await;
    let states = stack
        .poll_job(&id, |job| job["status"] == "SUCCEEDED")
        .await;

    let statuses: Vec<&str> = states
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    let order = |s: &str| {
        ["PENDING", "RUNNING", "SUCCEEDED"]
            .iter()
            .position(|x| *x == s)
            .unwrap()
    };
    assert!(
        statuses.windows(2).all(|w| order(w[0]) <= order(w[1])),
        "{statuses:?}"
    );
    let progress: Vec<u64> = states
        .iter()
        .map(|s| s["progress"].as_u64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only rises: {progress:?}"
    );
    let running: Vec<u64> = states
        .iter()
        .filter(|s| s["status"] == "RUNNING")
        .map(|s| s["progress"].as_u64().unwrap())
        .collect();
    assert!(
        running.iter().any(|p| *p > 0 && *p < 100),
        "progress was reported while running: {states:?}"
    );

    let done = states.last().unwrap();
    assert_eq!(done["result"], json!({"sleptMs": 4000}));
    assert_eq!(done["progress"], 100);
    assert_eq!(done["attempts"], 1);
    for field in [
        "createdAt",
        "startedAt",
        "completedAt",
        "updatedAt",
        "expiresAt",
    ] {
        assert!(done[field].is_string(), "{field} in {done}");
    }
    assert!(done.get("error").is_none());
}

#[tokio::test]
async fn a_permanently_failing_job_is_failed_with_its_reason_after_one_try() {
    let stack = Stack::load().await;
    let reason = unique("out of paper");
    let id = submit(
        &stack,
        json!({"type": "fail", "payload": {"reason": reason}}),
        &[],
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["error"], json!({"kind": "permanent", "reason": reason}));
    assert!(job.get("result").is_none());
    stack.wait_for_dead_letter(&id).await;
}

#[tokio::test]
async fn a_job_failing_transiently_twice_succeeds_on_the_third_attempt() {
    let stack = Stack::load().await;
    let id = submit(
        &stack,
        json!({"type": "flaky", "payload": {"failures": 2}}),
        &[],
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 3);
    assert_eq!(job["result"], json!({"attempts": 3}));
}

#[tokio::test]
async fn a_job_whose_retries_run_out_is_failed_with_the_reason() {
    let stack = Stack::load().await;
    let id = submit(
        &stack,
        json!({"type": "flaky", "payload": {"failures": 50}}),
        &[],
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "FAILED");
    assert_eq!(job["attempts"], 5);
    assert_eq!(job["error"]["kind"], "retries-exhausted");
    assert!(
        job["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("planned failure 5 of 50")
    );
    stack.wait_for_dead_letter(&id).await;
}

#[tokio::test]
async fn a_cancelled_job_never_runs() {
    let stack = Stack::load().await;
    // Held back by SQS for 3 s, so it is certainly still PENDING when the cancel arrives.
    let id = submit(
        &stack,
        json!({"type": "echo", "payload": 1, "delaySeconds": 3}),
        &[],
    )
    .await;
    let cancel = stack.delete(&format!("/v1/jobs/{id}")).await;
    assert_eq!(cancel.status, 200, "{cancel:?}");
    assert_eq!(cancel.json()["status"], "CANCELLED");

    // Once the delayed message has been delivered and consumed, the claim is unchanged.
    stack.wait_for_work_queue_idle().await;
    let job = stack.get(&format!("/v1/jobs/{id}")).await.json();
    assert_eq!(job["status"], "CANCELLED");
    assert_eq!(job["attempts"], 0, "the job never ran");
    assert!(
        job.get("startedAt").is_none() && job.get("result").is_none(),
        "{job}"
    );

    let again = stack.delete(&format!("/v1/jobs/{id}")).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.problem_type(), "job-not-cancellable");
}

#[tokio::test]
async fn a_finished_job_cannot_be_cancelled() {
    let stack = Stack::load().await;
    let id = submit(&stack, json!({"type": "echo", "payload": "x"}), &[]).await;
    assert_eq!(stack.wait_for_job(&id).await["status"], "SUCCEEDED");
    let reply = stack.delete(&format!("/v1/jobs/{id}")).await;
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(reply.problem_type(), "job-not-cancellable");
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains("SUCCEEDED")
    );
}

#[tokio::test]
async fn a_claim_past_expires_at_is_gone_before_the_ttl_sweep() {
    let stack = Stack::load().await;
    let id = submit(&stack, json!({"type": "echo", "payload": "bye"}), &[]).await;
    assert_eq!(stack.wait_for_job(&id).await["status"], "SUCCEEDED");

    // Time passes: move expiresAt into the past, leaving the TTL attribute (and so the item)
    // where it is, as DynamoDB does until its sweep gets round to it.
    stack
        .dynamodb
        .update_item()
        .table_name(stack.output("TableName"))
        .key("pk", AttributeValue::S(format!("JOB#{id}")))
        .update_expression("SET expiresAt = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::S("2020-01-01T00:00:00.000Z".into()),
        )
        .send()
        .await
        .expect("UpdateItem");

    let reply = stack.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.problem_type(), "job-not-found");
    let cancel = stack.delete(&format!("/v1/jobs/{id}")).await;
    assert_eq!(cancel.status, 404, "{cancel:?}");
    assert!(
        stack.item(&format!("JOB#{id}")).await.is_some(),
        "the item is still stored: the 404 came from the expiry check on read"
    );
}

#[tokio::test]
async fn duplicate_submissions_with_one_key_create_one_job() {
    let stack = Stack::load().await;
    let key = unique("job-key");
    let correlation_id = unique("job-dup");
    let body = json!({"type": "sha256", "payload": {"data": "once"}});
    let headers = [
        ("idempotency-key", key.as_str()),
        ("x-correlation-id", correlation_id.as_str()),
    ];
    let first = submit(&stack, body.clone(), &headers).await;
    let replay = stack.post_json("/v1/jobs", &body, &headers).await;
    assert_eq!(replay.status, 202);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["id"], first.as_str());
    assert_eq!(
        replay.header("location"),
        Some(format!("/v1/jobs/{first}").as_str())
    );

    let job = stack.wait_for_job(&first).await;
    assert_eq!(job["attempts"], 1);
    stack.wait_for_work_queue_idle().await;
    assert_eq!(stack.records_with_correlation_id(&correlation_id).await, 1);
}

#[tokio::test]
async fn malformed_unknown_ids_and_bad_bodies_get_their_4xx() {
    let stack = Stack::load().await;
    for bad in [
        "not-a-uuid",
        "0F8FAD5B-D9CB-469F-A165-70867728950E",
        "%3Cscript%3E",
        "x'%20OR%201=1",
    ] {
        let reply = stack.get(&format!("/v1/jobs/{bad}")).await;
        assert_eq!(reply.status, 400, "{bad}: {reply:?}");
        assert_eq!(reply.problem_type(), "invalid-job-id");
    }
    let unknown = uuid::Uuid::new_v4();
    let reply = stack.get(&format!("/v1/jobs/{unknown}")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.problem_type(), "job-not-found");

    let cases = [
        (json!({"type": "nope"}), "unknown-job-type"),
        (
            json!({"type": "sleep", "payload": {"ms": "soon"}}),
            "invalid-payload",
        ),
        (json!({"type": "echo", "delaySeconds": 901}), "invalid-body"),
        (json!({"payload": 1}), "invalid-body"),
    ];
    for (body, problem) in cases {
        let reply = stack.post_json("/v1/jobs", &body, &[]).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.problem_type(), problem, "{body}");
    }
}

#[tokio::test]
async fn the_courier_tool_submits_and_waits_for_a_job() {
    let stack = Stack::load().await;
    // As against a deployed stack: URL and token given.
    let output = courier_e2e::run_courier_with(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        [
            "submit",
            "sha256",
            r#"{"data":"abc"}"#,
            "--wait",
            "--timeout",
            "90",
        ]
        .map(String::from)
        .to_vec(),
        vec![
            ("COURIER_URL".into(), stack.output("HttpApiUrl").to_owned()),
            ("COURIER_TOKEN".into(), stack.token.clone()),
        ],
        None,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "courier failed: {stderr}");
    let result: Value = serde_json::from_slice(&output.stdout).expect("result JSON on stdout");
    assert_eq!(
        result["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // Not a terminal: progress is printed as plain lines, ending with the terminal state.
    assert!(stderr.lines().any(|l| l == "SUCCEEDED 100%"), "{stderr}");
}

#[tokio::test]
async fn another_callers_job_is_unknown_to_them_and_keys_are_per_caller() {
    let stack = Stack::load().await;
    let other = stack.other_callers_token().await;
    let as_other = |method: reqwest::Method, path: &str| {
        stack
            .http
            .request(method, stack.url(path))
            .bearer_auth(&other)
    };
    let key = unique("shared-key");
    let body = json!({"type": "sleep", "payload": {"ms": 3000}});
    let mine = stack
        .post_json("/v1/jobs", &body, &[("idempotency-key", key.as_str())])
        .await;
    assert_eq!(mine.status, 202, "{mine:?}");
    let id = mine.json()["id"].as_str().unwrap().to_owned();

    // To the other caller it does not exist: the same 404 as an id nobody has.
    let unknown = uuid::Uuid::new_v4().to_string();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let theirs = Reply::from(
            as_other(method.clone(), &format!("/v1/jobs/{id}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let nobodys = Reply::from(
            as_other(method.clone(), &format!("/v1/jobs/{unknown}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(theirs.status, 404, "{method}: {theirs:?}");
        assert_eq!(
            theirs.json()["detail"]
                .as_str()
                .unwrap()
                .replace(&id, "<id>"),
            nobodys.json()["detail"]
                .as_str()
                .unwrap()
                .replace(&unknown, "<id>"),
        );
    }
    // The same key from the other caller is another request, with its own job.
    let theirs = Reply::from(
        as_other(reqwest::Method::POST, "/v1/jobs")
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(theirs.status, 202, "{theirs:?}");
    assert_ne!(theirs.json()["id"], mine.json()["id"]);
    assert!(theirs.header("idempotent-replayed").is_none());
    // The owner's job was neither read nor cancelled by the other caller.
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
}
