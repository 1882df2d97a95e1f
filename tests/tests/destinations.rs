//! Destinations, end to end: a job's outcome as a signed message on the caller's own SQS queue
//! and as a signed event on their EventBridge bus (routed by a rule to a queue the test reads),
//! each verified with the stock Standard Webhooks verifier on the documented fields; another
//! caller locked out; the stack's own queues, FIFO queues and unreachable queues refused at
//! registration; a destination that stops taking deliveries retried and given up like a webhook.

use aws_sdk_sqs::types::{Message, MessageAttributeValue};
use courier_e2e::{Stack, eventually, eventually_within};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// The next message on `url` (waiting up to a deadline), deleted once read.
async fn next_message(stack: &Stack, url: &str) -> Message {
    let message = eventually("a message on the destination queue", || async {
        let received = stack
            .sqs
            .receive_message()
            .queue_url(url)
            .message_attribute_names("All")
            .max_number_of_messages(1)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        received.messages.unwrap_or_default().into_iter().next()
    })
    .await;
    stack
        .sqs
        .delete_message()
        .queue_url(url)
        .receipt_handle(message.receipt_handle().unwrap())
        .send()
        .await
        .expect("delete");
    message
}

fn attributes(message: &Message) -> HashMap<String, String> {
    message
        .message_attributes()
        .into_iter()
        .flatten()
        .filter_map(|(name, value): (&String, &MessageAttributeValue)| {
            Some((name.clone(), value.string_value()?.to_owned()))
        })
        .collect()
}

/// The stock verifier's verdict on a body and the headers it came with.
fn verifies(body: &str, headers: &HashMap<String, String>, secret: &str) -> bool {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(body.as_bytes(), &map)
        .is_ok()
}

async fn register(stack: &Stack, token: &str, body: Value) -> courier_e2e::Reply {
    stack.post_json_as(token, "/v1/destinations", &body).await
}

async fn submit_to(stack: &Stack, token: &str, destination: &str) -> courier_e2e::Reply {
    let body = json!({"type": "echo", "payload": {"to": "a queue"}, "callback": {"destinationId": destination}});
    stack.post_json_as(token, "/v1/jobs", &body).await
}

#[tokio::test]
async fn an_outcome_arrives_on_the_callers_queue_and_verifies_with_the_destinations_secret() {
    let stack = Stack::load().await;
    let (url, arn) = stack.own_queue("e2e-results").await;
    let reply = register(&stack, &stack.token, json!({"sqs": arn})).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let destination = reply.json();
    let id = destination["id"].as_str().unwrap().to_owned();
    let secret = destination["secret"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dst_"), "{destination}");
    assert_eq!(destination["sqs"], arn);
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/destinations/{id}").as_str())
    );

    // Registration proved it: a signed verification is on the queue already.
    let verification = next_message(&stack, &url).await;
    let headers = attributes(&verification);
    let body = verification.body().unwrap();
    assert!(verifies(body, &headers, &secret), "{headers:?}");
    assert_eq!(
        headers["courier-subject"],
        "Courier Destination Verification"
    );
    let document: Value = serde_json::from_str(body).unwrap();
    assert_eq!(document["type"], "destination.verification");
    assert_eq!(document["destinationId"], id);

    let accepted = submit_to(&stack, &stack.token, &id).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let job_id = accepted.json()["id"].as_str().unwrap().to_owned();
    let job = stack.wait_for_callback(&job_id, "DELIVERED").await;
    assert_eq!(job["callback"]["destinationId"], id, "{job}");
    assert!(job["callback"].get("endpointId").is_none(), "{job}");
    assert_eq!(job["callback"]["attempts"], 1, "{job}");

    let outcome = next_message(&stack, &url).await;
    let headers = attributes(&outcome);
    let body = outcome.body().unwrap();
    assert!(
        verifies(body, &headers, &secret),
        "the stock verifier accepts the message: {headers:?}"
    );
    assert!(
        !verifies(body, &headers, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "and no other secret"
    );
    assert_eq!(headers["webhook-id"], format!("msg_{job_id}"));
    assert_eq!(headers["courier-subject"], "Courier Job Outcome");
    assert_eq!(
        headers["x-correlation-id"],
        job["correlationId"].as_str().unwrap()
    );
    let document: Value = serde_json::from_str(body).unwrap();
    assert_eq!(document["id"], job_id);
    assert_eq!(document["status"], "SUCCEEDED");
    assert_eq!(document["result"], json!({"to": "a queue"}));
    assert!(
        document.get("callback").is_none(),
        "the delivery's own state is not in it"
    );

    // The timeline names the delivery like a webhook's.
    let timeline = stack.get(&format!("/v1/jobs/{job_id}/events")).await.json();
    let delivered = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "callback-attempt")
        .cloned()
        .unwrap_or_else(|| panic!("no callback attempt in {timeline}"));
    assert_eq!(delivered["status"], 200, "{delivered}");
    assert_eq!(delivered["destinationId"], id, "{delivered}");
    assert!(delivered.get("endpointId").is_none(), "{delivered}");
}

