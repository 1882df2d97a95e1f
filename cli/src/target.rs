//! Where the commands go: a stack's outputs (the API and WebSocket URLs, the queues) and how to
//! reach its AWS account.
//!
//! With `--stack NAME` the outputs are read from CloudFormation (`DescribeStacks`) with the
//! usual AWS configuration, or `--region`, `--profile`, `--endpoint-url` (an emulator: its API
//! paths replace the outputs' URLs).
//! Without it they are the local stack's `.local/outputs.json`, in this directory or an
//! ancestor. `--url`, `--ws-url` and `--dlq` override single values either way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to reach AWS (or an emulator): the `--region`, `--profile` and `--endpoint-url` flags.
#[derive(Debug, Clone, Default)]
pub struct Aws {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An emulator's endpoint: AWS calls go there, and the stack's API URLs become its paths.
    /// (`AWS_ENDPOINT_URL` or a profile's `endpoint_url` send the AWS calls elsewhere too, but
    /// leave the URLs as the stack's outputs give them.)
    pub endpoint_url: Option<String>,
}

/// The AWS configuration every SDK client of the CLI starts from: the SDK's own HTTPS client,
/// over rustls with `ring` and the platform's roots.
fn sdk_defaults() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::{Builder, tls};
    let https = Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https)
}

impl Aws {
    pub async fn config(&self) -> aws_config::SdkConfig {
        let mut loader = sdk_defaults();
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &self.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        loader.load().await
    }
}

/// Where the outputs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `.local/outputs.json`: the local stack `infra/up.sh` brought up.
    Local(PathBuf),
    /// A stack named with `--stack`.
    Stack(String),
    /// Neither: only what the flags say.
    Flags,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub source: Source,
    outputs: BTreeMap<String, String>,
    pub aws: Aws,
}

impl Target {
    /// The stack named, or the local stack if there is one here.
    pub async fn resolve(stack: Option<&str>, aws: Aws) -> Result<Self, String> {
        match stack {
            Some(name) => {
                let config = aws.config().await;
                let outputs = stack_outputs(&config, name).await?;
                Ok(Self {
                    source: Source::Stack(name.to_owned()),
                    outputs: with_emulator_urls(outputs, aws.endpoint_url.as_deref()),
                    aws,
                })
            }
            None => Ok(match local_outputs_file() {
                Some(path) => Self {
                    outputs: read_outputs(&path)?,
                    source: Source::Local(path),
                    aws,
                },
                None => Self {
                    source: Source::Flags,
                    outputs: BTreeMap::new(),
                    aws,
                },
            }),
        }
    }

    /// An output, or what to give instead.
    pub fn output(&self, key: &str, instead: &str) -> Result<String, String> {
        if let Some(value) = self.outputs.get(key) {
            return Ok(value.clone());
        }
        Err(match &self.source {
            Source::Local(path) => format!("{} has no {key}; give {instead}", path.display()),
            Source::Stack(name) => format!("stack {name} has no output {key}; give {instead}"),
            Source::Flags => format!(
                "no {instead}, no --stack, and no .local/outputs.json here or above \
                 (bring the local stack up with infra/up.sh)"
            ),
        })
    }

    pub fn api_url(&self) -> Result<String, String> {
        self.output("HttpApiUrl", "--url or COURIER_URL")
    }

    /// The region the stack's AWS calls go to: `--region`, else the AWS configuration's.
    pub async fn region(&self) -> Option<String> {
        match &self.aws.region {
            Some(region) => Some(region.clone()),
            None => self.aws.config().await.region().map(|r| r.to_string()),
        }
    }

    pub fn websocket_url(&self) -> Result<String, String> {
        self.output("WebSocketUrl", "--ws-url or COURIER_WS_URL")
    }

    /// An SQS client for the target's queues.
    pub async fn sqs(&self) -> Result<aws_sdk_sqs::Client, String> {
        Ok(aws_sdk_sqs::Client::new(&self.sdk_config().await?))
    }

    /// A DynamoDB client for the target's table.
    pub async fn dynamodb(&self) -> Result<aws_sdk_dynamodb::Client, String> {
        Ok(aws_sdk_dynamodb::Client::new(&self.sdk_config().await?))
    }

    /// The emulator's throwaway credentials for the local stack, the AWS configuration
    /// otherwise.
    async fn sdk_config(&self) -> Result<aws_config::SdkConfig, String> {
        if !matches!(self.source, Source::Local(_)) {
            return Ok(self.aws.config().await);
        }
        let endpoint = self.output("Endpoint", "--stack")?;
        let region = self.output("Region", "--stack")?;
        let config = sdk_defaults()
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "local",
            ))
            .load()
            .await;
        Ok(config)
    }
}

