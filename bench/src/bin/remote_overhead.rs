//! What courier's processor adds to a job of a declared type served by a Lambda function,
//! beside a minimal Rust program making the same AWS calls (BENCHMARKS.md).
//!
//! Both run here, in this process, against the local stack's emulator, alternating job by job:
//!
//! - **courier**: the processor's own handler (`composition::processor::wire`, its real AWS
//!   adapters) given an SQS event of one `word-stats` job (examples/job-types.json), whose
//!   claim was written as the intake writes it;
//! - **reference**: the same calls made with the raw SDK — the conditional start
//!   (`UpdateItem`), the `Invoke` of the same function, the conditional success (`UpdateItem`).
//!
//! From each job's time the `Invoke`'s own time is taken away (the target's duration, timed
//! around the call on both sides), leaving what each side spends beside the work itself.
//!
//!     infra/up.sh --job-types examples/job-types.json && infra/bench-remote.sh [JOBS]

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_lambda::primitives::Blob;
use courier_jobs::JobError;
use courier_jobs::declared::{DeploymentLimits, Target};
use courier_jobs::remote::TargetCaller;
use courier_protocol::queue::{Pattern, QueueMessage};
use courier_protocol::task::TaskRequest;
use courier_shared::adapters::aws::{DynamoClaimStore, LambdaTargets};
use courier_shared::application::consumer::{SqsEvent, SqsMessage};
use courier_shared::application::ports::ClaimStore;
use courier_shared::composition::settings::ProcessorSettings;
use courier_shared::domain::{Claim, CorrelationId, JobId, Principal, WorkMessage};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FUNCTION: &str = "courier-example-word-stats";

/// A target caller that times each call it passes on.
struct Timed {
    inner: LambdaTargets,
    last: Mutex<Duration>,
}

#[async_trait]
impl TargetCaller for Timed {
    async fn call(
        &self,
        target: &Target,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<Value, JobError> {
        let started = Instant::now();
        let answer = self.inner.call(target, request, timeout).await;
        *self.last.lock().unwrap() = started.elapsed();
        answer
    }
}

fn outputs() -> HashMap<String, String> {
    let root = std::env::var("COURIER_ROOT").unwrap_or_else(|_| ".".into());
    let text = std::fs::read_to_string(format!("{root}/.local/outputs.json"))
        .expect("a local stack: run infra/up.sh --job-types examples/job-types.json first");
    serde_json::from_str(&text).expect("outputs are a flat JSON object")
}

fn settings(outputs: &HashMap<String, String>) -> ProcessorSettings {
    let url = |key: &str| outputs[key].clone();
    ProcessorSettings {
        table_name: url("TableName"),
        payload_bucket: url("PayloadBucketName"),
        schedule_group: String::new(),
        work_queue_url: url("WorkQueueUrl"),
        dead_letter_queue_url: url("WorkDeadLetterQueueUrl"),
        callback_queue_url: url("CallbackQueueUrl"),
        max_attempts: 5,
        max_receive_count: 5,
        retry_base_delay: Duration::from_secs(1),
        retry_max_delay: Duration::from_secs(300),
        record_ttl: Duration::from_secs(86_400),
        claim_lifetime: Duration::from_secs(86_400),
        ordered_work_queue_url: url("OrderedWorkQueueUrl"),
        ordered_dead_letter_queue_url: url("OrderedWorkDeadLetterQueueUrl"),
        dead_letter_inbox_url: url("WorkDeadLetterInboxUrl"),
        ordered_dead_letter_inbox_url: url("OrderedWorkDeadLetterInboxUrl"),
        websocket_management_url: format!(
            "{}/_aws/execute-api/{}/v1",
            outputs["Endpoint"], outputs["WebSocketApiId"]
        ),
        target_policy: courier_shared::composition::settings::callback_policy_from_env(),
        target_secrets_prefix: format!("/courier/{}/targets", outputs["StackName"]),
        task_report_url: String::new(),
        task_check_queue_url: url("TaskCheckQueueUrl"),
        quota_limits: courier_shared::application::quotas::Limits {
            jobs_in_flight: u32::MAX,
            requests_per_second: u32::MAX,
            connections: u32::MAX,
            webhook_endpoints: u32::MAX,
        },
    }
}

/// A claim as the intake writes it, and its work message as the queue delivers it.
async fn accepted(claims: &DynamoClaimStore) -> (JobId, SqsEvent) {
    let id = JobId::generate();
    let correlation = CorrelationId::generate();
    let owner = Principal {
        issuer: "https://bench.example".into(),
        subject: "bench".into(),
    };
    let now = time::OffsetDateTime::now_utc();
    let claim = Claim::pending(
        id.clone(),
        "word-stats".into(),
        correlation.clone(),
        owner.clone(),
        now,
        Duration::from_secs(3600),
    );
    claims.create(&claim).await.expect("the claim is written");
    let work = WorkMessage {
        message_id: id.to_string(),
        correlation_id: correlation.to_string(),
        pattern: Pattern::ClaimCheck,
        job_type: "word-stats".into(),
        payload: json!({"text": "the same work on both sides"}),
        payload_ref: None,
        accepted_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        has_callback: false,
        reply_to: None,
        redrive: 0,
        owner: Some(owner),
        slot_when_due: false,
        request_print: None,
        trace_header: None,
    };
    let mut record = SqsMessage::default();
    record.message_id = Some(uuid::Uuid::new_v4().to_string());
    record.body = Some(QueueMessage::Work(work).to_json());
    record.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:bench-work".into());
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), "1".into());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    (id, event)
}

