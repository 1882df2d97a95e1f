//! Settings read once from the environment at cold start (no network at init).

use std::time::Duration;
use thiserror::Error;

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

/// A setting the template passes in: its environment variable, the template parameter that sets
/// it, and the default both sides use (a test holds `template.yaml` to these).
#[derive(Debug, Clone, Copy)]
pub struct Parameter {
    pub env: &'static str,
    pub template: &'static str,
    pub default: u64,
}

impl Parameter {
    fn number(&self) -> Result<u64, ConfigError> {
        number_or(self.env, self.default)
    }

    fn count(&self) -> Result<u32, ConfigError> {
        count_or(
            self.env,
            u32::try_from(self.default).expect("counts fit u32"),
        )
    }
}

/// The template-set settings with defaults, stated once.
pub mod parameters {
    use super::Parameter;

    pub const MAX_ATTEMPTS: Parameter = Parameter {
        env: "MAX_ATTEMPTS",
        template: "MaxAttempts",
        default: 5,
    };
    pub const MAX_RECEIVE_COUNT: Parameter = Parameter {
        env: "MAX_RECEIVE_COUNT",
        template: "MaxReceiveCount",
        default: 20,
    };
    pub const RETRY_BASE_DELAY_SECONDS: Parameter = Parameter {
        env: "RETRY_BASE_DELAY_SECONDS",
        template: "RetryBaseDelaySeconds",
        default: 2,
    };
    pub const CLAIM_LIFETIME_SECONDS: Parameter = Parameter {
        env: "CLAIM_LIFETIME_SECONDS",
        template: "ClaimLifetimeSeconds",
        default: 86_400,
    };
    pub const CALLBACK_TIMEOUT_MS: Parameter = Parameter {
        env: "CALLBACK_TIMEOUT_MS",
        template: "CallbackTimeoutMs",
        default: 5_000,
    };
    /// The callback queue's own schedule: a receiver may be down for longer than a job would
    /// ever wait on a retry.
    pub const CALLBACK_MAX_ATTEMPTS: Parameter = Parameter {
        env: "CALLBACK_MAX_ATTEMPTS",
        template: "CallbackMaxAttempts",
        default: 8,
    };
    /// The callback queue's backstop: receives before SQS redrive gives up on a delivery
    /// (above `CALLBACK_MAX_ATTEMPTS`: receives that end in a dependency error post nothing).
    pub const CALLBACK_MAX_RECEIVE_COUNT: Parameter = Parameter {
        env: "CALLBACK_MAX_RECEIVE_COUNT",
        template: "CallbackMaxReceiveCount",
        default: 20,
    };
    pub const CALLBACK_RETRY_BASE_DELAY_SECONDS: Parameter = Parameter {
        env: "CALLBACK_RETRY_BASE_DELAY_SECONDS",
        template: "CallbackRetryBaseDelaySeconds",
        default: 30,
    };
    pub const CALLBACK_RETRY_MAX_DELAY_SECONDS: Parameter = Parameter {
        env: "CALLBACK_RETRY_MAX_DELAY_SECONDS",
        template: "CallbackRetryMaxDelaySeconds",
        default: 3_600,
    };

    pub const QUOTA_JOBS_IN_FLIGHT: Parameter = Parameter {
        env: "QUOTA_JOBS_IN_FLIGHT",
        template: "QuotaJobsInFlight",
        default: 50,
    };
    pub const QUOTA_REQUESTS_PER_SECOND: Parameter = Parameter {
        env: "QUOTA_REQUESTS_PER_SECOND",
        template: "QuotaRequestsPerSecond",
        default: 50,
    };
    pub const QUOTA_CONNECTIONS: Parameter = Parameter {
        env: "QUOTA_CONNECTIONS",
        template: "QuotaConnections",
        default: 10,
    };
    pub const QUOTA_WEBHOOK_ENDPOINTS: Parameter = Parameter {
        env: "QUOTA_WEBHOOK_ENDPOINTS",
        template: "QuotaWebhookEndpoints",
        default: 25,
    };

    pub const ALL: [Parameter; 13] = [
        MAX_ATTEMPTS,
        MAX_RECEIVE_COUNT,
        RETRY_BASE_DELAY_SECONDS,
        CLAIM_LIFETIME_SECONDS,
        CALLBACK_TIMEOUT_MS,
        CALLBACK_MAX_ATTEMPTS,
        CALLBACK_MAX_RECEIVE_COUNT,
        CALLBACK_RETRY_BASE_DELAY_SECONDS,
        CALLBACK_RETRY_MAX_DELAY_SECONDS,
        QUOTA_JOBS_IN_FLIGHT,
        QUOTA_REQUESTS_PER_SECOND,
        QUOTA_CONNECTIONS,
        QUOTA_WEBHOOK_ENDPOINTS,
    ];
}

