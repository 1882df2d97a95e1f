//! The template's saved Logs Insights queries name only what courier writes: every field is a
//! top-level key of courier's lines (`telemetry::fields`, the metrics records' names and
//! dimensions), and every quoted event name is one the metrics records use. A renamed field or
//! event fails here, not in an operator's empty query result. (The emulator runs only a
//! subset of Insights and cannot create query definitions, so this is where they are checked.)

use courier_shared::metrics::{dimension, name};
use courier_shared::telemetry::fields;
use std::collections::BTreeSet;

const TEMPLATE: &str = include_str!("../../template.yaml");
const METRICS_SOURCE: &str = include_str!("../src/metrics/mod.rs");

/// Insights' own words, and the placeholder the "one request" query asks to replace.
const INSIGHTS_WORDS: &[&str] = &[
    "fields", "filter", "sort", "stats", "limit", "by", "as", "asc", "desc", "count", "in", "or",
    "and", "not", "like",
];

/// Each `QueryString: |` block of the template: (resource name, query).
fn saved_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let mut resource = String::new();
    let mut lines = TEMPLATE.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            resource = line.trim().trim_end_matches(':').to_owned();
        }
        if line.trim() == "QueryString: |" {
            let indent = line.len() - line.trim_start().len();
            let mut query = String::new();
            while let Some(next) = lines.peek() {
                if next.trim().is_empty() || next.len() - next.trim_start().len() <= indent {
                    break;
                }
                query.push_str(next.trim());
                query.push('\n');
                lines.next();
            }
            queries.push((resource.clone(), query));
        }
    }
    queries
}

/// The query without its quoted strings, and those strings.
fn split_quotes(query: &str) -> (String, Vec<String>) {
    let mut bare = String::new();
    let mut quoted = Vec::new();
    let mut parts = query.split('"');
    while let Some(outside) = parts.next() {
        bare.push_str(outside);
        bare.push(' ');
        if let Some(inside) = parts.next() {
            quoted.push(inside.to_owned());
        }
    }
    (bare, quoted)
}

/// Whether courier's lines carry `word` at the top level: a span field, a metric or dimension,
/// a property the metrics records set (quoted in their source), or the level every line has.
fn courier_writes(word: &str) -> bool {
    let constants = BTreeSet::from([
        fields::CORRELATION_ID,
        fields::JOB_ID,
        fields::MESSAGE_ID,
        fields::TRACE_ID,
        fields::PRINCIPAL,
        fields::API_REQUEST_ID,
        dimension::PATTERN,
        dimension::OUTCOME,
        name::PROCESSING_DURATION,
        name::END_TO_END_LATENCY,
        name::CALLBACK_DELIVERY_LATENCY,
    ]);
    constants.contains(word)
        || METRICS_SOURCE.contains(&format!("property(\"{word}\""))
        || word == "level"
}

#[test]
fn the_template_saves_the_queries_operators_start_from() {
    let names: Vec<String> = saved_queries().into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "OneRequestQuery",
            "OneJobQuery",
            "FailuresByJobTypeQuery",
            "SlowestJobsQuery"
        ]
    );
}

#[test]
fn every_field_a_saved_query_names_is_one_courier_writes() {
    for (resource, query) in saved_queries() {
        let (bare, _) = split_quotes(&query);
        let words = bare
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '@' || c == '_'))
            .filter(|w| !w.is_empty() && !w.starts_with('@'))
            .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
            .filter(|w| !INSIGHTS_WORDS.contains(&w.to_ascii_lowercase().as_str()));
        for word in words {
            // `stats … as failures` names a column of its own.
            if bare.contains(&format!("as {word}")) {
                continue;
            }
            assert!(
                courier_writes(word),
                "{resource} names {word:?}, which no courier line carries"
            );
        }
    }
}

#[test]
fn every_event_a_saved_query_filters_on_is_one_courier_logs() {
    for (resource, query) in saved_queries() {
        let (_, quoted) = split_quotes(&query);
        for text in quoted
            .iter()
            .filter(|t| !t.starts_with("REPLACE-WITH-THE-"))
        {
            assert!(
                METRICS_SOURCE.contains(&format!("\"{text}\"")),
                "{resource} filters on {text:?}, which no metrics record is named"
            );
        }
    }
}
