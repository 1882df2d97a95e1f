//! Job types from the `courier-jobs` crate, run on the deployed stack: a type defined outside
//! the courier library (`ledger`, with its own downstream write), schema checks at acceptance,
//! and timeouts enforced by the processor.

use courier_e2e::{Stack, unique};
use serde_json::{Value, json};

async fn submit(stack: &Stack, body: Value) -> String {
    let reply = stack.post_json("/v1/jobs", &body, &[]).await;
    assert_eq!(reply.status, 202, "{body}: {reply:?}");
    reply.json()["id"].as_str().unwrap().to_owned()
}

fn instant(job: &Value, field: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        job[field].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[tokio::test]
async fn a_job_type_outside_the_library_keeps_one_downstream_key_across_retries() {
    let stack = Stack::load().await;
    let account = unique("acct");
    let id = submit(
        &stack,
        json!({"type": "ledger", "payload": {"account": account, "amountCents": 1250, "failAttempts": 2}}),
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        job["attempts"], 3,
        "two transient failures, then success: {job}"
    );
    let entry = &job["result"];
    assert_eq!(entry["attempt"], 3, "{job}");
    // The third attempt found the entry the first one booked: same key on every attempt.
    assert_eq!(entry["alreadyBooked"], true, "{job}");
    let entry_id = entry["entryId"].as_str().unwrap();
    assert_ne!(entry_id, id, "the downstream key is not the job id itself");

    let booked = stack
        .item(&format!("LEDGER#{entry_id}"))
        .await
        .expect("the entry is in the ledger");
    assert_eq!(booked["jobId"].as_s().unwrap(), &id);
    assert_eq!(booked["account"].as_s().unwrap(), &account);
    assert_eq!(booked["amountCents"].as_n().unwrap(), "1250");
}

#[tokio::test]
async fn a_payload_that_breaks_its_schema_is_refused_with_the_pointer() {
    let stack = Stack::load().await;
    let cases = [
        (
            json!({"type": "sleep", "payload": {"ms": "soon"}}),
            "/payload/ms",
        ),
        (
            json!({"type": "sleep", "payload": {"ms": 20001}}),
            "/payload/ms",
        ),
        (
            json!({"type": "ledger", "payload": {"account": "", "amountCents": 1}}),
            "/payload/account",
        ),
        (
            json!({"type": "ledger", "payload": {"account": "a", "amountCents": 1, "extra": 1}}),
            "/payload",
        ),
        (json!({"type": "flaky", "payload": {}}), "/payload"),
    ];
    for (body, pointer) in cases {
        stack.assert_payload_refused_at(&body, pointer).await;
    }
    let reply = stack.post_json("/v1/jobs", &json!({"type": ""}), &[]).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.problem_type(), "unknown-job-type");
}

#[tokio::test]
async fn a_job_past_its_timeout_ends_as_its_type_says() {
    let stack = Stack::load().await;
    // `sleep` times out at 10 s and fails (its policy): well before the function's 30 s.
    let id = submit(&stack, json!({"type": "sleep", "payload": {"ms": 15000}})).await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["error"]["kind"], "timeout", "{job}");
    assert_eq!(job["attempts"], 1, "not retried: {job}");
    let ran = instant(&job, "completedAt") - instant(&job, "startedAt");
    assert!(
        ran < time::Duration::seconds(14),
        "stopped at its timeout, not the sleep's end: {ran}"
    );
}

/// `GET /v1/job-types` lists every type the deployment runs, each with the schema its payload
/// is checked against at acceptance and the settings it runs under.
#[tokio::test]
async fn the_deployment_lists_its_job_types_with_their_schemas_and_settings() {
    let stack = Stack::load().await;
    let reply = stack.get("/v1/job-types").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let listed = reply.json();
    let types = listed["jobTypes"].as_array().expect("a list");
    let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
    for example in ["echo", "fail", "flaky", "ledger", "sha256", "sleep"] {
        assert!(names.contains(&example), "{example} in {names:?}");
    }
    let sleep = types.iter().find(|t| t["name"] == "sleep").unwrap();
    assert_eq!(sleep["completion"], "inline");
    assert_eq!(sleep["onTimeout"], "fail", "{sleep}");
    let echo = types.iter().find(|t| t["name"] == "echo").unwrap();
    assert_eq!(
        echo["maxAttempts"], 5,
        "the local stack's MaxAttempts: {echo}"
    );
    // The listed schema is the one acceptance applies: a payload it refuses is a 400.
    let schema = &sleep["payloadSchema"];
    assert!(schema.is_object(), "{sleep}");
    let refused = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "sleep", "payload": {"ms": "long"}}),
            &[],
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
}
