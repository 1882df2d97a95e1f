//! Job types declared in a job-types document rather than compiled: work that lives in an
//! existing Lambda function or an HTTP service. The document's shape is
//! `jobs/job-types.schema.json`; [`parse`] holds a document to it and to what the schema cannot
//! say, and answers every problem with the JSON pointer of the value at fault, so a bad
//! document is refused at deploy, never at the first job.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

/// The document's JSON Schema (draft 2020-12), as committed.
pub const SCHEMA: &str = include_str!("../job-types.schema.json");

/// An attempt's longest run when the document does not say (a compiled type's default too).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The longest an inline attempt may take: it runs inside one invocation of the processor
/// (30 s), which stops work 3 s before its deadline to record the outcome. Longer work is an
/// external completion, which no invocation waits for.
pub const INLINE_TIMEOUT_CEILING: Duration = Duration::from_secs(25);

/// A declared type's largest result when the document does not say (the same ceiling as a
/// compiled type's).
pub const DEFAULT_MAX_RESULT_BYTES: usize = crate::api::MAX_RESULT_BYTES;

/// A document's digest as its published object is named by (`<prefix>/<digest>.json`): the
/// first 16 bytes of its SHA-256, in hex. A function reading the document checks it, so an
/// object replaced after its check is refused, not run.
pub fn document_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// Whether this version runs external completions (workers that report later).
pub const EXTERNAL_COMPLETION: bool = true;

/// Where a declared type's attempts run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A Lambda function: its name or ARN.
    Lambda(String),
    /// An HTTP service: courier POSTs each attempt to this URL.
    Http(String),
}

pub use courier_protocol::rest::Completion;

/// One declared type, with the document's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredType {
    pub target: Target,
    /// The schema a payload must fit (`true`: any payload).
    pub payload_schema: Value,
    pub timeout: Duration,
    /// `None`: the deployment's `MaxAttempts`.
    pub max_attempts: Option<u32>,
    pub max_result_bytes: usize,
    pub completion: Completion,
    /// External completions only: the longest a worker may go without a report.
    pub heartbeat: Option<Duration>,
}

/// A job-types document that holds: its types by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobTypesDocument {
    pub types: BTreeMap<String, DeclaredType>,
}

/// One thing wrong with a document, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{pointer}: {message}")]
pub struct DocumentError {
    /// The JSON pointer of the value at fault (`""`: the document itself).
    pub pointer: String,
    pub message: String,
}

/// What a document is checked against besides its schema.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentLimits<'a> {
    /// `ClaimLifetimeSeconds`: an attempt must be able to end before its job's claim does.
    pub claim_lifetime: Duration,
    /// The compiled types' names: a declared type may not take one.
    pub compiled: &'a [&'a str],
    /// Hosts an HTTP target may name with `http://` (local development only: every other
    /// target must be `https://`).
    pub plain_http_hosts: &'a [&'a str],
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    job_types: BTreeMap<String, WireType>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireType {
    target: Target,
    payload_schema: Option<Value>,
    timeout_seconds: Option<u64>,
    max_attempts: Option<u32>,
    max_result_bytes: Option<usize>,
    completion: Option<Completion>,
    heartbeat_seconds: Option<u64>,
}

