//! A job's timeline on its claim: `events`, a list of JSON texts (one [`Recorded`] each),
//! appended by the very write that makes each happen, so the timeline costs no request of its
//! own and its order is the order in which DynamoDB applied those writes.

use super::s;
use crate::application::clock::rfc3339;
use crate::domain::{Happening, Recorded};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The SET clause that appends `:happened` (bind both [`values`]).
pub(super) const APPEND: &str = "events = list_append(if_not_exists(events, :nothing), :happened)";

/// `expression` (a SET clause, maybe followed by an ADD or a REMOVE clause) that also appends
/// to the timeline (bind [`note`]'s values).
pub(super) fn appending(expression: &str) -> String {
    super::setting_also(expression, APPEND)
}

/// `request` with the values [`APPEND`] uses bound: `what` happened at `at`. (After any
/// `set_expression_attribute_values`, which replaces them all.)
pub(super) fn note(
    request: UpdateItemFluentBuilder,
    at: OffsetDateTime,
    what: &[Happening],
) -> UpdateItemFluentBuilder {
    values(at, what)
        .into_iter()
        .fold(request, |r, (placeholder, value)| {
            r.expression_attribute_values(placeholder, value)
        })
}

/// [`note`], each happening at its own time (a write that records what happened over a while).
pub(super) fn note_each(
    request: UpdateItemFluentBuilder,
    what: &[(OffsetDateTime, Happening)],
) -> UpdateItemFluentBuilder {
    values_each(what)
        .into_iter()
        .fold(request, |r, (placeholder, value)| {
            r.expression_attribute_values(placeholder, value)
        })
}

/// The values [`APPEND`] uses: the happenings, recorded at `at`.
fn values(at: OffsetDateTime, what: &[Happening]) -> [(&'static str, AttributeValue); 2] {
    let each: Vec<(OffsetDateTime, Happening)> = what.iter().map(|w| (at, w.clone())).collect();
    values_each(&each)
}

fn values_each(what: &[(OffsetDateTime, Happening)]) -> [(&'static str, AttributeValue); 2] {
    let happened = what
        .iter()
        .map(|(at, what)| {
            let recorded = Recorded {
                at: rfc3339(*at),
                what: what.clone(),
            };
            s(serde_json::to_string(&recorded).expect("a happening serialises"))
        })
        .collect();
    [
        (":nothing", AttributeValue::L(Vec::new())),
        (":happened", AttributeValue::L(happened)),
    ]
}

/// The timeline an item keeps, in order (an entry that does not read back is skipped).
pub(super) fn read(item: &HashMap<String, AttributeValue>) -> Vec<Recorded> {
    item.get("events")
        .and_then(|v| v.as_l().ok())
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_s().ok())
                .filter_map(|text| serde_json::from_str(text).ok())
                .collect()
        })
        .unwrap_or_default()
}