#[tokio::test]
async fn another_caller_can_neither_see_nor_name_a_destination() {
    let stack = Stack::load().await;
    let (_, arn) = stack.own_queue("e2e-private").await;
    let reply = register(&stack, &stack.token, json!({"sqs": arn})).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let bob = stack.other_callers_token().await;

    let named = submit_to(&stack, &bob, &id).await;
    assert_eq!(named.status, 400, "{named:?}");
    assert_eq!(named.problem_type(), "invalid-callback");
    let read = stack.get_as(&bob, &format!("/v1/destinations/{id}")).await;
    assert_eq!(read.status, 404, "{read:?}");
    assert_eq!(read.problem_type(), "destination-not-found");
    let deleted = stack
        .delete_as(&bob, &format!("/v1/destinations/{id}"))
        .await;
    assert_eq!(deleted.status, 404, "{deleted:?}");
    let listed = stack.get_as(&bob, "/v1/destinations").await.json();
    assert!(
        !listed["destinations"].to_string().contains(&id),
        "{listed}"
    );
    // Nor is it a webhook endpoint of its owner's.
    let as_endpoint = stack.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(as_endpoint.status, 404, "{as_endpoint:?}");
    let mine = stack.get(&format!("/v1/destinations/{id}")).await;
    assert_eq!(mine.status, 200, "{mine:?}");
    assert!(
        mine.json().get("secret").is_none(),
        "the secret is shown once"
    );
}

#[tokio::test]
async fn the_stacks_own_queues_fifo_queues_and_unreachable_queues_are_refused() {
    let stack = Stack::load().await;
    let work_queue = stack.queue_arn(stack.output("WorkQueueUrl")).await;
    let refused = register(&stack, &stack.token, json!({"sqs": work_queue})).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.problem_type(), "invalid-destination");
    assert!(
        refused.json()["detail"].as_str().unwrap().contains("own"),
        "{refused:?}"
    );

    let own_bus = stack.output("JobEventBusArn");
    let refused = register(&stack, &stack.token, json!({"eventBridge": own_bus})).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.problem_type(), "invalid-destination");

    let account = work_queue.split(':').nth(4).unwrap().to_owned();
    let fifo = format!(
        "arn:aws:sqs:{}:{account}:results.fifo",
        stack.output("Region")
    );
    let refused = register(&stack, &stack.token, json!({"sqs": fifo})).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.problem_type(), "invalid-destination");
    assert!(
        refused.json()["detail"].as_str().unwrap().contains("FIFO"),
        "{refused:?}"
    );

    let missing = format!(
        "arn:aws:sqs:{}:{account}:no-such-queue-{}",
        stack.output("Region"),
        uuid::Uuid::new_v4().simple()
    );
    // A caller of its own: other tests register destinations meanwhile.
    let caller = stack.fresh_caller().await;
    let refused = register(&stack, &caller, json!({"sqs": missing})).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.problem_type(), "destination-unreachable");
    let after = stack
        .get_as(&caller, "/v1/destinations?limit=100")
        .await
        .json();
    assert_eq!(
        after["destinations"],
        json!([]),
        "nothing was kept: {after}"
    );

    for bad in [json!({}), json!({"sqs": arn_like_url()}), json!({"sqs": 5})] {
        let refused = register(&stack, &stack.token, bad.clone()).await;
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
    }
}

