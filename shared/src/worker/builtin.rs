//! The built-in job types that make demos and tests meaningful (names fixed by DESIGN.md).

use super::{WorkContext, WorkError, Worker, WorkerRegistry};
use async_trait::async_trait;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Longest `sleep` accepted: well inside the processor's timeout.
pub const MAX_SLEEP_MS: u64 = 20_000;
/// Most transient failures a `flaky` job may ask for.
pub const MAX_FLAKY_FAILURES: u64 = 50;

pub fn register_builtins(registry: &mut WorkerRegistry) {
    registry
        .register("echo", Echo)
        .register("sha256", Sha256Digest)
        .register("sleep", Sleep)
        .register("fail", Fail)
        .register("flaky", Flaky);
}

fn field<'a>(payload: &'a Value, name: &str) -> Option<&'a Value> {
    payload.as_object().and_then(|o| o.get(name))
}

fn bounded_u64(payload: &Value, name: &str, max: u64) -> Result<u64, String> {
    let value = field(payload, name).ok_or_else(|| format!("payload.{name} is required"))?;
    value
        .as_u64()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("payload.{name} must be an integer from 0 to {max}"))
}

/// Result = payload.
struct Echo;

#[async_trait]
impl Worker for Echo {
    async fn run(&self, payload: &Value, _: &WorkContext<'_>) -> Result<Value, WorkError> {
        Ok(payload.clone())
    }
}

/// SHA-256 of the UTF-8 string `payload.data`.
struct Sha256Digest;

impl Sha256Digest {
    fn data(payload: &Value) -> Result<&str, String> {
        field(payload, "data")
            .and_then(Value::as_str)
            .ok_or_else(|| "payload.data must be a string".to_owned())
    }
}

#[async_trait]
impl Worker for Sha256Digest {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        Self::data(payload).map(drop)
    }

    async fn run(&self, payload: &Value, _: &WorkContext<'_>) -> Result<Value, WorkError> {
        let data = Self::data(payload).map_err(WorkError::Permanent)?;
        let digest = Sha256::digest(data.as_bytes());
        Ok(json!({ "sha256": hex::encode(digest), "bytes": data.len() }))
    }
}

/// Sleeps `payload.ms` milliseconds in ten steps, reporting progress after each.
struct Sleep;

#[async_trait]
impl Worker for Sleep {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        bounded_u64(payload, "ms", MAX_SLEEP_MS).map(drop)
    }

    async fn run(&self, payload: &Value, context: &WorkContext<'_>) -> Result<Value, WorkError> {
        let ms = bounded_u64(payload, "ms", MAX_SLEEP_MS).map_err(WorkError::Permanent)?;
        const STEPS: u64 = 10;
        for step in 1..=STEPS {
            tokio::time::sleep(Duration::from_millis(ms / STEPS)).await;
            if step < STEPS {
                context.progress.report((step * 100 / STEPS) as u8).await;
            }
        }
        Ok(json!({ "sleptMs": ms }))
    }
}

/// Fails permanently with `payload.reason`.
struct Fail;

#[async_trait]
impl Worker for Fail {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        match field(payload, "reason") {
            None | Some(Value::String(_)) => Ok(()),
            Some(_) => Err("payload.reason must be a string".to_owned()),
        }
    }

    async fn run(&self, payload: &Value, _: &WorkContext<'_>) -> Result<Value, WorkError> {
        let reason = field(payload, "reason")
            .and_then(Value::as_str)
            .unwrap_or("failed as requested");
        Err(WorkError::Permanent(reason.to_owned()))
    }
}

/// Fails transiently on its first `payload.failures` attempts, then succeeds.
struct Flaky;

#[async_trait]
impl Worker for Flaky {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        bounded_u64(payload, "failures", MAX_FLAKY_FAILURES).map(drop)
    }

    async fn run(&self, payload: &Value, context: &WorkContext<'_>) -> Result<Value, WorkError> {
        let failures =
            bounded_u64(payload, "failures", MAX_FLAKY_FAILURES).map_err(WorkError::Permanent)?;
        if u64::from(context.attempt) <= failures {
            return Err(WorkError::Transient(format!(
                "flaky: planned failure {} of {failures}",
                context.attempt
            )));
        }
        Ok(json!({ "attempts": context.attempt }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RecordingProgress;
    use crate::worker::RegistryError;

    async fn run(name: &str, payload: Value, attempt: u32) -> (Result<Value, WorkError>, Vec<u8>) {
        let registry = WorkerRegistry::with_builtins();
        let progress = RecordingProgress::default();
        let context = WorkContext {
            attempt,
            progress: &progress,
        };
        let result = registry.get(name).unwrap().run(&payload, &context).await;
        (result, progress.reports())
    }

    #[tokio::test]
    async fn echo_returns_its_payload() {
        let (result, _) = run("echo", json!({"a": [1, "b"]}), 1).await;
        assert_eq!(result.unwrap(), json!({"a": [1, "b"]}));
    }

    #[tokio::test]
    async fn sha256_matches_the_known_digest() {
        let (result, _) = run("sha256", json!({"data": "abc"}), 1).await;
        assert_eq!(
            result.unwrap(),
            json!({
                "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                "bytes": 3
            })
        );
    }

    #[tokio::test]
    async fn sleep_reports_rising_progress() {
        let (result, reports) = run("sleep", json!({"ms": 50}), 1).await;
        assert_eq!(result.unwrap(), json!({"sleptMs": 50}));
        assert_eq!(reports, vec![10, 20, 30, 40, 50, 60, 70, 80, 90]);
    }

    #[tokio::test]
    async fn fail_is_permanent_with_its_reason() {
        let (result, _) = run("fail", json!({"reason": "no such account"}), 1).await;
        assert_eq!(result, Err(WorkError::Permanent("no such account".into())));
    }

    #[tokio::test]
    async fn flaky_fails_transiently_then_succeeds() {
        for attempt in 1..=2 {
            let (result, _) = run("flaky", json!({"failures": 2}), attempt).await;
            assert!(matches!(result, Err(WorkError::Transient(_))), "{result:?}");
        }
        let (result, _) = run("flaky", json!({"failures": 2}), 3).await;
        assert_eq!(result.unwrap(), json!({"attempts": 3}));
    }

    #[test]
    fn validation_rejects_bad_payloads_at_acceptance() {
        let registry = WorkerRegistry::with_builtins();
        assert!(registry.validate("echo", &Value::Null).is_ok());
        let cases = [
            ("sha256", json!({"data": 5})),
            ("sleep", json!({"ms": -1})),
            ("sleep", json!({"ms": MAX_SLEEP_MS + 1})),
            ("fail", json!({"reason": 1})),
            ("flaky", json!({})),
        ];
        for (name, payload) in cases {
            let err = registry.validate(name, &payload).unwrap_err();
            assert!(
                matches!(err, RegistryError::InvalidPayload { .. }),
                "{name}: {err}"
            );
        }
        let unknown = registry.validate("nope", &Value::Null).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown job type \"nope\"; known types: echo, fail, flaky, sha256, sleep"
        );
    }
}