/// A stack's outputs by key.
async fn stack_outputs(
    config: &aws_config::SdkConfig,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    let stacks = aws_sdk_cloudformation::Client::new(config)
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "stack {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            )
        })?;
    let stack = stacks
        .stacks()
        .first()
        .ok_or_else(|| format!("no stack named {name}"))?;
    Ok(stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect())
}

/// Behind an emulator the APIs are served under a path on its own port, not on their AWS host
/// names: the URLs are rebuilt from the API ids (the `$default` stage of the HTTP API, the
/// `v1` stage of the WebSocket API, a function URL's id), as `infra/deploy.py` writes them for
/// the local stack.
fn with_emulator_urls(
    mut outputs: BTreeMap<String, String>,
    endpoint: Option<&str>,
) -> BTreeMap<String, String> {
    let Some(endpoint) = endpoint.map(|e| e.trim_end_matches('/')) else {
        return outputs;
    };
    if let Some(id) = outputs.get("HttpApiId").cloned() {
        outputs.insert(
            "HttpApiUrl".into(),
            format!("{endpoint}/_aws/execute-api/{id}/$default"),
        );
    } else if let Some(id) = outputs
        .get("HttpApiUrl")
        .and_then(|url| function_url_id(url))
    {
        // The lean door (Door=FunctionUrl): a function URL, served under its id.
        outputs.insert(
            "HttpApiUrl".into(),
            format!("{endpoint}/_aws/lambda-url/{id}"),
        );
    }
    if let Some(id) = outputs.get("WebSocketApiId").cloned() {
        let ws = endpoint
            .replacen("http://", "ws://", 1)
            .replacen("https://", "wss://", 1);
        outputs.insert(
            "WebSocketUrl".into(),
            format!("{ws}/_aws/execute-api/{id}/v1"),
        );
    }
    outputs
}

/// The id of a Lambda function URL (`https://<id>.lambda-url.<region>.on.aws`).
fn function_url_id(url: &str) -> Option<String> {
    let host = url.strip_prefix("https://")?;
    let (id, rest) = host.split_once('.')?;
    rest.starts_with("lambda-url.").then(|| id.to_owned())
}

fn local_outputs_file() -> Option<PathBuf> {
    let start = std::env::current_dir().ok()?;
    start
        .ancestors()
        .map(|dir| dir.join(".local/outputs.json"))
        .find(|candidate| candidate.is_file())
}

fn read_outputs(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let outputs: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(outputs
        .into_iter()
        .filter_map(|(key, value)| Some((key, value.as_str()?.to_owned())))
        .collect())
}

/// The local stack's output `key` (its user and sign-in, which no deployed stack has).
pub fn local_output(key: &str, instead: &str) -> Result<String, String> {
    let path = local_outputs_file().ok_or_else(|| {
        format!(
            "no {instead}, and no .local/outputs.json here or above \
             (bring the local stack up with infra/up.sh)"
        )
    })?;
    read_outputs(&path)?
        .remove(key)
        .ok_or_else(|| format!("{} has no {key}", path.display()))
}

pub fn local_api_url() -> Result<String, String> {
    local_output("HttpApiUrl", "--url or COURIER_URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_an_emulator_the_api_urls_are_its_paths() {
        let outputs = BTreeMap::from([
            ("HttpApiId".to_owned(), "abc123".to_owned()),
            (
                "HttpApiUrl".to_owned(),
                "https://abc123.execute-api.us-east-1.amazonaws.com".to_owned(),
            ),
            ("WebSocketApiId".to_owned(), "ws9".to_owned()),
        ]);
        let local = with_emulator_urls(outputs.clone(), Some("http://127.0.0.1:4566/"));
        assert_eq!(
            local["HttpApiUrl"],
            "http://127.0.0.1:4566/_aws/execute-api/abc123/$default"
        );
        assert_eq!(
            local["WebSocketUrl"],
            "ws://127.0.0.1:4566/_aws/execute-api/ws9/v1"
        );
        let aws = with_emulator_urls(outputs, None);
        assert_eq!(
            aws["HttpApiUrl"],
            "https://abc123.execute-api.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn behind_an_emulator_the_lean_doors_url_is_its_path() {
        let outputs = BTreeMap::from([(
            "HttpApiUrl".to_owned(),
            "https://gmtq96lm6ur0.lambda-url.us-east-1.on.aws".to_owned(),
        )]);
        let local = with_emulator_urls(outputs.clone(), Some("http://127.0.0.1:4566"));
        assert_eq!(
            local["HttpApiUrl"],
            "http://127.0.0.1:4566/_aws/lambda-url/gmtq96lm6ur0"
        );
        assert_eq!(with_emulator_urls(outputs.clone(), None), outputs);
        let elsewhere = BTreeMap::from([(
            "HttpApiUrl".to_owned(),
            "https://api.example.com".to_owned(),
        )]);
        assert_eq!(
            with_emulator_urls(elsewhere.clone(), Some("http://e")),
            elsewhere
        );
    }
}
