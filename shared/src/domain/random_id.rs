//! The one spelling of courier's own ids: a kind's prefix (`ep_`, `dst_`, `up_`, `sch_`) and 32
//! lower-case hex digits (128 random bits).

/// A new id of the kind `prefix` names.
pub fn generate(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Whether `raw` is an id of the kind `prefix` names, in its one spelling.
pub fn is_spelled(raw: &str, prefix: &str) -> bool {
    raw.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_has_its_prefix_and_32_lower_case_hex_digits() {
        let id = generate("up_");
        assert!(is_spelled(&id, "up_"), "{id}");
        assert!(!is_spelled(&id, "ep_"));
        for bad in [
            "",
            "up_",
            "up_0123",
            "up_0123456789ABCDEF0123456789abcdef",
            "up_0123456789abcdef0123456789abcdeg",
        ] {
            assert!(!is_spelled(bad, "up_"), "{bad:?}");
        }
    }
}
