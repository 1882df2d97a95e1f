//! Settings read once from the environment at cold start (no network at init).

use std::time::Duration;
use thiserror::Error;

/// A claim's lifetime when the template does not set one: one day.
pub const DEFAULT_CLAIM_LIFETIME_SECONDS: u64 = 86_400;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn number_or(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().map_err(|e| ConfigError::Invalid {
            name,
            reason: format!("{v:?}: {e}"),
        }),
        _ => Ok(default),
    }
}

/// A count (attempts, receives) that must fit SQS's 32-bit fields.
fn count_or(name: &'static str, default: u32) -> Result<u32, ConfigError> {
    u32::try_from(number_or(name, u64::from(default))?).map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

/// What the HTTP API function needs.
#[derive(Debug, Clone)]
pub struct HttpApiSettings {
    pub table_name: String,
    pub work_queue_url: String,
    /// How long an idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// How long a job's claim can be read after submission (`expiresAt`); set once, in the
    /// template's `ClaimLifetimeSeconds`.
    pub claim_lifetime: Duration,
    pub callback_policy: crate::application::ssrf::SsrfPolicy,
}

/// The callback URL rules: `CALLBACK_ALLOW_HTTP=true` and `CALLBACK_ALLOWED_HOSTS` (comma
/// separated) exist for local development; production allows public https URLs only.
pub fn callback_policy_from_env() -> crate::application::ssrf::SsrfPolicy {
    crate::application::ssrf::SsrfPolicy {
        allow_http: std::env::var("CALLBACK_ALLOW_HTTP").is_ok_and(|v| v == "true"),
        allowed_hosts: std::env::var("CALLBACK_ALLOWED_HOSTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

impl HttpApiSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            work_queue_url: required("WORK_QUEUE_URL")?,
            idempotency_ttl: Duration::from_secs(number_or("IDEMPOTENCY_TTL_SECONDS", 86_400)?),
            claim_lifetime: Duration::from_secs(number_or(
                "CLAIM_LIFETIME_SECONDS",
                DEFAULT_CLAIM_LIFETIME_SECONDS,
            )?),
            callback_policy: callback_policy_from_env(),
        })
    }
}

/// What the processor function needs.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    pub table_name: String,
    pub work_queue_url: String,
    pub dead_letter_queue_url: String,
    /// Where finished jobs with a callback are handed to the notifier.
    pub callback_queue_url: String,
    /// The work queue's redrive `maxReceiveCount`: the attempt that reaches it is the last.
    pub max_receive_count: u32,
    /// First retry delay; doubles per receive (with jitter) up to `retry_max_delay`.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// How long a processed-message record is kept, so redeliveries stay no-ops.
    pub record_ttl: Duration,
    /// The FIFO queue of jobs submitted over WebSocket, and its dead-letter queue.
    pub ordered_work_queue_url: String,
    pub ordered_dead_letter_queue_url: String,
    /// The WebSocket API's `@connections` endpoint, for progress and result frames.
    pub websocket_management_url: String,
}

impl ProcessorSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            work_queue_url: required("WORK_QUEUE_URL")?,
            dead_letter_queue_url: required("DEAD_LETTER_QUEUE_URL")?,
            callback_queue_url: required("CALLBACK_QUEUE_URL")?,
            max_receive_count: count_or("MAX_RECEIVE_COUNT", 5)?,
            retry_base_delay: Duration::from_secs(number_or("RETRY_BASE_DELAY_SECONDS", 2)?),
            retry_max_delay: Duration::from_secs(number_or("RETRY_MAX_DELAY_SECONDS", 300)?),
            record_ttl: Duration::from_secs(number_or("RECORD_TTL_SECONDS", 7 * 86_400)?),
            ordered_work_queue_url: required("ORDERED_WORK_QUEUE_URL")?,
            ordered_dead_letter_queue_url: required("ORDERED_DEAD_LETTER_QUEUE_URL")?,
            websocket_management_url: required("WEBSOCKET_MANAGEMENT_URL")?,
        })
    }
}

/// What the WebSocket function needs.
#[derive(Debug, Clone)]
pub struct WebSocketSettings {
    pub table_name: String,
    /// The FIFO work queue.
    pub ordered_work_queue_url: String,
    pub websocket_management_url: String,
    /// `WEBSOCKET_TOKENS`: the tokens `$connect` accepts, comma or space separated.
    pub tokens: crate::adapters::websocket::AccessTokens,
    pub idempotency_ttl: Duration,
    pub claim_lifetime: Duration,
}

impl WebSocketSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let tokens =
            crate::adapters::websocket::AccessTokens::parse(&required("WEBSOCKET_TOKENS")?)
                .map_err(|e| ConfigError::Invalid {
                    name: "WEBSOCKET_TOKENS",
                    reason: e.to_string(),
                })?;
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            ordered_work_queue_url: required("ORDERED_WORK_QUEUE_URL")?,
            websocket_management_url: required("WEBSOCKET_MANAGEMENT_URL")?,
            tokens,
            idempotency_ttl: Duration::from_secs(number_or("IDEMPOTENCY_TTL_SECONDS", 86_400)?),
            claim_lifetime: Duration::from_secs(number_or(
                "CLAIM_LIFETIME_SECONDS",
                DEFAULT_CLAIM_LIFETIME_SECONDS,
            )?),
        })
    }
}

/// What the notifier function needs.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub table_name: String,
    pub callback_queue_url: String,
    /// `WEBHOOK_SECRETS`: one or more `whsec_` secrets; the first signs, all sign in rotation.
    pub secrets: Vec<courier_protocol::webhook::Secret>,
    pub timeout: Duration,
    /// The callback queue's `maxReceiveCount`: attempts before the callback DLQ.
    pub max_attempts: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub url_policy: crate::application::ssrf::SsrfPolicy,
}

impl NotifierSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secrets = courier_protocol::webhook::Secret::parse_list(&required("WEBHOOK_SECRETS")?)
            .map_err(|e| ConfigError::Invalid {
                name: "WEBHOOK_SECRETS",
                reason: e.to_string(),
            })?;
        if secrets.is_empty() {
            return Err(ConfigError::Missing("WEBHOOK_SECRETS"));
        }
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            callback_queue_url: required("CALLBACK_QUEUE_URL")?,
            secrets,
            timeout: Duration::from_millis(number_or("CALLBACK_TIMEOUT_MS", 5_000)?),
            // The callback queue's own schedule: a receiver may be down for longer than a job
            // would ever wait on a retry.
            max_attempts: count_or("CALLBACK_MAX_ATTEMPTS", 8)?,
            retry_base_delay: Duration::from_secs(number_or(
                "CALLBACK_RETRY_BASE_DELAY_SECONDS",
                30,
            )?),
            retry_max_delay: Duration::from_secs(number_or(
                "CALLBACK_RETRY_MAX_DELAY_SECONDS",
                3_600,
            )?),
            url_policy: callback_policy_from_env(),
        })
    }
}
