//! The HTTP side of delivery: a client that resolves names through the SSRF guard (so it
//! connects only to addresses that were checked), follows no redirects, and times out.

use crate::application::notifier::{WebhookRequest, WebhookResponse, WebhookSender};
use crate::application::ssrf::SsrfPolicy;
use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Refuses names that resolve to any non-public address (unless the host is allow-listed).
pub struct GuardedResolver {
    policy: SsrfPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let url = policy
                .check_url(&format!("https://{host}/"))
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let found: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .unwrap_or_default();
            let checked = policy
                .check_addresses(&url, &found)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: Addrs = Box::new(checked.into_iter());
            Ok(addrs)
        })
    }
}

pub struct HttpWebhookSender {
    client: reqwest::Client,
}

/// An HTTP client for callers' and declared targets' URLs: names resolved through the SSRF
/// guard (it connects only to addresses that were checked), no redirects, `timeout` at most.
pub fn guarded_client(
    policy: SsrfPolicy,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*super::https::tls_config()).clone())
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
}

impl HttpWebhookSender {
    pub fn new(policy: SsrfPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: guarded_client(policy, timeout)?,
        })
    }
}

/// A response's `Retry-After` in seconds (the date form is not used by the services courier
/// calls back or runs jobs on, and counts as none).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, request: &WebhookRequest) -> WebhookResponse {
        let mut builder = self.client.post(&request.url).body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        match builder.send().await {
            Ok(response) => WebhookResponse::Status {
                code: response.status().as_u16(),
                retry_after: retry_after(response.headers()),
            },
            Err(error) if error.is_timeout() => WebhookResponse::NoResponse("timed out".into()),
            Err(error) => WebhookResponse::NoResponse(format!(
                "no response: {}",
                std::error::Error::source(&error).map_or(error.to_string(), |s| s.to_string())
            )),
        }
    }
}
