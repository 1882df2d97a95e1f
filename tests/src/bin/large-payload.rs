//! A 4 MB payload through courier, end to end, against the same bytes through S3 alone, in the
//! same run on the local stack: courier's round trip (POST /v1/jobs with the payload inline →
//! held in the bucket → read by the processor → `echo` → the result held → read back through
//! `resultUrl`) beside a minimal Rust client's `PutObject` + `GetObject` of the same 4 MB into the
//! same bucket. Medians of N runs each (the first of each discarded: warm-up). Needs
//! `infra/up.sh` first.
//!
//!     target/local/large-payload [runs]    (default 10)

use courier_e2e::Stack;
use serde_json::json;
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(10, |n| n.parse().expect("a number of runs"));
    let stack = Stack::load().await;
    let payload = json!({"blob": "x".repeat(4_000_000)});
    let bytes = serde_json::to_vec(&payload).unwrap();
    let bucket = stack.output("PayloadBucketName").to_owned();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&stack.aws)
            .force_path_style(true)
            .build(),
    );

    let mut direct = Vec::new();
    for run in 0..=runs {
        let key = format!("bench/{}", uuid::Uuid::new_v4().simple());
        let started = Instant::now();
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(bytes.clone().into())
            .send()
            .await
            .expect("PutObject");
        let got = s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .expect("GetObject")
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(got.len(), bytes.len());
        if run > 0 {
            direct.push(started.elapsed());
        }
    }

    let mut through = Vec::new();
    for run in 0..=runs {
        let started = Instant::now();
        let accepted = stack
            .post_json(
                "/v1/jobs",
                &json!({"type": "echo", "payload": payload}),
                &[],
            )
            .await;
        assert_eq!(accepted.status, 202, "{accepted:?}");
        let id = accepted.json()["id"].as_str().unwrap().to_owned();
        let job = loop {
            let job = stack.get(&format!("/v1/jobs/{id}")).await.json();
            if job["status"] == "SUCCEEDED" {
                break job;
            }
            assert_ne!(job["status"], "FAILED", "{job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let url = job["resultUrl"].as_str().expect("a held result");
        let got = stack
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.len(), bytes.len(), "the same bytes back");
        if run > 0 {
            through.push(started.elapsed());
        }
    }

    let (direct, through) = (median(direct), median(through));
    println!("| 4 MB, {runs} runs (medians) | ms | × S3 alone |");
    println!("|---|---:|---:|");
    println!("| S3 alone: PutObject + GetObject from a minimal Rust client | {direct:.0} | 1.00 |");
    println!(
        "| through courier: POST /v1/jobs → processor (echo) → resultUrl | {through:.0} | {:.2} |",
        through / direct
    );
}
