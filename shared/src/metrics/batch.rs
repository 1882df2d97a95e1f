//! One invocation's metric records, gathered: a function that handles a batch (the processor,
//! the notifier) would otherwise write each unit of work's metric directives again, ~430 bytes
//! of the line each unit already has, and log bytes are billed. As Powertools for AWS Lambda
//! does, the values of records that count the same series are gathered into arrays and written
//! once at the end of the invocation; CloudWatch counts each value of an array as a sample of
//! its own, so every statistic (sum, count, average, percentiles) is what it was.
//!
//! The first record of each series in an invocation is still written whole, at once: a batch
//! of one (the ordered queue's, a light load's) costs what it did, and an invocation's metrics
//! never wait on a unit of work that is never followed by another. Each later unit of work keeps
//! its line at once too, with its ids and values, only without the directives
//! ([`super::emf::Record::to_bare_json`]): a Logs Insights query finds it as before.

use super::emf::{MAX_VALUES_PER_METRIC, Record, SeriesKey};

/// CloudWatch's finest period for these metrics: a gathered record holds values of one minute,
/// so a per-minute graph or alarm puts each value in the minute it was recorded.
const MINUTE_MS: i64 = 60_000;

/// The records of one invocation so far.
#[derive(Debug, Default)]
pub struct Batch {
    /// Per series seen: its key, and the values of its later records, not yet written.
    series: Vec<(SeriesKey, Option<Record>)>,
}

/// What to write for one record, in order.
pub type Lines = Vec<String>;

impl Batch {
    /// The lines `record` is written as now: whole if it is the first of its series (or counts
    /// nothing); else its bare line if it has properties of its own, with its values kept for
    /// [`Batch::finish`] (or written at once where an array is full).
    pub fn add(&mut self, record: Record, now_ms: i64) -> Lines {
        if !record.has_metrics() || !record.gatherable() {
            return vec![record.to_json()];
        }
        let key = record.series_key();
        let Some((_, gathered)) = self.series.iter_mut().find(|(k, _)| *k == key) else {
            self.series.push((key, None));
            return vec![record.to_json()];
        };
        let mut lines = Vec::new();
        if record.has_properties() {
            lines.push(record.to_bare_json());
        }
        // A value of another minute starts a record of its own.
        if gathered
            .as_ref()
            .is_some_and(|values| values.timestamp_ms() / MINUTE_MS != now_ms / MINUTE_MS)
        {
            lines.extend(gathered.take().map(|values| values.to_json()));
        }
        match gathered {
            Some(values) => values.gather(&record),
            None => *gathered = Some(record.metrics_only(now_ms)),
        }
        if gathered
            .as_ref()
            .is_some_and(|values| values.samples() >= MAX_VALUES_PER_METRIC)
        {
            lines.extend(gathered.take().map(|values| values.to_json()));
        }
        lines
    }

