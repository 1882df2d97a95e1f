//! Job types declared in a job-types document and served by functions that know nothing of
//! courier: the stack is deployed with `examples/job-types.json` (infra/test.sh), whose
//! `word-stats` type is a plain Python Lambda function (examples/lambda/word-stats-python)
//! the emulator runs under its own interpreter.

use courier_client::frames::{FrameKind, SubmitFrame, error_code};
use courier_client::webhook::{Secret, verify_headers};
use courier_e2e::receiver::Receiver;
use courier_e2e::ws::{connect, frames_until_final, in_seq_order};
use courier_e2e::{Stack, unique};
use serde_json::{Value, json};

async fn submit(stack: &Stack, body: Value) -> String {
    let reply = stack.post_json("/v1/jobs", &body, &[]).await;
    assert_eq!(reply.status, 202, "{body}: {reply:?}");
    reply.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_python_functions_answer_is_the_result_and_its_errors_are_retried_or_final() {
    let stack = Stack::load().await;
    let counted = submit(
        &stack,
        json!({"type": "word-stats", "payload": {"text": "the quick brown fox"}}),
    )
    .await;
    let flaky = submit(
        &stack,
        json!({"type": "word-stats", "payload": {"text": "try try again", "failures": 2}}),
    )
    .await;
    let refused = submit(
        &stack,
        json!({"type": "word-stats", "payload": {"text": "   "}}),
    )
    .await;

    let job = stack.wait_for_job(&counted).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert_eq!(
        job["result"]["words"], 4,
        "the function's return value: {job}"
    );
    assert_eq!(job["result"]["longest"], "quick", "{job}");

    // Two unhandled errors (transient), then success: the third attempt, under the job's own
    // downstream key, which is derived from the job id alone and so the same on every attempt.
    let job = stack.wait_for_job(&flaky).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 3, "{job}");
    assert_eq!(job["result"]["attempt"], 3, "{job}");
    let key = courier_jobs::api::downstream_idempotency_key(&flaky);
    assert_eq!(job["result"]["idempotencyKey"], key.as_str(), "{job}");
    assert_ne!(key, flaky, "not the job id itself");

    // An error marked permanent (the emulator calls every error Runtime.HandlerError): failed
    // at once, with the function's own reason.
    let job = stack.wait_for_job(&refused).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["attempts"], 1, "not retried: {job}");
    assert_eq!(job["error"]["kind"], "permanent", "{job}");
    assert_eq!(job["error"]["reason"], "there is no text to count", "{job}");
}

#[tokio::test]
async fn a_declared_types_schema_refuses_a_bad_payload_at_every_door_with_the_pointer() {
    let stack = Stack::load().await;
    let cases = [
        (json!({"text": 5}), "/payload/text"),
        (json!({"text": "a", "failures": 9}), "/payload/failures"),
        (json!({"text": "a", "colour": "red"}), "/payload"),
        (json!(null), "/payload"),
    ];
    for (payload, pointer) in &cases {
        let body = json!({"type": "word-stats", "payload": payload});
        stack.assert_payload_refused_at(&body, pointer).await;
    }
    let mut ws = connect(&stack).await;
    for (i, (payload, pointer)) in cases.iter().enumerate() {
        let request = format!("bad-{i}");
        ws.submit(&SubmitFrame::new(&request, "word-stats", payload.clone()))
            .await
            .unwrap();
        let frames = frames_until_final(&mut ws, &[&request]).await;
        let error = frames.last().unwrap();
        assert_eq!(
            error.error_code(),
            Some(error_code::INVALID_PAYLOAD),
            "{error:?}"
        );
        assert!(
            error.data.to_string().contains(pointer),
            "{pointer} in {:?}",
            error.data
        );
    }
}

