//! courier's shared library: everything the Lambda functions do, as plain async code over ports.
//!
//! Each function binary wires real AWS clients into these types and hands a handler to the
//! Lambda runtime; tests wire in-memory adapters from [`testing`] instead.

pub mod aws;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod notifier;
pub mod ports;
pub mod processor;
pub mod telemetry;
pub mod testing;
pub mod webhook;
pub mod websocket;
pub mod worker;
