//! Job state change events, end to end (the local stack runs with `JobEvents=enabled`): a rule
//! on the stack's event bus routes one job's events to a queue the test reads; a flaky job's
//! lifecycle arrives change by change, each once, with no payload or result in it.

use courier_e2e::{Stack, eventually_within};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_flaky_jobs_lifecycle_arrives_as_events_each_once_without_its_payload() {
    let stack = Stack::load().await;
    let bus = stack.output("JobEventBusName").to_owned();
    let events = aws_sdk_eventbridge::Client::new(&stack.aws);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let correlation_id = format!("job-events-{tag}");
    let queue_url = stack
        .sqs
        .create_queue()
        .queue_name(format!("e2e-job-events-{}", &tag[..8]))
        .send()
        .await
        .expect("the test's queue")
        .queue_url
        .expect("a URL");
    let queue_arn = stack
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("an ARN");
    let rule = format!("e2e-job-{}", &tag[..8]);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(
            json!({
                "source": ["courier"],
                "detail-type": ["Courier Job State Change"],
                "detail": {"correlationId": [correlation_id]}
            })
            .to_string(),
        )
        .send()
        .await
        .expect("a rule on the job event bus");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("the rule's target");

    let accepted = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "flaky", "payload": {"failures": 2}}),
            &[("x-correlation-id", &correlation_id)],
        )
        .await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let job_id = accepted.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_job(&job_id).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job}");

    // Every event of the job, until SUCCEEDED has come and the queue has nothing more.
    let seen: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::default();
    eventually_within(Duration::from_secs(90), "the job's events", || {
        let (stack, queue_url, seen) = (&stack, &queue_url, &seen);
        async move {
            let received = stack
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .send()
                .await
                .expect("receive");
            let messages = received.messages.unwrap_or_default();
            let quiet = messages.is_empty();
            for message in messages {
                let event = serde_json::from_str(message.body().unwrap()).unwrap();
                seen.lock().unwrap().push(event);
                stack
                    .sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("delete");
            }
            let ended = seen
                .lock()
                .unwrap()
                .iter()
                .any(|e| e["detail"]["status"] == "SUCCEEDED");
            (ended && quiet).then_some(())
        }
    })
    .await;
    let seen = seen.into_inner().unwrap();
    for event in &seen {
        assert_eq!(event["source"], "courier", "{event}");
        assert_eq!(event["detail-type"], "Courier Job State Change", "{event}");
        let detail = &event["detail"];
        let mut fields: Vec<&str> = detail
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|field| *field != "previousStatus")
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "at",
                "attempt",
                "correlationId",
                "eventId",
                "jobId",
                "owner",
                "status",
                "type"
            ],
            "these fields only, never a payload or a result: {event}"
        );
        assert_eq!(detail["jobId"], job_id, "{event}");
        assert_eq!(detail["type"], "flaky", "{event}");
        assert_eq!(
            detail["owner"].as_str().map(str::len),
            Some(32),
            "an opaque tag: {event}"
        );
    }
    let mut lifecycle: Vec<(String, u64)> = seen
        .iter()
        .map(|e| {
            (
                e["detail"]["status"].as_str().unwrap().to_owned(),
                e["detail"]["attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    // EventBridge keeps no order across events: the change's own order is status, then attempt.
    let rank = |status: &str| {
        ["PENDING", "RUNNING", "SUCCEEDED"]
            .iter()
            .position(|s| *s == status)
    };
    lifecycle.sort_by_key(|(status, attempt)| (rank(status), *attempt));
    assert_eq!(
        lifecycle,
        [
            ("PENDING".to_owned(), 0),
            ("RUNNING".to_owned(), 1),
            ("RUNNING".to_owned(), 2),
            ("RUNNING".to_owned(), 3),
            ("SUCCEEDED".to_owned(), 3),
        ],
        "each change once: {seen:#?}"
    );
    let ids: std::collections::HashSet<&str> = seen
        .iter()
        .map(|e| e["detail"]["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), seen.len(), "every event its own id");
}