/// Every caller's limits (the `Quota*` template parameters).
pub fn quota_limits_from_env() -> Result<crate::application::quotas::Limits, ConfigError> {
    Ok(crate::application::quotas::Limits {
        jobs_in_flight: parameters::QUOTA_JOBS_IN_FLIGHT.count()?,
        requests_per_second: parameters::QUOTA_REQUESTS_PER_SECOND.count()?,
        connections: parameters::QUOTA_CONNECTIONS.count()?,
        webhook_endpoints: parameters::QUOTA_WEBHOOK_ENDPOINTS.count()?,
    })
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
    /// `WEBHOOK_KEY_ID`: the KMS key that seals webhook endpoints' secrets.
    pub webhook_key_id: String,
    /// The deployment's retry limits (`MaxAttempts`, `MaxReceiveCount`), as the job types'
    /// listing states them.
    pub attempt_limits: crate::application::job_types::AttemptLimits,
    /// The WebSocket API's `@connections` endpoint: a worker's progress reaches the job's
    /// client from here.
    pub websocket_management_url: String,
    /// Where a worker's reported outcome is sent for the processor to settle.
    pub task_check_queue_url: String,
    /// Every caller's limits.
    pub quota_limits: crate::application::quotas::Limits,
    /// `NOTIFIER_FUNCTION`: the function that proves a new destination by delivering to it.
    pub notifier_function: String,
    /// Work held back past SQS's delay (`runAt`) is scheduled: in `SCHEDULE_GROUP`, sent as
    /// `SCHEDULER_ROLE_ARN` to `WORK_QUEUE_ARN`; past `SCHEDULE_AFTER_SECONDS` (900, the
    /// most SQS holds a message; the local stack lowers it so its tests reach the scheduler).
    pub schedule_group: String,
    pub scheduler_role_arn: String,
    pub work_queue_arn: String,
    /// `SCHEDULER_DEAD_LETTER_ARN`: firings the scheduler could not deliver.
    pub scheduler_dead_letter_arn: Option<String>,
    pub schedule_after: u32,
    /// What a destination may be: in `AWS_REGION`, none of `OWN_RESOURCE_ARNS` (comma
    /// separated: the stack's queues and buses).
    pub destination_policy: crate::application::webhook_endpoints::DestinationPolicy,
    /// `PAYLOAD_BUCKET`: where payloads and results too large to travel inline are held.
    pub payload_bucket: String,
    /// `DOOR`: what serves the routes, and so who checks the caller's token.
    pub door: Door,
}

/// What serves the REST routes (the template's `Door` parameter).
#[derive(Debug, Clone)]
pub enum Door {
    /// `HttpApi` (the default): API Gateway's HTTP API, whose JWT authorizer verified the
    /// caller before the function runs; the function reads its claims.
    HttpApi,
    /// `FunctionUrl`: a Lambda function URL with no authorizer in front; the function checks
    /// the bearer token itself, with the WebSocket authorizer's settings.
    FunctionUrl(AuthorizerSettings),
}

impl Door {
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("DOOR").ok().as_deref() {
            None | Some("") | Some("HttpApi") => Ok(Self::HttpApi),
            Some("FunctionUrl") => Ok(Self::FunctionUrl(AuthorizerSettings::from_env()?)),
            Some(other) => Err(ConfigError::Invalid {
                name: "DOOR",
                reason: format!("{other:?} is neither HttpApi nor FunctionUrl"),
            }),
        }
    }
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
            door: Door::from_env()?,
            payload_bucket: required("PAYLOAD_BUCKET")?,
            task_check_queue_url: required("TASK_CHECK_QUEUE_URL")?,
            websocket_management_url: required("WEBSOCKET_MANAGEMENT_URL")?,
            table_name: required("TABLE_NAME")?,
            work_queue_url: required("WORK_QUEUE_URL")?,
            idempotency_ttl: Duration::from_secs(number_or("IDEMPOTENCY_TTL_SECONDS", 86_400)?),
            claim_lifetime: Duration::from_secs(parameters::CLAIM_LIFETIME_SECONDS.number()?),
            callback_policy: callback_policy_from_env(),
            webhook_key_id: required("WEBHOOK_KEY_ID")?,
            attempt_limits: crate::application::job_types::AttemptLimits {
                default_max_attempts: parameters::MAX_ATTEMPTS.count()?,
                max_receive_count: parameters::MAX_RECEIVE_COUNT.count()?,
            },
            quota_limits: quota_limits_from_env()?,
            notifier_function: required("NOTIFIER_FUNCTION")?,
            schedule_group: required("SCHEDULE_GROUP")?,
            scheduler_role_arn: required("SCHEDULER_ROLE_ARN")?,
            work_queue_arn: required("WORK_QUEUE_ARN")?,
            scheduler_dead_letter_arn: required("SCHEDULER_DEAD_LETTER_ARN").ok(),
            schedule_after: number_or("SCHEDULE_AFTER_SECONDS", 900)? as u32,
            destination_policy: crate::application::webhook_endpoints::DestinationPolicy {
                region: required("AWS_REGION")?,
                account: required("AWS_ACCOUNT_ID")?,
                same_account: std::env::var("SAME_ACCOUNT_DESTINATIONS")
                    .is_ok_and(|v| v == "enabled"),
                own: required("OWN_RESOURCE_ARNS")?
                    .split(',')
                    .map(str::trim)
                    .filter(|arn| !arn.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
        })
    }
}

