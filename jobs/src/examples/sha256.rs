use crate::{Effects, JobContext, JobError, JobSettings, JobType};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `sha256`: the SHA-256 of the UTF-8 string `payload.data`.
pub struct Sha256Digest;

#[derive(Deserialize, JsonSchema)]
pub struct Sha256Input {
    /// The text to hash.
    pub data: String,
}

#[derive(Serialize)]
pub struct Sha256Output {
    pub sha256: String,
    pub bytes: usize,
}

#[async_trait]
impl JobType for Sha256Digest {
    const NAME: &'static str = "sha256";
    type Input = Sha256Input;
    type Output = Sha256Output;

    fn settings(&self) -> JobSettings {
        JobSettings::default().effects(Effects::ResultOnly)
    }

    async fn run(&self, input: Sha256Input, _: &JobContext<'_>) -> Result<Sha256Output, JobError> {
        Ok(Sha256Output {
            sha256: hex::encode(Sha256::digest(input.data.as_bytes())),
            bytes: input.data.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples::test_support::*;

    #[tokio::test]
    async fn matches_the_known_digest() {
        let progress = RecordingProgress::default();
        let out = Sha256Digest
            .run(Sha256Input { data: "abc".into() }, &context(1, &progress))
            .await
            .unwrap();
        assert_eq!(
            out.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(out.bytes, 3);
    }
}
