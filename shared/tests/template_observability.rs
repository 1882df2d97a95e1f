//! Observability is priced as a choice: X-Ray and the access logs' class are parameters whose
//! defaults are the ones the README's bill is measured at, and every function and access log
//! group follows them.

mod support;

use serde_norway::Value;
use support::{reference, template};

#[test]
fn tracing_is_a_parameter_off_by_default_and_every_function_follows_it() {
    let template = template();
    let tracing = &template["Parameters"]["Tracing"];
    assert_eq!(tracing["Default"], "PassThrough");
    assert_eq!(
        tracing["AllowedValues"],
        serde_norway::from_str::<Value>("[Active, PassThrough]").unwrap()
    );
    assert_eq!(
        reference(&template["Globals"]["Function"]["Tracing"]),
        Some("Tracing")
    );
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] == "AWS::Serverless::Function" {
            assert!(
                resource["Properties"].get("Tracing").is_none(),
                "{name:?} sets its own tracing"
            );
        }
    }
}

#[test]
fn access_logs_go_to_groups_of_the_chosen_class() {
    let template = template();
    assert_eq!(
        template["Parameters"]["AccessLogClass"]["Default"],
        "INFREQUENT_ACCESS"
    );
    for group in ["HttpApiAccessLogGroup", "WebSocketAccessLogGroup"] {
        assert_eq!(
            reference(&template["Resources"][group]["Properties"]["LogGroupClass"]),
            Some("AccessLogClass"),
            "{group}"
        );
    }
}
