//! The HTTPS client every AWS SDK client of a function shares, and the TLS configuration the
//! functions' other HTTP clients (callback deliveries, the issuer's keys) use too: rustls with
//! the `ring` provider and Mozilla's roots compiled in (webpki-roots).
//!
//! Written here rather than taken from `aws-smithy-http-client` because that builder accepts
//! only the system store or PEM text as roots: it reads and parses them at every SDK client's
//! construction, a few milliseconds of each cold start, and it brings in aws-lc (a C build) and
//! HTTP/2. This client parses nothing at start-up and is built once. It speaks HTTP/1.1 (all the
//! AWS APIs courier calls serve it) and plain HTTP where an endpoint asks for it (the local
//! emulator); SDK retries and operation timeouts apply as usual.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a new connection may take (the SDK's own default).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The one TLS client configuration of a function: built on first use, then shared.
pub fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

type Hyper = Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>;

/// hyper behind the SDK's `HttpClient` interface.
#[derive(Clone, Debug)]
struct LeanHttps(Hyper);

/// The SDK clients' HTTPS client: pass it to every SDK configuration of the function.
pub fn sdk_http_client() -> SharedHttpClient {
    let mut tcp = TcpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls_config()).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    SharedHttpClient::new(LeanHttps(
        Client::builder(TokioExecutor::new()).build(https),
    ))
}

impl HttpConnector for LeanHttps {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        crate::metering::count_request(&request);
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.request(request).await.map_err(|e| {
                // A connection that never opened is safe to retry on another; anything after
                // that is for the SDK's retry policy to judge.
                if e.is_connect() {
                    ConnectorError::io(e.into())
                } else {
                    ConnectorError::other(e.into(), None)
                }
            })?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

impl HttpClient for LeanHttps {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tls_configuration_with_the_compiled_in_roots_is_shared() {
        let first = tls_config();
        assert!(Arc::ptr_eq(&first, &tls_config()), "built once");
        assert!(
            webpki_roots::TLS_SERVER_ROOTS.len() > 100,
            "Mozilla's roots are compiled in"
        );
        assert_eq!(
            first.crypto_provider().cipher_suites,
            rustls::crypto::ring::default_provider().cipher_suites,
            "ring, not aws-lc"
        );
    }

    /// The SDK's request through this client, over plain HTTP as the local emulator serves it.
    #[tokio::test]
    async fn an_sdk_call_goes_through_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(|| async {
            (
                [("content-type", "application/x-amz-json-1.0")],
                r#"{"QueueUrls":["http://queue.example/000000000000/seen"]}"#,
            )
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
                aws_sdk_sqs::config::Credentials::new("a", "b", None, None, "test"),
            ))
            .endpoint_url(format!("http://{address}"))
            .http_client(sdk_http_client())
            .build();
        let listed = aws_sdk_sqs::Client::new(&config)
            .list_queues()
            .send()
            .await
            .unwrap();
        assert_eq!(
            listed.queue_urls(),
            ["http://queue.example/000000000000/seen"]
        );
    }
}
