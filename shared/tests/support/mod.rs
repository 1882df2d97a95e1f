//! Reading `template.yaml` in the template tests: the document, and its short-form intrinsics
//! (`!Ref X`, `!GetAtt Y`, `!If [...]`) as `(tag, value)`.

#![allow(dead_code)] // Each test binary uses some of these.

use serde_norway::Value;
use serde_norway::value::TaggedValue;

pub const TEMPLATE: &str = include_str!("../../../template.yaml");

pub fn template() -> Value {
    serde_norway::from_str(TEMPLATE).expect("template.yaml parses")
}

/// `!Tag value` → (tag, value).
pub fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = &**tagged;
            Some((tag.to_string().trim_start_matches('!').to_owned(), value))
        }
        _ => None,
    }
}

/// The name a `!Ref` names.
pub fn reference(value: &Value) -> Option<&str> {
    match tagged(value)? {
        (tag, Value::String(name)) if tag == "Ref" => Some(name),
        _ => None,
    }
}
