use super::port_error;
use crate::application::ports::{
    DeadLetter, DeadLetterQueue, PortError, RetryScheduler, TaskChecks, WorkQueue,
};
use crate::domain::WorkMessage;
use crate::telemetry::TraceHeader;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeNameForSends, MessageSystemAttributeValue,
};
use courier_protocol::queue::TaskCheck;
use courier_protocol::queue::attribute::{
    CORRELATION_ID as CORRELATION_ID_ATTRIBUTE, FAILURE_KIND as FAILURE_KIND_ATTRIBUTE,
    FAILURE_REASON as FAILURE_REASON_ATTRIBUTE, MESSAGE_ID as MESSAGE_ID_ATTRIBUTE,
    REQUEST_PRINT as REQUEST_PRINT_ATTRIBUTE,
};
use std::time::Duration;

/// SQS caps message attribute values at the message size; a reason is kept readable instead.
const MAX_REASON_CHARS: usize = 1024;

/// A string attribute, with any character SQS would refuse replaced (`sqs_text`).
pub(super) fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(super::sqs_text::attribute(value))
        .build()
        .expect("data type is set")
}

/// Carries the X-Ray trace to the consumer as the `AWSTraceHeader` system attribute.
pub(super) fn with_trace(
    request: SendMessageFluentBuilder,
    trace: Option<&str>,
) -> SendMessageFluentBuilder {
    match trace {
        Some(trace) => request.message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(trace)
                .build()
                .expect("data type is set"),
        ),
        None => request,
    }
}

fn is_fifo(queue_url: &str) -> bool {
    queue_url.ends_with(".fifo")
}

/// A FIFO deduplication id: SQS allows 128 characters, a SHA-256 in hex is 64.
fn deduplication_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// The work queue: one `SendMessage` per accepted request. On a FIFO queue a bidirectional job
/// goes in its connection's message group (frames keep per-connection order); on a standard
/// queue the message group is its caller, the tenant of SQS fair queues. Each send is its
/// own message (a fresh deduplication id): SQS's five-minute deduplication would otherwise
/// swallow a resubmit whose first message was sent without its claim and dropped, and a
/// duplicate costs nothing, since a job's claim lets it run once however many messages name it.
#[derive(Clone)]
pub struct SqsWorkQueue {
    client: Client,
    queue_url: String,
}

impl SqsWorkQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn enqueue(&self, envelope: &WorkMessage, delay_seconds: u32) -> Result<(), PortError> {
        let mut request = self.client.send_message().queue_url(&self.queue_url);
        if is_fifo(&self.queue_url) {
            // FIFO queues take no per-message delay; the group orders the work instead.
            let group = match &envelope.reply_to {
                Some(to) => to.connection_id.clone(),
                None => envelope.message_id.clone(),
            };
            request = request
                .message_group_id(group)
                .message_deduplication_id(uuid::Uuid::new_v4().simple().to_string());
        } else {
            request = request.delay_seconds(delay_seconds as i32);
            // SQS fair queues: on a standard queue the group is the tenant, and SQS keeps one
            // caller's backlog from delaying the others' messages (order is not implied).
            if let Some(owner) = &envelope.owner {
                request = request.message_group_id(owner.tag());
            }
        }
        if let Some(print) = &envelope.request_print {
            request = request.message_attributes(REQUEST_PRINT_ATTRIBUTE, string_attribute(print));
        }
        with_trace(request, envelope.trace_header.as_deref())
            .message_body(super::sqs_text::json_body(&envelope.to_json()))
            .message_attributes(
                CORRELATION_ID_ATTRIBUTE,
                string_attribute(envelope.correlation_id.as_str()),
            )
            .message_attributes(MESSAGE_ID_ATTRIBUTE, string_attribute(&envelope.message_id))
            .send()
            .await
            .map_err(|e| port_error("sqs:SendMessage", e))?;
        Ok(())
    }
}

