use crate::{JobContext, JobError, JobType};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Most transient failures a `flaky` job may ask for.
pub const MAX_FLAKY_FAILURES: u32 = 50;

/// `flaky`: fails transiently on its first `payload.failures` attempts, then succeeds.
pub struct Flaky;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlakyInput {
    /// How many attempts fail before one succeeds.
    #[schemars(range(max = 50))]
    pub failures: u32,
}

#[async_trait]
impl JobType for Flaky {
    const NAME: &'static str = "flaky";
    type Input = FlakyInput;
    type Output = Value;

    async fn run(&self, input: FlakyInput, context: &JobContext<'_>) -> Result<Value, JobError> {
        if context.attempt <= input.failures {
            return Err(JobError::transient(format!(
                "flaky: planned failure {} of {}",
                context.attempt, input.failures
            )));
        }
        Ok(json!({ "attempts": context.attempt }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::test_support::*;

    #[tokio::test]
    async fn fails_transiently_then_succeeds() {
        let progress = RecordingProgress::default();
        for attempt in 1..=2 {
            let result = Flaky
                .run(FlakyInput { failures: 2 }, &context(attempt, &progress))
                .await;
            assert!(matches!(result, Err(JobError::Transient(_))), "{result:?}");
        }
        let result = Flaky
            .run(FlakyInput { failures: 2 }, &context(3, &progress))
            .await;
        assert_eq!(result.unwrap(), json!({"attempts": 3}));
    }
}
