//! `courier`: send messages, submit jobs and wait for them, against the local stack or any
//! deployed courier API.

mod dlq;
mod listen;
mod login;
mod target;
mod watch;
mod ws;

use clap::{Args, Parser, Subcommand};
use courier_client::{Client, ClientError, Submit, WaitOptions};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "courier", version, about = "Talk to a courier API", long_about = None)]
struct Cli {
    /// Base URL of the API (everything before /v1). Defaults to the local stack's HttpApiUrl
    /// from .local/outputs.json.
    #[arg(long, env = "COURIER_URL", global = true)]
    url: Option<String>,
    /// The JWT to call the API with (an access token of the deployment's issuer). Defaults to
    /// the local stack's user when --url is not given, else to the tokens `courier login` kept.
    #[arg(long, env = "COURIER_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Work {
    /// Job type: echo, sha256, sleep, fail, flaky, or your own.
    #[arg(value_name = "TYPE")]
    job_type: String,
    /// Payload as JSON (default: null).
    #[arg(value_name = "PAYLOAD_JSON")]
    payload: Option<String>,
    /// Idempotency-Key: retries with the same key and body are accepted once.
    #[arg(long)]
    key: Option<String>,
    /// X-Correlation-Id to carry through every hop.
    #[arg(long)]
    correlation_id: Option<String>,
    /// Hold the work back this many seconds (0-900).
    #[arg(long)]
    delay: Option<u32>,
    /// Jobs only: POST the outcome to this webhook endpoint of yours (an id from
    /// `courier endpoints create`, or the one `courier listen` prints).
    #[arg(long, value_name = "ENDPOINT_ID")]
    callback: Option<String>,
}

