//! `courier dlq`: what operators do with dead letters. `list` shows each message with the reason
//! courier recorded; `redrive` sends them back to their source queue (or another) to run again,
//! marking courier envelopes as redriven so a FAILED record may run once more.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue,
};
use courier_client::queue::{QueueMessage, attribute};
use serde_json::Value;
use std::collections::HashMap;

/// Attributes courier adds when it dead-letters a message; not carried back on a redrive.
const FAILURE_ATTRIBUTES: [&str; 2] = [attribute::FAILURE_REASON, attribute::FAILURE_KIND];
/// Messages taken from the DLQ stay hidden this long while they are handled.
const HANDLING_VISIBILITY_SECONDS: i32 = 60;

pub struct Queues {
    pub dead_letters: String,
    pub source: String,
}

/// Which dead letters to handle: all, or those whose courier `messageId` (a job id for jobs) is
/// listed.
pub struct Selection {
    pub max: usize,
    pub ids: Vec<String>,
}

impl Selection {
    fn wants(&self, letter: &Letter) -> bool {
        self.ids.is_empty() || letter.id().is_some_and(|id| self.ids.contains(&id))
    }
}

/// One dead letter as listed.
pub struct Letter {
    pub message: Message,
}

impl Letter {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.message
            .message_attributes
            .as_ref()?
            .get(name)?
            .string_value
            .as_deref()
    }

    fn system(&self, name: MessageSystemAttributeName) -> Option<&str> {
        self.message
            .attributes
            .as_ref()?
            .get(&name)
            .map(String::as_str)
    }

    /// The body as a courier queue message, if it is one.
    fn parsed(&self) -> Option<QueueMessage> {
        QueueMessage::from_json(self.message.body.as_deref()?).ok()
    }

    /// The courier id: the `messageId` attribute, else the one the body is about.
    fn id(&self) -> Option<String> {
        if let Some(id) = self.attribute(attribute::MESSAGE_ID) {
            return Some(id.to_owned());
        }
        self.parsed().map(|message| message.subject_id().to_owned())
    }

    pub fn summary(&self) -> Value {
        let job_type = match self.parsed() {
            Some(QueueMessage::Work(work)) => Some(work.job_type),
            _ => None,
        };
        serde_json::json!({
            "sqsMessageId": self.message.message_id,
            "messageId": self.id(),
            "correlationId": self.attribute(attribute::CORRELATION_ID),
            "failureKind": self.attribute(attribute::FAILURE_KIND).unwrap_or("retries-exhausted"),
            "failureReason": self.attribute(attribute::FAILURE_REASON),
            "type": job_type,
            "receives": self.system(MessageSystemAttributeName::ApproximateReceiveCount),
            "sentAt": self.system(MessageSystemAttributeName::SentTimestamp),
        })
    }
}

