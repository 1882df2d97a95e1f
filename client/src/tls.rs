//! The client's one TLS configuration, for HTTPS and `wss://` alike: rustls with the `ring`
//! provider and the platform's certificate verifier (the operating system's roots). Passed to
//! reqwest and tungstenite explicitly, so nothing depends on a process-wide default provider.

use std::sync::{Arc, OnceLock};

use rustls_platform_verifier::BuilderVerifierExt;

/// The configuration (built once per process), or why the platform's verifier is unavailable.
/// For other HTTP clients of the same program too (reqwest's `tls_backend_preconfigured`).
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .and_then(|builder| builder.with_platform_verifier())
                .map_err(|e| format!("no TLS configuration: {e}"))?;
            Ok(Arc::new(config.with_no_client_auth()))
        })
        .clone()
}
