//! Helpers for the end-to-end tests: the deployed local stack's outputs, real HTTP through the
//! emulator's API Gateway, and direct reads of the queues and table the functions use.
//!
//! Every wait is a poll with a deadline, never a fixed sleep.

pub mod cost;
pub mod fair_share;
pub mod receiver;
pub mod worker;
pub mod ws;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core machine; polls return as soon as the condition holds.
pub const DEADLINE: Duration = Duration::from_secs(90);
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The most events one `FilterLogEvents` call returns (the emulator has no `nextToken`).
const MAX_LOG_EVENTS: usize = 10_000;
/// Messages looked at while a search walks a queue stay hidden this long at most, so each
/// receive sees the next ones (a queue returns at most 10 per receive); the walk makes them
/// visible again as soon as it ends, for other tests.
const PEEK_VISIBILITY_SECONDS: i32 = 30;
/// The most messages one walk of a queue looks at.
const PEEK_AT_MOST: usize = 5_000;

/// The stack's CloudFormation outputs, as written by `infra/up.sh` to `.local/outputs.json`.
pub struct Stack {
    pub outputs: HashMap<String, String>,
    pub http: reqwest::Client,
    /// The local user's access token, from the stack's Cognito: every API route requires one.
    pub token: String,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The emulator's AWS configuration, for other clients.
    pub aws: aws_config::SdkConfig,
}

/// An access token of the local user whose name and password are the outputs named.
async fn sign_in(outputs: &HashMap<String, String>, username: &str, password: &str) -> String {
    sign_in_with(outputs, "UserPoolClientId", username, password).await
}

async fn sign_in_with(
    outputs: &HashMap<String, String>,
    client: &str,
    username: &str,
    password: &str,
) -> String {
    courier_client::auth::CognitoSignIn::new(
        format!("{}/", outputs["Endpoint"]),
        outputs[client].clone(),
    )
    .expect("sign-in client")
    .with_password(&outputs[username], &outputs[password])
    .await
    .unwrap_or_else(|e| panic!("{} signs in: {e}", outputs[username]))
    .access_token
}

fn outputs_path() -> PathBuf {
    std::env::var_os("COURIER_OUTPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/outputs.json"))
}

