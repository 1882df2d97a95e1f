//! What the quota tests and the noisy-neighbour benchmark share: an operator's limits for a
//! caller (through `courier quotas set`), and a caller's trickle of short jobs, timed by their
//! claims (accepted to finished).

use crate::{Reply, Stack, eventually, run_courier};
use serde_json::{Value, json};

/// The `sub` of a token: how an operator names a caller.
pub fn subject_of(token: &str) -> String {
    use base64::Engine;
    let claims = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// Sets the caller's own limits with the operator's command (`--jobs-in-flight 3`, …); what it
/// prints.
pub async fn limit(token: &str, limits: &[(&str, u32)]) -> Value {
    let mut args = vec![
        "quotas".to_owned(),
        "set".to_owned(),
        "--subject".to_owned(),
        subject_of(token),
        "--output".to_owned(),
        "json".to_owned(),
    ];
    for (flag, value) in limits {
        args.push(format!("--{flag}"));
        args.push(value.to_string());
    }
    let run = run_courier(args).await;
    assert!(
        run.status.success(),
        "courier quotas set: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap()
}

pub async fn submit(stack: &Stack, token: &str, body: &Value) -> Reply {
    stack.post_json_as(token, "/v1/jobs", body).await
}

/// The job's claim once it has ended.
pub async fn wait_until_ended(stack: &Stack, token: &str, id: &str) -> Value {
    eventually(&format!("job {id} to end"), || async move {
        let job = stack.get_as(token, &format!("/v1/jobs/{id}")).await.json();
        ["SUCCEEDED", "FAILED", "CANCELLED"]
            .contains(&job["status"].as_str().unwrap_or_default())
            .then_some(job)
    })
    .await
}

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// A job's end-to-end latency as its claim tells it: accepted to finished, in seconds.
pub fn latency(job: &Value) -> f64 {
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            job[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    (at("completedAt") - at("createdAt")).as_seconds_f64()
}

/// A trickle: `count` short jobs, one every `spacing` whatever became of the earlier ones (so
/// they sample the whole time a flood takes), each waited for; their latencies.
pub async fn trickle(
    stack: &Stack,
    token: &str,
    count: usize,
    spacing: std::time::Duration,
) -> Vec<f64> {
    let mut ids = Vec::new();
    for n in 0..count {
        if n > 0 {
            tokio::time::sleep(spacing).await;
        }
        let reply = submit(stack, token, &json!({"type": "echo", "payload": {"n": n}})).await;
        assert_eq!(reply.status, 202, "{reply:?}");
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let mut latencies = Vec::new();
    for id in ids {
        let job = wait_until_ended(stack, token, &id).await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
        latencies.push(latency(&job));
    }
    latencies
}

/// A flood: `count` slow jobs (`ms` each) submitted at once; the answers.
pub async fn flood(stack: &Stack, token: &str, count: usize, ms: u64) -> Vec<Reply> {
    let slow = json!({"type": "sleep", "payload": {"ms": ms}});
    futures_util::future::join_all((0..count).map(|_| submit(stack, token, &slow))).await
}
