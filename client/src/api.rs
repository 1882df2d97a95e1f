use crate::backoff::Backoff;
use crate::error::ClientError;
use courier_protocol::rest::{
    CallbackSpec, Job, JobAccepted, MessageAccepted, NewWebhookEndpoint, Problem, SecretRotation,
    Submission, WebhookEndpoint,
};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A submission to `POST /v1/messages` or `POST /v1/jobs`: the body, plus the optional request
/// headers.
#[derive(Debug, Clone)]
pub struct Submit {
    pub body: Submission,
    pub idempotency_key: Option<String>,
    pub correlation_id: Option<String>,
}

impl Submit {
    pub fn new(job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            body: Submission {
                job_type: job_type.into(),
                payload,
                delay_seconds: None,
                callback: None,
            },
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

    /// Jobs only: the caller's webhook endpoint courier posts the outcome to, signed with
    /// its secrets (see [`Client::create_webhook_endpoint`] and [`crate::webhook`]).
    pub fn callback_endpoint(mut self, endpoint_id: impl Into<String>) -> Self {
        self.body.callback = Some(CallbackSpec {
            endpoint_id: endpoint_id.into(),
        });
        self
    }

    pub fn delay_seconds(mut self, seconds: u32) -> Self {
        self.body.delay_seconds = Some(seconds);
        self
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
    /// Sent as `Authorization: Bearer`: every route requires a JWT.
    token: Option<String>,
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
        Ok(Self {
            base_url,
            http,
            token: None,
        })
    }

    /// Calls the API with this JWT (an access token from the deployment's issuer; see
    /// [`crate::auth`]).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
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
        let (body, headers) = Self::expect(response, expected).await?;
        Ok((serde_json::from_str(&body)?, headers))
    }

    /// The body of an `expected` answer, or the error any other answer means.
    async fn expect(
        response: reqwest::Response,
        expected: u16,
    ) -> Result<(String, HeaderMap), ClientError> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        if status == expected {
            return Ok((body, headers));
        }
        if status == 401 {
            // The gateway's answer, before courier runs: no problem document.
            return Err(ClientError::Unauthorized);
        }
        match serde_json::from_str::<Problem>(&body) {
            Ok(problem) => Err(ClientError::Api(problem)),
            Err(_) => Err(ClientError::Unexpected { status, body }),
        }
    }

    async fn post(&self, path: &str, submit: &Submit) -> Result<reqwest::Response, ClientError> {
        let mut request = self.request(reqwest::Method::POST, path).json(&submit.body);
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
            .request(reqwest::Method::GET, &format!("/v1/jobs/{id}"))
            .send()
            .await?;
        let (job, headers) = Self::decode(response, 200).await?;
        Ok((job, retry_after(&headers)))
    }

    /// `DELETE /v1/jobs/{id}`: cancels a job that has not started.
    pub async fn cancel_job(&self, id: &str) -> Result<Job, ClientError> {
        let response = self
            .request(reqwest::Method::DELETE, &format!("/v1/jobs/{id}"))
            .send()
            .await?;
        Ok(Self::decode(response, 200).await?.0)
    }

    /// `POST /v1/webhook-endpoints`: registers `url` for this caller's callbacks. The answer's
    /// `secret` is shown only now: keep it where the receiver can verify with it.
    pub async fn create_webhook_endpoint(&self, url: &str) -> Result<WebhookEndpoint, ClientError> {
        let response = self
            .request(reqwest::Method::POST, "/v1/webhook-endpoints")
            .json(&NewWebhookEndpoint { url: url.into() })
            .send()
            .await?;
        Ok(Self::decode(response, 201).await?.0)
    }

    /// `GET /v1/webhook-endpoints/{id}`: the URL and the secrets' lives (never the secrets).
    pub async fn webhook_endpoint(&self, id: &str) -> Result<WebhookEndpoint, ClientError> {
        let response = self
            .request(reqwest::Method::GET, &format!("/v1/webhook-endpoints/{id}"))
            .send()
            .await?;
        Ok(Self::decode(response, 200).await?.0)
    }

    /// `POST /v1/webhook-endpoints/{id}/rotate`: a new secret (in the answer, once); the ones
    /// signing now keep signing for `grace` (the server's default, 24 hours, when `None`).
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
    ) -> Result<WebhookEndpoint, ClientError> {
        let response = self
            .request(
                reqwest::Method::POST,
                &format!("/v1/webhook-endpoints/{id}/rotate"),
            )
            .json(&SecretRotation {
                grace_period_seconds: grace.map(|g| g.as_secs()),
            })
            .send()
            .await?;
        Ok(Self::decode(response, 200).await?.0)
    }

    /// `DELETE /v1/webhook-endpoints/{id}`.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<(), ClientError> {
        let response = self
            .request(
                reqwest::Method::DELETE,
                &format!("/v1/webhook-endpoints/{id}"),
            )
            .send()
            .await?;
        Self::expect(response, 204).await?;
        Ok(())
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
