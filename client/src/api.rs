use crate::backoff::Backoff;
use crate::error::ClientError;
use courier_protocol::rest::{
    BulkAction, BulkResult, CallbackSpec, Destination, DestinationList, Job, JobAccepted, JobList,
    JobStatus, MessageAccepted, NewDestination, NewSchedule, NewWebhookEndpoint, Problem, Schedule,
    ScheduleList, SecretRotation, Submission, Upload, WebhookEndpoint, WebhookEndpointList,
};
use courier_protocol::timeline::Timeline;
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
                payload_ref: None,
                delay_seconds: None,
                run_at: None,
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
        self.body.callback = Some(CallbackSpec::endpoint(endpoint_id));
        self
    }

    /// Jobs only: the caller's destination (an SQS queue or EventBridge bus) courier delivers
    /// the outcome to, signed with its secrets (see [`Client::create_destination`]).
    pub fn callback_destination(mut self, destination_id: impl Into<String>) -> Self {
        self.body.callback = Some(CallbackSpec::destination(destination_id));
        self
    }

    pub fn delay_seconds(mut self, seconds: u32) -> Self {
        self.body.delay_seconds = Some(seconds);
        self
    }

    /// Run it at this instant (RFC 3339), up to a year ahead, instead of now.
    pub fn run_at(mut self, at: impl Into<String>) -> Self {
        self.body.run_at = Some(at.into());
        self
    }

    /// The payload is this upload's object (see [`Client::upload`]) instead of `payload`.
    pub fn payload_ref(mut self, upload_id: impl Into<String>) -> Self {
        self.body.payload = Value::Null;
        self.body.payload_ref = Some(upload_id.into());
        self
    }
}

/// Which of the caller's jobs [`Client::list_jobs`] lists (all of them by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<String>,
    /// Created before (RFC 3339).
    pub created_before: Option<String>,
    /// The most jobs a page holds (1 to 100; the server's 20 when `None`).
    pub limit: Option<u32>,
}

impl JobQuery {
    fn pairs(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        let text = [
            ("type", &self.job_type),
            ("createdAfter", &self.created_after),
            ("createdBefore", &self.created_before),
        ];
        for (name, value) in text {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.to_owned()));
        }
        pairs
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

/// When a request is sent again: after `429 Too Many Requests` (API Gateway's throttling,
/// Lambda's, or one of the caller's courier quotas — jobs in flight, requests per second,
/// endpoints: answered before anything is made), `503 Service Unavailable` (courier could not write), `504 Gateway Timeout` (the
/// gateway gave up on the function, which may or may not have finished) and a
/// `409 request-in-progress` (the first try with the same `Idempotency-Key` is still running).
/// Waits follow `backoff`, never sooner than the answer's `Retry-After` (in seconds), and all
/// of them together stay within `budget`: a `Retry-After` that would pass it ends the retries.
///
/// A submission is retried only with an `Idempotency-Key`, so a retry can never enqueue work
/// twice: the caller's, or one the client makes for the submission (and keeps for its
/// retries). A key costs the API a little more per submission (it is stored); turn retries off
/// with [`Retries::none`] where that matters more than riding out a throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Tries in all, the first included; 1 is no retry.
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub budget: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(8),
            },
            budget: Duration::from_secs(30),
        }
    }
}

impl Retries {
    /// Every request is sent once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    fn enabled(&self) -> bool {
        self.max_attempts > 1
    }
}

/// Which answers a request may be sent again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Reads, deletes and keyed submissions: repeating them changes nothing.
    Safe,
    /// Creating an endpoint or rotating a secret makes something new each time: only a `429`,
    /// answered before anything is made (by the gateway, or by courier's quotas), is retried.
    ThrottledOnly,
}

impl Replay {
    fn allows(self, answer: &Answer) -> bool {
        match (self, answer.status) {
            (_, 429) => true,
            (Self::Safe, 503 | 504) => true,
            (Self::Safe, 409) => serde_json::from_str::<Problem>(&answer.body)
                .is_ok_and(|p| p.slug() == "request-in-progress"),
            _ => false,
        }
    }
}

/// An answer, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Result<Self, ClientError> {
        Ok(Self {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await?,
        })
    }
}

/// A key for a submission whose caller gave none, so that its retries are safe.
fn new_idempotency_key() -> String {
    format!("courier-client-{:032x}", rand::random::<u128>())
}

