//! The client's one TLS configuration, for HTTPS and `wss://` alike: rustls with the `ring`
//! provider and the platform's certificate verifier (the operating system's roots). Passed to
//! reqwest and tungstenite explicitly, so nothing depends on a process-wide default provider.

use std::sync::{Arc, OnceLock};

use rustls_platform_verifier::BuilderVerifierExt;

/// For other HTTP clients of the same program (reqwest's `tls_backend_preconfigured`).
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports rustls's default protocol versions")
                .with_platform_verifier()
                .expect("the platform's certificate verifier");
            Arc::new(config.with_no_client_auth())
        })
        .clone()
}
