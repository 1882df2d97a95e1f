//! A job's payload on the command line: JSON text, `@FILE` (a file's contents) or `-` (standard
//! input), the way curl takes a body.

use serde_json::Value;
use std::io::Read;

/// The payload `argument` names (none: `null`).
pub fn read(argument: Option<&str>) -> Result<Value, String> {
    read_with(argument, || {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading the payload from standard input: {e}"))?;
        Ok(text)
    })
}

fn read_with(
    argument: Option<&str>,
    stdin: impl FnOnce() -> Result<String, String>,
) -> Result<Value, String> {
    let (text, from) = match argument {
        None => return Ok(Value::Null),
        Some("-") => (stdin()?, "standard input".to_owned()),
        Some(argument) => match argument.strip_prefix('@') {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|e| format!("payload file {path}: {e}"))?,
                format!("payload file {path}"),
            ),
            None => (argument.to_owned(), "PAYLOAD".to_owned()),
        },
    };
    serde_json::from_str(&text).map_err(|e| format!("{from} is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_stdin() -> Result<String, String> {
        panic!("standard input was not asked for")
    }

    #[test]
    fn inline_json_file_and_standard_input() {
        assert_eq!(read_with(None, no_stdin).unwrap(), Value::Null);
        assert_eq!(
            read_with(Some(r#"{"ms": 5}"#), no_stdin).unwrap(),
            json!({"ms": 5})
        );
        let file =
            std::env::temp_dir().join(format!("courier-payload-{}.json", std::process::id()));
        std::fs::write(&file, "[1, 2]\n").unwrap();
        let argument = format!("@{}", file.display());
        assert_eq!(read_with(Some(&argument), no_stdin).unwrap(), json!([1, 2]));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            read_with(Some("-"), || Ok("\"hi\"".into())).unwrap(),
            json!("hi")
        );
    }

    #[test]
    fn errors_name_where_the_payload_came_from() {
        let error = read_with(Some("{oops"), no_stdin).unwrap_err();
        assert!(error.starts_with("PAYLOAD is not valid JSON"), "{error}");
        let error = read_with(Some("@/nonexistent/payload.json"), no_stdin).unwrap_err();
        assert!(
            error.starts_with("payload file /nonexistent/payload.json"),
            "{error}"
        );
        let error = read_with(Some("-"), || Ok("nope".into())).unwrap_err();
        assert!(
            error.starts_with("standard input is not valid JSON"),
            "{error}"
        );
    }
}