#[derive(Args)]
struct Waiting {
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Fire and forget: POST /v1/messages.
    Send(Work),
    /// Claim check: POST /v1/jobs, then (with --wait) wait for the result.
    Submit {
        #[command(flatten)]
        work: Work,
        /// Wait for the job to finish and print its result.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// Show a job's claim: GET /v1/jobs/{id}.
    Status { id: String },
    /// Wait for a job to finish, showing progress, then print its result.
    Wait {
        id: String,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// Cancel a job that has not started: DELETE /v1/jobs/{id}.
    Cancel { id: String },
    /// Bidirectional: submit jobs over the WebSocket API and print their frames in seq order.
    Ws {
        /// Job type: echo, sha256, sleep, fail, flaky, or your own.
        #[arg(value_name = "TYPE")]
        job_type: String,
        /// Payload as JSON (default: null).
        #[arg(value_name = "PAYLOAD_JSON")]
        payload: Option<String>,
        /// Submit this many jobs on the one connection (request ids r1, r2, ...).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// WebSocket URL; defaults to the local stack's WebSocketUrl.
        #[arg(long, env = "COURIER_WS_URL")]
        ws_url: Option<String>,
        /// Print each frame as one JSON line.
        #[arg(long)]
        json: bool,
        /// How long to wait for a missing frame before reporting the gap, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        gap_wait_ms: u64,
        #[command(flatten)]
        waiting: Waiting,
    },
    /// Sign in to the deployment's Cognito user pool and keep the tokens (refreshed when used).
    /// Without --username: the local stack's user. The password is read from standard input.
    Login {
        #[arg(long)]
        username: Option<String>,
        /// The user pool app client (the stack's UserPoolClientId output).
        #[arg(long)]
        client_id: Option<String>,
        /// The user pool's region (for AWS).
        #[arg(long)]
        region: Option<String>,
        /// Cognito's endpoint, for an emulator.
        #[arg(long)]
        cognito_endpoint: Option<String>,
    },
    /// Print the token the other commands send (for curl: -H "Authorization: Bearer $(courier token)").
    Token,
    /// Operators: list dead letters with their failure reasons, or send them back to run again.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Your webhook endpoints: where callbacks go, and the secrets that sign them.
    Endpoints {
        #[command(subcommand)]
        action: EndpointAction,
    },
    /// Receive callbacks on 127.0.0.1: verify each signature and print the delivery. Without
    /// --secret it registers itself as a webhook endpoint (deleted again on Ctrl-C) and prints
    /// the id to submit jobs with.
    Listen {
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// Verify with this secret (whsec_...) of an endpoint already registered for this
        /// listener's URL, instead of registering one.
        #[arg(long, env = "COURIER_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Status to answer verified deliveries with (try 500 or 410 to see retries).
        #[arg(long, default_value_t = 204)]
        answer: u16,
    },
}

#[derive(Subcommand)]
enum EndpointAction {
    /// Register a URL (POST /v1/webhook-endpoints); prints the endpoint with its secret, which
    /// is shown only now.
    Create {
        /// Where callbacks are POSTed (https; a public address).
        #[arg(value_name = "URL")]
        endpoint_url: String,
    },
    /// Show an endpoint: its URL and when its secrets were made and expire.
    Show { id: String },
    /// Make a new secret (printed, once); the ones signing now keep signing for --grace.
    Rotate {
        id: String,
        /// Seconds the current secrets stay valid beside the new one (0-604800; default 86400).
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
    /// Delete an endpoint: callbacks still due to it fail without a request.
    Delete { id: String },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum QueueName {
    /// Fire-and-forget messages and claim-check jobs.
    Work,
    /// Jobs submitted over WebSocket (FIFO).
    Ordered,
    /// Callback deliveries (a redriven callback is delivered again).
    Callback,
}

#[derive(Args)]
struct DlqTarget {
    /// Which dead-letter queue, by the local stack's outputs.
    #[arg(long, value_enum, default_value = "work")]
    queue: QueueName,
    /// The dead-letter queue's URL (instead of --queue; for a deployed stack, from its outputs).
    #[arg(long)]
    dlq: Option<String>,
    /// Handle at most this many messages.
    #[arg(long, default_value_t = 100)]
    max: usize,
    /// Only the message(s) with this courier messageId (a job's id for jobs); repeatable.
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// Print each message as one JSON line.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum DlqAction {
    /// Show the messages in a dead-letter queue with the reason each was dead-lettered.
    List(DlqTarget),
    /// Send dead letters back to their source queue (or --to) to run again.
    Redrive {
        #[command(flatten)]
        target: DlqTarget,
        /// Destination queue URL (default: the DLQ's source queue).
        #[arg(long)]
        to: Option<String>,
        /// Show what would be moved, move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Exit codes: scripts can tell a failed job from a broken request.
mod exit {
    pub const JOB_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TIMED_OUT: u8 = 3;
    pub const API_ERROR: u8 = 4;
}

fn submission(work: &Work) -> Result<Submit, String> {
    let payload = match &work.payload {
        None => Value::Null,
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("PAYLOAD_JSON is not valid JSON: {e}"))?,
    };
    let mut submit = Submit::new(&work.job_type, payload);
    if let Some(key) = &work.key {
        submit = submit.idempotency_key(key);
    }
    if let Some(id) = &work.correlation_id {
        submit = submit.correlation_id(id);
    }
    if let Some(delay) = work.delay {
        submit = submit.delay_seconds(delay);
    }
    if let Some(endpoint_id) = &work.callback {
        submit = submit.callback_endpoint(endpoint_id);
    }
    Ok(submit)
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

async fn wait(client: &Client, id: &str, waiting: &Waiting) -> Result<ExitCode, ClientError> {
    let options = WaitOptions {
        timeout: Duration::from_secs(waiting.timeout),
        ..WaitOptions::default()
    };
    let mut display = watch::Display::new(id);
    let job = client
        .wait_for_job(id, &options, |job| display.update(job))
        .await;
    display.finish();
    let job = job?;
    match job.status.as_str() {
        "SUCCEEDED" => {
            print_json(job.result.as_ref().unwrap_or(&Value::Null));
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            if let Some(error) = &job.error {
                eprintln!(
                    "job {} {}: {} ({})",
                    job.id, job.status, error.reason, error.kind
                );
            } else {
                eprintln!("job {} {}", job.id, job.status);
            }
            Ok(ExitCode::from(exit::JOB_FAILED))
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, ClientError> {
    if let Command::Ws { .. } = &cli.command {
        return Ok(run_ws(cli).await);
    }
    if let Command::Dlq { action } = cli.command {
        return Ok(run_dlq(action).await);
    }
    if let Command::Login {
        username,
        client_id,
        region,
        cognito_endpoint,
    } = cli.command
    {
        let api_url = match cli.url.map_or_else(target::local_api_url, Ok) {
            Ok(url) => url,
            Err(message) => {
                eprintln!("courier: {message}");
                return Ok(ExitCode::from(exit::USAGE));
            }
        };
        let target = login::LoginTarget {
            api_url,
            username,
            client_id,
            region,
            cognito_endpoint,
        };
        return Ok(match login::login(target).await {
            Ok(message) => {
                eprintln!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("courier: {message}");
                ExitCode::from(exit::API_ERROR)
            }
        });
    }
    let url = match cli.url {
        Some(url) => url,
        None => match target::local_api_url() {
            Ok(url) => url,
            Err(message) => {
                eprintln!("courier: {message}");
                return Ok(ExitCode::from(exit::USAGE));
            }
        },
    };
    let mut client = Client::new(&url)?;
    match login::token(cli.token, &url).await {
        Ok(Some(token)) if matches!(cli.command, Command::Token) => {
            println!("{token}");
            return Ok(ExitCode::SUCCESS);
        }
        Ok(Some(token)) => client = client.with_token(token),
        Ok(None) if matches!(cli.command, Command::Token) => {
            eprintln!("courier: no token: give --token, or courier login");
            return Ok(ExitCode::from(exit::USAGE));
        }
        Ok(None) => {}
        Err(message) => {
            eprintln!("courier: {message}");
            return Ok(ExitCode::from(exit::API_ERROR));
        }
    }
    let usage = |message: String| {
        eprintln!("courier: {message}");
        Ok(ExitCode::from(exit::USAGE))
    };
    match cli.command {
        Command::Send(work) => {
            let submit = match submission(&work) {
                Ok(submit) => submit,
                Err(message) => return usage(message),
            };
            let accepted = client.send_message(&submit).await?;
            println!("{}", accepted.message_id);
            eprintln!(
                "accepted at {} (correlation id {})",
                accepted.accepted_at, accepted.correlation_id
            );
        }
        Command::Submit {
            work,
            wait: and_wait,
            waiting,
        } => {
            let submit = match submission(&work) {
                Ok(submit) => submit,
                Err(message) => return usage(message),
            };
            let accepted = client.submit_job(&submit).await?;
            if !and_wait {
                println!("{}", accepted.id);
                eprintln!(
                    "status at {}{} until {}",
                    client.base_url(),
                    accepted.status_url,
                    accepted.expires_at
                );
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!("job {}", accepted.id);
            return wait(&client, &accepted.id, &waiting).await;
        }
        Command::Status { id } => {
            let (job, _) = client.get_job(&id).await?;
            print_json(&serde_json::to_value(&job).map_err(ClientError::Decode)?);
        }
        Command::Wait { id, waiting } => return wait(&client, &id, &waiting).await,
        Command::Endpoints { action } => {
            let endpoint = match action {
                EndpointAction::Create { endpoint_url } => {
                    client.create_webhook_endpoint(&endpoint_url).await?
                }
                EndpointAction::Show { id } => client.webhook_endpoint(&id).await?,
                EndpointAction::Rotate { id, grace } => {
                    client
                        .rotate_webhook_secret(&id, grace.map(Duration::from_secs))
                        .await?
                }
                EndpointAction::Delete { id } => {
                    client.delete_webhook_endpoint(&id).await?;
                    eprintln!("endpoint {id} deleted");
                    return Ok(ExitCode::SUCCESS);
                }
            };
            print_json(&serde_json::to_value(&endpoint).map_err(ClientError::Decode)?);
        }
        Command::Listen {
            port,
            secret,
            answer,
        } => return Ok(run_listener(&client, port, secret, answer).await),
        Command::Ws { .. } | Command::Dlq { .. } | Command::Login { .. } | Command::Token => {
            unreachable!("handled above")
        }
        Command::Cancel { id } => {
            let job = client.cancel_job(&id).await?;
            eprintln!("job {} {}", job.id, job.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_ws(cli: Cli) -> ExitCode {
    let Command::Ws {
        job_type,
        payload,
        count,
        ws_url,
        json,
        gap_wait_ms,
        waiting,
    } = cli.command
    else {
        unreachable!("called for ws only")
    };
    let fail = |message: String| {
        eprintln!("courier: {message}");
        ExitCode::from(exit::USAGE)
    };
    let url = match ws_url.map_or_else(target::local_websocket_url, Ok) {
        Ok(url) => url,
        Err(message) => return fail(message),
    };
    // The same token as the HTTP API takes: `$connect` checks it too.
    let api_url = cli.url.or_else(|| target::local_api_url().ok());
    let token = match login::token(cli.token, api_url.as_deref().unwrap_or("")).await {
        Ok(Some(token)) => token,
        Ok(None) => return fail("no token: give --token, or courier login".into()),
        Err(message) => return fail(message),
    };
    let payload = match payload.as_deref().map(serde_json::from_str).transpose() {
        Ok(payload) => payload.unwrap_or(Value::Null),
        Err(error) => return fail(format!("PAYLOAD_JSON is not valid JSON: {error}")),
    };
    // Optional: only needed to fetch a result too large for a frame.
    let api = api_url
        .and_then(|url| Client::new(url).ok())
        .map(|client| client.with_token(token.clone()));
    let options = ws::Options {
        url,
        token,
        job_type,
        payload,
        count,
        json,
        gap_wait: Duration::from_millis(gap_wait_ms),
        timeout: Duration::from_secs(waiting.timeout),
        api,
    };
    match ws::run(options).await {
        Ok(ws::Outcome::Succeeded) => ExitCode::SUCCESS,
        Ok(ws::Outcome::Failed) => ExitCode::from(exit::JOB_FAILED),
        Ok(ws::Outcome::TimedOut) => {
            eprintln!("courier: timed out waiting for frames");
            ExitCode::from(exit::TIMED_OUT)
        }
        Err(error) => {
            eprintln!("courier: {error}");
            ExitCode::from(exit::API_ERROR)
        }
    }
}

/// An SQS client: the local stack's emulator (from its outputs, with its throwaway
/// credentials) unless a queue URL was given, then the usual AWS configuration.
async fn sqs_client(local: bool) -> Result<aws_sdk_sqs::Client, String> {
    if !local {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        return Ok(aws_sdk_sqs::Client::new(&config));
    }
    let endpoint = target::local_output("Endpoint", "--dlq")?;
    let region = target::local_output("Region", "--dlq")?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "local",
        ))
        .load()
        .await;
    Ok(aws_sdk_sqs::Client::new(&config))
}

fn dlq_queues(target: &DlqTarget, to: Option<String>) -> Result<dlq::Queues, String> {
    let (dlq_key, source_key) = match target.queue {
        QueueName::Work => ("WorkDeadLetterQueueUrl", "WorkQueueUrl"),
        QueueName::Ordered => ("OrderedWorkDeadLetterQueueUrl", "OrderedWorkQueueUrl"),
        QueueName::Callback => ("CallbackDeadLetterQueueUrl", "CallbackQueueUrl"),
    };
    let dead_letters = match &target.dlq {
        Some(url) => url.clone(),
        None => target::local_output(dlq_key, "--dlq")?,
    };
    let source = match to {
        Some(url) => url,
        None if target.dlq.is_some() => {
            return Err("with --dlq, name the destination with --to".into());
        }
        None => target::local_output(source_key, "--to")?,
    };
    Ok(dlq::Queues {
        dead_letters,
        source,
    })
}

fn print_letters(letters: &[Value], json: bool, verb: &str) {
    for letter in letters {
        if json {
            println!("{letter}");
        } else {
            println!(
                "{} {} {}: {} (type {}, {} receives)",
                letter["messageId"].as_str().unwrap_or("-"),
                verb,
                letter["failureKind"].as_str().unwrap_or("-"),
                letter["failureReason"].as_str().unwrap_or("-"),
                letter["type"].as_str().unwrap_or("-"),
                letter["receives"].as_str().unwrap_or("?"),
            );
        }
    }
}

async fn run_dlq(action: DlqAction) -> ExitCode {
    let (target, to, dry_run, redrive) = match action {
        DlqAction::List(target) => (target, None, true, false),
        DlqAction::Redrive {
            target,
            to,
            dry_run,
        } => (target, to, dry_run, true),
    };
    let queues = match dlq_queues(&target, to) {
        Ok(queues) => queues,
        Err(message) => {
            eprintln!("courier: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let client = match sqs_client(target.dlq.is_none()).await {
        Ok(client) => client,
        Err(message) => {
            eprintln!("courier: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let selection = dlq::Selection {
        max: target.max,
        ids: target.ids.clone(),
    };
    let result = if redrive {
        dlq::redrive(&client, &queues, &selection, dry_run).await
    } else {
        dlq::list(&client, &queues, &selection).await
    };
    match result {
        Ok(letters) => {
            let verb = match (redrive, dry_run) {
                (false, _) => "dead-lettered",
                (true, true) => "would be redriven; dead-lettered",
                (true, false) => "redriven; was",
            };
            print_letters(&letters, target.json, verb);
            eprintln!(
                "{} message(s){}",
                letters.len(),
                if redrive && !dry_run {
                    format!(" sent to {}", queues.source)
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("courier: {message}");
            ExitCode::from(exit::API_ERROR)
        }
    }
}

async fn run_listener(client: &Client, port: u16, secret: Option<String>, answer: u16) -> ExitCode {
    let Ok(answer) = axum::http::StatusCode::from_u16(answer) else {
        eprintln!("courier: --answer must be an HTTP status code");
        return ExitCode::from(exit::USAGE);
    };
    let listener = match listen::bind(port).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("courier: cannot listen on 127.0.0.1:{port}: {error}");
            return ExitCode::from(exit::API_ERROR);
        }
    };
    let url = format!("http://{}/", listener.local_addr().expect("bound"));
    let (secret, registered) = match secret {
        Some(text) => match courier_client::webhook::Secret::parse(&text) {
            Ok(secret) => (secret, None),
            Err(error) => {
                eprintln!("courier: --secret: {error}");
                return ExitCode::from(exit::USAGE);
            }
        },
        None => match register(client, &url).await {
            Ok(pair) => pair,
            Err(error) => {
                eprintln!("courier: could not register {url} as a webhook endpoint: {error}");
                return ExitCode::from(exit::API_ERROR);
            }
        },
    };
    let served = listen::serve(listener, secret, answer, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    if let Some(id) = registered {
        match client.delete_webhook_endpoint(&id).await {
            Ok(()) => eprintln!("endpoint {id} deleted"),
            Err(error) => eprintln!("courier: endpoint {id} was not deleted: {error}"),
        }
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("courier: {error}");
            ExitCode::from(exit::API_ERROR)
        }
    }
}

/// Registers `url` as a webhook endpoint: its secret, and its id to delete it by.
async fn register(
    client: &Client,
    url: &str,
) -> Result<(courier_client::webhook::Secret, Option<String>), ClientError> {
    let endpoint = client.create_webhook_endpoint(url).await?;
    let secret = endpoint
        .secret
        .as_deref()
        .and_then(|s| courier_client::webhook::Secret::parse(s).ok())
        .ok_or_else(|| ClientError::Unexpected {
            status: 201,
            body: "the registration's answer carries no usable secret".into(),
        })?;
    eprintln!(
        "registered webhook endpoint {}: submit with --callback {}",
        endpoint.id, endpoint.id
    );
    Ok((secret, Some(endpoint.id)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(ClientError::Deadline { status }) => {
            eprintln!("courier: timed out; the job is still {status}");
            ExitCode::from(exit::TIMED_OUT)
        }
        Err(error) => {
            eprintln!("courier: {error}");
            ExitCode::from(exit::API_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subcommand's own URL argument must not land in the global `--url` (the API's).
    #[test]
    fn an_endpoint_url_is_not_the_api_url() {
        let cli =
            Cli::try_parse_from(["courier", "endpoints", "create", "https://hooks.example/x"])
                .unwrap();
        assert_eq!(cli.url, None);
        let Command::Endpoints {
            action: EndpointAction::Create { endpoint_url },
        } = cli.command
        else {
            panic!("parsed as another command");
        };
        assert_eq!(endpoint_url, "https://hooks.example/x");
    }
}
