//! JSON logs through `tracing`, one flat object per line: the event's fields and those of every
//! span it is in — Lambda's `requestId` and `xrayTraceId`, courier's `correlationId`, `jobId` or
//! `messageId`, `jobType`, `traceId`, `principal` — at the top level, where CloudWatch Logs
//! Insights filters on them directly (`filter correlationId = "…"`). The metrics records
//! (`metrics/`) use the same names.
//!
//! Span fields are named as the JSON keys they become (camelCase, [`fields`]); an event field
//! never takes one of those names, so no line carries a key twice.

mod caller_text;
mod xray;

pub use caller_text::{MAX_CHARS as MAX_CALLER_TEXT_CHARS, capped, key_digest};
pub use xray::{AWS_TRACE_HEADER, TraceHeader, record_trace_id};

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls),
/// else `info`: a level, or `target=level` directives (`info,aws_smithy_runtime=debug`), parsed
/// without regular expressions. Call once at cold start.
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok())
        .map(|level| level.to_ascii_lowercase())
        .unwrap_or_else(|| "info".to_owned());
    let targets = filter
        .parse::<Targets>()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(
            json_subscriber::layer()
                .with_current_span(false)
                .with_span_list(false)
                .flatten_span_list_on_top_level(true)
                .flatten_event(true)
                .with_target(false),
        )
        .with(targets)
        .init();
}

/// Records who the work is for on `span` (its `principal` field), when a caller is known.
pub fn record_principal(
    span: &tracing::Span,
    caller: Option<&courier_protocol::principal::Principal>,
) {
    if let Some(caller) = caller {
        span.record(fields::PRINCIPAL, caller.key());
    }
}

/// The names of the span fields courier's lines carry at the top level.
pub mod fields {
    pub const CORRELATION_ID: &str = "correlationId";
    pub const JOB_ID: &str = "jobId";
    pub const MESSAGE_ID: &str = "messageId";
    pub const TRACE_ID: &str = "traceId";
    pub const PRINCIPAL: &str = "principal";
    /// API Gateway's id of the request: its access log's `requestId`.
    pub const API_REQUEST_ID: &str = "apiRequestId";
}
