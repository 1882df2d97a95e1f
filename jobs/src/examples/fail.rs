use crate::{JobContext, JobError, JobType};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// `fail`: fails permanently with `payload.reason`.
pub struct Fail;

#[derive(Deserialize, JsonSchema, Default)]
#[serde(default)]
pub struct FailInput {
    /// Why it fails; "failed as requested" when absent.
    pub reason: Option<String>,
}

#[async_trait]
impl JobType for Fail {
    const NAME: &'static str = "fail";
    type Input = Option<FailInput>;
    type Output = Value;

    async fn run(&self, input: Option<FailInput>, _: &JobContext<'_>) -> Result<Value, JobError> {
        let reason = input.unwrap_or_default().reason;
        Err(JobError::permanent(
            reason.unwrap_or_else(|| "failed as requested".into()),
        ))
    }
}