/// The reference: the processor's three calls for this job, with the raw SDK.
async fn reference(
    dynamodb: &aws_sdk_dynamodb::Client,
    lambda: &aws_sdk_lambda::Client,
    table: &str,
    id: &JobId,
) -> (Duration, Duration) {
    let started = Instant::now();
    let key = AttributeValue::S(format!("JOB#{id}"));
    let now = AttributeValue::S(time::OffsetDateTime::now_utc().to_string());
    let start = dynamodb
        .update_item()
        .table_name(table)
        .key("pk", key.clone())
        .update_expression(
            "SET #s = :running, startedAt = :now, updatedAt = :now ADD attempts :one",
        )
        .condition_expression("#s IN (:pending, :running)")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":running", AttributeValue::S("RUNNING".into()))
        .expression_attribute_values(":pending", AttributeValue::S("PENDING".into()))
        .expression_attribute_values(":now", now.clone())
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("started");
    let attempt = start.attributes().and_then(|a| a.get("attempts")).cloned();
    let request = json!({"jobId": id.to_string(), "type": "word-stats",
        "payload": {"text": "the same work on both sides"}, "attempt": attempt.map_or(1, |_| 1),
        "deadline": "2026-12-03T00:00:00Z", "correlationId": "bench", "idempotencyKey": "bench"});
    let invoked = Instant::now();
    let answer = lambda
        .invoke()
        .function_name(FUNCTION)
        .payload(Blob::new(request.to_string()))
        .send()
        .await
        .expect("invoked");
    let invoke = invoked.elapsed();
    let result =
        String::from_utf8_lossy(answer.payload().map_or(&[][..], |p| p.as_ref())).into_owned();
    dynamodb
        .update_item()
        .table_name(table)
        .key("pk", key)
        .update_expression("SET #s = :succeeded, #r = :result, progress = :full, completedAt = :now, updatedAt = :now")
        .condition_expression("#s = :running")
        .expression_attribute_names("#s", "status")
        .expression_attribute_names("#r", "result")
        .expression_attribute_values(":succeeded", AttributeValue::S("SUCCEEDED".into()))
        .expression_attribute_values(":running", AttributeValue::S("RUNNING".into()))
        .expression_attribute_values(":result", AttributeValue::S(result))
        .expression_attribute_values(":full", AttributeValue::N("100".into()))
        .expression_attribute_values(":now", now)
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .expect("succeeded");
    (started.elapsed(), invoke)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let jobs: usize = std::env::args()
        .nth(1)
        .map_or(60, |n| n.parse().expect("JOBS is a number"));
    let outputs = outputs();
    let aws = courier_shared::composition::load_aws_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let lambda = aws_sdk_lambda::Client::new(&aws);
    let claims = DynamoClaimStore::new(
        dynamodb.clone(),
        &outputs["TableName"],
        std::sync::Arc::new(courier_shared::application::clock::SystemClock),
    );
    let document = courier_jobs::declared::parse(
        include_str!("../../../examples/job-types.json"),
        DeploymentLimits {
            claim_lifetime: Duration::from_secs(86_400),
            compiled: &[],
            plain_http_hosts: &["127.0.0.1"],
        },
    )
    .expect("the examples' document holds");
    let timed = Arc::new(Timed {
        inner: LambdaTargets::new(lambda.clone()),
        last: Mutex::new(Duration::ZERO),
    });
    let mut registry = courier_jobs::Registry::new();
    registry.declare(&document, Some(timed.clone()));
    let consumer =
        courier_shared::composition::processor::wire(&aws, &settings(&outputs), registry);
    let far = std::time::SystemTime::now() + Duration::from_secs(3600);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    // Two warm-up jobs each, then alternating which side goes first.
    for round in 0..jobs + 2 {
        for side in [round % 2, 1 - round % 2] {
            let (id, event) = accepted(&claims).await;
            let (total, invoke) = if side == 0 {
                let started = Instant::now();
                let answer = consumer.handle_event(event, far).await;
                assert!(answer.batch_item_failures.is_empty(), "the job ran");
                (started.elapsed(), *timed.last.lock().unwrap())
            } else {
                reference(&dynamodb, &lambda, &outputs["TableName"], &id).await
            };
            let beside = (total - invoke).as_secs_f64() * 1e3;
            if round >= 2 {
                if side == 0 {
                    ours.push(beside)
                } else {
                    theirs.push(beside)
                }
            }
        }
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!("jobs per side: {jobs}");
    println!("courier processor, beside the target: {ours:.2} ms (median)");
    println!("reference (raw SDK, same calls):      {theirs:.2} ms (median)");
    println!("ratio: {:.2}x", ours / theirs);
}
