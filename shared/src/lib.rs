//! courier's library: everything the Lambda functions do, in four layers.
//!
//! - [`domain`]: the values, and the job and callback lifecycles (one transition table each).
//!   No I/O, no AWS types.
//! - [`application`]: what courier does with them, over ports (traits): one intake for every
//!   door that accepts work, one SQS consumer skeleton, the processor, the notifier's delivery
//!   steps, numbered WebSocket frames.
//! - [`adapters`]: the ports' implementations (AWS SDK), the doors work comes in by (the HTTP
//!   router, the WebSocket routes), and in-memory twins for tests (feature `test-support`).
//! - [`composition`]: one wiring function per Lambda function, reading its settings and the
//!   job registry it is given.
//!
//! [`telemetry`] and [`metrics`] are the cross-cutting output (JSON logs, EMF metrics);
//! [`metering`] counts AWS calls per invocation in local builds, for the measured cost. Job
//! types themselves live in the `courier-jobs` crate: this library knows none by name.
//! `ARCHITECTURE.md` at the repository root is the map.

#[macro_use]
pub mod failpoints;

pub mod adapters;
pub mod application;
pub mod composition;
pub mod domain;
#[cfg(test)]
mod fixtures;
pub mod metering;
pub mod metrics;
pub mod telemetry;
