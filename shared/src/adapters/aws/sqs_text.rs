//! Text as SQS takes it. A message body and a string attribute may hold only the characters
//! of XML 1.0 (tab, line feed, carriage return, U+0020–U+D7FF, U+E000–U+FFFD and beyond
//! U+FFFF); SQS refuses the whole message for one other character. JSON allows them all, and a
//! caller's payload or a job's failure reason may carry them, so each is made acceptable here,
//! losing nothing: in a JSON body it becomes its `\uXXXX` escape (the same JSON value), in an
//! attribute (plain text, read by people) the replacement character.

use std::borrow::Cow;

/// Whether SQS refuses `c` in a message body or attribute.
fn refused(c: char) -> bool {
    courier_protocol::json::refused_in_xml_text(c)
}

/// A JSON text SQS takes, denoting the same value: every refused character written as its
/// escape.
pub(super) fn json_body(json: &str) -> Cow<'_, str> {
    courier_protocol::json::xml_safe(json)
}

/// Plain text SQS takes as a string attribute: refused characters become U+FFFD.
pub(super) fn attribute(text: &str) -> Cow<'_, str> {
    if !text.chars().any(refused) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if refused(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const HOSTILE: &str =
        "a\u{FFFE}b\u{FFFF}c\u{1}d\u{0}e\u{1F}\u{7F}\t\n\r\u{10FFFF}\u{D7FF}\u{E000}";

    #[test]
    fn only_what_xml_excludes_is_refused() {
        for c in ['\u{0}', '\u{8}', '\u{B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(refused(c), "{:04x}", c as u32);
        }
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            '\u{7F}',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
        ] {
            assert!(!refused(c), "{:04x}", c as u32);
        }
    }

    #[test]
    fn a_json_body_keeps_its_value_and_loses_every_refused_character() {
        let value = json!({"text": HOSTILE, HOSTILE: [HOSTILE, 1, null]});
        // serde_json escapes control characters itself, not the noncharacters.
        let serialized = value.to_string();
        let safe = json_body(&serialized);
        assert!(!safe.chars().any(refused), "{safe}");
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap(), value);
        // The same for JSON whose control characters were never escaped by serde_json.
        let raw = "[\"\u{FFFF}\"]";
        assert_eq!(json_body(raw), "[\"\\uffff\"]");
    }

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(json_body(r#"{"a":"b"}"#), Cow::Borrowed(_)));
        assert!(matches!(attribute("out of paper"), Cow::Borrowed(_)));
    }

    #[test]
    fn an_attribute_keeps_everything_but_the_refused_characters() {
        let safe = attribute(HOSTILE);
        assert!(!safe.chars().any(refused));
        assert_eq!(safe.chars().count(), HOSTILE.chars().count());
        assert!(safe.starts_with("a\u{FFFD}b\u{FFFD}c"));
    }
}