/// The standard work queue also carries the looks at attempts of workers that finish later.
#[async_trait]
impl TaskChecks for SqsWorkQueue {
    async fn schedule(&self, check: &TaskCheck, delay: Duration) -> Result<(), PortError> {
        // SQS holds a message back for 15 minutes at most; a later look is sent on from there.
        let delay = delay.as_secs().min(900) as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .delay_seconds(delay)
            .message_body(check.to_json())
            .message_attributes(
                CORRELATION_ID_ATTRIBUTE,
                string_attribute(check.correlation_id.as_str()),
            )
            .message_attributes(MESSAGE_ID_ATTRIBUTE, string_attribute(&check.job_id))
            .send()
            .await
            .map_err(|e| port_error("sqs:SendMessage(task check)", e))?;
        Ok(())
    }
}

/// A work queue's dead-letter queue, for messages that must not be retried.
#[derive(Clone)]
pub struct SqsDeadLetterQueue {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let reason: String = letter
            .failure
            .reason
            .chars()
            .take(MAX_REASON_CHARS)
            .collect();
        // SQS rejects empty attribute values; an empty reason still says which kind it was.
        let reason = if reason.is_empty() {
            letter.failure.kind.as_str().to_owned()
        } else {
            reason
        };
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(super::sqs_text::json_body(&letter.body))
            .message_attributes(FAILURE_REASON_ATTRIBUTE, string_attribute(&reason))
            .message_attributes(
                FAILURE_KIND_ATTRIBUTE,
                string_attribute(letter.failure.kind.as_str()),
            );
        if let Some(id) = &letter.correlation_id {
            request = request.message_attributes(CORRELATION_ID_ATTRIBUTE, string_attribute(id));
        }
        if let Some(id) = &letter.message_id {
            request = request.message_attributes(MESSAGE_ID_ATTRIBUTE, string_attribute(id));
        }
        if let Some(print) = &letter.request_print {
            request = request.message_attributes(REQUEST_PRINT_ATTRIBUTE, string_attribute(print));
        }
        if is_fifo(&self.queue_url) {
            // One group: dead letters need no order among themselves, only a place to wait.
            request = request
                .message_group_id("dead-letters")
                .message_deduplication_id(deduplication_id(&[&letter.body, &reason]));
        }
        with_trace(request, letter.trace.as_ref().map(TraceHeader::as_str))
            .send()
            .await
            .map_err(|e| port_error("sqs:SendMessage(dead-letter)", e))?;
        Ok(())
    }
}

/// SQS counts visibility in whole seconds, up to 12 hours: round up, so a 600 ms backoff is
/// a 1 s wait rather than none.
fn visibility_seconds(delay: Duration) -> i32 {
    let whole = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    whole.min(43_200) as i32
}

/// Backs off retries by extending the failed message's visibility timeout.
#[derive(Clone)]
pub struct SqsRetryScheduler {
    client: Client,
    /// The queues this function consumes; an event names its queue by ARN.
    queue_urls: Vec<String>,
}

impl SqsRetryScheduler {
    pub fn new(client: Client, queue_urls: Vec<String>) -> Self {
        Self { client, queue_urls }
    }

    /// An ARN ends in the queue name, a URL's path does too: match on that, so the scheme and
    /// host of the URL (AWS or an emulator) do not matter.
    fn url_for(&self, queue_arn: &str) -> Option<&str> {
        let name = queue_arn.rsplit(':').next()?;
        self.queue_urls
            .iter()
            .find(|url| url.rsplit('/').next() == Some(name))
            .map(String::as_str)
    }

    /// [`Self::url_for`], or why `operation` cannot be made.
    fn queue_url(&self, queue_arn: &str, operation: &'static str) -> Result<&str, PortError> {
        self.url_for(queue_arn).ok_or_else(|| {
            PortError::new(
                operation,
                format!("no queue URL configured for {queue_arn}"),
            )
        })
    }
}