/// Takes up to `max` messages off the DLQ, hidden for a while; call [`release`] or delete them.
async fn take(client: &Client, queue_url: &str, max: usize) -> Result<Vec<Letter>, String> {
    let mut letters = Vec::new();
    while letters.len() < max {
        let out = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages((max - letters.len()).min(10) as i32)
            .visibility_timeout(HANDLING_VISIBILITY_SECONDS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read {queue_url}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let batch = out.messages.unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        letters.extend(batch.into_iter().map(|message| Letter { message }));
    }
    Ok(letters)
}

/// Makes messages visible again at once.
async fn release(client: &Client, queue_url: &str, letters: &[Letter]) {
    for letter in letters {
        if let Some(handle) = &letter.message.receipt_handle {
            let _ = client
                .change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }
}

/// Takes the selected letters; the rest are made visible again at once.
async fn select(
    client: &Client,
    queue_url: &str,
    selection: &Selection,
) -> Result<Vec<Letter>, String> {
    // With ids, look further than `max`: the wanted ones may sit behind others.
    let look_at = if selection.ids.is_empty() {
        selection.max
    } else {
        selection.max.max(1000)
    };
    let (wanted, others): (Vec<Letter>, Vec<Letter>) = take(client, queue_url, look_at)
        .await?
        .into_iter()
        .partition(|letter| selection.wants(letter));
    release(client, queue_url, &others).await;
    let mut wanted = wanted;
    if wanted.len() > selection.max {
        let extra = wanted.split_off(selection.max);
        release(client, queue_url, &extra).await;
    }
    Ok(wanted)
}

pub async fn list(
    client: &Client,
    queues: &Queues,
    selection: &Selection,
) -> Result<Vec<Value>, String> {
    let letters = select(client, &queues.dead_letters, selection).await?;
    release(client, &queues.dead_letters, &letters).await;
    Ok(letters.iter().map(Letter::summary).collect())
}

/// The body to send back: a courier queue message gets its `redrive` count raised (so its
/// FAILED record may run again); anything else goes back unchanged.
fn redriven_body(body: &str) -> String {
    match QueueMessage::from_json(body) {
        Ok(message) => message.redriven().to_json(),
        Err(_) => body.to_owned(),
    }
}

/// The message group a redriven message joins on a FIFO queue: its WebSocket connection, so it
/// runs in that connection's order, else its own id.
fn fifo_group(body: &str, fallback: &str) -> String {
    match QueueMessage::from_json(body) {
        Ok(QueueMessage::Work(work)) => work
            .reply_to
            .map_or(work.message_id, |reply| reply.connection_id),
        Ok(other) => other.subject_id().to_owned(),
        Err(_) => fallback.to_owned(),
    }
}

/// Moves up to `max` messages from the DLQ to `queues.source`. A dry run only lists them.
pub async fn redrive(
    client: &Client,
    queues: &Queues,
    selection: &Selection,
    dry_run: bool,
) -> Result<Vec<Value>, String> {
    let letters = select(client, &queues.dead_letters, selection).await?;
    if dry_run {
        release(client, &queues.dead_letters, &letters).await;
        return Ok(letters.iter().map(Letter::summary).collect());
    }
    let fifo = queues.source.ends_with(".fifo");
    let mut moved = Vec::new();
    for letter in &letters {
        let body = redriven_body(letter.message.body.as_deref().unwrap_or(""));
        let sqs_id = letter.message.message_id.clone().unwrap_or_default();
        let attributes: HashMap<String, MessageAttributeValue> = letter
            .message
            .message_attributes
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, _)| !FAILURE_ATTRIBUTES.contains(&name.as_str()))
            .collect();
        let mut send = client
            .send_message()
            .queue_url(&queues.source)
            .message_body(&body)
            .set_message_attributes(Some(attributes));
        if let Some(trace) = letter.system(MessageSystemAttributeName::AwsTraceHeader) {
            // The redriven work continues the trace it was accepted under.
            send = send.message_system_attributes(
                MessageSystemAttributeNameForSends::AwsTraceHeader,
                MessageSystemAttributeValue::builder()
                    .data_type("String")
                    .string_value(trace)
                    .build()
                    .expect("data type is set"),
            );
        }
        if fifo {
            // Deterministic: redriving again after a crash here sends nothing twice.
            send = send
                .message_group_id(fifo_group(&body, &sqs_id))
                .message_deduplication_id(format!("redrive-{sqs_id}"));
        }
        if let Err(error) = send.send().await {
            release(client, &queues.dead_letters, std::slice::from_ref(letter)).await;
            return Err(format!(
                "stopped: could not send {sqs_id} to {}: {}",
                queues.source,
                aws_sdk_sqs::error::DisplayErrorContext(error)
            ));
        }
        if let Some(handle) = &letter.message.receipt_handle {
            client
                .delete_message()
                .queue_url(&queues.dead_letters)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "{sqs_id} was sent but not deleted from the DLQ (it will be listed again): {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })?;
        }
        moved.push(letter.summary());
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORK: &str = r#"{"kind":"work","messageId":"m","correlationId":"c","pattern":"bidirectional","type":"echo","payload":null,"acceptedAt":"t","replyTo":{"connectionId":"c1","requestId":"r"}}"#;

    #[test]
    fn queue_messages_are_marked_redriven_and_other_bodies_left_alone() {
        let once: Value = serde_json::from_str(&redriven_body(WORK)).unwrap();
        assert_eq!(once["redrive"], 1);
        let twice: Value = serde_json::from_str(&redriven_body(&once.to_string())).unwrap();
        assert_eq!(twice["redrive"], 2);
        assert_eq!(redriven_body("not json"), "not json");
        let callback = r#"{"kind":"callback","jobId":"j","correlationId":"c"}"#;
        let callback: Value = serde_json::from_str(&redriven_body(callback)).unwrap();
        assert_eq!(callback["redrive"], 1);
        assert_eq!(redriven_body(r#"{"other":1}"#), r#"{"other":1}"#);
    }

    #[test]
    fn fifo_redrives_rejoin_their_connection() {
        assert_eq!(fifo_group(WORK, "x"), "c1");
        let alone = WORK.replace(r#","replyTo":{"connectionId":"c1","requestId":"r"}"#, "");
        assert_eq!(fifo_group(&alone, "x"), "m");
        assert_eq!(fifo_group("junk", "x"), "x");
    }
}