/// A courier API at one base URL (everything before `/v1`).
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer`: every route requires a JWT.
    token: Option<String>,
    retries: Retries,
}

/// `Retry-After` in seconds (the form courier and API Gateway send); an HTTP date is ignored.
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
            .tls_backend_preconfigured(
                (*crate::tls::client_config().map_err(ClientError::Tls)?).clone(),
            )
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            base_url,
            http,
            token: None,
            retries: Retries::default(),
        })
    }

    /// How throttled and unavailable answers are retried ([`Retries::default`] unless set).
    pub fn with_retries(mut self, retries: Retries) -> Self {
        self.retries = retries;
        self
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

    /// Sends the request `build` makes, again while the answer is one `replay` allows and the
    /// retry policy has tries and time left.
    async fn call(
        &self,
        replay: Replay,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ClientError> {
        self.call_within(self.retries.budget, replay, build).await
    }

    /// [`Self::call`], its retries within `budget` (a caller's own deadline may be nearer than
    /// the policy's).
    async fn call_within(
        &self,
        budget: Duration,
        replay: Replay,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, ClientError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let answer = Answer::read(build().send().await?).await?;
            attempt += 1;
            if attempt >= self.retries.max_attempts || !replay.allows(&answer) {
                return Ok(answer);
            }
            let asked = retry_after(&answer.headers);
            let remaining = budget.saturating_sub(started.elapsed());
            if asked.is_some_and(|asked| asked > remaining) {
                return Ok(answer);
            }
            let Some(wait) =
                self.retries
                    .backoff
                    .delay(attempt - 1, asked, remaining, &mut rand::rng())
            else {
                return Ok(answer);
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        answer: Answer,
        expected: u16,
    ) -> Result<(T, HeaderMap), ClientError> {
        let (body, headers) = Self::expect(answer, expected)?;
        Ok((serde_json::from_str(&body)?, headers))
    }

    /// The body of an `expected` answer, or the error any other answer means.
    fn expect(answer: Answer, expected: u16) -> Result<(String, HeaderMap), ClientError> {
        let Answer {
            status,
            headers,
            body,
        } = answer;
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

    /// A submission, retried only under an idempotency key (the caller's, or one made here).
    async fn post(&self, path: &str, submit: &Submit) -> Result<Answer, ClientError> {
        let key = submit
            .idempotency_key
            .clone()
            .or_else(|| self.retries.enabled().then(new_idempotency_key));
        self.call(Replay::Safe, || {
            let mut request = self.request(reqwest::Method::POST, path).json(&submit.body);
            if let Some(key) = &key {
                request = request.header("idempotency-key", key);
            }
            if let Some(id) = &submit.correlation_id {
                request = request.header("x-correlation-id", id);
            }
            request
        })
        .await
    }

    /// Fire and forget: `POST /v1/messages`.
    pub async fn send_message(&self, submit: &Submit) -> Result<MessageAccepted, ClientError> {
        let answer = self.post("/v1/messages", submit).await?;
        Ok(Self::decode(answer, 202)?.0)
    }

    /// Claim check: `POST /v1/jobs`.
    pub async fn submit_job(&self, submit: &Submit) -> Result<JobAccepted, ClientError> {
        let answer = self.post("/v1/jobs", submit).await?;
        Ok(Self::decode(answer, 202)?.0)
    }

    /// `GET /v1/jobs/{id}`, with the server's `Retry-After` when the job is not finished.
    pub async fn get_job(&self, id: &str) -> Result<(Job, Option<Duration>), ClientError> {
        self.get_job_within(id, self.retries.budget).await
    }

    async fn get_job_within(
        &self,
        id: &str,
        budget: Duration,
    ) -> Result<(Job, Option<Duration>), ClientError> {
        let path = format!("/v1/jobs/{id}");
        let answer = self
            .call_within(budget.min(self.retries.budget), Replay::Safe, || {
                self.request(reqwest::Method::GET, &path)
            })
            .await?;
        let (job, headers) = Self::decode(answer, 200)?;
        Ok((job, retry_after(&headers)))
    }

    /// `DELETE /v1/jobs/{id}`: cancels a job that has not started.
    pub async fn cancel_job(&self, id: &str) -> Result<Job, ClientError> {
        let path = format!("/v1/jobs/{id}");
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::DELETE, &path)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `POST /v1/webhook-endpoints`: registers `url` for this caller's callbacks. The answer's
    /// `secret` is shown only now: keep it where the receiver can verify with it.
    pub async fn create_webhook_endpoint(&self, url: &str) -> Result<WebhookEndpoint, ClientError> {
        let answer = self
            .call(Replay::ThrottledOnly, || {
                self.request(reqwest::Method::POST, "/v1/webhook-endpoints")
                    .json(&NewWebhookEndpoint { url: url.into() })
            })
            .await?;
        Ok(Self::decode(answer, 201)?.0)
    }

    /// `GET /v1/webhook-endpoints/{id}`: the URL and the secrets' lives (never the secrets).
    pub async fn webhook_endpoint(&self, id: &str) -> Result<WebhookEndpoint, ClientError> {
        let path = format!("/v1/webhook-endpoints/{id}");
        let answer = self
            .call(Replay::Safe, || self.request(reqwest::Method::GET, &path))
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `POST /v1/webhook-endpoints/{id}/rotate`: a new secret (in the answer, once); the ones
    /// signing now keep signing for `grace` (the server's default, 24 hours, when `None`).
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
    ) -> Result<WebhookEndpoint, ClientError> {
        let path = format!("/v1/webhook-endpoints/{id}/rotate");
        let rotation = SecretRotation {
            grace_period_seconds: grace.map(|g| g.as_secs()),
        };
        let answer = self
            .call(Replay::ThrottledOnly, || {
                self.request(reqwest::Method::POST, &path).json(&rotation)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `DELETE /v1/webhook-endpoints/{id}`.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/webhook-endpoints/{id}");
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::DELETE, &path)
            })
            .await?;
        Self::expect(answer, 204)?;
        Ok(())
    }

    /// `POST /v1/uploads`, then a `PUT` of `payload` (JSON) to the URL it answered: the upload's
    /// id, for [`Submit::payload_ref`]. For payloads larger than a request body may be (5 MB),
    /// up to 64 MiB.
    pub async fn upload(&self, payload: &Value) -> Result<String, ClientError> {
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::POST, "/v1/uploads")
            })
            .await?;
        let upload: Upload = Self::decode(answer, 201)?.0;
        let body = serde_json::to_vec(payload).expect("JSON serialises");
        let put = self
            .http
            .put(&upload.upload_url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !put.status().is_success() {
            return Err(ClientError::Unexpected {
                status: put.status().as_u16(),
                body: put.text().await.unwrap_or_default(),
            });
        }
        Ok(upload.id)
    }

    /// `POST /v1/schedules`: a recurring schedule, each run a job of its own.
    pub async fn create_schedule(&self, schedule: &NewSchedule) -> Result<Schedule, ClientError> {
        let answer = self
            .call(Replay::ThrottledOnly, || {
                self.request(reqwest::Method::POST, "/v1/schedules")
                    .json(schedule)
            })
            .await?;
        Ok(Self::decode(answer, 201)?.0)
    }

    /// `GET /v1/schedules/{id}`.
    pub async fn schedule(&self, id: &str) -> Result<Schedule, ClientError> {
        let path = format!("/v1/schedules/{id}");
        let answer = self
            .call(Replay::Safe, || self.request(reqwest::Method::GET, &path))
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `GET /v1/schedules`: one page of the caller's schedules.
    pub async fn list_schedules(&self, cursor: Option<&str>) -> Result<ScheduleList, ClientError> {
        let mut pairs: Vec<(&str, String)> = vec![("limit", "100".into())];
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.to_owned()));
        }
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::GET, "/v1/schedules")
                    .query(&pairs)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `POST /v1/schedules/{id}/pause` (`paused`) or `/resume`.
    pub async fn set_schedule_paused(
        &self,
        id: &str,
        paused: bool,
    ) -> Result<Schedule, ClientError> {
        let action = if paused { "pause" } else { "resume" };
        let path = format!("/v1/schedules/{id}/{action}");
        let answer = self
            .call(Replay::Safe, || self.request(reqwest::Method::POST, &path))
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `DELETE /v1/schedules/{id}`.
    pub async fn delete_schedule(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/schedules/{id}");
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::DELETE, &path)
            })
            .await?;
        Self::expect(answer, 204)?;
        Ok(())
    }

    /// `POST /v1/destinations`: registers an SQS queue or an EventBridge bus (by ARN) for this
    /// caller's callbacks, once courier has delivered a signed verification to it. The answer's
    /// `secret` is shown only now.
    pub async fn create_destination(
        &self,
        destination: &NewDestination,
    ) -> Result<Destination, ClientError> {
        let answer = self
            .call(Replay::ThrottledOnly, || {
                self.request(reqwest::Method::POST, "/v1/destinations")
                    .json(destination)
            })
            .await?;
        Ok(Self::decode(answer, 201)?.0)
    }

    /// `GET /v1/destinations/{id}`.
    pub async fn destination(&self, id: &str) -> Result<Destination, ClientError> {
        let path = format!("/v1/destinations/{id}");
        let answer = self
            .call(Replay::Safe, || self.request(reqwest::Method::GET, &path))
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `GET /v1/destinations`: one page of the caller's destinations (never their secrets).
    pub async fn list_destinations(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<DestinationList, ClientError> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(limit) = limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.to_owned()));
        }
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::GET, "/v1/destinations")
                    .query(&pairs)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `POST /v1/destinations/{id}/rotate`, as [`Client::rotate_webhook_secret`].
    pub async fn rotate_destination_secret(
        &self,
        id: &str,
        grace: Option<Duration>,
    ) -> Result<Destination, ClientError> {
        let path = format!("/v1/destinations/{id}/rotate");
        let rotation = SecretRotation {
            grace_period_seconds: grace.map(|g| g.as_secs()),
        };
        let answer = self
            .call(Replay::ThrottledOnly, || {
                self.request(reqwest::Method::POST, &path).json(&rotation)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `DELETE /v1/destinations/{id}`.
    pub async fn delete_destination(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/destinations/{id}");
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::DELETE, &path)
            })
            .await?;
        Self::expect(answer, 204)?;
        Ok(())
    }

    /// `GET /v1/jobs`: one page of the caller's jobs, newest first, from `cursor` (a previous
    /// page's `nextCursor`, given with the same query).
    pub async fn list_jobs(
        &self,
        query: &JobQuery,
        cursor: Option<&str>,
    ) -> Result<JobList, ClientError> {
        let pairs = query.pairs(cursor);
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::GET, "/v1/jobs").query(&pairs)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// Up to `most` of the caller's jobs the query picks, newest first, following the pages.
    pub async fn all_jobs(&self, query: &JobQuery, most: usize) -> Result<Vec<Job>, ClientError> {
        let mut jobs = Vec::new();
        let mut cursor: Option<String> = None;
        while jobs.len() < most {
            let page = self.list_jobs(query, cursor.as_deref()).await?;
            jobs.extend(page.jobs);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        jobs.truncate(most);
        Ok(jobs)
    }

    /// `GET /v1/jobs/{id}/events`: what happened to the job, in order.
    pub async fn job_events(&self, id: &str) -> Result<Timeline, ClientError> {
        let path = format!("/v1/jobs/{id}/events");
        let answer = self
            .call(Replay::Safe, || self.request(reqwest::Method::GET, &path))
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `POST /v1/jobs/cancel`: cancels the caller's PENDING jobs the action picks (a dry run
    /// lists them). Each job is moved by a conditional write, so a retry cancels nothing twice.
    pub async fn cancel_jobs(&self, action: &BulkAction) -> Result<BulkResult, ClientError> {
        self.bulk("/v1/jobs/cancel", action, Replay::Safe).await
    }

    /// `POST /v1/jobs/rerun`: runs the caller's FAILED jobs of a type, created in a window,
    /// again (a dry run lists them).
    pub async fn rerun_jobs(&self, action: &BulkAction) -> Result<BulkResult, ClientError> {
        // After a 503 part of the call may have been done, and a job rerun then may have
        // failed again meanwhile: only a throttled call is sent again.
        self.bulk("/v1/jobs/rerun", action, Replay::ThrottledOnly)
            .await
    }

    async fn bulk(
        &self,
        path: &str,
        action: &BulkAction,
        replay: Replay,
    ) -> Result<BulkResult, ClientError> {
        let answer = self
            .call(replay, || {
                self.request(reqwest::Method::POST, path).json(action)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
    }

    /// `GET /v1/webhook-endpoints`: one page of the caller's endpoints (never their secrets).
    pub async fn list_webhook_endpoints(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<WebhookEndpointList, ClientError> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(limit) = limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.to_owned()));
        }
        let answer = self
            .call(Replay::Safe, || {
                self.request(reqwest::Method::GET, "/v1/webhook-endpoints")
                    .query(&pairs)
            })
            .await?;
        Ok(Self::decode(answer, 200)?.0)
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
            // A throttled poll is retried only within the time the wait has left.
            let left = deadline.saturating_duration_since(Instant::now());
            let (job, server_wait) = self.get_job_within(id, left).await?;
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
