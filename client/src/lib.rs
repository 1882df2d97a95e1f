//! A client for courier's HTTP API.
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

mod api;
pub mod backoff;
mod error;

pub use api::{Client, Job, JobAccepted, JobError, MessageAccepted, Submit, WaitOptions};
pub use backoff::Backoff;
pub use error::{ClientError, Problem};