#[async_trait]
impl RetryScheduler for SqsRetryScheduler {
    async fn retry_after(
        &self,
        source_queue_arn: &str,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), PortError> {
        let url = self.queue_url(source_queue_arn, "sqs:ChangeMessageVisibility")?;
        let seconds = visibility_seconds(delay);
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| port_error("sqs:ChangeMessageVisibility", e))?;
        Ok(())
    }

    async fn acknowledge(
        &self,
        source_queue_arn: &str,
        receipt_handles: &[String],
    ) -> Result<(), PortError> {
        let url = self.queue_url(source_queue_arn, "sqs:DeleteMessageBatch")?;
        let entries = receipt_handles
            .iter()
            .enumerate()
            .map(|(i, handle)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let out = self
            .client
            .delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| port_error("sqs:DeleteMessageBatch", e))?;
        match out.failed.first() {
            None => Ok(()),
            Some(failed) => Err(PortError::new(
                "sqs:DeleteMessageBatch",
                format!(
                    "{} of the messages not deleted: {}",
                    out.failed.len(),
                    failed.code
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(urls: &[&str]) -> SqsRetryScheduler {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .build();
        SqsRetryScheduler::new(
            Client::from_conf(config),
            urls.iter().map(|u| u.to_string()).collect(),
        )
    }

    #[test]
    fn visibility_rounds_up_to_whole_seconds_within_the_sqs_limit() {
        assert_eq!(visibility_seconds(Duration::ZERO), 0);
        assert_eq!(visibility_seconds(Duration::from_millis(1)), 1);
        assert_eq!(visibility_seconds(Duration::from_millis(613)), 1);
        assert_eq!(visibility_seconds(Duration::from_secs(2)), 2);
        assert_eq!(visibility_seconds(Duration::from_millis(2001)), 3);
        assert_eq!(visibility_seconds(Duration::from_secs(86_400)), 43_200);
    }

    #[test]
    fn finds_the_queue_url_for_an_arn_on_aws_and_locally() {
        let s = scheduler(&[
            "http://localhost:4566/000000000000/courier-work",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/courier-work-dlq",
        ]);
        assert_eq!(
            s.url_for("arn:aws:sqs:us-east-1:000000000000:courier-work"),
            Some("http://localhost:4566/000000000000/courier-work")
        );
        assert_eq!(
            s.url_for("arn:aws:sqs:eu-west-1:123456789012:courier-work-dlq"),
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/courier-work-dlq")
        );
        assert_eq!(s.url_for("arn:aws:sqs:eu-west-1:1:other"), None);
    }

    /// A queue that answers every `SendMessage` and hands back the request bodies it took.
    fn capturing_queue() -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (bodies, taken) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let _ = bodies.send(String::from_utf8(body).unwrap());
                let answer = r#"{"MessageId":"m-1"}"#;
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        (url, taken)
    }

    #[tokio::test]
    async fn a_standard_queues_message_goes_in_its_callers_group_a_fair_queues_tenant() {
        let (endpoint, taken) = capturing_queue();
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .endpoint_url(&endpoint)
            .http_client(crate::adapters::https::sdk_http_client())
            .build();
        let queue = SqsWorkQueue::new(
            Client::from_conf(config),
            format!("{endpoint}/000000000000/courier-work"),
        );
        let owner = crate::domain::Principal::new("https://issuer", "alice");
        let mut work: WorkMessage = serde_json::from_value(serde_json::json!({
            "messageId": "m", "correlationId": "c", "pattern": "claim-check", "type": "echo",
            "payload": 1, "acceptedAt": "2026-12-03T10:00:00.000Z"
        }))
        .unwrap();
        work.owner = Some(owner.clone());
        queue.enqueue(&work, 0).await.unwrap();
        let sent: serde_json::Value = serde_json::from_str(&taken.recv().unwrap()).unwrap();
        assert_eq!(sent["MessageGroupId"], owner.tag(), "{sent}");
        // Without a caller (a message from before callers were verified), no group.
        work.owner = None;
        queue.enqueue(&work, 0).await.unwrap();
        let sent: serde_json::Value = serde_json::from_str(&taken.recv().unwrap()).unwrap();
        assert!(sent.get("MessageGroupId").is_none(), "{sent}");
    }
}
