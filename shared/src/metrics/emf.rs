//! CloudWatch [Embedded Metric Format]: a log line that CloudWatch Logs turns into metrics.
//! In Lambda, a JSON object printed to stdout with an `_aws` member is all it takes: no API
//! call, no agent, nothing on the request path but one `write`.
//!
//! [Embedded Metric Format]: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use serde_json::Value;
#[cfg(test)]
use serde_json::json;

/// EMF's limits per directive.
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
pub const MAX_DIMENSIONS_PER_SET: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    /// A plain number (a 0/1 whose average is a rate).
    None,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::None => "None",
        }
    }
}

/// One metric directive: metrics that share a dimension set (and are counted under `also`'s
/// sets too: one directive, its metrics listed once).
#[derive(Debug, Clone, PartialEq)]
struct Directive {
    dimensions: Vec<String>,
    also: Vec<Vec<String>>,
    metrics: Vec<(String, Unit)>,
}

/// What records share whose values may be counted as one record's (see
/// [`Record::series_key`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesKey {
    namespace: String,
    directives: Vec<Directive>,
    dimensions: Vec<(String, String)>,
}

/// A member of the record's top-level object.
#[derive(Debug, Clone, PartialEq)]
enum Member {
    Text(String),
    Number(f64),
    /// A metric's values gathered from several records (EMF takes up to 100 in one array).
    Numbers(Vec<f64>),
    Json(Value),
}

/// One EMF record: metric values, the dimensions they are counted under, and properties that
/// are kept (searchable in Logs Insights) but are not dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    namespace: String,
    timestamp_ms: i64,
    directives: Vec<Directive>,
    members: Vec<(String, Member)>,
}

/// EMF's limit of values in one metric's array.
pub const MAX_VALUES_PER_METRIC: usize = 100;

/// Appends `text` as a JSON string, escaped in place.
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("strings serialise");
}

impl Record {
    pub fn new(namespace: impl Into<String>, timestamp_ms: i64) -> Self {
        Self {
            namespace: namespace.into(),
            timestamp_ms,
            directives: Vec::new(),
            members: Vec::new(),
        }
    }