impl Stack {
    pub async fn load() -> Self {
        let path = outputs_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}); bring the stack up first with infra/up.sh",
                path.display()
            )
        });
        let outputs: HashMap<String, String> =
            serde_json::from_str(&text).expect("outputs.json is a flat JSON object");
        let endpoint = outputs["Endpoint"].clone();
        // The SDK's HTTPS client with ring (no aws-lc), as the CLI builds it.
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(https)
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new(outputs["Region"].clone()))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "courier-e2e",
            ))
            .load()
            .await;
        let token = sign_in(&outputs, "LocalUsername", "LocalPassword").await;
        Self {
            outputs,
            token,
            http: http_client(),
            sqs: aws_sdk_sqs::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            aws: config,
        }
    }

    /// A genuine token of the local user, issued by the stack's pool to another app client:
    /// for another audience.
    pub async fn token_for_another_audience(&self) -> String {
        sign_in_with(
            &self.outputs,
            "LocalElsewhereClientId",
            "LocalUsername",
            "LocalPassword",
        )
        .await
    }

    /// A token of the stack's second local user: someone else.
    pub async fn other_callers_token(&self) -> String {
        sign_in(&self.outputs, "LocalOtherUsername", "LocalOtherPassword").await
    }

    /// A token of a caller nobody else uses: a new user of the stack's pool, made through the
    /// emulator's Cognito API. For tests that must see exactly their own jobs while other
    /// tests submit theirs.
    pub async fn fresh_caller(&self) -> String {
        self.fresh_user().await.2
    }

    /// [`Self::fresh_caller`]'s user: its name, its password and a token of it.
    pub async fn fresh_user(&self) -> (String, String, String) {
        let username = unique("e2e");
        let password = format!("Aa1!{}", uuid::Uuid::new_v4().simple());
        let pool = self.output("UserPoolId");
        for (action, body) in [
            (
                "AdminCreateUser",
                serde_json::json!({"UserPoolId": pool, "Username": username, "MessageAction": "SUPPRESS"}),
            ),
            (
                "AdminSetUserPassword",
                serde_json::json!({"UserPoolId": pool, "Username": username, "Password": password, "Permanent": true}),
            ),
        ] {
            let reply = self
                .http
                .post(format!("{}/", self.output("Endpoint")))
                .header(
                    "x-amz-target",
                    format!("AWSCognitoIdentityProviderService.{action}"),
                )
                .header("content-type", "application/x-amz-json-1.1")
                // The emulator takes any credentials; the region names the pool's.
                .header(
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential=test/20260101/{}/cognito-idp/aws4_request, SignedHeaders=host, Signature=0",
                        self.output("Region")
                    ),
                )
                .body(body.to_string())
                .send()
                .await
                .expect("the emulator's Cognito answers");
            assert!(reply.status().is_success(), "{action}: {reply:?}");
        }
        let token = courier_client::auth::CognitoSignIn::new(
            format!("{}/", self.output("Endpoint")),
            self.output("UserPoolClientId").to_owned(),
        )
        .expect("sign-in client")
        .with_password(&username, &password)
        .await
        .unwrap_or_else(|e| panic!("{username} signs in: {e}"))
        .access_token;
        (username, password, token)
    }

    /// A request to the HTTP API as whoever `token` belongs to.
    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        Reply::from(send_safe(|| self.http.get(self.url(path)).bearer_auth(token)).await).await
    }

    /// A DELETE to the HTTP API as whoever `token` belongs to.
    pub async fn delete_as(&self, token: &str, path: &str) -> Reply {
        Reply::from(
            self.http
                .delete(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .expect("request reaches the API"),
        )
        .await
    }

    /// A JSON POST to the HTTP API as whoever `token` belongs to.
    pub async fn post_json_as(&self, token: &str, path: &str, body: &Value) -> Reply {
        Reply::from(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("request reaches the API"),
        )
        .await
    }

    pub fn output(&self, key: &str) -> &str {
        self.outputs
            .get(key)
            .unwrap_or_else(|| panic!("output {key} missing from outputs.json"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.output("HttpApiUrl"))
    }

    /// A request to the HTTP API, signed in as the local user.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// `POST path` with a JSON body and extra headers.
    pub async fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .api(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::from(request.send().await.expect("request reaches the API")).await
    }

    /// Reads one item by primary key, strongly consistent.
    pub async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.dynamodb
            .get_item()
            .table_name(self.output("TableName"))
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// Moves an idempotency key's record past its window (its `ttl`), as if its 24 hours had
    /// passed and DynamoDB's TTL sweep, which lags up to 48 hours, had not removed it yet.
    /// Returns how many records held the key (one per door and caller that used it).
    pub async fn age_idempotency_key(&self, key: &str) -> usize {
        let table = self.output("TableName");
        let found = self
            .dynamodb
            .scan()
            .table_name(table)
            .filter_expression("kind = :kind AND contains(pk, :key)")
            .expression_attribute_values(":kind", AttributeValue::S("idempotency".into()))
            .expression_attribute_values(":key", AttributeValue::S(format!("#{key}")))
            .send()
            .await
            .expect("Scan")
            .items
            .unwrap_or_default();
        let past = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - 1)
        .to_string();
        for item in &found {
            self.dynamodb
                .update_item()
                .table_name(table)
                .key("pk", item["pk"].clone())
                .update_expression("SET #ttl = :past")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":past", AttributeValue::N(past.clone()))
                .send()
                .await
                .expect("UpdateItem");
        }
        found.len()
    }

    /// `body` is refused by both POSTs as `invalid-payload`, its detail naming `pointer`.
    pub async fn assert_payload_refused_at(&self, body: &Value, pointer: &str) {
        for path in ["/v1/jobs", "/v1/messages"] {
            let reply = self.post_json(path, body, &[]).await;
            assert_eq!(reply.status, 400, "{path} {body}: {reply:?}");
            assert_eq!(reply.problem_type(), "invalid-payload", "{body}");
            let detail = reply.json()["detail"].as_str().unwrap().to_owned();
            assert!(
                detail.contains(&format!("at {pointer}:")),
                "{body}: {detail}"
            );
        }
    }

    /// Returns just after the emulator's TTL reaper has run (it sweeps every 60 s): a claim
    /// aged with [`Self::age_claim`] then stays readable for the processor for most of a minute,
    /// where on AWS the sweep lags expiry by hours. Without this, a sweep landing between the
    /// ageing and the processor's read would take the claim, and the job, out of the test.
    pub async fn after_a_ttl_sweep(&self) {
        let canary = format!("TTL-CANARY#{}", uuid::Uuid::new_v4());
        let past = a_second_ago();
        self.dynamodb
            .put_item()
            .table_name(self.output("TableName"))
            .item("pk", AttributeValue::S(canary.clone()))
            .item("ttl", AttributeValue::N(past.to_string()))
            .send()
            .await
            .expect("PutItem");
        eventually_within(
            Duration::from_secs(75),
            "the emulator's TTL sweep",
            || async { self.item(&canary).await.is_none().then_some(()) },
        )
        .await;
    }

    /// Moves a job's claim past its lifetime (`expiresAt` and `ttl`), as if the claim lifetime
    /// had run out while the job waited (a backlog), before DynamoDB's TTL sweep removed it.
    pub async fn age_claim(&self, id: &str) {
        let past = a_second_ago();
        self.dynamodb
            .update_item()
            .table_name(self.output("TableName"))
            .key("pk", AttributeValue::S(format!("JOB#{id}")))
            .update_expression("SET expiresAt = :at, #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(
                ":at",
                AttributeValue::S("2020-01-01T00:00:00.000Z".into()),
            )
            .expression_attribute_values(":ttl", AttributeValue::N(past.to_string()))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .expect("UpdateItem");
    }

    /// The processor's record of a message.
    pub async fn message_record(&self, message_id: &str) -> Option<Record> {
        self.item(&format!("MSG#{message_id}")).await.map(Record)
    }

    /// Polls the message record until `done` holds for it.
    pub async fn wait_for_record(
        &self,
        message_id: &str,
        done: impl Fn(&Record) -> bool,
    ) -> Record {
        let what = format!("record of message {message_id}");
        eventually(&what, || async {
            self.message_record(message_id).await.filter(|r| done(r))
        })
        .await
    }

    pub async fn wait_for_status(&self, message_id: &str, status: &str) -> Record {
        self.wait_for_record(message_id, |r| r.status() == status)
            .await
    }

    /// Records whose correlation id is `correlation_id` (a scan: fine on a test table).
    pub async fn records_with_correlation_id(&self, correlation_id: &str) -> usize {
        self.scan_all(
            "correlationId = :c",
            &[(":c", AttributeValue::S(correlation_id.to_owned()))],
        )
        .await
        .len()
    }

    /// Every item of the table that `filter` keeps, over every page of the scan (a table the
    /// suite has filled spans more than one).
    async fn scan_all(
        &self,
        filter: &str,
        values: &[(&str, AttributeValue)],
    ) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(self.output("TableName"))
                .filter_expression(filter)
                .set_expression_attribute_values(Some(
                    values
                        .iter()
                        .map(|(name, value)| ((*name).to_owned(), value.clone()))
                        .collect(),
                ))
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("Scan");
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    async fn queue_counts(&self, queue_url: &str) -> u64 {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .unwrap_or_default();
        attributes
            .values()
            .map(|v| v.parse::<u64>().unwrap_or(0))
            .sum()
    }

    /// Waits until the work queue holds nothing, visible or in flight: everything sent so far
    /// has been consumed and deleted (or moved to the DLQ).
    pub async fn wait_for_work_queue_idle(&self) {
        self.wait_for_queue_idle("WorkQueueUrl").await
    }

    /// The same for any queue named by its output key.
    pub async fn wait_for_queue_idle(&self, output: &str) {
        self.wait_for_queue_idle_within(DEADLINE, output).await
    }

    /// The same, with a deadline of its own.
    pub async fn wait_for_queue_idle_within(&self, deadline: Duration, output: &str) {
        let url = self.output(output).to_owned();
        let what = format!("{output} to be idle");
        eventually_within(deadline, &what, || async {
            (self.queue_counts(&url).await == 0).then_some(())
        })
        .await
    }

    /// Searches a queue (by output key) until a message satisfies `wanted`. Messages looked at
    /// stay hidden for a moment only, so other tests still find theirs.
    pub async fn wait_for_message(
        &self,
        output: &str,
        what: &str,
        wanted: impl Fn(&Message) -> bool,
    ) -> Message {
        let url = self.output(output).to_owned();
        let what = format!("{what} in {output}");
        eventually(&what, || async {
            // The whole queue, each message once (however many earlier tests left there),
            // then every one of them visible again.
            let mut peeked = Vec::new();
            let mut found = None;
            while found.is_none() && peeked.len() < PEEK_AT_MOST {
                let out = self
                    .sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .visibility_timeout(PEEK_VISIBILITY_SECONDS)
                    .message_attribute_names("All")
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send()
                    .await
                    .expect("ReceiveMessage");
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    break;
                }
                for message in messages {
                    peeked.extend(message.receipt_handle.clone());
                    if found.is_none() && wanted(&message) {
                        found = Some(message);
                    }
                }
            }
            self.show_again(&url, &peeked).await;
            found
        })
        .await
    }

    /// Makes messages a search received visible again at once.
    async fn show_again(&self, url: &str, receipts: &[String]) {
        use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry as Entry;
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    Entry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .build()
                        .expect("id and receipt handle given")
                })
                .collect();
            self.sqs
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("ChangeMessageVisibilityBatch");
        }
    }

    /// Finds a message whose body field `field` equals `value`.
    pub async fn wait_for_message_with(&self, output: &str, field: &str, value: &str) -> Message {
        let what = format!("{field}={value}");
        self.wait_for_message(output, &what, |m| {
            let body: Value =
                serde_json::from_str(m.body.as_deref().unwrap_or("")).unwrap_or_default();
            body.get(field).and_then(Value::as_str) == Some(value)
        })
        .await
    }

    /// Finds a message in the work DLQ whose `messageId` (attribute or body field) matches.
    pub async fn wait_for_dead_letter(&self, message_id: &str) -> Message {
        let what = format!("message {message_id}");
        self.wait_for_message("WorkDeadLetterQueueUrl", &what, |m| {
            dead_letter_id(m).as_deref() == Some(message_id)
        })
        .await
    }

    /// Log events of a function's log group (CloudWatch Logs `FilterLogEvents`, called as the
    /// JSON protocol it is), optionally only those containing `term`, or only in `streams`.
    pub async fn log_events(
        &self,
        function_output: &str,
        term: Option<&str>,
        streams: &[String],
    ) -> Vec<LogEvent> {
        let mut request = serde_json::json!({
            "logGroupName": format!("/aws/lambda/{}", self.output(function_output)),
            "limit": 10000,
        });
        if let Some(term) = term {
            request["filterPattern"] = Value::String(format!("\"{term}\""));
        }
        if !streams.is_empty() {
            request["logStreamNames"] = serde_json::json!(streams);
        }
        self.filter_log_events(request).await
    }

    /// Every log event of a function written at or after `since` (milliseconds since the epoch).
    pub async fn log_events_since(&self, function_output: &str, since: i64) -> Vec<LogEvent> {
        let group = format!("/aws/lambda/{}", self.output(function_output));
        self.log_group_events_since(&group, since, None).await
    }

    /// Every event of a log group written at or after `since`, optionally only those
    /// containing `term`. Panics rather than return a capped list: a count that silently stops
    /// at the emulator's 10 000 would look settled.
    pub async fn log_group_events_since(
        &self,
        group: &str,
        since: i64,
        term: Option<&str>,
    ) -> Vec<LogEvent> {
        let mut request = serde_json::json!({
            "logGroupName": group,
            "limit": MAX_LOG_EVENTS,
            "startTime": since,
        });
        if let Some(term) = term {
            request["filterPattern"] = Value::String(format!("\"{term}\""));
        }
        let events = self.filter_log_events(request).await;
        assert!(
            events.len() < MAX_LOG_EVENTS,
            "{group} has {MAX_LOG_EVENTS} or more events since {since}: narrow the window"
        );
        events
    }

    /// Runs `work` with a function's event source mappings from `source` paused (as
    /// [`Self::set_event_sources_enabled`]), resuming them however `work` ends: other tests'
    /// work waits on them too.
    pub async fn while_paused<T>(
        &self,
        function_output: &str,
        source: &str,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        self.set_event_sources_enabled(function_output, source, false)
            .await;
        let done = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work)).await;
        self.set_event_sources_enabled(function_output, source, true)
            .await;
        done.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Turns a function's event source mappings (by the function's output key) whose source ARN
    /// contains `source` off or on, as the Lambda API's `UpdateEventSourceMapping` (called as the
    /// REST API it is). Paused, its queues fill; resumed, it takes them in full batches: what a
    /// steady load looks like.
    pub async fn set_event_sources_enabled(
        &self,
        function_output: &str,
        source: &str,
        enabled: bool,
    ) {
        let lambda = |method: reqwest::Method, path: String| {
            self.http
                .request(method, format!("{}{path}", self.output("Endpoint")))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, \
                     SignedHeaders=host, Signature=0",
                )
        };
        let listed: Value = lambda(
            reqwest::Method::GET,
            format!(
                "/2015-03-31/event-source-mappings?FunctionName={}",
                self.output(function_output)
            ),
        )
        .send()
        .await
        .expect("ListEventSourceMappings reaches the emulator")
        .json()
        .await
        .expect("ListEventSourceMappings answers JSON");
        let mappings: Vec<Value> = listed["EventSourceMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["EventSourceArn"]
                    .as_str()
                    .is_some_and(|arn| arn.contains(source))
            })
            .cloned()
            .collect();
        assert!(
            !mappings.is_empty(),
            "{function_output} has event sources from {source}: {listed}"
        );
        for mapping in mappings {
            let uuid = mapping["UUID"].as_str().expect("a mapping's UUID");
            let response = lambda(
                reqwest::Method::PUT,
                format!("/2015-03-31/event-source-mappings/{uuid}"),
            )
            .json(&serde_json::json!({"Enabled": enabled}))
            .send()
            .await
            .expect("UpdateEventSourceMapping reaches the emulator");
            assert!(
                response.status().is_success(),
                "UpdateEventSourceMapping: {}",
                response.status()
            );
        }
    }

    async fn filter_log_events(&self, request: Value) -> Vec<LogEvent> {
        let response = self
            .http
            .post(format!("{}/", self.output("Endpoint")))
            .header("x-amz-target", "Logs_20140328.FilterLogEvents")
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/logs/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(request.to_string())
            .send()
            .await
            .expect("FilterLogEvents reaches the emulator");
        let status = response.status();
        let body: Value = response.json().await.expect("FilterLogEvents answers JSON");
        // A function never invoked has no log group yet: no lines.
        let missing_group = body["__type"]
            .as_str()
            .is_some_and(|t| t.ends_with("ResourceNotFoundException"));
        if !status.is_success() && missing_group {
            return vec![];
        }
        assert!(status.is_success(), "FilterLogEvents: {status} {body}");
        body["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .map(|e| LogEvent {
                        stream: e["logStreamName"].as_str().unwrap_or("").to_owned(),
                        message: e["message"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Arms crash-safety failpoints in one function (`name=actions;…`, as the `fail` crate
    /// reads them; empty disarms) by writing its arming file, which every process of the
    /// function reads at its next point (`courier_shared::failpoints`: the functions run as
    /// host processes, so they share this temp dir). Only work whose correlation id starts
    /// with `failpoint-` is affected, so other tests' jobs are not; still, tests that arm
    /// points run one at a time.
    pub async fn arm_failpoints(&self, function_output: &str, failpoints: &str) {
        let emulator: String = self
            .output("Endpoint")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let file = std::env::temp_dir()
            .join(format!("courier-failpoints-{emulator}"))
            .join(self.output(function_output));
        std::fs::create_dir_all(file.parent().unwrap()).expect("the arming directory");
        // Written whole, then renamed: a function never reads half of it.
        let partial = file.with_extension("partial");
        std::fs::write(&partial, failpoints).expect("the arming file");
        std::fs::rename(&partial, &file).expect("the arming file in place");
    }

    /// The file a waiting failpoint writes once work of `correlation_id` reached `point`, as
    /// `courier_shared::failpoints::reached_marker` names it (a function's log lines are only
    /// readable once its invocation ends).
    pub fn failpoint_reached(point: &str, correlation_id: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "courier-failpoint-reached-{point}-{correlation_id}"
        ))
    }

    /// Every `ledger` example entry booked to `account` (a scan: the local table is small).
    pub async fn ledger_entries(&self, account: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.scan_all(
            "kind = :kind AND account = :account",
            &[
                (":kind", AttributeValue::S("ledger-entry".into())),
                (":account", AttributeValue::S(account.to_owned())),
            ],
        )
        .await
    }

    /// A queue of the test's own, as a caller's account would have it: its URL and ARN.
    pub async fn own_queue(&self, name: &str) -> (String, String) {
        let name = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let url = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("the test's queue is made")
            .queue_url
            .expect("a queue URL");
        (url, self.queue_arn(&name).await)
    }

    /// A queue's ARN, by its name or URL.
    pub async fn queue_arn(&self, name_or_url: &str) -> String {
        let url = match name_or_url.contains('/') {
            true => name_or_url.to_owned(),
            false => self
                .sqs
                .get_queue_url()
                .queue_name(name_or_url)
                .send()
                .await
                .expect("the queue exists")
                .queue_url
                .expect("a URL"),
        };
        self.sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("its attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("an ARN")
    }

    pub async fn send_raw_to_work_queue(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(self.output("WorkQueueUrl"))
            .message_body(body)
            .send()
            .await
            .expect("SendMessage");
    }
}

/// Sends a safe request (a GET), again after a transport error: the emulator's gateway may
/// close a pooled connection just as a request goes out on it (hyper's `IncompleteMessage`),
/// which says nothing about the API. A timeout is not retried.
async fn send_safe(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    let mut tries = 1;
    loop {
        match request().send().await {
            Ok(response) => return response,
            Err(error) if tries < 3 && !error.is_timeout() => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("request reaches the API: {error:?}"),
        }
    }
}

/// Now, in milliseconds since the epoch: where a window of log events starts.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Unix seconds, one second ago: a TTL already past.
fn a_second_ago() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1
}

/// The deployed stack's template parameters, as CloudFormation holds them.
pub async fn stack_parameters(stack: &Stack) -> HashMap<String, String> {
    let described = aws_sdk_cloudformation::Client::new(&stack.aws)
        .describe_stacks()
        .stack_name(stack.output("StackName"))
        .send()
        .await
        .expect("the stack is described");
    let deployed = &described.stacks()[0];
    deployed
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_key().unwrap_or_default().to_owned(),
                p.parameter_value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Runs the local deploy (`infra/deploy.py`) with `document` as its job-types document:
/// its exit code and standard error. Only for documents that must be refused before anything
/// is deployed (a good one would redeploy the stack under the other tests).
pub async fn deploy_with_job_types(document: &Value) -> (Option<i32>, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = std::env::temp_dir().join(format!("{}.json", unique("job-types")));
    std::fs::write(&file, document.to_string()).unwrap();
    let job_types = file.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(r#"source infra/env.sh && exec "$EMULATOR_VENV/bin/python" infra/deploy.py"#)
            .current_dir(&root)
            .env("COURIER_JOB_TYPES", &job_types)
            .output()
            .expect("the deploy script runs")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&file);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A plain HTTP client for the tests' own requests, with the client crate's TLS configuration
/// (reqwest brings no TLS provider of its own here).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(
            courier_client::tls_config()
                .expect("a TLS configuration")
                .as_ref()
                .clone(),
        )
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// The `courier` CLI, built beside the test binaries (`target/<profile>/courier`, next to
/// `target/<profile>/deps/<test>`) and the benchmark binaries (`target/<profile>/<bench>`).
pub fn courier_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let beside = exe.parent().expect("a directory").join("courier");
    let courier = match beside.exists() {
        true => beside,
        false => exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps")
            .join("courier"),
    };
    assert!(
        courier.exists(),
        "build the CLI first: {}",
        courier.display()
    );
    courier
}

/// Runs `courier dlq <action> --queue <queue> --id <id> -o json` until it prints a line (other
/// tests peek at the same DLQ, hiding messages for a moment); returns that line's JSON. A
/// step that finds nothing changes nothing, so retrying it is safe.
pub async fn courier_dlq_until_listed(action: &[&str], queue: &str, id: &str) -> Value {
    let mut args: Vec<String> = ["dlq"]
        .iter()
        .chain(action)
        .map(|s| s.to_string())
        .collect();
    args.extend(["--queue", queue, "--id", id, "-o", "json"].map(String::from));
    eventually(&format!("courier {}", args.join(" ")), || {
        let args = args.clone();
        async move {
            let output = run_courier(args).await;
            assert!(output.status.success(), "{output:?}");
            let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            (!text.is_empty()).then(|| serde_json::from_str::<Value>(&text).expect("one JSON line"))
        }
    })
    .await
}

/// Runs the `courier` CLI from the tests' directory (where it finds `.local/outputs.json`).
pub async fn run_courier(args: Vec<String>) -> std::process::Output {
    run_courier_with(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        args,
        Vec::new(),
        None,
    )
    .await
}

/// Runs the `courier` CLI the way a user elsewhere would: in `dir` (so it finds no local
/// stack's outputs unless told), with `env` added, `stdin` piped in.
pub async fn run_courier_with(
    dir: &std::path::Path,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
) -> std::process::Output {
    use std::io::Write;
    let courier = courier_binary();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(&courier)
            .args(&args)
            // Nothing from the caller's own environment picks the target or the format.
            .env_remove("COURIER_URL")
            .env_remove("COURIER_WS_URL")
            .env_remove("COURIER_STACK")
            .env_remove("COURIER_TOKEN")
            .env_remove("COURIER_OUTPUT")
            .env_remove("AWS_PROFILE")
            .envs(env)
            .current_dir(dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run courier");
        let mut input = child.stdin.take().expect("piped");
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .expect("write stdin");
        drop(input);
        child.wait_with_output().expect("courier ends")
    })
    .await
    .unwrap()
}

