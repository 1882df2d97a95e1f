//! The HTTP side of delivery: a client that resolves names through the SSRF guard (so it
//! connects only to addresses that were checked), follows no redirects, and times out.

use crate::application::notifier::{WebhookRequest, WebhookResponse, WebhookSender};
use crate::application::ssrf::{SsrfPolicy, look_up};
use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
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
            let checked = look_up(&host, 0)
                .await
                .and_then(|found| policy.check_addresses(&url, &found))
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
/// guard (it connects only to addresses that were checked), no redirects, `timeout` at most,
/// and never through a proxy (a system `HTTPS_PROXY` would connect to the proxy, not to the
/// checked address, and see every signed body).
pub fn guarded_client(
    policy: SsrfPolicy,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*super::https::tls_config()).clone())
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
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
        let Some(url) = request.to.url() else {
            return WebhookResponse::NoResponse("not a URL: the HTTP sender posts only".into());
        };
        let mut builder = self.client.post(url).body(request.body.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-shot HTTP server on 127.0.0.1 answering `status`, for at most `open`; returns its
    /// port and, once done, how many connections it took.
    fn one_shot(status: u16, open: Duration) -> (u16, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + open;
            while std::time::Instant::now() < deadline {
                if let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nonblocking(false).unwrap();
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer);
                    let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    let _ = stream.write_all(answer.as_bytes());
                    return 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            0
        });
        (port, served)
    }

    /// nextest runs every test in a process of its own, so the environment set here is this
    /// test's alone.
    #[tokio::test]
    async fn a_system_proxy_is_never_used() {
        let (receiver, delivered) = one_shot(204, Duration::from_secs(3));
        let (proxy, proxied) = one_shot(502, Duration::from_secs(1));
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            // SAFETY: nothing else in this test's process reads the environment meanwhile.
            unsafe { std::env::set_var(name, format!("http://127.0.0.1:{proxy}")) };
        }
        let policy = SsrfPolicy {
            allow_http: true,
            allowed_hosts: vec!["127.0.0.1".into()],
        };
        let sender = HttpWebhookSender::new(policy, Duration::from_secs(2)).unwrap();
        let response = sender
            .send(&WebhookRequest {
                to: crate::domain::CallbackTarget::Url(format!("http://127.0.0.1:{receiver}/hook")),
                subject: crate::application::notifier::Subject::JobOutcome,
                headers: vec![],
                body: "{}".into(),
            })
            .await;
        assert_eq!(
            response,
            WebhookResponse::Status {
                code: 204,
                retry_after: None
            }
        );
        assert_eq!(delivered.join().unwrap(), 1);
        assert_eq!(proxied.join().unwrap(), 0, "the proxy was used");
    }
}
