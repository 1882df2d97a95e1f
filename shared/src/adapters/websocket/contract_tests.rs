//! Holds `asyncapi.json` to the WebSocket API: the document is valid AsyncAPI 3.0, it names
//! exactly the frame kinds and error codes the protocol has, and every server frame a unit
//! test posts (through the recording poster) is valid against the message its kind names.

use courier_protocol::frames::{FrameKind, ServerFrame, SubmitFrame, error_code};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const DOC: &str = include_str!("../../../../asyncapi.json");
const SPEC_SCHEMA: &str = include_str!("../../../tests/fixtures/asyncapi-3.0.0.schema.json");

fn doc() -> &'static Value {
    static DOC_VALUE: OnceLock<Value> = OnceLock::new();
    DOC_VALUE.get_or_init(|| serde_json::from_str(DOC).expect("asyncapi.json is JSON"))
}

/// A message's payload schema, compiled with the document's components for its `$ref`s.
fn payload_validator(message: &str) -> jsonschema::Validator {
    let doc = doc();
    let payload = &doc["components"]["messages"][message]["payload"];
    assert!(
        payload.is_object(),
        "asyncapi.json has no message {message}"
    );
    let schema = json!({
        "$ref": payload["$ref"],
        "components": doc["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .unwrap_or_else(|e| panic!("message {message}'s payload schema: {e}"))
}

fn validators() -> &'static BTreeMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<BTreeMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        doc()["components"]["messages"]
            .as_object()
            .expect("messages")
            .keys()
            .map(|name| (name.clone(), payload_validator(name)))
            .collect()
    })
}

/// What is wrong with a server frame, as the document sees it.
fn problems(frame: &Value) -> Vec<String> {
    let Some(kind) = frame["kind"].as_str() else {
        return vec![format!("no kind: {frame}")];
    };
    let Some(validator) = validators().get(kind).filter(|_| kind != "submit") else {
        return vec![format!("no server message {kind:?}: {frame}")];
    };
    validator
        .iter_errors(frame)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Panics unless `bytes` is a server frame the document describes.
pub(crate) fn assert_documented(bytes: &[u8]) {
    let frame: Value = serde_json::from_slice(bytes).expect("a frame is JSON");
    let problems = problems(&frame);
    assert!(
        problems.is_empty(),
        "a frame asyncapi.json does not describe: {problems:?}\n{frame}"
    );
}

fn kind_name(kind: FrameKind) -> String {
    serde_json::to_value(kind)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_document_is_valid_asyncapi_3() {
    let spec: Value = serde_json::from_str(SPEC_SCHEMA).unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&spec)
        .expect("the AsyncAPI 3.0.0 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc())
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc()["asyncapi"], "3.0.0");
    // The check can fail: a document without its required `info` is refused.
    let mut broken = doc().clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn the_messages_are_the_protocols_frames() {
    let documented: BTreeSet<String> = doc()["components"]["messages"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut expected: BTreeSet<String> = [
        FrameKind::Accepted,
        FrameKind::Progress,
        FrameKind::Result,
        FrameKind::Error,
    ]
    .into_iter()
    .map(kind_name)
    .collect();
    expected.insert(courier_protocol::frames::SUBMIT_ACTION.to_owned());
    expected.insert("jobStateChange".to_owned());
    assert_eq!(documented, expected);
}

#[test]
fn a_job_state_change_the_notifier_publishes_is_documented_and_a_payload_is_not() {
    use courier_protocol::events::{DETAIL_TYPE, JobStateChange, SOURCE};
    let event =
        |detail: Value| json!({"source": SOURCE, "detail-type": DETAIL_TYPE, "detail": detail});
    let change = JobStateChange {
        event_id: "0f8fad5b-d9cb-469f-a165-70867728950e/000123".into(),
        job_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        job_type: "flaky".into(),
        status: courier_protocol::rest::JobStatus::Running,
        previous_status: Some(courier_protocol::rest::JobStatus::Pending),
        attempt: 1,
        owner: courier_protocol::principal::Principal::new("https://issuer.example", "alice").tag(),
        correlation_id: "c-1".into(),
        at: "2026-12-03T12:00:00.000Z".into(),
    };
    let validator = payload_validator("jobStateChange");
    let detail = serde_json::to_value(&change).unwrap();
    assert!(validator.is_valid(&event(detail.clone())));
    let mut with_payload = detail;
    with_payload["payload"] = json!({"secret": 1});
    assert!(
        !validator.is_valid(&event(with_payload)),
        "no payload travels"
    );
}

#[test]
fn the_documented_error_codes_are_the_protocols() {
    let documented: BTreeSet<&str> = doc()["components"]["schemas"]["ErrorFrame"]["properties"]
        ["data"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(documented, error_code::ALL.into_iter().collect());
}

#[test]
fn a_submit_frame_the_client_builds_is_documented_and_a_wrong_one_is_not() {
    let submit = payload_validator("submit");
    let frame = SubmitFrame::new("r-1", "sleep", json!({"ms": 10})).with_correlation_id("c-1");
    assert!(submit.is_valid(&serde_json::to_value(&frame).unwrap()));
    assert!(
        submit.is_valid(&serde_json::to_value(SubmitFrame::new("r", "echo", Value::Null)).unwrap())
    );
    for wrong in [
        json!({"action": "submit", "type": "echo"}),
        json!({"action": "run", "requestId": "r", "type": "echo"}),
        json!({"action": "submit", "requestId": "r", "type": "echo", "extra": 1}),
        json!({"action": "submit", "requestId": "", "type": "echo"}),
    ] {
        assert!(!submit.is_valid(&wrong), "{wrong}");
    }
}

#[test]
fn a_result_too_large_for_a_frame_is_documented_as_its_reference() {
    let big = ServerFrame {
        request_id: Some("r-1".into()),
        seq: 4,
        kind: FrameKind::Result,
        job_id: Some("0f8fad5b-d9cb-469f-a165-70867728950e".into()),
        correlation_id: Some("c-1".into()),
        data: json!({"blob": "x".repeat(40_000)}),
        result_ref: None,
    };
    let encoded = crate::application::frames::encode(big);
    let frame: Value = serde_json::from_str(&encoded).unwrap();
    assert!(frame["resultRef"].is_object(), "{frame}");
    assert_documented(encoded.as_bytes());
}

#[test]
fn frames_the_document_does_not_describe_are_caught() {
    let good = json!({"requestId": "r", "seq": 1, "kind": "progress", "jobId": "j",
                      "data": {"percent": 50}});
    assert!(problems(&good).is_empty(), "{:?}", problems(&good));
    for wrong in [
        json!({"requestId": "r", "seq": 1, "kind": "done", "jobId": "j", "data": null}),
        json!({"requestId": "r", "kind": "progress", "jobId": "j", "data": {"percent": 50}}),
        json!({"requestId": "r", "seq": 1, "kind": "progress", "jobId": "j",
               "data": {"percent": 101}}),
        json!({"requestId": null, "seq": 2, "kind": "error", "jobId": null,
               "data": {"code": "oops", "message": "m"}}),
    ] {
        assert!(!problems(&wrong).is_empty(), "{wrong}");
    }
}
