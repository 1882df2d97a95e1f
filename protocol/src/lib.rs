//! courier's wire types, shared by the server library, the Rust client and the CLI, so the
//! three can never disagree on a field name:
//!
//! - [`rest`]: the bodies of the HTTP API (submissions, acceptances, the job view, problems);
//! - [`queue`]: the messages courier puts on its SQS queues, as one tagged enum;
//! - [`frames`]: the WebSocket API's client and server frames;
//! - [`webhook`]: the callback payload's signing and verification (Standard Webhooks);
//! - [`principal`]: who called (issuer and subject of the caller's token);
//! - [`task`]: what a declared job type's target is sent for each attempt.
//! - [`timeline`]: what happened to a job, as `GET /v1/jobs/{id}/events` lists it.
//!
//! Everything here is plain data plus (de)serialisation: no I/O, no AWS types.

pub mod events;
pub mod frames;
pub mod json;
pub mod principal;
pub mod queue;
pub mod quota;
pub mod rest;
pub mod task;
pub mod timeline;
pub mod webhook;
