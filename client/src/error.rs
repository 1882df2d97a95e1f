use thiserror::Error;

/// An RFC 9457 problem the API answered with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default)]
    pub problem_type: String,
    #[serde(default)]
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
}

impl Problem {
    /// The slug after `urn:courier:problem:` (`job-not-found`, ...).
    pub fn slug(&self) -> &str {
        self.problem_type
            .strip_prefix("urn:courier:problem:")
            .unwrap_or(&self.problem_type)
    }
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid base URL {0:?}: it must start with http:// or https://")]
    BaseUrl(String),
    #[error("{} ({}): {}", .0.title, .0.status, .0.detail)]
    Api(Problem),
    #[error("unexpected HTTP {status}: {body}")]
    Unexpected { status: u16, body: String },
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("response was not what the API documents: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("gave up waiting: the job was still {status} at the deadline")]
    Deadline { status: String },
}