    fn set(mut self, name: &str, member: Member) -> Self {
        match self.members.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = member,
            None => self.members.push((name.to_owned(), member)),
        }
        self
    }

    /// A dimension's value for this record (`Pattern = claim-check`).
    pub fn dimension(self, name: &str, value: &str) -> Self {
        self.set(name, Member::Text(value.to_owned()))
    }

    /// A value kept with the record but not a dimension (`correlationId`, `jobId`).
    pub fn property(self, name: &str, value: impl Into<Value>) -> Self {
        match value.into() {
            Value::String(text) => self.set(name, Member::Text(text)),
            other => self.set(name, Member::Json(other)),
        }
    }

    /// A metric counted under the dimension set `dimensions` (names set with
    /// [`Record::dimension`]; an empty set is the metric without dimensions).
    pub fn metric(mut self, dimensions: &[&str], name: &str, unit: Unit, value: f64) -> Self {
        assert!(
            dimensions.len() <= MAX_DIMENSIONS_PER_SET,
            "too many dimensions"
        );
        let directive = match self.directives.iter_mut().find(|d| {
            d.dimensions
                .iter()
                .map(String::as_str)
                .eq(dimensions.iter().copied())
        }) {
            Some(directive) => directive,
            None => {
                self.directives.push(Directive {
                    dimensions: dimensions.iter().map(|d| (*d).to_owned()).collect(),
                    also: Vec::new(),
                    metrics: Vec::new(),
                });
                self.directives.last_mut().expect("just pushed")
            }
        };
        assert!(
            directive.metrics.len() < MAX_METRICS_PER_DIRECTIVE,
            "too many metrics"
        );
        directive.metrics.push((name.to_owned(), unit));
        self.set(name, Member::Number(value))
    }

    /// Counts the metrics of the directive under `dimensions` (made by [`Record::metric`])
    /// under the dimension set `also` as well, without listing them again.
    pub fn also_under(mut self, dimensions: &[&str], also: &[&str]) -> Self {
        assert!(also.len() <= MAX_DIMENSIONS_PER_SET, "too many dimensions");
        let directive = self
            .directives
            .iter_mut()
            .find(|d| {
                d.dimensions
                    .iter()
                    .map(String::as_str)
                    .eq(dimensions.iter().copied())
            })
            .expect("a metric was counted under the dimensions first");
        directive
            .also
            .push(also.iter().map(|d| (*d).to_owned()).collect());
        self
    }

    /// The record as one line of JSON, written directly: it is built on every request.
    pub fn to_json(&self) -> String {
        use std::io::Write as _;
        let mut out: Vec<u8> = Vec::with_capacity(512);
        let _ = write!(
            out,
            r#"{{"_aws":{{"Timestamp":{},"CloudWatchMetrics":["#,
            self.timestamp_ms
        );
        for (i, directive) in self.directives.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"Namespace":"#);
            push_json_string(&mut out, &self.namespace);
            out.extend_from_slice(br#","Dimensions":["#);
            let sets = std::iter::once(&directive.dimensions).chain(&directive.also);
            for (k, set) in sets.enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                for (j, dimension) in set.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    push_json_string(&mut out, dimension);
                }
                out.push(b']');
            }
            out.extend_from_slice(br#"],"Metrics":["#);
            for (j, (name, unit)) in directive.metrics.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(br#"{"Name":"#);
                push_json_string(&mut out, name);
                let _ = write!(out, r#","Unit":"{}"}}"#, unit.as_str());
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
        for (name, member) in &self.members {
            out.push(b',');
            push_member(&mut out, name, member);
        }
        out.push(b'}');
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// The record's members without its metric directives: a log line CloudWatch keeps but
    /// counts nothing from (its values are counted once, elsewhere).
    pub fn to_bare_json(&self) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(384);
        out.push(b'{');
        for (i, (name, member)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_member(&mut out, name, member);
        }
        out.push(b'}');
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Whether the record counts anything.
    pub fn has_metrics(&self) -> bool {
        !self.directives.is_empty()
    }

    fn dimension_names(&self) -> impl Iterator<Item = &String> {
        self.directives
            .iter()
            .flat_map(|d| std::iter::once(&d.dimensions).chain(&d.also))
            .flatten()
    }

    fn metric_names(&self) -> impl Iterator<Item = &String> {
        self.directives
            .iter()
            .flat_map(|d| d.metrics.iter().map(|(name, _)| name))
    }

    fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    /// What records must share for their values to be counted as one record's: namespace,
    /// directives (dimension sets, metric names and units) and the dimensions' values.
    pub fn series_key(&self) -> SeriesKey {
        SeriesKey {
            namespace: self.namespace.clone(),
            directives: self.directives.clone(),
            dimensions: self
                .dimension_names()
                .map(|name| match self.member(name) {
                    Some(Member::Text(value)) => (name.clone(), value.clone()),
                    _ => (name.clone(), String::new()),
                })
                .collect(),
        }
    }

    /// Whether every metric of the record is one number: what [`Record::gather`] takes.
    pub fn gatherable(&self) -> bool {
        self.metric_names()
            .all(|name| matches!(self.member(name), Some(Member::Number(_))))
    }

    /// When the record is stamped (milliseconds since the epoch).
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// Whether the record says anything beyond its metrics and their dimensions (a unit of
    /// work's ids, its event): whether it is worth a log line of its own.
    pub fn has_properties(&self) -> bool {
        let counted: std::collections::HashSet<&String> =
            self.dimension_names().chain(self.metric_names()).collect();
        self.members.iter().any(|(name, _)| !counted.contains(name))
    }

    /// The record's metrics alone, with their dimensions, stamped `timestamp_ms`: the start
    /// of a record that gathers the values of others with the same [`Record::series_key`].
    pub fn metrics_only(&self, timestamp_ms: i64) -> Record {
        let kept: std::collections::HashSet<&String> =
            self.dimension_names().chain(self.metric_names()).collect();
        Record {
            namespace: self.namespace.clone(),
            timestamp_ms,
            directives: self.directives.clone(),
            members: self
                .members
                .iter()
                .filter(|(name, _)| kept.contains(name))
                .cloned()
                .collect(),
        }
    }

    /// Adds `other`'s metric values (a record with the same series key, both
    /// [`Record::gatherable`]) to this record's, as arrays: CloudWatch counts each value of an
    /// array as a sample of its own, so the statistics are those of the records apart.
    pub fn gather(&mut self, other: &Record) {
        debug_assert!(self.series_key() == other.series_key() && other.gatherable());
        for name in other.metric_names() {
            let Some(Member::Number(value)) = other.member(name) else {
                continue;
            };
            let Some((_, member)) = self.members.iter_mut().find(|(n, _)| n == name) else {
                continue;
            };
            match member {
                Member::Numbers(values) => values.push(*value),
                Member::Number(first) => *member = Member::Numbers(vec![*first, *value]),
                Member::Text(_) | Member::Json(_) => {}
            }
        }
    }

    /// The most values any of its metrics holds.
    pub fn samples(&self) -> usize {
        self.members
            .iter()
            .map(|(_, member)| match member {
                Member::Numbers(values) => values.len(),
                Member::Number(_) => 1,
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }
}

/// `"name":value`, a number that is not finite written as 0 (JSON has no NaN or infinity; a
/// metric that is not a number is a zero).
fn push_member(out: &mut Vec<u8>, name: &str, member: &Member) {
    use std::io::Write as _;
    push_json_string(out, name);
    out.push(b':');
    let number = |out: &mut Vec<u8>, n: f64| {
        if n.is_finite() {
            let _ = write!(out, "{n:?}");
        } else {
            out.push(b'0');
        }
    };
    match member {
        Member::Text(text) => push_json_string(out, text),
        Member::Number(n) => number(out, *n),
        Member::Numbers(values) => {
            out.push(b'[');
            for (i, n) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                number(out, *n);
            }
            out.push(b']');
        }
        Member::Json(value) => serde_json::to_writer(out, value).expect("values serialise"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_odd_numbers_stay_valid_json() {
        let record = Record::new("Courier", 0)
            .property("correlationId", "quote\" and \\ and \n")
            .metric(&[], "Weird", Unit::Count, f64::NAN);
        let value: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(value["correlationId"], "quote\" and \\ and \n");
        assert_eq!(value["Weird"], json!(0));
    }

    #[test]
    fn encodes_the_specification_shape() {
        let record = Record::new("Courier", 1_700_000_000_123)
            .dimension("Pattern", "claim-check")
            .dimension("Outcome", "succeeded")
            .property("correlationId", "c-1")
            .metric(&["Pattern", "Outcome"], "Processed", Unit::Count, 1.0)
            .metric(&["Pattern"], "ProcessingDuration", Unit::Milliseconds, 12.5)
            .metric(&["Pattern"], "EndToEndLatency", Unit::Milliseconds, 80.0);
        let value: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123_i64,
                    "CloudWatchMetrics": [
                        {"Namespace": "Courier", "Dimensions": [["Pattern", "Outcome"]],
                         "Metrics": [{"Name": "Processed", "Unit": "Count"}]},
                        {"Namespace": "Courier", "Dimensions": [["Pattern"]],
                         "Metrics": [{"Name": "ProcessingDuration", "Unit": "Milliseconds"},
                                     {"Name": "EndToEndLatency", "Unit": "Milliseconds"}]}
                    ]
                },
                "Pattern": "claim-check",
                "Outcome": "succeeded",
                "correlationId": "c-1",
                "Processed": 1.0,
                "ProcessingDuration": 12.5,
                "EndToEndLatency": 80.0
            })
        );
    }

    #[test]
    fn a_metric_without_dimensions_has_an_empty_set() {
        let record = Record::new("Courier", 0).metric(&[], "ConnectionsGone", Unit::Count, 1.0);
        let value: Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(
            value["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(value["ConnectionsGone"], json!(1.0));
    }

    #[test]
    fn every_directive_names_only_root_members() {
        let record = Record::new("Courier", 0)
            .dimension("Kind", "progress")
            .metric(&["Kind"], "FramesSent", Unit::Count, 1.0);
        let value: Value = serde_json::from_str(&record.to_json()).unwrap();
        for directive in value["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for set in directive["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    assert!(value[name.as_str().unwrap()].is_string());
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(value[metric["Name"].as_str().unwrap()].is_number());
            }
        }
    }
}
