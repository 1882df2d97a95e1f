//! The parts of `openapi.json` that come from the job registry: the two submission bodies, one
//! `oneOf` branch per registered type, each with its payload's JSON Schema. The rest of the
//! document is written by hand; a test regenerates these parts from the compiled catalog and
//! requires the committed document to match. The committed document also takes any other
//! `type` generically (a deployment's declared types are not in it); a deployment serves its
//! own complete document, declared types included and nothing generic, at
//! `GET /v1/openapi.json` ([`deployment_document`]).

use courier_jobs::Registry;
use serde_json::{Map, Value, json};

fn pointer(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// Whether a body may leave `payload` out: it then counts as `null`.
fn payload_may_be_null(registry: &Registry, job_type: &str) -> bool {
    registry.validate(job_type, &Value::Null).is_ok()
}

/// One branch: `type` fixed to the job type, its payload's schema, and the door's other fields.
fn branch(registry: &Registry, job_type: &str, with_callback: bool) -> Value {
    let mut properties = json!({
        "type": {"const": job_type},
        "payload": {"$ref": pointer(&format!("Payload.{job_type}"))},
        "payloadRef": {"$ref": pointer("UploadId")},
        "delaySeconds": {"$ref": pointer("DelaySeconds")},
        "runAt": {"$ref": pointer("RunAt")},
    });
    if with_callback {
        properties["callback"] = json!({"$ref": pointer("CallbackSpec")});
    }
    let mut body = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["type"],
        "properties": properties,
    });
    // A payload or an upload holding it, never both; neither counts as a null payload.
    if payload_may_be_null(registry, job_type) {
        body["not"] = json!({"required": ["payload", "payloadRef"]});
    } else {
        body["oneOf"] = json!([{"required": ["payload"]}, {"required": ["payloadRef"]}]);
    }
    body
}

/// Whether a document takes types other than the registry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherTypes {
    /// The committed document: any other well-formed `type` with any payload (declared types,
    /// which each deployment has its own of).
    Generic,
    /// A deployment's own document: exactly its types.
    Refused,
}

/// The branch that takes a type the registry does not know, with any payload.
fn generic_branch(registry: &Registry, with_callback: bool) -> Value {
    let known: Vec<&str> = registry.names().collect();
    let mut properties = json!({
        "type": {
            "description": "A job type this document does not describe: one the deployment declares (see GET /v1/job-types or the deployment's GET /v1/openapi.json).",
            "type": "string",
            "pattern": "^[a-z][a-z0-9-]{0,63}$",
            "not": {"enum": known},
        },
        "payload": {"description": "Checked against the declared type's payload schema."},
        "payloadRef": {"$ref": pointer("UploadId")},
        "delaySeconds": {"$ref": pointer("DelaySeconds")},
        "runAt": {"$ref": pointer("RunAt")},
    });
    if with_callback {
        properties["callback"] = json!({"$ref": pointer("CallbackSpec")});
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["type"],
        "not": {"required": ["payload", "payloadRef"]},
        "properties": properties,
    })
}

/// The generated `components.schemas` entries.
pub fn submission_schemas(registry: &Registry, others: OtherTypes) -> Map<String, Value> {
    let mut schemas = Map::new();
    for (door, with_callback, what) in [
        ("MessageSubmission", false, "POST /v1/messages"),
        ("JobSubmission", true, "POST /v1/jobs"),
    ] {
        let mut branches = Vec::new();
        let mut mapping = Map::new();
        for job_type in registry.names() {
            // A type whose worker finishes later reports to a job's claim: never a message.
            let finishes_later = registry
                .get(job_type)
                .is_some_and(|t| t.completion() == courier_jobs::api::Completion::External);
            if !with_callback && finishes_later {
                continue;
            }
            let name = format!("{door}.{job_type}");
            schemas.insert(name.clone(), branch(registry, job_type, with_callback));
            branches.push(json!({"$ref": pointer(&name)}));
            mapping.insert(job_type.to_owned(), Value::String(pointer(&name)));
        }
        let body = match others {
            OtherTypes::Refused => json!({
                "description": format!("The body of {what}: one branch per job type, chosen by `type`."),
                "oneOf": branches,
                "discriminator": {"propertyName": "type", "mapping": mapping},
            }),
            // No discriminator: a `type` outside its mapping is the generic branch's.
            OtherTypes::Generic => {
                let name = format!("{door}.declared");
                schemas.insert(name.clone(), generic_branch(registry, with_callback));
                branches.push(json!({"$ref": pointer(&name)}));
                json!({
                    "description": format!("The body of {what}: one branch per compiled job type, chosen by `type`, and one for any type a deployment declares (its payload is checked against the declared schema)."),
                    "oneOf": branches,
                })
            }
        };
        schemas.insert(door.to_owned(), body);
    }
    for registered in registry.types() {
        let settings = registered.settings();
        let mut schema = registered.payload_schema().clone();
        if let Some(object) = schema.as_object_mut() {
            object.insert(
                "x-courier-timeout-seconds".into(),
                json!(settings.timeout.as_secs_f64()),
            );
            object.insert(
                "x-courier-max-result-bytes".into(),
                json!(settings.max_result_bytes),
            );
        }
        schemas.insert(format!("Payload.{}", registered.name()), schema);
    }
    schemas
}

/// Replaces the document's generated entries with the registry's (and drops ones for types no
/// longer registered).
pub fn apply(document: &mut Value, registry: &Registry, others: OtherTypes) {
    let schemas = document["components"]["schemas"]
        .as_object_mut()
        .expect("the document has components.schemas");
    schemas.retain(|name, _| {
        !(name.starts_with("Payload.")
            || name.starts_with("MessageSubmission")
            || name.starts_with("JobSubmission"))
    });
    schemas.extend(submission_schemas(registry, others));
}

/// The committed document, as the repository holds it.
pub const COMMITTED: &str = include_str!("../../../../openapi.json");

/// A deployment's own document: the committed one with exactly the deployment's job types,
/// declared ones included.
pub fn deployment_document(registry: &Registry) -> Value {
    let mut document: Value = serde_json::from_str(COMMITTED).expect("openapi.json is JSON");
    apply(&mut document, registry, OtherTypes::Refused);
    document
}
