//! JSON details every reader of courier's bodies shares.

use serde_json::Value;

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