    /// The gathered records, one per series that had more than one record: the end of the
    /// invocation.
    pub fn finish(self) -> Lines {
        self.series
            .into_iter()
            .filter_map(|(_, gathered)| gathered)
            .map(|values| values.to_json())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::emf::Unit;
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn processed(id: &str, pattern: &str, duration: f64) -> Record {
        Record::new("Courier/s", 1)
            .property("message", "job succeeded")
            .property("jobId", id)
            .dimension("Pattern", pattern)
            .metric(&["Pattern"], "Processed", Unit::Count, 1.0)
            .metric(
                &["Pattern"],
                "ProcessingDuration",
                Unit::Milliseconds,
                duration,
            )
    }

    fn frame() -> Record {
        Record::new("Courier/s", 1)
            .dimension("Kind", "result")
            .metric(&["Kind"], "FramesSent", Unit::Count, 1.0)
    }

    /// What CloudWatch would count from `lines`: every value of every metric of a line with
    /// directives, by metric and dimension values.
    fn counted(lines: &[String]) -> BTreeMap<String, Vec<f64>> {
        let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for line in lines {
            let value: Value = serde_json::from_str(line).unwrap();
            for directive in value["_aws"]["CloudWatchMetrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let dimensions: Vec<String> = directive["Dimensions"][0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| format!("{}={}", d.as_str().unwrap(), value[d.as_str().unwrap()]))
                    .collect();
                for metric in directive["Metrics"].as_array().unwrap() {
                    let name = metric["Name"].as_str().unwrap();
                    let values = match &value[name] {
                        Value::Array(values) => {
                            values.iter().map(|v| v.as_f64().unwrap()).collect()
                        }
                        one => vec![one.as_f64().unwrap()],
                    };
                    samples
                        .entry(format!("{name}[{}]", dimensions.join(",")))
                        .or_default()
                        .extend(values);
                }
            }
        }
        samples
    }

    fn written(records: Vec<Record>) -> Lines {
        let mut batch = Batch::default();
        let mut lines: Lines = records.into_iter().flat_map(|r| batch.add(r, 2)).collect();
        lines.extend(batch.finish());
        lines
    }

    #[test]
    fn a_batch_counts_every_value_its_records_would_count_apart() {
        let records: Vec<Record> = (0..25)
            .map(|i| {
                let pattern = if i % 3 == 0 {
                    "callback"
                } else {
                    "claim-check"
                };
                processed(&format!("job-{i}"), pattern, i as f64)
            })
            .chain((0..4).map(|_| frame()))
            .collect();
        let apart: Lines = records.iter().map(Record::to_json).collect();
        let lines = written(records);
        assert_eq!(counted(&lines), counted(&apart));
        // Two series of jobs and one of frames: each written whole once, then one gathered
        // record each; every later job keeps a line of its own.
        let with_directives = lines.iter().filter(|l| l.contains("\"_aws\"")).count();
        assert_eq!(with_directives, 6, "{lines:#?}");
        for i in 0..25 {
            let id = format!("\"job-{i}\"");
            assert_eq!(lines.iter().filter(|l| l.contains(&id)).count(), 1, "{id}");
        }
        let bytes = |lines: &Lines| lines.iter().map(String::len).sum::<usize>();
        assert!(
            bytes(&lines) * 2 < bytes(&apart),
            "{} {}",
            bytes(&lines),
            bytes(&apart)
        );
    }

    #[test]
    fn a_later_units_line_keeps_its_ids_and_values_without_directives() {
        let lines = written(vec![
            processed("a", "callback", 1.0),
            processed("b", "callback", 7.5),
        ]);
        let bare: Value = serde_json::from_str(&lines[1]).unwrap();
        assert!(bare.get("_aws").is_none(), "{bare}");
        assert_eq!(bare["jobId"], "b");
        assert_eq!(bare["message"], "job succeeded");
        assert_eq!(bare["ProcessingDuration"], 7.5);
        let gathered: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(gathered["ProcessingDuration"], serde_json::json!(7.5));
        assert!(gathered.get("jobId").is_none() && gathered.get("message").is_none());
        assert_eq!(gathered["_aws"]["Timestamp"], 2);
    }

    #[test]
    fn a_batch_of_one_is_written_as_it_was() {
        let record = processed("a", "callback", 3.0);
        assert_eq!(written(vec![record.clone()]), vec![record.to_json()]);
    }

    #[test]
    fn values_of_another_minute_go_in_a_record_of_their_own() {
        let mut batch = Batch::default();
        let mut lines = batch.add(processed("a", "callback", 1.0), 59_000);
        lines.extend(batch.add(processed("b", "callback", 2.0), 59_500));
        lines.extend(batch.add(processed("c", "callback", 3.0), 60_100));
        lines.extend(batch.add(processed("d", "callback", 4.0), 60_200));
        lines.extend(batch.finish());
        let gathered: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l.get("_aws").is_some() && l.get("jobId").is_none())
            .collect();
        assert_eq!(gathered.len(), 2, "{lines:#?}");
        assert_eq!(gathered[0]["_aws"]["Timestamp"], 59_500);
        assert_eq!(gathered[0]["ProcessingDuration"], 2.0);
        assert_eq!(gathered[1]["_aws"]["Timestamp"], 60_100);
        assert_eq!(
            gathered[1]["ProcessingDuration"],
            serde_json::json!([3.0, 4.0])
        );
    }

    #[test]
    fn a_record_whose_metric_is_not_one_number_is_written_whole() {
        let odd = || {
            processed("x", "callback", 1.0).property("ProcessingDuration", serde_json::json!([1]))
        };
        let lines = written(vec![odd(), odd()]);
        assert_eq!(lines, vec![odd().to_json(), odd().to_json()]);
    }

    #[test]
    fn a_full_array_is_written_at_once() {
        let mut batch = Batch::default();
        let mut written_early = 0;
        for i in 0..=MAX_VALUES_PER_METRIC {
            let lines = batch.add(processed(&i.to_string(), "callback", 1.0), 2);
            written_early += lines.iter().filter(|l| l.contains("\"_aws\"")).count();
        }
        // The first whole, then a gathered record of 100 values as soon as it is full.
        assert_eq!(written_early, 2);
        assert!(batch.finish().is_empty());
    }
}
