//! A declared job type's HTTP target: each attempt POSTed, signed with the target's secrets,
//! through the SSRF-guarded client callbacks use; what the answer means is
//! `application::http_targets::outcome`.

use super::webhook_sender::{guarded_client, retry_after};
use crate::application::clock::Clock;
use crate::application::http_targets::{outcome, signed};
use crate::application::ports::TargetSecrets;
use crate::application::ssrf::SsrfPolicy;
use async_trait::async_trait;
use courier_jobs::JobError;
use courier_jobs::declared::Target;
use courier_jobs::remote::TargetCaller;
use courier_protocol::task::TaskRequest;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The longest answer read from a service: one byte past the largest result, so a larger one
/// is told apart from a cut one (a result over 64 KiB is held in the bucket).
const MAX_ANSWER_BYTES: usize = courier_jobs::api::MAX_RESULT_BYTES + 1;

pub struct HttpTargets {
    client: reqwest::Client,
    policy: SsrfPolicy,
    secrets: Arc<dyn TargetSecrets>,
    clock: Arc<dyn Clock>,
}

impl HttpTargets {
    /// `longest`: no attempt waits longer (each waits at most its own time left).
    pub fn new(
        policy: SsrfPolicy,
        secrets: Arc<dyn TargetSecrets>,
        clock: Arc<dyn Clock>,
        longest: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: guarded_client(policy.clone(), longest)?,
            policy,
            secrets,
            clock,
        })
    }
}

#[async_trait]
impl TargetCaller for HttpTargets {
    async fn call(
        &self,
        target: &Target,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<Value, JobError> {
        let Target::Http(url) = target else {
            return Err(JobError::permanent(format!(
                "not an HTTP target: {target:?}"
            )));
        };
        let url = self
            .policy
            .check_url(url)
            .map_err(|e| JobError::permanent(format!("the target's URL is refused: {e}")))?;
        let secrets = self
            .secrets
            .secrets(&request.job_type)
            .await
            .map_err(|e| JobError::transient(format!("the target's signing secret: {e}")))?;
        let signed = signed(request, &secrets, self.clock.now().unix_timestamp());
        let mut post = self
            .client
            .post(url.as_str())
            .timeout(timeout)
            .body(signed.body);
        for (name, value) in signed.headers {
            post = post.header(name, value);
        }
        let response = post.send().await.map_err(|error| {
            let what = match error.is_timeout() {
                true => format!("no answer within {} s", timeout.as_secs_f64().ceil()),
                false => format!(
                    "no answer: {}",
                    std::error::Error::source(&error).map_or(error.to_string(), |s| s.to_string())
                ),
            };
            // The URL stays out of the reason: its query may hold what only the operator knows.
            JobError::transient(format!("calling the service: {what}"))
        })?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers());
        let body = read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| JobError::transient(format!("reading the answer: {e}")))?;
        if body.len() > courier_jobs::api::MAX_RESULT_BYTES {
            return Err(JobError::permanent(format!(
                "the answer is over the {}-byte limit of a result",
                courier_jobs::api::MAX_RESULT_BYTES
            )));
        }
        outcome(status, after, &body)
    }
}

/// The body, or as much of it as `limit` (a bigger result fails as too large anyway).
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > limit {
            body.truncate(limit);
            break;
        }
    }
    Ok(body)
}
