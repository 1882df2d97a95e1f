//! The stack deployed with the template parameter `ExampleJobTypes=disabled`: the example types
//! are unknown types at every door, as if they had never been written. Ignored unless asked
//! for (`--run-ignored only`, or `-- --ignored`): `infra/test.sh` redeploys the stack that way
//! to run it.

use courier_client::frames::{SubmitFrame, error_code};
use courier_client::ws::{Auth, WsClient};
use courier_e2e::Stack;
use serde_json::json;

const EXAMPLES: [&str; 6] = ["echo", "sha256", "sleep", "fail", "flaky", "ledger"];

#[tokio::test]
#[ignore = "needs the stack deployed with ExampleJobTypes=disabled (infra/test.sh does that)"]
async fn switched_off_example_types_are_unknown_types() {
    let stack = Stack::load().await;
    for job_type in EXAMPLES {
        for path in ["/v1/messages", "/v1/jobs"] {
            let reply = stack
                .post_json(path, &json!({"type": job_type, "payload": null}), &[])
                .await;
            assert_eq!(reply.status, 400, "{path} {job_type}: {reply:?}");
            assert_eq!(reply.problem_type(), "unknown-job-type", "{job_type}");
            let detail = reply.json()["detail"].as_str().unwrap().to_owned();
            let known = detail.rsplit("known types: ").next().unwrap_or_default();
            assert!(
                !EXAMPLES.iter().any(|e| known.split(", ").any(|k| k == *e)),
                "no example is registered: {detail}"
            );
        }
    }
    let listed = stack.get("/v1/job-types").await;
    assert_eq!(listed.status, 200, "{listed:?}");
    // Declared types (the stack's job-types document, if any) stay; no example is listed.
    let listed = listed.json();
    let names: Vec<&str> = listed["jobTypes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        !EXAMPLES.iter().any(|e| names.contains(e)),
        "no example is listed: {names:?}"
    );
    let mut ws = WsClient::connect(stack.output("WebSocketUrl"), Auth::Header(&stack.token))
        .await
        .expect("the local token is accepted");
    ws.submit(&SubmitFrame::new("r1", "echo", json!(1)))
        .await
        .unwrap();
    let frame = ws
        .next_frame(std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .expect("an answer");
    assert_eq!(
        frame.error_code(),
        Some(error_code::UNKNOWN_JOB_TYPE),
        "{frame:?}"
    );
}
