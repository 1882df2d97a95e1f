//! The template's fair share and least privilege, held here because the emulator enforces
//! neither IAM nor reserved concurrency: every event source has a maximum concurrency and
//! every function a reservation that covers it; the KMS key's own policy lets exactly the HTTP
//! function's role encrypt and the notifier's decrypt; every DynamoDB grant on the table names
//! its item prefixes (and a policy simulation shows a job type in the processor cannot reach an
//! endpoint); production runs no example job types; the user pool is protected.

mod support;

use serde_norway::Value;
use support::{reference, tagged, template};

const SAMCONFIG: &str = include_str!("../../samconfig.toml");

fn default_of(template: &Value, parameter: &str) -> u64 {
    let default = &template["Parameters"][parameter]["Default"];
    default
        .as_u64()
        .or_else(|| default.as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("{parameter} has a numeric default"))
}

fn functions(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r))
        .collect()
}

/// A maximum concurrency as a number: a literal, or its parameter's default (whose bounds
/// must keep it within SQS's 2–1000).
fn maximum(template: &Value, value: &Value) -> u64 {
    if let Some(n) = value.as_u64() {
        return n;
    }
    let parameter = reference(value).expect("a number or a parameter");
    let declared = &template["Parameters"][parameter];
    assert!(declared["MinValue"].as_u64() >= Some(2), "{parameter}");
    assert!(declared["MaxValue"].as_u64() <= Some(1000), "{parameter}");
    default_of(template, parameter)
}

/// The maxima of `function`'s event sources (every one must have one).
fn event_maxima(template: &Value, name: &str, function: &Value) -> Vec<u64> {
    let mut maxima = Vec::new();
    for (event, source) in function["Properties"]["Events"]
        .as_mapping()
        .into_iter()
        .flatten()
    {
        if source["Type"] != "SQS" {
            continue;
        }
        let limit = &source["Properties"]["ScalingConfig"]["MaximumConcurrency"];
        assert!(
            !limit.is_null(),
            "{name}'s event source {} has no maximum concurrency",
            event.as_str().unwrap()
        );
        let limit = maximum(template, limit);
        assert!((2..=1000).contains(&limit), "{name}: {limit}");
        maxima.push(limit);
    }
    maxima
}

/// How many invocations a table stream's mapping runs at once: one per shard, and a table of
/// courier's size has one or two.
const STREAM_SHARDS: u64 = 2;

/// The maxima of the event source mappings declared apart from `name` (the job events
/// stream): a stream's [`STREAM_SHARDS`], a queue's maximum concurrency.
fn mapping_maxima(template: &Value, name: &str) -> Vec<u64> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::EventSourceMapping")
        .filter(|r| reference(&r["Properties"]["FunctionName"]) == Some(name))
        .map(|r| {
            let limit = &r["Properties"]["ScalingConfig"]["MaximumConcurrency"];
            match limit.is_null() {
                true => STREAM_SHARDS,
                false => maximum(template, limit),
            }
        })
        .collect()
}

/// A function's reserved concurrency by default: `!If [Reserve…, !Ref P, !Ref AWS::NoValue]`.
fn reservation(template: &Value, name: &str, function: &Value) -> u64 {
    let reserved = &function["Properties"]["ReservedConcurrentExecutions"];
    let (tag, choice) = tagged(reserved).unwrap_or_else(|| panic!("{name} reserves nothing"));
    assert_eq!(tag, "If", "{name}");
    let parameter = reference(&choice[1]).expect("a parameter");
    assert_eq!(reference(&choice[2]), Some("AWS::NoValue"), "{name}");
    default_of(template, parameter)
}

#[test]
fn every_event_source_has_a_maximum_and_every_function_a_reservation_covering_it() {
    let template = template();
    let mut reserved = 0;
    for (name, function) in functions(&template) {
        let mut maxima = event_maxima(&template, &name, function);
        maxima.extend(mapping_maxima(&template, &name));
        let reservation = reservation(&template, &name, function);
        assert!(reservation > 0, "{name}");
        assert!(
            reservation >= maxima.iter().sum::<u64>(),
            "{name} reserves {reservation}, less than its event sources may run ({maxima:?}): \
             a throttled receive would count towards a job's dead-lettering"
        );
        reserved += reservation;
    }
    // AWS keeps 100 of an account's executions unreserved; its default limit is 1,000.
    assert!(reserved <= 900, "courier reserves {reserved}");
    assert!(
        reservation(
            &template,
            "HttpApiFunction",
            &template["Resources"]["HttpApiFunction"]
        ) > 0
    );
}

