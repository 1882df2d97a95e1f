//! Callback delivery building blocks: Standard Webhooks signing and the SSRF guard that decides
//! which callback URLs may be called.

pub mod signing;
pub mod ssrf;

pub use signing::{Secret, SecretError, sign, signature_header, verify};
pub use ssrf::{CallbackUrl, SsrfPolicy, UrlRejected};