/// One line of a function's log.
#[derive(Debug, Clone)]
pub struct LogEvent {
    pub stream: String,
    pub message: String,
}

impl LogEvent {
    /// The line as JSON, if it is a JSON object (courier's logs and metrics are; the runtime's
    /// START/END/REPORT lines are not).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str::<Value>(&self.message)
            .ok()
            .filter(Value::is_object)
    }
}

/// The `messageId` a dead letter carries, from its attribute or, failing that, its body.
pub fn dead_letter_id(message: &Message) -> Option<String> {
    message_attribute(message, "messageId").or_else(|| {
        let body: Value = serde_json::from_str(message.body.as_deref()?).ok()?;
        body.get("messageId")?.as_str().map(str::to_owned)
    })
}

pub fn message_attribute(message: &Message, name: &str) -> Option<String> {
    message
        .message_attributes
        .as_ref()?
        .get(name)?
        .string_value
        .clone()
}

/// Polls `check` until it yields a value, or panics at the deadline naming what it waited for.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(DEADLINE, what, check).await
}

/// [`eventually`] with a deadline of its own.
pub async fn eventually_within<T, F, Fut>(deadline: Duration, what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// An HTTP response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        Self {
            status,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `type` slug of an RFC 9457 error, after checking the media type.
    pub fn problem_type(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem response: {self:?}"
        );
        let body = self.json();
        assert_eq!(
            body["status"], self.status,
            "status in body matches: {body}"
        );
        body["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("urn:courier:problem:"))
            .unwrap_or_else(|| panic!("problem type missing: {body}"))
            .to_owned()
    }
}

