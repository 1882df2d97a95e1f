//! Webhook endpoints, end to end: each caller's own URLs and secrets (sealed with the stack's KMS
//! key), deliveries checked with the Standard Webhooks reference verifier, rotation with a
//! grace period, and another caller locked out of all of it.

use courier_e2e::receiver::{Arrival, Receiver};
use courier_e2e::{RegisteredEndpoint, Reply, Stack, eventually};
use serde_json::{Value, json};

/// The Standard Webhooks reference library's verdict on one delivery.
fn verifies(arrival: &Arrival, secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .expect("a whsec_ secret")
        .verify(&arrival.body, &arrival.headers)
        .is_ok()
}

async fn submit(stack: &Stack, endpoint_id: &str, token: Option<&str>) -> Reply {
    let body = json!({"type": "echo", "payload": "hook", "callback": {"endpointId": endpoint_id}});
    let request = stack
        .http
        .post(stack.url("/v1/jobs"))
        .bearer_auth(token.unwrap_or(&stack.token))
        .header("content-type", "application/json")
        .body(body.to_string());
    Reply::from(request.send().await.expect("request reaches the API")).await
}

/// Submits a job to `endpoint` and returns its one delivery.
async fn delivery(stack: &Stack, receiver: &Receiver, endpoint: &RegisteredEndpoint) -> Arrival {
    let before = receiver.arrivals().len();
    let reply = submit(stack, &endpoint.id, None).await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    stack.wait_for_callback(&id, "DELIVERED").await;
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), before + 1, "one delivery per job");
    arrivals.last().unwrap().clone()
}

async fn rotate(stack: &Stack, endpoint: &RegisteredEndpoint, body: Option<Value>) -> Reply {
    let mut request = stack.api(
        reqwest::Method::POST,
        &format!("/v1/webhook-endpoints/{}/rotate", endpoint.id),
    );
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    Reply::from(request.send().await.expect("request reaches the API")).await
}

#[tokio::test]
async fn a_delivery_verifies_with_its_endpoints_secret_and_no_other() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let mine = stack.register_endpoint(&receiver.url).await;
    let also_mine = stack.register_endpoint(&receiver.url).await;
    assert_ne!(mine.secret, also_mine.secret, "one secret per endpoint");
    let bob = stack.other_callers_token().await;
    let bobs = stack.register_endpoint_as(&bob, &receiver.url).await;

    let arrival = delivery(&stack, &receiver, &mine).await;
    assert!(
        verifies(&arrival, &mine.secret),
        "the stock verifier accepts it"
    );
    assert!(
        !verifies(&arrival, &also_mine.secret),
        "another endpoint's secret does not verify it, though the URL is the same"
    );
    assert!(
        !verifies(&arrival, &bobs.secret),
        "nor another caller's endpoint secret for the same URL"
    );
    assert_eq!(
        arrival.header("webhook-signature").split(' ').count(),
        1,
        "signed once: one secret is active"
    );
}

#[tokio::test]
async fn the_secret_is_shown_once_and_stored_only_as_ciphertext() {
    let stack = Stack::load().await;
    let endpoint = stack.register_endpoint("http://127.0.0.1:9/hook").await;
    let shown = stack
        .get(&format!("/v1/webhook-endpoints/{}", endpoint.id))
        .await;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.header("cache-control"), Some("no-store"));
    let body = shown.json();
    assert_eq!(body["url"], "http://127.0.0.1:9/hook");
    assert!(body.get("secret").is_none(), "never shown again: {body}");
    assert_eq!(body["secrets"].as_array().unwrap().len(), 1);

    let item = stack
        .item(&format!("ENDPOINT#{}", endpoint.id))
        .await
        .expect("stored");
    let key = endpoint.secret.trim_start_matches("whsec_");
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key).unwrap();
    let stored = format!("{item:?}");
    assert!(
        !stored.contains(key),
        "the table holds no whsec_ text: {stored}"
    );
    let sealed = item["secrets"].as_l().unwrap()[0].as_m().unwrap()["sealed"]
        .as_b()
        .unwrap()
        .as_ref()
        .to_vec();
    assert!(
        !sealed.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the stored bytes are not the key"
    );
}