/// What the processor function needs.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    pub table_name: String,
    /// `SCHEDULE_GROUP`: where a firing of a schedule with no record is removed from.
    pub schedule_group: String,
    pub work_queue_url: String,
    pub dead_letter_queue_url: String,
    /// Where finished jobs with a callback are handed to the notifier.
    pub callback_queue_url: String,
    /// Runs of a job at most (`MaxAttempts`), counted on its record: receives that run
    /// nothing (a job held behind another, handed back before starting) do not count.
    pub max_attempts: u32,
    /// The work queues' redrive `maxReceiveCount`: a backstop for messages that never get to
    /// run, above `max_attempts`.
    pub max_receive_count: u32,
    /// First retry delay; doubles per receive (with jitter) up to `retry_max_delay`.
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// How long a processed-message record is kept, so redeliveries stay no-ops.
    pub record_ttl: Duration,
    /// How long a claim lives after acceptance (the HTTP and WebSocket functions' setting).
    pub claim_lifetime: Duration,
    /// The FIFO queue of jobs submitted over WebSocket, and its dead-letter queue.
    pub ordered_work_queue_url: String,
    pub ordered_dead_letter_queue_url: String,
    /// Where SQS redrive puts what it gave up on, one inbox per work queue.
    pub dead_letter_inbox_url: String,
    pub ordered_dead_letter_inbox_url: String,
    /// The WebSocket API's `@connections` endpoint, for progress and result frames.
    pub websocket_management_url: String,
    /// Which HTTP targets' URLs may be called (the callbacks' rules).
    pub target_policy: crate::application::ssrf::SsrfPolicy,
    /// Where HTTP targets' signing secrets are (`TARGET_SECRETS_PREFIX`: SSM parameters
    /// `<prefix>/<job type>`).
    pub target_secrets_prefix: String,
    /// Where workers that finish later report (`TASK_REPORT_URL`: the HTTP API's
    /// `POST /v1/tasks/report`).
    pub task_report_url: String,
    /// The looks at their attempts: timers and reported outcomes.
    pub task_check_queue_url: String,
    /// `PAYLOAD_BUCKET`: where payloads and results too large to travel inline are held.
    pub payload_bucket: String,
    /// Every caller's limits: work for later takes its job slot as it comes due.
    pub quota_limits: crate::application::quotas::Limits,
}

impl ProcessorSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            schedule_group: required("SCHEDULE_GROUP")?,
            payload_bucket: required("PAYLOAD_BUCKET")?,
            table_name: required("TABLE_NAME")?,
            work_queue_url: required("WORK_QUEUE_URL")?,
            dead_letter_queue_url: required("DEAD_LETTER_QUEUE_URL")?,
            callback_queue_url: required("CALLBACK_QUEUE_URL")?,
            max_attempts: parameters::MAX_ATTEMPTS.count()?,
            max_receive_count: parameters::MAX_RECEIVE_COUNT.count()?,
            retry_base_delay: Duration::from_secs(parameters::RETRY_BASE_DELAY_SECONDS.number()?),
            retry_max_delay: Duration::from_secs(number_or("RETRY_MAX_DELAY_SECONDS", 300)?),
            record_ttl: Duration::from_secs(number_or("RECORD_TTL_SECONDS", 7 * 86_400)?),
            claim_lifetime: Duration::from_secs(parameters::CLAIM_LIFETIME_SECONDS.number()?),
            ordered_work_queue_url: required("ORDERED_WORK_QUEUE_URL")?,
            ordered_dead_letter_queue_url: required("ORDERED_DEAD_LETTER_QUEUE_URL")?,
            dead_letter_inbox_url: required("DEAD_LETTER_INBOX_URL")?,
            ordered_dead_letter_inbox_url: required("ORDERED_DEAD_LETTER_INBOX_URL")?,
            websocket_management_url: required("WEBSOCKET_MANAGEMENT_URL")?,
            target_policy: callback_policy_from_env(),
            target_secrets_prefix: std::env::var("TARGET_SECRETS_PREFIX").unwrap_or_default(),
            task_report_url: std::env::var("TASK_REPORT_URL").unwrap_or_default(),
            task_check_queue_url: required("TASK_CHECK_QUEUE_URL")?,
            quota_limits: quota_limits_from_env()?,
        })
    }
}

