use crate::backoff::Backoff;
use crate::error::{ClientError, Problem};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackSpec {
    pub url: String,
}

/// The body of `POST /v1/messages` and `POST /v1/jobs`, plus the optional request headers.
#[derive(Debug, Clone, Serialize)]
pub struct Submit {
    #[serde(rename = "type")]
    pub job_type: String,
    pub payload: Value,
    #[serde(rename = "delaySeconds", skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u32>,
    /// Jobs only: where courier posts the outcome (signed; see [`crate::webhook`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackSpec>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    #[serde(skip)]
    pub correlation_id: Option<String>,
}

impl Submit {
    pub fn new(job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            job_type: job_type.into(),
            payload,
            delay_seconds: None,
            callback: None,
            idempotency_key: None,
            correlation_id: None,
        }
    }

    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    pub fn callback(mut self, url: impl Into<String>) -> Self {
        self.callback = Some(CallbackSpec { url: url.into() });
        self
    }

    pub fn delay_seconds(mut self, seconds: u32) -> Self {
        self.delay_seconds = Some(seconds);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAccepted {
    pub message_id: String,
    pub correlation_id: String,
    pub accepted_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobAccepted {
    pub id: String,
    pub status: String,
    pub status_url: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub kind: String,
    pub reason: String,
}

/// A job's claim, as `GET /v1/jobs/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub status: String,
    pub progress: u8,
    pub attempts: u32,
    pub correlation_id: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
}

impl Job {
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "SUCCEEDED" | "FAILED" | "CANCELLED")
    }
}

/// How long and how to poll in [`Client::wait_for_job`].
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// Give up (with [`ClientError::Deadline`]) after this long.
    pub timeout: Duration,
    pub backoff: Backoff,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            backoff: Backoff::default(),
        }
    }
}

/// A courier API at one base URL (everything before `/v1`).
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    http: reqwest::Client,
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl Client {
    pub fn new(base_url: impl Into<String>) -> Result<Self, ClientError> {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::BaseUrl(base_url));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { base_url, http })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API's paths (`/v1/jobs/{id}`, as in `Location`) are joined to the base URL rather
    /// than resolved as URI references, so a base with a path prefix (a stage, the emulator's
    /// `/_aws/execute-api/...`) keeps working.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
        expected: u16,
    ) -> Result<(T, HeaderMap), ClientError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        if status == expected {
            return Ok((serde_json::from_str(&body)?, headers));
        }
        match serde_json::from_str::<Problem>(&body) {
            Ok(problem) => Err(ClientError::Api(problem)),
            Err(_) => Err(ClientError::Unexpected { status, body }),
        }
    }

    async fn post(&self, path: &str, submit: &Submit) -> Result<reqwest::Response, ClientError> {
        let mut request = self.http.post(self.url(path)).json(submit);
        if let Some(key) = &submit.idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(id) = &submit.correlation_id {
            request = request.header("x-correlation-id", id);
        }
        Ok(request.send().await?)
    }

    /// Fire and forget: `POST /v1/messages`.
    pub async fn send_message(&self, submit: &Submit) -> Result<MessageAccepted, ClientError> {
        let response = self.post("/v1/messages", submit).await?;
        Ok(Self::decode(response, 202).await?.0)
    }

    /// Claim check: `POST /v1/jobs`.
    pub async fn submit_job(&self, submit: &Submit) -> Result<JobAccepted, ClientError> {
        let response = self.post("/v1/jobs", submit).await?;
        Ok(Self::decode(response, 202).await?.0)
    }

    /// `GET /v1/jobs/{id}`, with the server's `Retry-After` when the job is not finished.
    pub async fn get_job(&self, id: &str) -> Result<(Job, Option<Duration>), ClientError> {
        let response = self
            .http
            .get(self.url(&format!("/v1/jobs/{id}")))
            .send()
            .await?;
        let (job, headers) = Self::decode(response, 200).await?;
        Ok((job, retry_after(&headers)))
    }

    /// `DELETE /v1/jobs/{id}`: cancels a job that has not started.
    pub async fn cancel_job(&self, id: &str) -> Result<Job, ClientError> {
        let response = self
            .http
            .delete(self.url(&format!("/v1/jobs/{id}")))
            .send()
            .await?;
        Ok(Self::decode(response, 200).await?.0)
    }

    /// Polls until the job is terminal, calling `on_update` with every state seen. Waits follow
    /// `options.backoff`, never sooner than the server's `Retry-After`, and stop at the timeout.
    pub async fn wait_for_job(
        &self,
        id: &str,
        options: &WaitOptions,
        mut on_update: impl FnMut(&Job),
    ) -> Result<Job, ClientError> {
        let deadline = Instant::now() + options.timeout;
        let mut attempt = 0;
        loop {
            let (job, server_wait) = self.get_job(id).await?;
            on_update(&job);
            if job.is_terminal() {
                return Ok(job);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Some(wait) =
                options
                    .backoff
                    .delay(attempt, server_wait, remaining, &mut rand::rng())
            else {
                return Err(ClientError::Deadline { status: job.status });
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}
