//! Every delivery the notifier makes, by where it goes: a POST to a URL
//! ([`HttpWebhookSender`](super::webhook_sender::HttpWebhookSender)), a message or an event to a
//! destination ([`DestinationSender`](super::aws::DestinationSender)).

use super::aws::DestinationSender;
use super::webhook_sender::HttpWebhookSender;
use crate::application::notifier::{WebhookRequest, WebhookResponse, WebhookSender};
use crate::domain::CallbackTarget;
use async_trait::async_trait;

pub struct CallbackSender {
    pub http: HttpWebhookSender,
    pub destinations: DestinationSender,
}

#[async_trait]
impl WebhookSender for CallbackSender {
    async fn send(&self, request: &WebhookRequest) -> WebhookResponse {
        match request.to {
            CallbackTarget::Url(_) => self.http.send(request).await,
            CallbackTarget::Queue(_) | CallbackTarget::EventBus(_) => {
                self.destinations.send(request).await
            }
        }
    }
}
