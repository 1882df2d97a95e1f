//! What the commands print: for people (`--output text`, the default) or for scripts
//! (`--output json`: one JSON document per result on standard output, one JSON line per item
//! of a stream, and a failure as one JSON object on standard error).

use courier_client::{ClientError, Problem};
use serde_json::{Value, json};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl Format {
    /// A result: pretty for people, one line for scripts.
    pub fn value(self, value: &Value) {
        let text = match self {
            Self::Text => serde_json::to_string_pretty(value),
            Self::Json => serde_json::to_string(value),
        };
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            text.expect("JSON values serialise")
        );
    }

    /// What a person reads (on standard error); in JSON the result says it already.
    pub fn note(self, message: impl std::fmt::Display) {
        if self == Self::Text {
            eprintln!("{message}");
        }
    }

    /// A failure and the exit code it ends with.
    pub fn failure(self, code: u8, message: &str, problem: Option<&Problem>) {
        match self {
            Self::Text => eprintln!("courier: {message}"),
            Self::Json => eprintln!(
                "{}",
                json!({"exitCode": code, "message": message, "problem": problem})
            ),
        }
    }

    pub fn client_error(self, code: u8, error: &ClientError) {
        let problem = match error {
            ClientError::Api(problem) => Some(problem),
            _ => None,
        };
        self.failure(code, &error.to_string(), problem);
    }
}