/// A processor record with typed accessors.
#[derive(Debug, Clone, PartialEq)]
pub struct Record(pub HashMap<String, AttributeValue>);

impl Record {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    pub fn number(&self, name: &str) -> Option<i64> {
        self.0
            .get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    pub fn status(&self) -> &str {
        self.text("status").unwrap_or("")
    }

    pub fn attempts(&self) -> i64 {
        self.number("attempts").unwrap_or(0)
    }

    pub fn result(&self) -> Option<Value> {
        self.text("result")
            .map(|r| serde_json::from_str(r).expect("result is JSON"))
    }

    pub fn error_field(&self, field: &str) -> Option<String> {
        self.0
            .get("error")
            .and_then(|v| v.as_m().ok())
            .and_then(|m| m.get(field))
            .and_then(|v| v.as_s().ok())
            .cloned()
    }
}

/// A token whose claims were changed after signing: same header and signature, another `sub`.
pub fn tampered_token(token: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT");
    let mut claims: serde_json::Value =
        serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = serde_json::json!("someone-else");
    let claims = engine.encode(claims.to_string());
    format!("{}.{claims}.{}", parts[0], parts[2])
}

/// The same claims, unsigned (`alg: none`).
pub fn unsigned_token(token: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = token.split('.').nth(1).unwrap();
    format!(
        "{}.{claims}.",
        engine.encode(r#"{"alg":"none","typ":"JWT"}"#)
    )
}

/// A webhook endpoint a test registered, with the secret its registration showed.
#[derive(Debug, Clone)]
pub struct RegisteredEndpoint {
    pub id: String,
    pub secret: String,
}

/// A fresh id for a test's own correlation ids and idempotency keys.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl Stack {
    /// Registers `url` as a webhook endpoint of the local user's.
    pub async fn register_endpoint(&self, url: &str) -> RegisteredEndpoint {
        self.register_endpoint_as(&self.token, url).await
    }

    /// Registers `url` as a webhook endpoint of whoever `token` belongs to.
    pub async fn register_endpoint_as(&self, token: &str, url: &str) -> RegisteredEndpoint {
        let request = self
            .http
            .post(self.url("/v1/webhook-endpoints"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "url": url }).to_string());
        let reply = Reply::from(request.send().await.expect("request reaches the API")).await;
        assert_eq!(reply.status, 201, "{reply:?}");
        let body = reply.json();
        RegisteredEndpoint {
            id: body["id"].as_str().unwrap().to_owned(),
            secret: body["secret"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(send_safe(|| self.api(reqwest::Method::GET, path)).await).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Reply::from(
            self.api(reqwest::Method::DELETE, path)
                .send()
                .await
                .expect("request reaches the API"),
        )
        .await
    }

    /// Polls `GET /v1/jobs/{id}` until `done`, returning every distinct state seen on the way.
    pub async fn poll_job(&self, id: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let seen = std::sync::Mutex::new(Vec::<Value>::new());
        let what = format!("job {id}");
        eventually(&what, || async {
            let reply = self.get(&format!("/v1/jobs/{id}")).await;
            assert_eq!(reply.status, 200, "{reply:?}");
            let job = reply.json();
            let terminal = matches!(
                job["status"].as_str(),
                Some("SUCCEEDED" | "FAILED" | "CANCELLED")
            );
            assert_eq!(
                reply.header("retry-after").is_some(),
                !terminal,
                "Retry-After exactly while not terminal: {job}"
            );
            let mut seen = seen.lock().unwrap();
            if seen.last() != Some(&job) {
                seen.push(job.clone());
            }
            done(&job).then_some(())
        })
        .await;
        seen.into_inner().unwrap()
    }

    /// Polls until the job is terminal and returns its final state.
    pub async fn wait_for_job(&self, id: &str) -> Value {
        let states = self
            .poll_job(id, |job| {
                matches!(
                    job["status"].as_str(),
                    Some("SUCCEEDED" | "FAILED" | "CANCELLED")
                )
            })
            .await;
        states.last().cloned().expect("at least one state")
    }

    /// Polls the claim until its callback reaches `state`; returns the claim.
    pub async fn wait_for_callback(&self, id: &str, state: &str) -> Value {
        let what = format!("callback of job {id} to be {state}");
        eventually(&what, || async {
            let job = self.get(&format!("/v1/jobs/{id}")).await.json();
            (job["callback"]["state"] == state).then_some(job)
        })
        .await
    }
}
