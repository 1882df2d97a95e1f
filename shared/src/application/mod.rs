//! What courier does, over ports: accepting work, processing it, reporting it back.
//! Imports the domain and the ports it defines; never an adapter or an AWS SDK type.

pub mod backoff;
pub mod bulk;
pub mod clock;
pub mod consumer;
pub mod frames;
pub mod http_targets;
pub mod intake;
pub mod job_events;
pub mod job_types;
pub mod job_view;
pub mod listing;
pub mod notifier;
pub mod payloads;
pub mod ports;
pub mod processor;
pub mod quotas;
pub mod schedules;
pub mod ssrf;
pub mod task_reports;
pub mod webhook_endpoints;
