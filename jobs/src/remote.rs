//! A declared job type at run time: each attempt is one call to its target (a Lambda function
//! or an HTTP service) with the documented [`TaskRequest`]; what the target answers is the
//! attempt's outcome. How a call is made is a [`TargetCaller`]'s business (courier's AWS and
//! HTTP adapters); what a declared type is, and what it is sent, is here.

use crate::api::{Completion, JobContext, JobError, JobSettings, OnTimeout, PayloadError};
use crate::api::{RegisteredType, Registry, downstream_idempotency_key};
use crate::declared::{DeclaredType, JobTypesDocument, Target};
use async_trait::async_trait;
use courier_protocol::task::TaskRequest;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Makes one attempt's call to a target and says how it went: the target's result, or a
/// transient or permanent failure with its reason. Never longer than `timeout`.
#[async_trait]
pub trait TargetCaller: Send + Sync {
    async fn call(
        &self,
        target: &Target,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<Value, JobError>;
}

/// The callers of each kind of target, as one: a Lambda function's or an HTTP service's.
pub struct ByKind {
    pub lambda: Arc<dyn TargetCaller>,
    pub http: Arc<dyn TargetCaller>,
}

#[async_trait]
impl TargetCaller for ByKind {
    async fn call(
        &self,
        target: &Target,
        request: &TaskRequest,
        timeout: Duration,
    ) -> Result<Value, JobError> {
        let caller = match target {
            Target::Lambda(_) => &self.lambda,
            Target::Http(_) => &self.http,
        };
        caller.call(target, request, timeout).await
    }
}

/// A declared type, registered under its name.
pub struct RemoteType {
    /// Leaked once per cold start: registered names are `'static`, and a deployment's
    /// declared types live as long as its process.
    name: &'static str,
    declared: DeclaredType,
    settings: JobSettings,
    /// `None` in the functions that only accept work (they validate, list and never run).
    caller: Option<Arc<dyn TargetCaller>>,
}

impl RemoteType {
    pub fn new(name: &str, declared: DeclaredType, caller: Option<Arc<dyn TargetCaller>>) -> Self {
        let mut settings = JobSettings::default()
            .timeout(declared.timeout)
            .on_timeout(OnTimeout::Retry)
            .max_result_bytes(declared.max_result_bytes);
        if let Some(attempts) = declared.max_attempts {
            settings = settings.max_attempts(attempts);
        }
        Self {
            name: Box::leak(name.to_owned().into_boxed_str()),
            declared,
            settings,
            caller,
        }
    }

    pub fn target(&self) -> &Target {
        &self.declared.target
    }
}

/// What an attempt's target is sent: the job, its attempt and deadline, and the key its own
/// downstream calls are made under.
pub fn task_request(job_type: &str, payload: Value, context: &JobContext<'_>) -> TaskRequest {
    let deadline = time::OffsetDateTime::now_utc() + context.time_left();
    // A held payload is sent as its URL: never over an invocation's 6 MB.
    let payload = match context.payload_url {
        Some(_) => Value::Null,
        None => payload,
    };
    TaskRequest {
        job_id: context.job_id.to_owned(),
        job_type: job_type.to_owned(),
        payload,
        payload_url: context.payload_url.map(str::to_owned),
        attempt: context.attempt,
        deadline: deadline
            .replace_nanosecond(deadline.millisecond() as u32 * 1_000_000)
            .unwrap_or(deadline)
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a UTC instant formats"),
        correlation_id: context.correlation_id.to_owned(),
        idempotency_key: downstream_idempotency_key(context.job_id),
        task: context.task.cloned(),
    }
}

#[async_trait]
impl RegisteredType for RemoteType {
    fn name(&self) -> &'static str {
        self.name
    }

    fn settings(&self) -> &JobSettings {
        &self.settings
    }

    fn payload_schema(&self) -> &Value {
        &self.declared.payload_schema
    }

    fn fits_input(&self, _payload: &Value) -> Result<(), PayloadError> {
        Ok(()) // the schema is all a declared type says about its payload
    }

    fn completion(&self) -> Completion {
        self.declared.completion
    }

    fn heartbeat(&self) -> Option<Duration> {
        self.declared.heartbeat
    }

