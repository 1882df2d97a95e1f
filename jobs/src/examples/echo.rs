use crate::{Effects, JobContext, JobError, JobSettings, JobType};
use async_trait::async_trait;
use serde_json::Value;

/// `echo`: the result is the payload, whatever JSON it is.
pub struct Echo;

#[async_trait]
impl JobType for Echo {
    const NAME: &'static str = "echo";
    type Input = Value;
    type Output = Value;

    fn settings(&self) -> JobSettings {
        JobSettings::default().effects(Effects::ResultOnly)
    }

    async fn run(&self, input: Value, _: &JobContext<'_>) -> Result<Value, JobError> {
        Ok(input)
    }
}
