//! The two doors to the REST routes (the `Door` parameter): API Gateway's HTTP API by default,
//! or the lean door, a public Lambda function URL. Neither exists without being chosen, and a
//! public URL only ever fronts the function that checks callers' tokens itself, against the
//! same issuer and audiences as the WebSocket authorizer.

mod support;

use serde_norway::Value;
use support::{reference, tagged, template};

fn resources(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, resource)| (name.as_str().unwrap().to_owned(), resource))
        .collect()
}

#[test]
fn the_http_api_is_the_default_door_and_each_doors_resources_exist_only_when_it_is_chosen() {
    let template = template();
    let door = &template["Parameters"]["Door"];
    assert_eq!(door["Default"], "HttpApi");
    assert_eq!(
        door["AllowedValues"],
        serde_norway::from_str::<Value>("[HttpApi, FunctionUrl]").unwrap()
    );
    let mut gateway = 0;
    let mut lean = 0;
    for (name, resource) in resources(&template) {
        let of_the_http_api = name == "HttpApi"
            || reference(&resource["Properties"]["ApiId"]) == Some("HttpApi")
            || name.starts_with("HttpApi")
                && !["HttpApiFunction", "HttpApiLogGroup"].contains(&name.as_str())
                && !name.ends_with("Alarm")
            || name == "HttpApi5xxAlarm";
        let public = resource["Type"] == "AWS::Lambda::Url"
            || resource["Type"] == "AWS::Lambda::Permission"
                && resource["Properties"]["Principal"] == "*";
        if of_the_http_api {
            assert_eq!(resource["Condition"], "ApiGatewayDoor", "{name}");
            gateway += 1;
        }
        if public || name.starts_with("HttpFunctionUrl") {
            assert_eq!(resource["Condition"], "LeanDoor", "{name}");
            lean += 1;
        }
    }
    assert!(
        gateway > 20,
        "the HTTP API, its routes and stage: {gateway}"
    );
    // The URL, its two grants, its 5xx alarm.
    assert_eq!(lean, 4);
}

#[test]
fn a_public_url_fronts_only_the_function_that_checks_tokens_as_the_websocket_authorizer_does() {
    let template = template();
    let resources = &template["Resources"];
    let url = &resources["HttpFunctionUrl"]["Properties"];
    assert_eq!(url["AuthType"], "NONE");
    let (tag, target) = tagged(&url["TargetFunctionArn"]).unwrap();
    assert_eq!(
        (tag.as_str(), target.as_str()),
        ("GetAtt", Some("HttpApiFunction.Arn"))
    );
    for (name, resource) in [
        (
            "HttpFunctionUrlPermission",
            &resources["HttpFunctionUrlPermission"],
        ),
        (
            "HttpFunctionUrlInvokePermission",
            &resources["HttpFunctionUrlInvokePermission"],
        ),
    ] {
        assert_eq!(
            reference(&resource["Properties"]["FunctionName"]),
            Some("HttpApiFunction"),
            "{name}"
        );
    }
    assert_eq!(
        resources["HttpFunctionUrlPermission"]["Properties"]["FunctionUrlAuthType"],
        "NONE"
    );
    // The function is only reachable through the URL, not by anyone invoking it directly.
    assert_eq!(
        resources["HttpFunctionUrlInvokePermission"]["Properties"]["InvokedViaFunctionUrl"],
        Value::Bool(true)
    );
    let http = &resources["HttpApiFunction"]["Properties"]["Environment"]["Variables"];
    let authorizer = &resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(reference(&http["DOOR"]), Some("Door"));
    for variable in ["JWT_ISSUER", "JWT_AUDIENCES", "JWKS_URL"] {
        assert_eq!(http[variable], authorizer[variable], "{variable}");
    }
}

#[test]
fn the_rest_apis_url_and_workers_report_url_follow_the_door() {
    let template = template();
    let (tag, choice) = tagged(&template["Outputs"]["HttpApiUrl"]["Value"]).unwrap();
    assert_eq!(tag, "If");
    assert_eq!(choice[0], "ApiGatewayDoor");
    let report = &template["Resources"]["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
        ["TASK_REPORT_URL"];
    let (tag, choice) = tagged(report).unwrap();
    assert_eq!(
        (tag.as_str(), &choice[0]),
        ("If", &Value::from("ApiGatewayDoor"))
    );
    assert_eq!(
        template["Outputs"]["HttpApiId"]["Condition"],
        "ApiGatewayDoor"
    );
}
