use crate::{Effects, JobContext, JobError, JobSettings, JobType, OnTimeout};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest `sleep` a caller may ask for.
pub const MAX_SLEEP_MS: u64 = 20_000;
/// `sleep`'s timeout: a longer sleep shows what a timeout does (the job fails, kind `timeout`).
pub const SLEEP_TIMEOUT: Duration = Duration::from_secs(10);

/// `sleep`: sleeps `payload.ms` in ten steps, reporting progress after each.
pub struct Sleep;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepInput {
    /// How long to sleep, in milliseconds. Over 10000 runs into the type's timeout.
    #[schemars(range(max = 20000))]
    pub ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepOutput {
    pub slept_ms: u64,
}

#[async_trait]
impl JobType for Sleep {
    const NAME: &'static str = "sleep";
    type Input = SleepInput;
    type Output = SleepOutput;

    fn settings(&self) -> JobSettings {
        JobSettings::default()
            .timeout(SLEEP_TIMEOUT)
            .on_timeout(OnTimeout::Fail)
            .effects(Effects::ResultOnly)
    }

    async fn run(
        &self,
        input: SleepInput,
        context: &JobContext<'_>,
    ) -> Result<SleepOutput, JobError> {
        const STEPS: u64 = 10;
        for step in 1..=STEPS {
            tokio::time::sleep(Duration::from_millis(input.ms / STEPS)).await;
            if step < STEPS {
                context.progress((step * 100 / STEPS) as u8).await;
            }
        }
        Ok(SleepOutput { slept_ms: input.ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::test_support::*;

    #[tokio::test]
    async fn reports_rising_progress() {
        let progress = RecordingProgress::default();
        let out = Sleep
            .run(SleepInput { ms: 50 }, &context(1, &progress))
            .await
            .unwrap();
        assert_eq!(out.slept_ms, 50);
        assert_eq!(
            *progress.0.lock().unwrap(),
            vec![10, 20, 30, 40, 50, 60, 70, 80, 90]
        );
    }
}