/// What the `$connect` authorizer needs: whose tokens to accept, and where their keys are.
#[derive(Debug, Clone)]
pub struct AuthorizerSettings {
    /// `JWT_ISSUER`: the tokens' `iss`, exactly.
    pub issuer: String,
    /// `JWT_AUDIENCES`: comma-separated; a token's `aud` (or `client_id`) must be one.
    pub audiences: Vec<String>,
    /// `JWKS_URL`: the issuer's keys; default `<issuer>/.well-known/jwks.json`.
    pub jwks_url: String,
}

impl AuthorizerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let issuer = required("JWT_ISSUER")?;
        let audiences: Vec<String> = required("JWT_AUDIENCES")?
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(ConfigError::Invalid {
                name: "JWT_AUDIENCES",
                reason: "no audience given".into(),
            });
        }
        let jwks_url = std::env::var("JWKS_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')));
        Ok(Self {
            issuer,
            audiences,
            jwks_url,
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
    pub idempotency_ttl: Duration,
    pub claim_lifetime: Duration,
    /// Every caller's limits.
    pub quota_limits: crate::application::quotas::Limits,
    /// `PAYLOAD_BUCKET`: where payloads and results too large to travel inline are held.
    pub payload_bucket: String,
}

impl WebSocketSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            payload_bucket: required("PAYLOAD_BUCKET")?,
            table_name: required("TABLE_NAME")?,
            ordered_work_queue_url: required("ORDERED_WORK_QUEUE_URL")?,
            websocket_management_url: required("WEBSOCKET_MANAGEMENT_URL")?,
            idempotency_ttl: Duration::from_secs(number_or("IDEMPOTENCY_TTL_SECONDS", 86_400)?),
            claim_lifetime: Duration::from_secs(parameters::CLAIM_LIFETIME_SECONDS.number()?),
            quota_limits: quota_limits_from_env()?,
        })
    }
}

/// What the notifier function needs.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub table_name: String,
    pub callback_queue_url: String,
    /// Where deliveries given up go, with their reason.
    pub callback_dead_letter_queue_url: String,
    /// Where SQS redrive puts the callback messages it gave up on.
    pub callback_dead_letter_inbox_url: String,
    /// `WEBHOOK_KEY_ID`: the KMS key that opens webhook endpoints' secrets.
    pub webhook_key_id: String,
    pub timeout: Duration,
    /// POSTs of one delivery before it is given up (counted on the claim).
    pub max_attempts: u32,
    /// The callback queue's `maxReceiveCount`.
    pub max_receive_count: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub url_policy: crate::application::ssrf::SsrfPolicy,
    /// `JOB_EVENT_BUS`: where job state change events go; empty when they are off.
    pub job_event_bus: Option<String>,
    /// `PAYLOAD_BUCKET`: where payloads and results too large to travel inline are held.
    pub payload_bucket: String,
}

