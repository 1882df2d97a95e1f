//! The parts of `openapi.json` that come from the job registry: the two submission bodies, one
//! `oneOf` branch per registered type (discriminated by `type`), each with its payload's JSON
//! Schema. The rest of the document is written by hand; a test regenerates these parts from the
//! deployment's catalog and requires the committed document to match.

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
        "delaySeconds": {"$ref": pointer("DelaySeconds")},
    });
    if with_callback {
        properties["callback"] = json!({"$ref": pointer("CallbackSpec")});
    }
    let required = if payload_may_be_null(registry, job_type) {
        json!(["type"])
    } else {
        json!(["type", "payload"])
    };
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": required,
        "properties": properties,
    })
}

/// The generated `components.schemas` entries.
pub fn submission_schemas(registry: &Registry) -> Map<String, Value> {
    let mut schemas = Map::new();
    for (door, with_callback, what) in [
        ("MessageSubmission", false, "POST /v1/messages"),
        ("JobSubmission", true, "POST /v1/jobs"),
    ] {
        let mut branches = Vec::new();
        let mut mapping = Map::new();
        for job_type in registry.names() {
            let name = format!("{door}.{job_type}");
            schemas.insert(name.clone(), branch(registry, job_type, with_callback));
            branches.push(json!({"$ref": pointer(&name)}));
            mapping.insert(job_type.to_owned(), Value::String(pointer(&name)));
        }
        schemas.insert(
            door.to_owned(),
            json!({
                "description": format!("The body of {what}: one branch per registered job type, chosen by `type`."),
                "oneOf": branches,
                "discriminator": {"propertyName": "type", "mapping": mapping},
            }),
        );
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
pub fn apply(document: &mut Value, registry: &Registry) {
    let schemas = document["components"]["schemas"]
        .as_object_mut()
        .expect("the document has components.schemas");
    schemas.retain(|name, _| {
        !(name.starts_with("Payload.")
            || name.starts_with("MessageSubmission")
            || name.starts_with("JobSubmission"))
    });
    schemas.extend(submission_schemas(registry));
}