    async fn run(&self, payload: Value, context: &JobContext<'_>) -> Result<Value, JobError> {
        let Some(caller) = &self.caller else {
            return Err(JobError::transient(
                "this function accepts declared job types but does not run them",
            ));
        };
        let request = task_request(self.name, payload, context);
        caller
            .call(&self.declared.target, &request, context.time_left())
            .await
    }
}

impl Registry {
    /// Adds every type of a job-types document, each run through `caller`.
    pub fn declare(
        &mut self,
        document: &JobTypesDocument,
        caller: Option<Arc<dyn TargetCaller>>,
    ) -> &mut Self {
        for (name, declared) in &document.types {
            self.insert(Arc::new(RemoteType::new(
                name,
                declared.clone(),
                caller.clone(),
            )));
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProgressSink;
    use serde_json::json;
    use std::sync::Mutex;

    struct Nothing;

    #[async_trait]
    impl ProgressSink for Nothing {
        async fn report(&self, _: u8) {}
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(Target, TaskRequest, Duration)>>);

    #[async_trait]
    impl TargetCaller for Recorder {
        async fn call(
            &self,
            target: &Target,
            request: &TaskRequest,
            timeout: Duration,
        ) -> Result<Value, JobError> {
            self.0
                .lock()
                .unwrap()
                .push((target.clone(), request.clone(), timeout));
            Ok(json!({"done": request.attempt}))
        }
    }

    fn document() -> JobTypesDocument {
        crate::declared::parse(
            &json!({"jobTypes": {"resize": {"target": {"lambda": "resize-fn"},
                "payloadSchema": {"type": "object", "required": ["w"]},
                "timeoutSeconds": 25, "maxAttempts": 3}}})
            .to_string(),
            crate::declared::DeploymentLimits {
                claim_lifetime: Duration::from_secs(3600),
                compiled: &[],
                plain_http_hosts: &["127.0.0.1"],
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_attempt_sends_the_documented_request_to_the_target() {
        let recorder = Arc::new(Recorder::default());
        let mut registry = Registry::new();
        registry.declare(&document(), Some(recorder.clone()));
        let resize = registry.get("resize").unwrap();
        assert_eq!(resize.settings().timeout, Duration::from_secs(25));
        assert_eq!(resize.settings().max_attempts, Some(3));
        assert_eq!(resize.completion(), Completion::Inline);
        let context = JobContext {
            job_id: "job-1",
            correlation_id: "corr-1",
            attempt: 2,
            deadline: tokio::time::Instant::now() + Duration::from_secs(10),
            progress: &Nothing,
            task: None,
            payload_url: None,
        };
        let result = resize.run(json!({"w": 5}), &context).await;
        assert_eq!(result, Ok(json!({"done": 2})));
        let calls = recorder.0.lock().unwrap();
        let (target, request, timeout) = &calls[0];
        assert_eq!(target, &Target::Lambda("resize-fn".into()));
        assert_eq!(request.job_type, "resize");
        assert_eq!(request.payload, json!({"w": 5}));
        assert_eq!(request.attempt, 2);
        assert_eq!(request.correlation_id, "corr-1");
        assert_eq!(request.idempotency_key, downstream_idempotency_key("job-1"));
        assert!(request.deadline.ends_with('Z'), "{}", request.deadline);
        assert!(*timeout <= Duration::from_secs(10));
    }

    #[test]
    fn declared_payloads_are_validated_like_compiled_ones() {
        let mut registry = Registry::new();
        registry.declare(&document(), None);
        assert!(registry.validate("resize", &json!({"w": 1})).is_ok());
        match registry.validate("resize", &json!({"h": 1})) {
            Err(crate::RegistryError::InvalidPayload { error, .. }) => {
                assert_eq!(error.pointer, "/payload")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_function_that_only_accepts_work_never_runs_a_declared_type() {
        let mut registry = Registry::new();
        registry.declare(&document(), None);
        let context = JobContext {
            job_id: "j",
            correlation_id: "c",
            attempt: 1,
            deadline: tokio::time::Instant::now() + Duration::from_secs(1),
            progress: &Nothing,
            task: None,
            payload_url: None,
        };
        let outcome = registry
            .get("resize")
            .unwrap()
            .run(json!({"w": 1}), &context)
            .await;
        assert!(matches!(outcome, Err(JobError::Transient(_))));
    }
}