/// Where in a schema a reference or a definitions block is, if anywhere.
fn reference_in(schema: &Value, at: &str) -> Option<String> {
    match schema {
        Value::Object(object) => object.iter().find_map(|(key, value)| {
            let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
            match key.as_str() {
                "$ref" | "$defs" | "definitions" | "$dynamicRef" => Some(here),
                _ => reference_in(value, &here),
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| reference_in(item, &format!("{at}/{i}"))),
        _ => None,
    }
}

/// An HTTP target is `https://`, or `http://` to a host local development allows; no
/// credentials in it.
fn http_target_allowed(url: &str, plain_http_hosts: &[&str]) -> Result<(), String> {
    let (plain, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err("an HTTP target's URL is https://".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("an HTTP target's URL holds no credentials".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("an HTTP target's URL names a host".into());
    }
    if plain && !plain_http_hosts.contains(&host) {
        return Err(format!(
            "an HTTP target's URL is https:// ({host} is not a host this deployment allows \
             plain http to)"
        ));
    }
    Ok(())
}

fn problem(pointer: impl Into<String>, message: impl Into<String>) -> DocumentError {
    DocumentError {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// Reads a job-types document: every type it declares, or every problem it has.
pub fn parse(
    text: &str,
    limits: DeploymentLimits<'_>,
) -> Result<JobTypesDocument, Vec<DocumentError>> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| vec![problem("", format!("not JSON: {e}"))])?;
    let schema: Value = serde_json::from_str(SCHEMA).expect("the committed schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the committed schema compiles");
    let mut problems: Vec<DocumentError> = validator
        .iter_errors(&document)
        .map(|e| problem(e.instance_path().to_string(), e.to_string()))
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let wire: Wire = serde_json::from_value(document).map_err(|e| {
        vec![problem(
            "",
            format!("does not fit the document's shape: {e}"),
        )]
    })?;
    let mut types = BTreeMap::new();
    for (name, declared) in wire.job_types {
        let at = format!("/jobTypes/{name}");
        if limits.compiled.contains(&name.as_str()) {
            problems.push(problem(
                &at,
                format!("{name:?} is a compiled job type of this deployment; choose another name"),
            ));
        }
        if let Target::Http(url) = &declared.target
            && let Err(message) = http_target_allowed(url, limits.plain_http_hosts)
        {
            problems.push(problem(format!("{at}/target/http"), message));
        }
        let payload_schema = declared.payload_schema.unwrap_or(Value::Bool(true));
        if let Some(at_ref) = reference_in(&payload_schema, "") {
            problems.push(problem(
                format!("{at}/payloadSchema{at_ref}"),
                "a payload schema is self-contained here (it is published in the deployment's \
                 API document as it is): write its subschemas inline, without $ref or $defs",
            ));
        } else if let Err(error) = jsonschema::validator_for(&payload_schema) {
            problems.push(problem(
                format!("{at}/payloadSchema"),
                format!("not a usable JSON Schema: {error}"),
            ));
        }
        let timeout = declared
            .timeout_seconds
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        // Refused rather than given longer claims: every claim of a deployment lives as long,
        // and a job's claim must outlive its attempts for anyone to read the outcome.
        if timeout >= limits.claim_lifetime {
            problems.push(problem(
                format!("{at}/timeoutSeconds"),
                format!(
                    "an attempt of {} s cannot end before its job's claim does (claims live {} s: \
                     raise ClaimLifetimeSeconds or shorten the timeout)",
                    timeout.as_secs(),
                    limits.claim_lifetime.as_secs()
                ),
            ));
        }
        let completion = declared.completion.unwrap_or(Completion::Inline);
        // Refused rather than run as if inline: the worker's acknowledgement would be taken
        // for its result.
        if completion == Completion::External && !EXTERNAL_COMPLETION {
            problems.push(problem(
                format!("{at}/completion"),
                "external completion (POST /v1/tasks/report) is not available in this version \
                 of courier yet; declare an inline type",
            ));
        }
        if completion == Completion::Inline && timeout > INLINE_TIMEOUT_CEILING {
            problems.push(problem(
                format!("{at}/timeoutSeconds"),
                format!(
                    "an inline attempt runs inside one processor invocation, so at most {} s; \
                     declare \"completion\": \"external\" for longer work",
                    INLINE_TIMEOUT_CEILING.as_secs()
                ),
            ));
        }
        if let Some(heartbeat) = declared.heartbeat_seconds
            && Duration::from_secs(heartbeat) > timeout
        {
            problems.push(problem(
                format!("{at}/heartbeatSeconds"),
                format!(
                    "a heartbeat of {heartbeat} s is longer than the attempt's {} s timeout",
                    timeout.as_secs()
                ),
            ));
        }
        types.insert(
            name,
            DeclaredType {
                target: declared.target,
                payload_schema,
                timeout,
                max_attempts: declared.max_attempts,
                max_result_bytes: declared
                    .max_result_bytes
                    .unwrap_or(DEFAULT_MAX_RESULT_BYTES),
                completion,
                heartbeat: declared.heartbeat_seconds.map(Duration::from_secs),
            },
        );
    }
    match problems.is_empty() {
        true => Ok(JobTypesDocument { types }),
        false => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: DeploymentLimits<'static> = DeploymentLimits {
        claim_lifetime: Duration::from_secs(86_400),
        compiled: &["echo", "sleep"],
        plain_http_hosts: &["127.0.0.1"],
    };

    fn pointers(document: Value) -> Vec<String> {
        parse(&document.to_string(), LIMITS)
            .expect_err("refused")
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    /// The documented example holds, with its defaults applied (an inline timeout within
    /// one processor invocation).
    #[test]
    fn the_documented_example_is_a_valid_document() {
        let document = json!({"jobTypes": {
            "resize": {"target": {"lambda": "resize-fn"}, "payloadSchema": {"type": "object"},
                       "timeoutSeconds": 25, "maxAttempts": 3, "maxResultBytes": 65536},
            "transcode": {"target": {"http": "https://worker.example/transcode"},
                          "completion": "external", "heartbeatSeconds": 120,
                          "timeoutSeconds": 86399}}});
        let parsed = match parse(&document.to_string(), LIMITS) {
            Ok(parsed) => parsed,
            // Until this version runs external completions, that is the only problem.
            Err(problems) if !EXTERNAL_COMPLETION => {
                let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
                assert_eq!(pointers, ["/jobTypes/transcode/completion"]);
                return;
            }
            Err(problems) => panic!("{problems:?}"),
        };
        let resize = &parsed.types["resize"];
        assert_eq!(resize.target, Target::Lambda("resize-fn".into()));
        assert_eq!(resize.max_attempts, Some(3));
        assert_eq!(resize.completion, Completion::Inline);
        let transcode = &parsed.types["transcode"];
        assert_eq!(
            transcode.target,
            Target::Http("https://worker.example/transcode".into())
        );
        assert_eq!(transcode.completion, Completion::External);
        assert_eq!(transcode.heartbeat, Some(Duration::from_secs(120)));
        assert_eq!(transcode.payload_schema, json!(true), "any payload");
        assert_eq!(transcode.max_result_bytes, DEFAULT_MAX_RESULT_BYTES);
    }

    #[test]
    fn every_problem_is_named_by_its_pointer() {
        let ok = || json!({"target": {"lambda": "fn"}});
        assert_eq!(pointers(json!({"jobTypes": {}, "extra": 1})), [""]);
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "fn"}, "colour": "red"}}})),
            ["/jobTypes/a"]
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"ftp": "x"}}}})),
            ["/jobTypes/a/target"]
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "not a name!"}}}})),
            ["/jobTypes/a/target"]
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "fn"}, "timeoutSeconds": 0}}})),
            ["/jobTypes/a/timeoutSeconds"]
        );
        assert_eq!(
            pointers(
                json!({"jobTypes": {"a": {"target": {"lambda": "fn"}, "heartbeatSeconds": 5}}})
            ),
            ["/jobTypes/a"],
            "a heartbeat belongs to an external completion"
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "fn"},
                                                 "payloadSchema": {"type": "nonsense"}}}})),
            ["/jobTypes/a/payloadSchema"]
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "fn"},
                                                 "completion": "external",
                                                 "timeoutSeconds": 86400}}}))
            .into_iter()
            .filter(|p| !p.ends_with("/completion"))
            .collect::<Vec<_>>(),
            ["/jobTypes/a/timeoutSeconds"],
            "an attempt must end before the claim"
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "fn"},
                                                 "timeoutSeconds": 26}}})),
            ["/jobTypes/a/timeoutSeconds"],
            "an inline attempt must fit one processor invocation"
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"a": {"target": {"lambda": "fn"},
                                                 "completion": "external",
                                                 "heartbeatSeconds": 61,
                                                 "timeoutSeconds": 60}}})),
            ["/jobTypes/a/heartbeatSeconds"],
            "a heartbeat fits in its attempt"
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"echo": ok()}})),
            ["/jobTypes/echo"]
        );
        assert_eq!(
            pointers(json!({"jobTypes": {"Bad Name": ok()}})),
            ["/jobTypes"]
        );
        let broken = parse("{not json", LIMITS).unwrap_err();
        assert_eq!(broken[0].pointer, "");
    }

    #[test]
    fn an_http_target_is_https_unless_its_host_is_allowed_plain_http() {
        let target = |url: &str| json!({"jobTypes": {"a": {"target": {"http": url}}}});
        assert!(parse(&target("https://worker.example/x").to_string(), LIMITS).is_ok());
        assert!(parse(&target("http://127.0.0.1:6066/x").to_string(), LIMITS).is_ok());
        for bad in [
            "http://worker.example/x",
            "https://user:pw@worker.example/x",
            "http://127.0.0.1@evil.example/x",
        ] {
            assert_eq!(pointers(target(bad)), ["/jobTypes/a/target/http"], "{bad}");
        }
    }

    /// A declared schema is published as it is: a reference would point nowhere in the
    /// deployment's API document.
    #[test]
    fn a_payload_schema_with_references_is_refused_where_they_are() {
        let schema = json!({"type": "object", "properties": {
            "a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string"}}});
        let document = json!({"jobTypes": {"a": {"target": {"lambda": "f"},
                                                  "payloadSchema": schema}}});
        let found = pointers(document);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("/jobTypes/a/payloadSchema/"),
            "{found:?}"
        );
    }

    #[test]
    fn a_function_arn_with_an_alias_is_a_lambda_target() {
        let document = json!({"jobTypes": {"a": {"target": {
            "lambda": "arn:aws:lambda:eu-west-1:123456789012:function:resize:live"}}}});
        assert!(parse(&document.to_string(), LIMITS).is_ok());
    }
}
