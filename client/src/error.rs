use courier_protocol::rest::Problem;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid base URL {0:?}: it must start with http:// or https://")]
    BaseUrl(String),
    #[error("{} ({}): {}", .0.title, .0.status, .0.detail)]
    Api(Problem),
    /// No token, or one the API's authorizer refused (expired, another issuer or audience).
    #[error("the API refused the token (401): sign in again (`courier login`)")]
    Unauthorized,
    #[error("unexpected HTTP {status}: {body}")]
    Unexpected { status: u16, body: String },
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The platform's certificate verifier could not be set up.
    #[error("{0}")]
    Tls(String),
    #[error("response was not what the API documents: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("gave up waiting: the job was still {status} at the deadline")]
    Deadline {
        status: courier_protocol::rest::JobStatus,
    },
}