fn statements(policy: &Value) -> Vec<&Value> {
    policy["Statement"].as_sequence().unwrap().iter().collect()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(one) => vec![one.clone()],
        Value::Sequence(many) => many
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("Action {other:?}"),
    }
}

/// The role a key policy statement names, by its function: `!GetAtt <Function>Role.Arn`.
fn principal_role(statement: &Value) -> Option<String> {
    let (tag, value) = tagged(&statement["Principal"]["AWS"])?;
    (tag == "GetAtt").then(|| value.as_str().unwrap().trim_end_matches(".Arn").to_owned())
}

/// What opens or makes a secret with a key.
const CRYPTOGRAPHIC: [&str; 7] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
];

/// Whether an action pattern (`kms:Get*`, `kms:*`, `*`) covers `action`.
fn covers(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => action.starts_with(prefix),
        None => pattern == action,
    }
}

fn is_cryptographic(pattern: &str) -> bool {
    CRYPTOGRAPHIC.iter().any(|action| covers(pattern, action))
}

#[test]
fn the_webhook_key_lets_exactly_the_http_function_encrypt_and_the_notifier_decrypt() {
    let template = template();
    let key = &template["Resources"]["WebhookSecretKey"];
    assert_eq!(key["DeletionPolicy"], "Retain", "kept with the table");
    assert_eq!(
        template["Resources"]["CourierTable"]["DeletionPolicy"],
        "Retain"
    );
    let mut grants = Vec::new();
    for statement in statements(&key["Properties"]["KeyPolicy"]) {
        assert_eq!(statement["Effect"], "Allow");
        let cryptographic: Vec<String> = actions(statement)
            .into_iter()
            .filter(|a| is_cryptographic(a))
            .collect();
        match principal_role(statement) {
            None => assert!(
                cryptographic.is_empty(),
                "the administrators' statement allows {cryptographic:?}"
            ),
            Some(role) => {
                let context = &statement["Condition"]["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"];
                assert_eq!(
                    context,
                    &serde_norway::from_str::<Value>(r#"["courier:endpoint", "courier:owner"]"#)
                        .unwrap(),
                    "{role}: bound by encryption context"
                );
                assert!(!statement["Condition"]["Null"].is_null(), "{role}");
                grants.push((role, cryptographic));
            }
        }
    }
    grants.sort();
    assert_eq!(
        grants,
        vec![
            ("HttpApiFunctionRole".into(), vec!["kms:Encrypt".into()]),
            ("NotifierFunctionRole".into(), vec!["kms:Decrypt".into()]),
        ]
    );
    // And no other function's own policy names a KMS action.
    for (name, function) in functions(&template) {
        let kms: Vec<String> = function_statements(function)
            .iter()
            .flat_map(|s| actions(s))
            .filter(|a| a.starts_with("kms:"))
            .collect();
        let expected: &[&str] = match name.as_str() {
            "HttpApiFunction" => &["kms:Encrypt"],
            "NotifierFunction" => &["kms:Decrypt"],
            _ => &[],
        };
        assert_eq!(kms, expected, "{name}");
    }
}

/// Every statement of a function's inline policies (those behind a condition included).
fn function_statements(function: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        let policy = match tagged(policy) {
            Some((tag, choice)) if tag == "If" => &choice[1],
            _ => policy,
        };
        if policy["Statement"].is_sequence() {
            out.extend(statements(policy));
        }
    }
    out
}

fn on_the_table(statement: &Value) -> bool {
    matches!(tagged(&statement["Resource"]), Some((tag, Value::String(what))) if tag == "GetAtt" && what == "CourierTable.Arn")
}

fn leading_keys(statement: &Value) -> Option<Vec<String>> {
    let keys = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    Some(
        keys.as_sequence()?
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect(),
    )
}

/// Whether `function` may make `action` on the table item whose key is `key`: some statement
/// allows the action on the table and every leading key it names matches.
fn may(template: &Value, function: &str, action: &str, key: &str) -> bool {
    function_statements(&template["Resources"][function])
        .into_iter()
        .filter(|s| on_the_table(s) && actions(s).iter().any(|a| a == action))
        .any(|s| {
            leading_keys(s)
                .expect("checked: every table statement names its prefixes")
                .iter()
                .any(|pattern| key.starts_with(pattern.trim_end_matches('*')))
        })
}

#[test]
fn every_dynamodb_grant_on_the_table_names_its_item_prefixes() {
    let template = template();
    for (name, function) in functions(&template) {
        for statement in function_statements(function) {
            let dynamodb = actions(statement)
                .iter()
                .any(|a| a.starts_with("dynamodb:"));
            if !dynamodb || !on_the_table(statement) {
                continue;
            }
            let keys = leading_keys(statement)
                .unwrap_or_else(|| panic!("{name}: a table grant without LeadingKeys"));
            assert!(
                keys.iter()
                    .all(|k| k.ends_with("#*") && !k.starts_with('*')),
                "{name}: {keys:?}"
            );
        }
    }
}

