//! The job types a new deployment ships with. They make demos and tests meaningful, and show
//! the shapes a team's own types take: a pure computation (`sha256`), progress and a timeout
//! (`sleep`), permanent and transient failures (`fail`, `flaky`), and a write to another system
//! made safe to retry with the job's downstream idempotency key (`ledger`).

mod echo;
mod fail;
mod flaky;
mod ledger;
mod sha256;
mod sleep;

pub use echo::Echo;
pub use fail::Fail;
pub use flaky::{Flaky, MAX_FLAKY_FAILURES};
pub use ledger::{Ledger, LedgerEntry};
pub use sha256::Sha256Digest;
pub use sleep::{MAX_SLEEP_MS, SLEEP_TIMEOUT, Sleep};

use crate::Registry;

/// Registers every example; `ledger` only where it has a table to write to.
pub fn register(registry: &mut Registry, aws: &aws_config::SdkConfig, ledger_table: Option<&str>) {
    register_offline(registry);
    if let Some(table) = ledger_table {
        registry.register(Ledger::new(aws, table));
    }
}

/// The examples without anything that needs AWS: for tests of the courier library.
pub fn offline() -> Registry {
    let mut registry = Registry::new();
    register_offline(&mut registry);
    registry
}

fn register_offline(registry: &mut Registry) {
    registry
        .register(Echo)
        .register(Sha256Digest)
        .register(Sleep)
        .register(Fail)
        .register(Flaky);
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::{JobContext, ProgressSink};
    use async_trait::async_trait;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    pub struct RecordingProgress(pub Mutex<Vec<u8>>);

    #[async_trait]
    impl ProgressSink for RecordingProgress {
        async fn report(&self, percent: u8) {
            self.0.lock().unwrap().push(percent);
        }
    }

    pub fn context<'a>(attempt: u32, progress: &'a RecordingProgress) -> JobContext<'a> {
        JobContext {
            job_id: "0f8fad5b-d9cb-469f-a165-70867728950e",
            correlation_id: "corr",
            attempt,
            deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            progress,
            task: None,
            payload_url: None,
        }
    }
}