impl NotifierSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            payload_bucket: required("PAYLOAD_BUCKET")?,
            table_name: required("TABLE_NAME")?,
            callback_queue_url: required("CALLBACK_QUEUE_URL")?,
            callback_dead_letter_queue_url: required("CALLBACK_DEAD_LETTER_QUEUE_URL")?,
            callback_dead_letter_inbox_url: required("CALLBACK_DEAD_LETTER_INBOX_URL")?,
            webhook_key_id: required("WEBHOOK_KEY_ID")?,
            job_event_bus: required("JOB_EVENT_BUS").ok(),
            timeout: Duration::from_millis(parameters::CALLBACK_TIMEOUT_MS.number()?),
            max_attempts: parameters::CALLBACK_MAX_ATTEMPTS.count()?,
            max_receive_count: parameters::CALLBACK_MAX_RECEIVE_COUNT.count()?,
            retry_base_delay: Duration::from_secs(
                parameters::CALLBACK_RETRY_BASE_DELAY_SECONDS.number()?,
            ),
            retry_max_delay: Duration::from_secs(
                parameters::CALLBACK_RETRY_MAX_DELAY_SECONDS.number()?,
            ),
            url_policy: callback_policy_from_env(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parameters;
    use std::collections::HashMap;

    /// `template.yaml`'s parameter defaults (`Parameters:` → `  Name:` → `    Default: v`).
    fn template_defaults() -> HashMap<String, String> {
        let template = include_str!("../../../template.yaml");
        let mut defaults = HashMap::new();
        let mut current = None;
        for line in template
            .lines()
            .skip_while(|l| *l != "Parameters:")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
        {
            if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':'))
                && !name.starts_with(' ')
            {
                current = Some(name.to_owned());
            } else if let (Some(name), Some(value)) = (&current, line.strip_prefix("    Default: "))
            {
                defaults.insert(name.clone(), value.trim_matches('"').to_owned());
            }
        }
        defaults
    }

    #[test]
    fn template_and_code_state_the_same_defaults() {
        let template = template_defaults();
        assert!(
            template.len() > 10,
            "parsed the template's parameters: {template:?}"
        );
        for parameter in parameters::ALL {
            assert_eq!(
                template.get(parameter.template).map(String::as_str),
                Some(parameter.default.to_string().as_str()),
                "{} ({})",
                parameter.template,
                parameter.env
            );
        }
        // The job catalog's switch: absent from the environment means the template's default.
        assert_eq!(template["ExampleJobTypes"], "disabled");
    }

    /// SQS redrive is the callbacks' backstop only: it must leave every attempt its receive
    /// (and room for receives that end in a dependency error), in AWS and locally.
    #[test]
    fn the_callback_queues_backstop_sits_above_the_delivery_attempts() {
        let template = template_defaults();
        let number = |v: &str| v.parse::<u32>().unwrap();
        assert!(
            number(&template["CallbackMaxReceiveCount"]) > number(&template["CallbackMaxAttempts"])
        );
        let local: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/local.json")).unwrap();
        let local = |name: &str| number(local["parameters"][name].as_str().unwrap());
        assert!(local("CallbackMaxReceiveCount") > local("CallbackMaxAttempts"));
    }

    /// The ordered queue's redrive is a backstop the processor's own count of receives keeps
    /// away from: ten times the most own receives `MaxReceiveCount` allows, and the code's
    /// constant is the template's.
    #[test]
    fn the_ordered_queues_backstop_sits_above_ten_times_the_own_receives() {
        let template = include_str!("../../../template.yaml");
        let queue = &template[template.find("  OrderedWorkQueue:").unwrap()..];
        let queue = &queue[..queue.find("\n\n").unwrap()];
        assert!(
            queue.contains(&format!(
                "maxReceiveCount: {}",
                crate::application::processor::ORDERED_REDRIVE_AFTER
            )),
            "{queue}"
        );
        let parameter = &template[template.find("  MaxReceiveCount:").unwrap()..];
        let most: u32 = parameter
            .lines()
            .find_map(|line| line.trim().strip_prefix("MaxValue: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(10 * (most + 1) <= crate::application::processor::ORDERED_REDRIVE_AFTER);
    }

    /// `sam deploy --guided` asks for every template parameter, so what only the local stack
    /// needs is no parameter: `infra/deploy.py` applies `infra/local.json` itself.
    #[test]
    fn local_settings_are_the_deploy_scripts_never_a_guided_prompt() {
        let local: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/local.json")).unwrap();
        let template_text = include_str!("../../../template.yaml");
        let parameters = template_defaults();
        for name in local["parameters"].as_object().unwrap().keys() {
            assert!(
                parameters.contains_key(name),
                "{name} is no template parameter"
            );
        }
        let environment = local["environment"].as_object().unwrap();
        assert!(!environment.is_empty());
        for variable in environment.keys() {
            assert!(
                include_str!("settings.rs").contains(&format!("\"{variable}\"")),
                "{variable} is read by no function"
            );
            assert!(
                !template_text.contains(variable.as_str()),
                "{variable} must not come from the template (a guided deploy would ask for it)"
            );
        }
        for name in parameters.keys() {
            assert!(
                !name.contains("Local") && !name.contains("Emulator"),
                "{name} is a local-only template parameter"
            );
        }
    }
}
