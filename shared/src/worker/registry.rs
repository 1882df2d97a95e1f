use super::Worker;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("unknown job type {name:?}; known types: {known}")]
    UnknownType { name: String, known: String },
    #[error("invalid payload for job type {name:?}: {reason}")]
    InvalidPayload { name: String, reason: String },
}

/// Job types by name. Built once per cold start and shared by every invocation.
#[derive(Default, Clone)]
pub struct WorkerRegistry {
    workers: BTreeMap<String, Arc<dyn Worker>>,
}

impl WorkerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry with courier's built-in job types.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        super::register_builtins(&mut registry);
        registry
    }

    pub fn register(
        &mut self,
        name: impl Into<String>,
        worker: impl Worker + 'static,
    ) -> &mut Self {
        self.workers.insert(name.into(), Arc::new(worker));
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Worker>> {
        self.workers.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.workers.keys().map(String::as_str)
    }

    /// The acceptance check: the type exists and its payload is plausible.
    pub fn validate(&self, name: &str, payload: &Value) -> Result<(), RegistryError> {
        let worker = self.get(name).ok_or_else(|| RegistryError::UnknownType {
            name: name.to_owned(),
            known: self.names().collect::<Vec<_>>().join(", "),
        })?;
        worker
            .validate(payload)
            .map_err(|reason| RegistryError::InvalidPayload {
                name: name.to_owned(),
                reason,
            })
    }
}
