//! How the HTTP API proves a new destination: it asks the notifier — whose role the
//! destination's policy must allow — to deliver a signed verification to it, by a synchronous
//! `Invoke` of the notifier function. The notifier answers with what the destination said.

use crate::application::ports::{DestinationProbe, PortError};
use crate::domain::EndpointId;
use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use serde::{Deserialize, Serialize};

/// What the HTTP API sends the notifier function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeRequest {
    pub probe_destination: String,
}

/// What the notifier answers: delivered, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeAnswer {
    pub delivered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<Result<(), String>> for ProbeAnswer {
    fn from(result: Result<(), String>) -> Self {
        Self {
            delivered: result.is_ok(),
            reason: result.err(),
        }
    }
}

pub struct NotifierProbe {
    lambda: aws_sdk_lambda::Client,
    /// The notifier function's name or ARN.
    function: String,
}

impl NotifierProbe {
    pub fn new(lambda: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        Self {
            lambda,
            function: function.into(),
        }
    }
}

#[async_trait]
impl DestinationProbe for NotifierProbe {
    async fn probe(&self, destination: &EndpointId) -> Result<Result<(), String>, PortError> {
        let request = ProbeRequest {
            probe_destination: destination.to_string(),
        };
        let output = self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(
                serde_json::to_vec(&request).expect("serialisable"),
            ))
            .send()
            .await
            .map_err(|e| super::port_error("lambda:Invoke(notifier probe)", e))?;
        let payload = output.payload().map(|p| p.as_ref()).unwrap_or_default();
        if let Some(error) = output.function_error() {
            return Err(PortError::new(
                "lambda:Invoke(notifier probe)",
                format!(
                    "{error}: {}",
                    String::from_utf8_lossy(&payload[..payload.len().min(500)])
                ),
            ));
        }
        let answer: ProbeAnswer = serde_json::from_slice(payload).map_err(|e| {
            PortError::new(
                "lambda:Invoke(notifier probe)",
                format!("an answer that is not a probe's: {e}"),
            )
        })?;
        Ok(match answer.delivered {
            true => Ok(()),
            false => Err(answer.reason.unwrap_or_else(|| "refused".into())),
        })
    }
}
