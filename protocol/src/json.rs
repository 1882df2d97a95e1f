//! JSON details every reader of courier's bodies shares.

use serde_json::Value;
use std::borrow::Cow;

/// Whether XML 1.0 text (and so an SQS message body or attribute) refuses `c`: it allows tab,
/// line feed, carriage return, U+0020–U+D7FF, U+E000–U+FFFD and beyond U+FFFF only.
pub fn refused_in_xml_text(c: char) -> bool {
    !matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// A JSON text any carrier of text takes (SQS's bodies are XML text), denoting the same value:
/// every character XML refuses (they can only be inside strings: JSON's own syntax is ASCII)
/// written as its escape. What is signed is this text, so it arrives byte for byte.
pub fn xml_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(refused_in_xml_text) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 12);
    for c in json.chars() {
        if refused_in_xml_text(c) {
            // Every refused character is in the Basic Multilingual Plane: one escape each.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON Schema (and JSON itself) counts `5.0` as an integer; serde does not. Whole-valued floats
/// become integers before a body is read into a typed struct, so every schema-valid body reads.
pub fn whole_numbers_as_integers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
                Value::from(f as i64)
            }
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 => Value::from(f as u64),
            _ => Value::Number(n),
        },
        Value::Array(items) => items.into_iter().map(whole_numbers_as_integers).collect(),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, whole_numbers_as_integers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_floats_read_as_integers_and_others_stay() {
        let value = serde_json::json!({"a": -258651341.0, "b": [2.0, 2.5], "c": 7, "d": 1e300});
        let fixed = whole_numbers_as_integers(value);
        assert_eq!(fixed["a"], serde_json::json!(-258651341));
        assert!(fixed["a"].is_i64());
        assert!(fixed["b"][0].is_i64() && fixed["b"][1].is_f64());
        assert!(fixed["c"].is_u64() && fixed["d"].is_f64());
    }
}