#[test]
fn a_job_type_in_the_processor_cannot_reach_endpoints_or_idempotency_records_nor_change_limits() {
    let template = template();
    let processor = "ProcessorFunction";
    for action in [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
    ] {
        for key in ["ENDPOINT#ep_1", "IDEM#k", "RATE#t#1"] {
            assert!(!may(&template, processor, action, key), "{action} {key}");
        }
    }
    // Work for later takes its slot as it comes due, within its caller's own limits: read.
    assert!(may(&template, processor, "dynamodb:GetItem", "LIMITS#t"));
    for action in [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ] {
        assert!(!may(&template, processor, action, "LIMITS#t"), "{action}");
    }
    assert!(may(&template, processor, "dynamodb:UpdateItem", "JOB#1"));
    assert!(may(&template, processor, "dynamodb:PutItem", "LEDGER#a"));
    assert!(may(
        &template,
        processor,
        "dynamodb:UpdateItem",
        "QUOTA#t#jobs"
    ));
    // The notifier only reads endpoints; only operators write a caller's limits.
    assert!(may(
        &template,
        "NotifierFunction",
        "dynamodb:GetItem",
        "ENDPOINT#ep_1"
    ));
    assert!(!may(
        &template,
        "NotifierFunction",
        "dynamodb:UpdateItem",
        "ENDPOINT#ep_1"
    ));
    for function in ["HttpApiFunction", "WebSocketFunction"] {
        assert!(may(&template, function, "dynamodb:GetItem", "LIMITS#t"));
        assert!(!may(&template, function, "dynamodb:PutItem", "LIMITS#t"));
        assert!(!may(&template, function, "dynamodb:UpdateItem", "LIMITS#t"));
    }
    assert!(!may(
        &template,
        "WebSocketFunction",
        "dynamodb:PutItem",
        "ENDPOINT#ep_1"
    ));
}

#[test]
fn production_runs_no_example_job_types_and_the_user_pool_is_protected() {
    let template = template();
    assert_eq!(
        template["Parameters"]["ExampleJobTypes"]["Default"],
        "disabled"
    );
    let prod = SAMCONFIG
        .split("[prod.deploy.parameters]")
        .nth(1)
        .expect("a prod configuration");
    let overrides = prod
        .lines()
        .find_map(|l| l.strip_prefix("parameter_overrides = "))
        .unwrap();
    assert!(
        overrides.contains("ExampleJobTypes=disabled"),
        "{overrides}"
    );
    let pool = &template["Resources"]["UserPool"]["Properties"];
    assert_eq!(
        reference(&pool["DeletionProtection"]),
        Some("CognitoDeletionProtection")
    );
    assert_eq!(reference(&pool["MfaConfiguration"]), Some("CognitoMfa"));
    assert_eq!(
        reference(&pool["UserPoolAddOns"]["AdvancedSecurityMode"]),
        Some("CognitoThreatProtection")
    );
    let parameters = &template["Parameters"];
    assert_eq!(parameters["CognitoDeletionProtection"]["Default"], "ACTIVE");
    assert_eq!(parameters["CognitoMfa"]["Default"], "OPTIONAL");
}

/// Destinations are proved by the notifier's code under the notifier's role (the one their
/// policies allow), but on a concurrency of its own: a flood of registrations is refused
/// (503) before it could throttle a callback's receive.
#[test]
fn destinations_are_proved_under_the_notifiers_role_on_a_concurrency_apart_from_callbacks() {
    let template = template();
    let resources = &template["Resources"];
    let probed_by = &resources["HttpApiFunction"]["Properties"]["Environment"]["Variables"]["NOTIFIER_FUNCTION"];
    assert_eq!(reference(probed_by), Some("DestinationProbeFunction"));
    let probe = &resources["DestinationProbeFunction"];
    let (tag, role) = tagged(&probe["Properties"]["Role"]).expect("a role of the notifier's");
    assert_eq!(
        (tag.as_str(), role.as_str()),
        ("GetAtt", Some("NotifierFunctionRole.Arn"))
    );
    assert!(reservation(&template, "DestinationProbeFunction", probe) > 0);
    assert!(
        probe["Properties"]["Events"].is_null(),
        "it takes no callbacks"
    );
    let granted = &resources["NotifierProbePermission"]["Properties"]["FunctionName"];
    assert_eq!(reference(granted), Some("DestinationProbeFunction"));
}
