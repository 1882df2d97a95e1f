//! Job types: the one place courier learns what work it can run.
//!
//! - [`api`] is what a job type implements ([`JobType`]) and what it is given while it runs
//!   ([`JobContext`]), plus the [`Registry`] the functions are built with. The courier library
//!   depends on this API and on nothing else here: it knows no job type by name.
//! - [`examples`] are the types a new deployment ships with (`echo`, `sha256`, `sleep`,
//!   `fail`, `flaky`, and `ledger`, a team-style type with a downstream write), switched off
//!   per deployment with the template parameter `ExampleJobTypes`.
//! - [`catalog`] lists what this deployment registers: add your own types there.

pub mod api;
pub mod declared;
pub mod examples;
pub mod remote;

pub use api::{
    Effects, JobContext, JobError, JobSettings, JobType, OnTimeout, PayloadError, ProgressSink,
    Registry, RegistryError, RetryPolicy,
};

/// Which job types a deployment registers, read from its environment.
#[derive(Debug, Clone)]
pub struct CatalogOptions {
    /// `EXAMPLE_JOB_TYPES=enabled` (the template parameter `ExampleJobTypes`).
    pub examples: bool,
    /// The table the `ledger` example writes to (`LEDGER_TABLE_NAME`, courier's own table by
    /// default).
    pub ledger_table: Option<String>,
}

impl CatalogOptions {
    pub fn from_env() -> Self {
        // Off unless asked for, as the template's default.
        let examples = std::env::var("EXAMPLE_JOB_TYPES").is_ok_and(|v| v == "enabled");
        let ledger_table = std::env::var("LEDGER_TABLE_NAME")
            .or_else(|_| std::env::var("TABLE_NAME"))
            .ok()
            .filter(|t| !t.is_empty());
        Self {
            examples,
            ledger_table,
        }
    }
}

/// The registry a deployment's functions are built with: [`catalog`] with the options in the
/// function's environment.
pub fn deployment(aws: &aws_config::SdkConfig) -> Registry {
    catalog(&CatalogOptions::from_env(), aws)
}

/// The job types this deployment runs. Register your own types here: nothing in the courier
/// library changes. Builds no client and makes no network call (cold starts stay short).
pub fn catalog(options: &CatalogOptions, aws: &aws_config::SdkConfig) -> Registry {
    let mut registry = Registry::new();
    if options.examples {
        examples::register(&mut registry, aws, options.ledger_table.as_deref());
    }
    // registry.register(your_crate::Thumbnail::new(...));
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn examples_can_be_switched_off() {
        let on = CatalogOptions {
            examples: true,
            ledger_table: Some("t".into()),
        };
        let names: Vec<_> = catalog(&on, &aws()).names().collect();
        assert_eq!(
            names,
            ["echo", "fail", "flaky", "ledger", "sha256", "sleep"]
        );
        let off = CatalogOptions {
            examples: false,
            ..on
        };
        assert_eq!(catalog(&off, &aws()).names().count(), 0);
    }
}

#[cfg(test)]
mod validation_tests {
    use crate::{RegistryError, examples};
    use serde_json::json;

    #[test]
    fn a_payload_is_checked_against_its_types_schema_with_a_pointer() {
        let registry = examples::offline();
        assert!(registry.validate("echo", &json!(null)).is_ok());
        assert!(registry.validate("fail", &json!(null)).is_ok());
        assert!(
            registry.validate("sleep", &json!({"ms": 5.0})).is_ok(),
            "a whole float is an integer"
        );
        let cases = [
            ("sleep", json!({"ms": "soon"}), "/payload/ms"),
            ("sleep", json!({"ms": 20001}), "/payload/ms"),
            ("sleep", json!(null), "/payload"),
            ("sha256", json!({"data": 5}), "/payload/data"),
            ("flaky", json!({"failures": 51}), "/payload/failures"),
            ("fail", json!({"reason": 1}), "/payload/reason"),
        ];
        for (name, payload, pointer) in cases {
            match registry.validate(name, &payload) {
                Err(RegistryError::InvalidPayload { error, .. }) => {
                    assert_eq!(
                        error.pointer, pointer,
                        "{name} {payload}: {}",
                        error.message
                    )
                }
                other => panic!("{name} {payload}: {other:?}"),
            }
        }
        let unknown = registry.validate("nope", &json!(null)).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown job type \"nope\"; known types: echo, fail, flaky, sha256, sleep"
        );
    }
}
