//! Job types: the `Worker` trait, the registry both functions share, and the built-in workers.

mod builtin;
mod registry;

pub use builtin::{MAX_SLEEP_MS, register_builtins};
pub use registry::{RegistryError, WorkerRegistry};

use async_trait::async_trait;
use serde_json::Value;
use thiserror::Error;

/// How an attempt failed, which decides what happens to the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WorkError {
    /// Worth retrying later (through SQS visibility); the attempt counts toward the redrive limit.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Can never succeed: the job fails at once, without retries.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Receives progress from a running job. Reporting is best effort and never fails the job.
#[async_trait]
pub trait ProgressSink: Send + Sync {
    async fn report(&self, percent: u8);
}

/// What a worker knows about the attempt it is running.
pub struct WorkContext<'a> {
    /// 1 for the first run of this message, 2 for the first retry, and so on.
    pub attempt: u32,
    pub progress: &'a dyn ProgressSink,
}

/// One job type. Implement it and register it to add your own.
#[async_trait]
pub trait Worker: Send + Sync {
    /// Rejects payloads that can never work, so callers hear about it at acceptance (400)
    /// rather than from a failed job later.
    fn validate(&self, _payload: &Value) -> Result<(), String> {
        Ok(())
    }

    async fn run(&self, payload: &Value, context: &WorkContext<'_>) -> Result<Value, WorkError>;
}
