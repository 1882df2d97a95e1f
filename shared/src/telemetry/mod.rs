//! JSON logs through `tracing`, one object per line, with the span fields (Lambda request id,
//! correlation id, message id) on every line so CloudWatch Logs Insights can filter by them.

mod xray;

pub use xray::{AWS_TRACE_HEADER, TraceHeader, record_trace_id};

use tracing_subscriber::EnvFilter;

/// Level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls),
/// else `info`. Call once at cold start.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok())
        .map(|level| level.to_ascii_lowercase())
        .unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(filter))
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .init();
}