/// One scenario, run for a compiled type and a declared one: a WebSocket client's frames, and a
/// signed callback with the claim's outcome. Nothing differs but the result itself.
#[tokio::test]
async fn callbacks_claims_and_frames_are_the_same_for_declared_and_compiled_types() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    let secret = Secret::parse(&endpoint.secret).unwrap();
    let scenarios = [
        (
            "echo",
            json!({"text": "two words"}),
            json!({"text": "two words"}),
        ),
        (
            "word-stats",
            json!({"text": "two words"}),
            json!({"words": 2, "longest": "words", "attempt": 1}),
        ),
    ];
    for (job_type, payload, expected) in scenarios {
        // Over the WebSocket API: accepted, then the result frame, numbered without gaps.
        let mut ws = connect(&stack).await;
        let request = unique("r");
        ws.submit(&SubmitFrame::new(&request, job_type, payload.clone()))
            .await
            .unwrap();
        let frames = in_seq_order(frames_until_final(&mut ws, &[&request]).await, 1);
        let kinds: Vec<FrameKind> = frames.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds.first(),
            Some(&FrameKind::Accepted),
            "{job_type}: {kinds:?}"
        );
        assert_eq!(
            kinds.last(),
            Some(&FrameKind::Result),
            "{job_type}: {kinds:?}"
        );
        let result = &frames.last().unwrap().data;
        for (field, value) in expected.as_object().unwrap() {
            assert_eq!(&result[field], value, "{job_type}: {result}");
        }
        let ws_job = frames[0].job_id.clone().unwrap();
        let claim = stack.wait_for_job(&ws_job).await;
        assert_eq!(
            &claim["result"], result,
            "{job_type}: the claim holds the frame's result"
        );

        // Over HTTP with a callback: the claim, and one signed delivery of the same outcome.
        let mut body = json!({"type": job_type, "payload": payload});
        body["callback"] = json!({"endpointId": endpoint.id});
        let id = submit(&stack, body).await;
        let job = stack.wait_for_callback(&id, "DELIVERED").await;
        assert_eq!(job["status"], "SUCCEEDED", "{job_type}: {job}");
        assert_eq!(job["attempts"], 1, "{job_type}: {job}");
        let arrival = courier_e2e::eventually("the callback's arrival", || async {
            receiver
                .arrivals()
                .into_iter()
                .find(|a| a.header("webhook-id") == format!("msg_{id}"))
        })
        .await;
        let delivered: Value = serde_json::from_slice(&arrival.body).unwrap();
        assert_eq!(delivered["type"], job_type);
        assert_eq!(delivered["result"], job["result"], "{job_type}");
        let get = |name: &str| arrival.headers.get(name).and_then(|v| v.to_str().ok());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert_eq!(
            verify_headers(&secret, get, &arrival.body, now, 300),
            Ok(format!("msg_{id}"))
        );
    }
}

#[tokio::test]
async fn declared_types_are_listed_and_in_the_deployments_own_api_document() {
    let stack = Stack::load().await;
    let listed = stack.get("/v1/job-types").await.json();
    let types = listed["jobTypes"].as_array().unwrap();
    let declared: Value =
        serde_json::from_str(include_str!("../../examples/job-types.json")).unwrap();
    let word_stats = types
        .iter()
        .find(|t| t["name"] == "word-stats")
        .unwrap_or_else(|| panic!("word-stats in {listed}"));
    assert_eq!(
        word_stats["payloadSchema"], declared["jobTypes"]["word-stats"]["payloadSchema"],
        "the declared schema is the one listed"
    );
    assert_eq!(
        word_stats["timeoutSeconds"],
        declared["jobTypes"]["word-stats"]["timeoutSeconds"]
    );
    assert_eq!(word_stats["maxAttempts"], 4);
    assert_eq!(word_stats["completion"], "inline");
    assert!(
        types.iter().any(|t| t["name"] == "echo"),
        "compiled types too"
    );

    let reply = stack.get("/v1/openapi.json").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let document = reply.json();
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["Payload.word-stats"]["properties"],
        declared["jobTypes"]["word-stats"]["payloadSchema"]["properties"]
    );
    assert!(
        schemas["JobSubmission.word-stats"].is_object(),
        "a branch of its own"
    );
    assert!(schemas["JobSubmission.echo"].is_object());
    assert!(
        schemas.get("JobSubmission.declared").is_none(),
        "a deployment's own document takes no type generically"
    );
    assert_eq!(
        schemas["JobSubmission"]["discriminator"]["mapping"]["word-stats"],
        "#/components/schemas/JobSubmission.word-stats"
    );
    // A worker that finishes later reports to a job's claim: its type is a job, never a message.
    assert!(schemas["JobSubmission.approval"].is_object());
    assert!(
        schemas.get("MessageSubmission.approval").is_none(),
        "no message branch for a type that finishes later"
    );
}

/// The processor's policy names exactly the declared Lambda targets: the deployment derived
/// them from the document (`courier job-types publish`) into the template's parameter.
#[tokio::test]
async fn the_processor_may_invoke_exactly_the_declared_functions() {
    let stack = Stack::load().await;
    let parameters = courier_e2e::stack_parameters(&stack).await;
    assert_eq!(
        parameters["JobTypeLambdaTargets"],
        "arn:aws:lambda:us-east-1:000000000000:function:courier-example-approval,\
         arn:aws:lambda:us-east-1:000000000000:function:courier-example-word-stats",
        "each declared function once, and nothing else"
    );
    let object = &parameters["JobTypesObject"];
    assert!(
        object.starts_with(&format!(
            "{}-artifacts/courier/job-types/",
            stack.output("StackName")
        )),
        "published under its digest: {object}"
    );
}

