//! Callback delivery building blocks: Standard Webhooks signing and the SSRF guard that decides
//! which callback URLs may be called.

pub mod ssrf;

/// Signing lives in the client crate, so senders and receivers share one implementation.
pub use courier_protocol::webhook as signing;
pub use signing::{Secret, SecretError, sign, signature_header, verify};
pub use ssrf::{CallbackUrl, SsrfPolicy, UrlRejected};