#[tokio::test]
async fn during_a_rotation_both_secrets_verify_and_after_the_grace_only_the_new_one() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let old = stack.register_endpoint(&receiver.url).await;
    const GRACE_SECONDS: u64 = 20;
    let rotated = rotate(
        &stack,
        &old,
        Some(json!({"gracePeriodSeconds": GRACE_SECONDS})),
    )
    .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let body = rotated.json();
    let new = RegisteredEndpoint {
        id: old.id.clone(),
        secret: body["secret"].as_str().unwrap().to_owned(),
    };
    assert_ne!(new.secret, old.secret);
    let secrets = body["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{body}");
    assert!(secrets[0]["expiresAt"].is_string() && secrets[1].get("expiresAt").is_none());

    let during = delivery(&stack, &receiver, &new).await;
    assert_eq!(during.header("webhook-signature").split(' ').count(), 2);
    assert!(
        verifies(&during, &old.secret),
        "receivers on the old secret"
    );
    assert!(
        verifies(&during, &new.secret),
        "receivers on the new secret"
    );

    // The grace period ends on the stack's clock: wait until the endpoint says so.
    eventually("the old secret to expire", || async {
        let shown = stack
            .get(&format!("/v1/webhook-endpoints/{}", old.id))
            .await;
        (shown.json()["secrets"].as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let after = delivery(&stack, &receiver, &new).await;
    assert_eq!(after.header("webhook-signature").split(' ').count(), 1);
    assert!(verifies(&after, &new.secret));
    assert!(!verifies(&after, &old.secret), "the old secret is retired");

    // An empty body rotates with the default grace (24 hours).
    let again = rotate(&stack, &new, None).await;
    assert_eq!(again.status, 200, "{again:?}");
    let secrets = again.json()["secrets"].as_array().unwrap().clone();
    assert_eq!(secrets.len(), 2);
}

#[tokio::test]
async fn another_caller_can_neither_see_change_delete_nor_name_an_endpoint() {
    let stack = Stack::load().await;
    let bob = stack.other_callers_token().await;
    let receiver = Receiver::start(vec![], None).await;
    let alices = stack.register_endpoint(&receiver.url).await;
    let one = format!("/v1/webhook-endpoints/{}", alices.id);
    let unknown = "/v1/webhook-endpoints/ep_0123456789abcdef0123456789abcdef";
    for path in [one.as_str(), unknown] {
        for (method, path) in [
            (reqwest::Method::GET, path.to_owned()),
            (reqwest::Method::DELETE, path.to_owned()),
            (reqwest::Method::POST, format!("{path}/rotate")),
        ] {
            let reply = Reply::from(
                stack
                    .http
                    .request(method.clone(), stack.url(&path))
                    .bearer_auth(&bob)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(reply.status, 404, "{method} {path}: {reply:?}");
            assert_eq!(reply.problem_type(), "endpoint-not-found");
        }
    }
    let named = submit(&stack, &alices.id, Some(&bob)).await;
    assert_eq!(named.status, 400, "{named:?}");
    assert_eq!(named.problem_type(), "invalid-callback");

    // Alice's endpoint is untouched: one secret, and her jobs are delivered and verify.
    let arrival = delivery(&stack, &receiver, &alices).await;
    assert!(verifies(&arrival, &alices.secret));
    assert_eq!(receiver.arrivals().len(), 1, "bob's attempt sent nothing");
}

#[tokio::test]
async fn a_deleted_endpoint_takes_no_new_jobs_and_its_due_callbacks_send_nothing() {
    let stack = Stack::load().await;
    let receiver = Receiver::start(vec![], None).await;
    let endpoint = stack.register_endpoint(&receiver.url).await;
    // Held back 3 s, so the endpoint is gone before the job runs.
    let reply = stack
        .post_json(
            "/v1/jobs",
            &json!({"type": "echo", "payload": 1, "delaySeconds": 3,
                    "callback": {"endpointId": endpoint.id}}),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/webhook-endpoints/{}", endpoint.id);
    let deleted = stack.delete(&path).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(stack.delete(&path).await.status, 404, "gone");
    assert_eq!(stack.get(&path).await.status, 404);

    let job = stack.wait_for_callback(&id, "FAILED").await;
    let why = job["callback"]["lastError"].as_str().unwrap();
    assert!(why.contains("was deleted"), "{job}");
    assert_eq!(job["status"], "SUCCEEDED", "the job itself ran");
    let refused = submit(&stack, &endpoint.id, None).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.problem_type(), "invalid-callback");
    stack.wait_for_queue_idle("CallbackQueueUrl").await;
    assert!(receiver.arrivals().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn registration_refuses_ssrf_targets_malformed_urls_and_bad_bodies() {
    let stack = Stack::load().await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.2]/",
        "http://2130706434/",
        "ftp://127.0.0.1/",
        "https://user:pw@127.0.0.1/",
        "http://no-such-host.invalid/",
        "not a url",
        "",
    ] {
        let reply = stack
            .post_json("/v1/webhook-endpoints", &json!({ "url": url }), &[])
            .await;
        assert_eq!(reply.status, 400, "{url}: {reply:?}");
        assert_eq!(reply.problem_type(), "invalid-endpoint-url", "{url}");
    }
    let long = format!("https://example.com/{}", "a".repeat(2100));
    let reply = stack
        .post_json("/v1/webhook-endpoints", &json!({ "url": long }), &[])
        .await;
    assert_eq!(reply.problem_type(), "invalid-endpoint-url");
    for (body, slug) in [
        (json!({}), "invalid-body"),
        (json!({"url": 5}), "invalid-body"),
        (
            json!({"url": "http://127.0.0.1:9/", "secret": "whsec_mine"}),
            "invalid-body",
        ),
        (json!(["http://127.0.0.1:9/"]), "invalid-body"),
    ] {
        let reply = stack.post_json("/v1/webhook-endpoints", &body, &[]).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.problem_type(), slug, "{body}");
    }
    let not_json = Reply::from(
        stack
            .api(reqwest::Method::POST, "/v1/webhook-endpoints")
            .header("content-type", "application/json")
            .body("{\"url\":")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(not_json.problem_type(), "malformed-json");
    let endpoint = stack.register_endpoint("http://127.0.0.1:9/").await;
    for (body, status, slug) in [
        (json!({"gracePeriodSeconds": 604_801}), 400, "invalid-body"),
        (json!({"gracePeriodSeconds": -1}), 400, "invalid-body"),
        (json!({"grace": 5}), 400, "invalid-body"),
    ] {
        let reply = rotate(&stack, &endpoint, Some(body.clone())).await;
        assert_eq!(reply.status, status, "{body}: {reply:?}");
        assert_eq!(reply.problem_type(), slug, "{body}");
    }
    let shown = stack
        .get(&format!("/v1/webhook-endpoints/{}", endpoint.id))
        .await;
    assert_eq!(
        shown.json()["secrets"].as_array().unwrap().len(),
        1,
        "a refused rotation changed nothing"
    );
}
