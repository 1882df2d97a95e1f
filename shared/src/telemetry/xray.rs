//! The X-Ray trace header, carried across SQS explicitly: the request that accepted the work
//! and every function that later handles it share one trace id, in X-Ray and in the logs.
//!
//! The Lambda runtime hands each invocation its header (`_X_AMZN_TRACE_ID`); producers put it
//! on the message as SQS's `AWSTraceHeader` system attribute, and consumers read it back from
//! the record. The AWS SDK also sends it as an HTTP header, but only the system attribute is
//! part of SendMessage's contract (and the one emulators honour), so courier sets it itself.

use aws_lambda_events::event::sqs::SqsMessage;

/// The SQS system attribute name (SendMessage's `MessageSystemAttributes`, a record's
/// `attributes`).
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// Where lambda_runtime leaves the current invocation's header. It does so in its sequential
/// `run` (what courier's functions use), not in `run_concurrent`; the AWS SDK's
/// recursion-detection interceptor reads the same variable.
const INVOCATION_TRACE_ENV: &str = "_X_AMZN_TRACE_ID";

/// SQS rejects a malformed header, which would fail the send: only a well-formed one is carried.
const MAX_HEADER_CHARS: usize = 256;

/// `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>` (fields in any order, others allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    header: String,
    root_at: std::ops::Range<usize>,
}

fn is_root(id: &str) -> bool {
    let mut parts = id.split('-');
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(time), Some(random), None) if hex(time, 8) && hex(random, 24)
    )
}

/// Where a well-formed header's root trace id stands in it.
fn root_at(raw: &str) -> Option<std::ops::Range<usize>> {
    if raw.len() > MAX_HEADER_CHARS || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut offset = 0;
    for field in raw.split(';') {
        if let Some(id) = field.strip_prefix("Root=")
            && is_root(id)
        {
            let start = offset + "Root=".len();
            return Some(start..start + id.len());
        }
        offset += field.len() + 1;
    }
    None
}

impl TraceHeader {
    /// `None` unless `raw` is a well-formed header with a root trace id.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(Self {
            root_at: root_at(raw)?,
            header: raw.to_owned(),
        })
    }

    /// The trace id of a header kept as text (a work message's), without copying it.
    pub fn trace_id_of(raw: &str) -> Option<&str> {
        root_at(raw).map(|at| &raw[at])
    }

    /// The current invocation's header, when the function runs traced.
    pub fn of_invocation() -> Option<Self> {
        Self::parse(&std::env::var(INVOCATION_TRACE_ENV).ok()?)
    }

    /// The header the message's producer attached, if any.
    pub fn of_record(record: &SqsMessage) -> Option<Self> {
        Self::parse(record.attributes.get(AWS_TRACE_HEADER)?)
    }

    /// The whole header, as SQS and X-Ray take it.
    pub fn as_str(&self) -> &str {
        &self.header
    }

    /// The trace id (`1-…-…`): what the logs carry and X-Ray's console searches by.
    pub fn trace_id(&self) -> &str {
        &self.header[self.root_at.clone()]
    }
}

/// A span field value for an optional trace: recorded when present, left out of the log otherwise.
pub fn record_trace_id(span: &tracing::Span, trace: Option<&TraceHeader>) {
    if let Some(trace) = trace {
        span.record(super::fields::TRACE_ID, trace.trace_id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAMBDA: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn reads_the_root_from_a_lambda_header_whatever_the_field_order() {
        let header = TraceHeader::parse(LAMBDA).unwrap();
        assert_eq!(header.trace_id(), "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(header.as_str(), LAMBDA);
        let reordered = "Sampled=0;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:0";
        assert_eq!(
            TraceHeader::parse(reordered).unwrap().trace_id(),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(
            TraceHeader::trace_id_of(reordered),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
    }

    #[test]
    fn refuses_what_sqs_would_reject() {
        for bad in [
            "",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=dummy;Parent=53995c3f42cd8ad8;Sampled=0",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e98-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279z",
            "Root=1-5759e988-bd862e3fe1be46a994272793-00",
            "Root=1-5759e988-bd862e3fe1be46a994272793; Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;\nSampled=1",
        ] {
            assert_eq!(TraceHeader::parse(bad), None, "{bad:?}");
            assert_eq!(TraceHeader::trace_id_of(bad), None, "{bad:?}");
        }
        let long = format!("{LAMBDA};Lineage={}", "a".repeat(300));
        assert_eq!(TraceHeader::parse(&long), None);
    }

    #[test]
    fn a_record_carries_its_producers_header_in_the_system_attributes() {
        let mut record = SqsMessage::default();
        assert_eq!(TraceHeader::of_record(&record), None);
        record
            .attributes
            .insert(AWS_TRACE_HEADER.to_owned(), LAMBDA.to_owned());
        assert_eq!(
            TraceHeader::of_record(&record).unwrap().trace_id(),
            "1-5759e988-bd862e3fe1be46a994272793"
        );
    }
}