#[tokio::test]
async fn a_bad_job_types_document_is_refused_at_deploy_with_its_pointer() {
    let cases = [
        (
            json!({"jobTypes": {"a": {"target": {"lambda": "f"}, "colour": "red"}}}),
            "/jobTypes/a",
        ),
        (
            json!({"jobTypes": {"a": {"target": {"lambda": "f"},
                                      "payloadSchema": {"type": "nonsense"}}}}),
            "/jobTypes/a/payloadSchema",
        ),
        (
            json!({"jobTypes": {"a": {"target": {"sqs": "queue"}}}}),
            "/jobTypes/a/target",
        ),
        (
            json!({"jobTypes": {"echo": {"target": {"lambda": "f"}}}}),
            "/jobTypes/echo",
        ),
    ];
    for (document, pointer) in cases {
        let (code, stderr) = courier_e2e::deploy_with_job_types(&document).await;
        assert_ne!(code, Some(0), "{document} was deployed");
        assert!(
            stderr.contains("is refused") && stderr.contains(&format!("{pointer}: ")),
            "{pointer} in: {stderr}"
        );
    }
}

/// The example HTTP worker's secrets, as an operator reads them with the CLI.
async fn target_secrets(stack: &Stack, job_type: &str) -> Vec<String> {
    let output = courier_e2e::run_courier(
        [
            "--stack",
            stack.output("StackName"),
            "--endpoint-url",
            stack.output("Endpoint"),
            "--region",
            stack.output("Region"),
            "-o",
            "json",
            "job-types",
            "secret",
            job_type,
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    serde_json::from_value(answer["secrets"].clone()).unwrap()
}

#[tokio::test]
async fn an_http_targets_request_is_signed_and_verifies_with_the_stock_library() {
    let stack = Stack::load().await;
    let id = submit(
        &stack,
        json!({"type": "shout", "payload": {"text": "signed", "echoRequest": true}}),
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["result"]["shouted"], "SIGNED", "{job}");
    let received = &job["result"]["request"];
    let body = received["body"].as_str().unwrap();
    let mut headers = http::HeaderMap::new();
    for (name, value) in received["headers"].as_object().unwrap() {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.as_str().unwrap().parse().unwrap(),
        );
    }
    let secrets = target_secrets(&stack, "shout").await;
    assert!(!secrets.is_empty());
    let verified = secrets.iter().any(|secret| {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body.as_bytes(), &headers)
            .is_ok()
    });
    assert!(
        verified,
        "the Standard Webhooks library verifies it: {received}"
    );
    assert!(
        standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap()
            .verify(body.as_bytes(), &headers)
            .is_err(),
        "and no other secret does"
    );
    assert_eq!(received["headers"]["webhook-id"], format!("task_{id}_1"));
    let key = courier_jobs::api::downstream_idempotency_key(&id);
    assert_eq!(received["headers"]["idempotency-key"], key.as_str());
    let task: Value = serde_json::from_str(body).unwrap();
    assert_eq!(task["jobId"], id.as_str());
    assert_eq!(task["type"], "shout");
    assert_eq!(task["attempt"], 1);
    assert_eq!(task["idempotencyKey"], key.as_str());
    assert_eq!(task["correlationId"], job["correlationId"]);
}

#[tokio::test]
async fn a_busy_service_is_retried_no_sooner_than_its_retry_after() {
    let stack = Stack::load().await;
    // The local retry schedule starts at 1 s; the service asks for 6.
    let id = submit(
        &stack,
        json!({"type": "shout", "payload": {"text": "later", "busyAttempts": 1,
                                            "retryAfterSeconds": 6}}),
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["attempts"], 2, "{job}");
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            job[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let waited = at("completedAt") - at("createdAt");
    assert!(
        waited >= time::Duration::seconds(6),
        "the second attempt came after the service's Retry-After: {waited}"
    );
}

#[tokio::test]
async fn a_refusing_service_fails_the_job_for_good_with_its_reason() {
    let stack = Stack::load().await;
    let id = submit(
        &stack,
        json!({"type": "shout", "payload": {"text": "x", "reject": "the codec is unknown"}}),
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "FAILED", "{job}");
    assert_eq!(job["attempts"], 1, "not retried: {job}");
    assert_eq!(job["error"]["kind"], "permanent", "{job}");
    assert_eq!(job["error"]["reason"], "the codec is unknown", "{job}");
}

#[tokio::test]
async fn a_slow_service_times_out_and_the_attempt_is_retried() {
    let stack = Stack::load().await;
    // `shout` times out at 3 s; the first attempt takes 6.
    let id = submit(
        &stack,
        json!({"type": "shout", "payload": {"text": "slow", "slowMs": 6000}}),
    )
    .await;
    let job = stack.wait_for_job(&id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");
    assert_eq!(
        job["attempts"], 2,
        "the timed-out attempt was retried: {job}"
    );
    assert_eq!(job["result"]["attempt"], 2, "{job}");
}
