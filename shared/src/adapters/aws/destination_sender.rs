//! Deliveries to destinations: a signed message on an SQS queue (the body as the message, the
//! signature headers as its string attributes) or a signed event on an EventBridge bus (source
//! `courier`, detail-type the subject, detail `{"headers": {...}, "body": "<signed text>"}`).
//! A queue or bus that takes it is a delivery (answered as a 200); one that refuses is no
//! response, retried like a webhook's, its error code the reason.

use crate::application::notifier::{WebhookRequest, WebhookResponse};
use crate::domain::{CallbackTarget, ResourceArn};
use aws_sdk_sqs::types::MessageAttributeValue;

/// The event's `source`.
pub const EVENT_SOURCE: &str = "courier";
/// The message attribute naming what a queue message carries.
pub const SUBJECT_ATTRIBUTE: &str = "courier-subject";

pub struct DestinationSender {
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
}

fn delivered() -> WebhookResponse {
    WebhookResponse::Status {
        code: 200,
        retry_after: None,
    }
}

/// A refusal's reason: the service's error code and message (the caller's own queue or bus
/// answered; nothing of courier's is in it).
fn refused<E, R>(
    service: &str,
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> WebhookResponse
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service_error) if !carrier_trouble(service_error.code()) => {
            WebhookResponse::NoResponse(format!(
                "{service} refused it: {}: {}",
                service_error.code().unwrap_or("an error"),
                service_error.message().unwrap_or("no message")
            ))
        }
        Some(service_error) => WebhookResponse::Unavailable(format!(
            "{service} is unavailable: {}: {}",
            service_error.code().unwrap_or("an error"),
            service_error.message().unwrap_or("no message")
        )),
        None => WebhookResponse::Unavailable(format!(
            "{service} could not be reached: {}",
            aws_sdk_sqs::error::DisplayErrorContext(error)
        )),
    }
}

/// Error codes that are the service's own trouble (throttled, failing), not a refusal of
/// this destination: a registration meeting them is a 503, to be tried again.
fn carrier_trouble(code: Option<&str>) -> bool {
    const TRANSIENT: [&str; 8] = [
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "InternalException",
    ];
    code.is_some_and(|code| TRANSIENT.contains(&code) || code.ends_with(".Throttling"))
}

impl DestinationSender {
    pub fn new(sqs: aws_sdk_sqs::Client, events: aws_sdk_eventbridge::Client) -> Self {
        Self { sqs, events }
    }

    pub async fn send(&self, request: &WebhookRequest) -> WebhookResponse {
        match &request.to {
            CallbackTarget::Queue(queue) => self.to_queue(queue, request).await,
            CallbackTarget::EventBus(bus) => self.to_bus(bus, request).await,
            CallbackTarget::Url(_) => {
                WebhookResponse::NoResponse("a URL: the destination sender sends no POSTs".into())
            }
        }
    }

    async fn to_queue(&self, queue: &ResourceArn, request: &WebhookRequest) -> WebhookResponse {
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(super::sqs_text::attribute(value))
                .build()
                .expect("data type and value are set")
        };
        let mut send = self
            .sqs
            .send_message()
            .queue_url(queue.queue_url())
            .message_body(&request.body)
            .message_attributes(SUBJECT_ATTRIBUTE, attribute(request.subject.name()));
        for (name, value) in signature_headers(request) {
            send = send.message_attributes(name, attribute(value));
        }
        match send.send().await {
            Ok(_) => delivered(),
            Err(error) => refused("the queue", &error),
        }
    }

    async fn to_bus(&self, bus: &ResourceArn, request: &WebhookRequest) -> WebhookResponse {
        let headers: serde_json::Map<String, serde_json::Value> = signature_headers(request)
            .map(|(name, value)| (name.to_owned(), value.into()))
            .collect();
        let detail = serde_json::json!({"headers": headers, "body": request.body});
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus.to_string())
            .source(EVENT_SOURCE)
            .detail_type(request.subject.name())
            .detail(detail.to_string())
            .build();
        match self.events.put_events().entries(entry).send().await {
            Ok(output) if output.failed_entry_count() == 0 => delivered(),
            Ok(output) => {
                let entry = output.entries().first();
                if carrier_trouble(entry.and_then(|e| e.error_code())) {
                    return WebhookResponse::Unavailable(format!(
                        "the bus is unavailable: {}",
                        entry.and_then(|e| e.error_code()).unwrap_or("an error")
                    ));
                }
                WebhookResponse::NoResponse(format!(
                    "the bus refused it: {}: {}",
                    entry.and_then(|e| e.error_code()).unwrap_or("an error"),
                    entry
                        .and_then(|e| e.error_message())
                        .unwrap_or("no message")
                ))
            }
            Err(error) => refused("the bus", &error),
        }
    }
}

/// The headers a receiver verifies with, and the correlation id: not the HTTP-only ones.
fn signature_headers(request: &WebhookRequest) -> impl Iterator<Item = (&str, &str)> {
    request
        .headers
        .iter()
        .filter(|(name, _)| name != "user-agent")
        .map(|(name, value)| (name.as_str(), value.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_failures_are_the_carriers_trouble_refusals_are_not() {
        for code in [
            "ThrottlingException",
            "RequestThrottled",
            "InternalError",
            "ServiceUnavailable",
            "AWS.SimpleQueueService.Throttling",
        ] {
            assert!(carrier_trouble(Some(code)), "{code}");
        }
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "AWS.SimpleQueueService.NonExistentQueue",
            "ResourceNotFoundException",
            "KMS.AccessDeniedException",
        ] {
            assert!(!carrier_trouble(Some(code)), "{code}");
        }
        assert!(!carrier_trouble(None));
    }
}