fn arn_like_url() -> &'static str {
    "https://sqs.us-east-1.amazonaws.com/000000000000/results"
}

#[tokio::test]
async fn an_outcome_arrives_on_the_callers_bus_as_a_verifiable_event() {
    let stack = Stack::load().await;
    let events = aws_sdk_eventbridge::Client::new(&stack.aws);
    let bus_name = format!(
        "e2e-bus-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let bus = events
        .create_event_bus()
        .name(&bus_name)
        .send()
        .await
        .expect("the test's bus")
        .event_bus_arn
        .expect("an ARN");
    let (url, queue) = stack.own_queue("e2e-bus-target").await;
    events
        .put_rule()
        .name(format!("{bus_name}-outcomes"))
        .event_bus_name(&bus_name)
        .event_pattern(json!({"source": ["courier"]}).to_string())
        .send()
        .await
        .expect("a rule");
    events
        .put_targets()
        .rule(format!("{bus_name}-outcomes"))
        .event_bus_name(&bus_name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("the rule's target");

    let reply = register(&stack, &stack.token, json!({"eventBridge": bus})).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let secret = reply.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(reply.json()["eventBridge"], bus);
    let verification = event_of(&next_message(&stack, &url).await);
    assert_eq!(
        verification["detail-type"],
        "Courier Destination Verification"
    );

    let accepted = submit_to(&stack, &stack.token, &id).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let job_id = accepted.json()["id"].as_str().unwrap().to_owned();
    stack.wait_for_callback(&job_id, "DELIVERED").await;
    let event = event_of(&next_message(&stack, &url).await);
    assert_eq!(event["source"], "courier", "{event}");
    assert_eq!(event["detail-type"], "Courier Job Outcome", "{event}");
    let detail = &event["detail"];
    let headers: HashMap<String, String> =
        serde_json::from_value(detail["headers"].clone()).expect("headers as strings");
    let body = detail["body"]
        .as_str()
        .expect("the signed body, as a string");
    assert!(verifies(body, &headers, &secret), "{event}");
    assert_eq!(headers["webhook-id"], format!("msg_{job_id}"));
    let document: Value = serde_json::from_str(body).unwrap();
    assert_eq!(document["id"], job_id);
}

/// The EventBridge event a rule put on a queue.
fn event_of(message: &Message) -> Value {
    serde_json::from_str(message.body().unwrap()).expect("an event as JSON")
}

#[tokio::test]
async fn a_destination_that_stops_taking_deliveries_is_retried_then_given_up() {
    let stack = Stack::load().await;
    let (url, arn) = stack.own_queue("e2e-gone").await;
    let reply = register(&stack, &stack.token, json!({"sqs": arn})).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    stack
        .sqs
        .delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("the queue is deleted");

    let accepted = submit_to(&stack, &stack.token, &id).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let job_id = accepted.json()["id"].as_str().unwrap().to_owned();
    let job = eventually_within(
        Duration::from_secs(180),
        "the delivery given up",
        || async {
            let job = stack.get(&format!("/v1/jobs/{job_id}")).await.json();
            (job["callback"]["state"] == "FAILED").then_some(job)
        },
    )
    .await;
    let callback = &job["callback"];
    assert!(callback["attempts"].as_u64().unwrap() > 1, "retried: {job}");
    assert!(
        callback["lastError"]
            .as_str()
            .unwrap()
            .contains("the queue refused it"),
        "{job}"
    );
}
