//! JSON logs through `tracing`, one object per line, with the span fields (Lambda request id,
//! correlation id, message id) on every line so CloudWatch Logs Insights can filter by them.

mod xray;

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
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_span_list(true)
                .flatten_event(true)
                .with_target(false)
                .with_ansi(false),
        )
        .with(targets)
        .init();
}
