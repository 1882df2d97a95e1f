//! A client for courier's HTTP API, the verifier for the callbacks it sends ([`webhook`]), and
//! (feature `ws`) a WebSocket client for the bidirectional pattern ([`frames`], `ws`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), courier_client::ClientError> {
//! use courier_client::{Client, Submit, WaitOptions};
//! let client = Client::new("http://127.0.0.1:4566/_aws/execute-api/abc/$default")?;
//! let accepted = client.submit_job(&Submit::new("sha256", serde_json::json!({"data": "hi"}))).await?;
//! let job = client.wait_for_job(&accepted.id, &WaitOptions::default(), |_| {}).await?;
//! println!("{}", job.status);
//! # Ok(()) }
//! ```

#[cfg(feature = "http")]
mod api;
#[cfg(feature = "http")]
pub mod auth;
#[cfg(feature = "http")]
pub mod backoff;
#[cfg(feature = "http")]
mod error;
/// The wire types, shared with the server: one definition of every body and frame.
pub use courier_protocol::{frames, principal, queue, quota, rest, timeline, webhook};
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
pub use tls::client_config as tls_config;
#[cfg(feature = "ws")]
pub mod ws;

#[cfg(feature = "http")]
pub use api::{Client, JobQuery, Retries, Submit, WaitOptions};
#[cfg(feature = "http")]
pub use backoff::Backoff;
pub use courier_protocol::rest::{
    CallbackSpec, Destination, Job, JobAccepted, JobFailure, JobStatus, MessageAccepted,
    NewDestination, NewSchedule, NewWebhookEndpoint, Problem, Schedule, ScheduledJob, SecretInfo,
    SecretRotation, WebhookEndpoint,
};
#[cfg(feature = "http")]
pub use error::ClientError;
