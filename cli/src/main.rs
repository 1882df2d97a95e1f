//! `courier`: send messages, submit jobs and wait for them, and operate a stack's dead-letter
//! queues — against the local stack, a deployed stack by name (`--stack`), or any courier API
//! (`--url`).

mod destinations;
mod dlq;
mod job_types;
mod jobs;
mod listen;
mod login;
mod output;
mod payload;
mod quotas;
mod schedules;
mod target;
mod watch;
mod ws;

use clap::{Args, CommandFactory, Parser, Subcommand};
use courier_client::{Client, ClientError, Submit, WaitOptions};
use output::Format;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;
use target::Target;

const EXIT_CODES: &str = "Exit codes:
  0  done (the job succeeded, where the command waits for one)
  1  the job failed or was cancelled
  2  usage: a bad argument, or nothing says which API or stack to use
  3  timed out waiting
  4  the API or AWS refused the request or could not be reached";

#[derive(Parser)]
#[command(
    name = "courier",
    version,
    about = "Talk to a courier API and operate its stack",
    long_about = None,
    after_long_help = EXIT_CODES
)]
struct Cli {
    /// Base URL of the API (everything before /v1). Defaults to the stack's HttpApiUrl output
    /// (--stack, else the local stack's .local/outputs.json).
    #[arg(long, env = "COURIER_URL", global = true)]
    url: Option<String>,
    /// The JWT to call the API with (an access token of the deployment's issuer). Defaults to
    /// the local stack's user on the local stack, else to the tokens `courier login` kept.
    #[arg(long, env = "COURIER_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// A deployed stack by name: its URLs and queues come from its CloudFormation outputs.
    #[arg(long, env = "COURIER_STACK", global = true)]
    stack: Option<String>,
    /// AWS region of the stack (default: the AWS configuration's).
    #[arg(long, global = true)]
    region: Option<String>,
    /// AWS profile to use (default: the AWS configuration's).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// An emulator's endpoint instead of AWS: the stack's API URLs become its paths.
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// text for people; json for scripts (one document per result, one line per streamed item,
    /// failures as a JSON object on standard error).
    #[arg(
        long,
        short = 'o',
        value_enum,
        default_value_t,
        env = "COURIER_OUTPUT",
        global = true
    )]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Work {
    /// Job type: echo, sha256, sleep, fail, flaky, or your own.
    #[arg(value_name = "TYPE")]
    job_type: String,
    /// Payload: JSON, @FILE (a file's contents) or - (standard input); default null.
    #[arg(value_name = "PAYLOAD")]
    payload: Option<String>,
    /// Idempotency-Key: retries with the same key and body are accepted once.
    #[arg(long)]
    key: Option<String>,
    /// X-Correlation-Id to carry through every hop.
    #[arg(long)]
    correlation_id: Option<String>,
    /// Hold the work back this many seconds (0-900).
    #[arg(long, conflicts_with = "run_at")]
    delay: Option<u32>,
    /// Run it at this instant (RFC 3339, up to a year ahead), e.g. 2026-12-24T09:00:00+01:00.
    #[arg(long = "runAt", alias = "run-at", value_name = "INSTANT")]
    run_at: Option<String>,
    /// Jobs only: deliver the outcome to this webhook endpoint (`ep_…`, from `courier
    /// endpoints create` or `courier listen`) or destination (`dst_…`, from `courier
    /// destinations create`) of yours.
    #[arg(long, value_name = "ID")]
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
    /// Your jobs, newest first (GET /v1/jobs, every page followed up to --limit); or, with a
    /// subcommand, cancel or rerun the jobs a filter picks.
    #[command(args_conflicts_with_subcommands = true)]
    Jobs {
        #[command(subcommand)]
        action: Option<JobsAction>,
        /// Only jobs in this state.
        #[arg(long, value_parser = parse_status)]
        status: Option<courier_client::JobStatus>,
        #[command(flatten)]
        filter: jobs::Filter,
        /// Show at most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A job's timeline: every attempt, its outcome and every callback answer, in order
    /// (GET /v1/jobs/{id}/events).
    Events { id: String },
    /// Bidirectional: submit jobs over the WebSocket API and print their frames in seq order.
    Ws {
        /// Job type: echo, sha256, sleep, fail, flaky, or your own.
        #[arg(value_name = "TYPE")]
        job_type: String,
        /// Payload: JSON, @FILE (a file's contents) or - (standard input); default null.
        #[arg(value_name = "PAYLOAD")]
        payload: Option<String>,
        /// Submit this many jobs on the one connection (request ids r1, r2, ...).
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// WebSocket URL; defaults to the stack's WebSocketUrl output.
        #[arg(long, env = "COURIER_WS_URL")]
        ws_url: Option<String>,
        /// The same as --output json (each frame as one JSON line).
        #[arg(long, hide = true)]
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
        /// The user pool app client (default: the stack's UserPoolClientId output).
        #[arg(long)]
        client_id: Option<String>,
        /// Cognito's endpoint (default: --endpoint-url for an emulator, else the --region's).
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
    /// Operators: one caller's own limits (jobs in flight, requests per second, connections,
    /// webhook endpoints), above or below the deployment's; the functions apply a change
    /// within a minute.
    Quotas {
        #[command(subcommand)]
        action: QuotasAction,
    },
    /// Your webhook endpoints: where callbacks go, and the secrets that sign them.
    Endpoints {
        #[command(subcommand)]
        action: EndpointAction,
    },
    /// Your destinations: SQS queues and EventBridge buses callbacks go to.
    Destinations {
        #[command(subcommand)]
        action: destinations::DestinationAction,
    },
    /// Your recurring schedules: each run a job of its own.
    Schedules {
        #[command(subcommand)]
        action: schedules::ScheduleAction,
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
    /// Job types declared in a job-types document (jobs/job-types.schema.json).
    JobTypes {
        #[command(subcommand)]
        action: JobTypesAction,
    },
    /// Print a completion script for a shell (e.g. `courier completions bash > /etc/bash_completion.d/courier`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum JobTypesAction {
    /// Check a job-types document as a deployment would, naming every problem by its JSON
    /// pointer (exit 2 if there is any).
    Check {
        /// The document: a file, or - for standard input.
        #[arg(value_name = "FILE")]
        file: String,
        #[command(flatten)]
        deployment: DeploymentFlags,
    },
    /// Check a document, upload it to S3 under its digest, and print the template parameters
    /// to deploy with (JobTypesObject and JobTypeLambdaTargets, as `sam deploy
    /// --parameter-overrides` takes them). Exit 2 if the document has a problem.
    Publish {
        /// The document: a file, or - for standard input.
        #[arg(value_name = "FILE")]
        file: String,
        /// The bucket to upload it to (one the deployment may read: sam deploy's own will do).
        #[arg(long)]
        bucket: String,
        /// Where in the bucket.
        #[arg(long, default_value = "courier/job-types")]
        prefix: String,
        #[command(flatten)]
        deployment: DeploymentFlags,
    },
    /// Show, rotate or retire the signing secrets of a declared HTTP target (kept in SSM under
    /// the stack's name, which --stack gives): the service verifies each attempt with them.
    Secret {
        /// The declared job type.
        job_type: String,
        /// Make a new secret, printed first; the others keep signing until --retire.
        #[arg(long, conflicts_with = "retire")]
        rotate: bool,
        /// Only the newest secret signs from now on.
        #[arg(long)]
        retire: bool,
    },
}

/// What a job-types document is checked against: the deployment it is for.
#[derive(clap::Args)]
struct DeploymentFlags {
    /// The deployment's ClaimLifetimeSeconds: every attempt must end before its claim.
    #[arg(long, default_value_t = 86_400)]
    claim_lifetime_seconds: u64,
    /// The deployment's ExampleJobTypes: enabled, their names are taken.
    #[arg(long, value_parser = ["enabled", "disabled"], default_value = "enabled")]
    example_job_types: String,
    /// A host HTTP targets may name with http:// (local development only; repeat for more).
    #[arg(long, value_name = "HOST")]
    allow_http_host: Vec<String>,
}

impl DeploymentFlags {
    fn check(&self, text: &str) -> Result<courier_jobs::declared::JobTypesDocument, String> {
        let compiled = job_types::compiled_names(self.example_job_types == "enabled");
        let lifetime = std::time::Duration::from_secs(self.claim_lifetime_seconds);
        let plain: Vec<&str> = self.allow_http_host.iter().map(String::as_str).collect();
        job_types::check(text, lifetime, &compiled, &plain)
    }
}

/// A document from a file, or standard input for `-`.
fn read_document(file: &str) -> std::io::Result<String> {
    match file {
        "-" => std::io::read_to_string(std::io::stdin()),
        path => std::fs::read_to_string(path),
    }
}

/// Which caller: the subject (`sub`) of their tokens, and the issuer (`iss`).
#[derive(Args)]
struct CallerFlags {
    /// The caller's subject (their tokens' `sub`; Cognito: the user's `sub` attribute).
    #[arg(long)]
    subject: String,
    /// Their tokens' issuer (default: the stack's JwtIssuer output).
    #[arg(long)]
    issuer: Option<String>,
}

#[derive(Subcommand)]
enum QuotasAction {
    /// Set some of the caller's own limits (the others stay as they are).
    Set {
        #[command(flatten)]
        caller: CallerFlags,
        #[command(flatten)]
        limits: quotas::Own,
    },
    /// Print the caller's own limits (null: the deployment's).
    Show {
        #[command(flatten)]
        caller: CallerFlags,
    },
    /// Back to the deployment's limits.
    Clear {
        #[command(flatten)]
        caller: CallerFlags,
    },
}

#[derive(Subcommand)]
enum JobsAction {
    /// Cancel your PENDING jobs the filter picks (POST /v1/jobs/cancel; at least one filter).
    Cancel(jobs::Bulk),
    /// Run your FAILED jobs of a type, created in a window, again: the same ids, a new attempt
    /// budget (POST /v1/jobs/rerun; --type, --created-after and --created-before).
    Rerun(jobs::Bulk),
}

/// A job state as the API spells it (any case).
fn parse_status(raw: &str) -> Result<courier_client::JobStatus, String> {
    courier_client::JobStatus::parse(&raw.to_ascii_uppercase())
        .ok_or_else(|| "one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED".to_owned())
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
    /// Your endpoints, newest first (GET /v1/webhook-endpoints; never their secrets).
    List,
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
    /// Which dead-letter queue, by the stack's outputs.
    #[arg(long, value_enum, default_value = "work")]
    queue: QueueName,
    /// The dead-letter queue's URL (instead of --queue).
    #[arg(long)]
    dlq: Option<String>,
    /// Handle at most this many messages.
    #[arg(long, default_value_t = 100)]
    max: usize,
    /// Only the message(s) with this courier messageId (a job's id for jobs); repeatable.
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// The same as --output json (each message as one JSON line).
    #[arg(long, hide = true)]
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

/// Exit codes (see [`EXIT_CODES`]): scripts can tell a failed job from a broken request.
mod exit {
    pub const JOB_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TIMED_OUT: u8 = 3;
    pub const API_ERROR: u8 = 4;
}

/// A command that did not get to its result: the exit code and what to say.
enum Stop {
    Usage(String),
    Api(String),
    Client(ClientError),
}

impl From<ClientError> for Stop {
    fn from(error: ClientError) -> Self {
        Self::Client(error)
    }
}

impl Stop {
    fn report(self, format: Format) -> ExitCode {
        let code = match &self {
            Self::Usage(_) => exit::USAGE,
            Self::Api(_) => exit::API_ERROR,
            Self::Client(ClientError::Deadline { .. }) => exit::TIMED_OUT,
            Self::Client(_) => exit::API_ERROR,
        };
        match self {
            Self::Usage(message) | Self::Api(message) => format.failure(code, &message, None),
            Self::Client(ClientError::Deadline { status }) => {
                format.failure(code, &format!("timed out; the job is still {status}"), None)
            }
            Self::Client(error) => format.client_error(code, &error),
        }
        ExitCode::from(code)
    }
}

/// A payload over this goes up as an upload (a request body takes 5 MB at most).
const UPLOAD_OVER_BYTES: usize = 1024 * 1024;

async fn submission(client: &Client, work: &Work) -> Result<Submit, Stop> {
    let payload = payload::read(work.payload.as_deref()).map_err(Stop::Usage)?;
    let large = serde_json::to_vec(&payload).map_or(0, |b| b.len()) > UPLOAD_OVER_BYTES;
    let mut submit = match large {
        true => {
            Submit::new(&work.job_type, Value::Null).payload_ref(client.upload(&payload).await?)
        }
        false => Submit::new(&work.job_type, payload),
    };
    if let Some(at) = &work.run_at {
        submit = submit.run_at(at);
    }
    if let Some(key) = &work.key {
        submit = submit.idempotency_key(key);
    }
    if let Some(id) = &work.correlation_id {
        submit = submit.correlation_id(id);
    }
    if let Some(delay) = work.delay {
        submit = submit.delay_seconds(delay);
    }
    if let Some(id) = &work.callback {
        submit = match id.starts_with("dst_") {
            true => submit.callback_destination(id),
            false => submit.callback_endpoint(id),
        };
    }
    Ok(submit)
}

fn to_value(value: &impl serde::Serialize) -> Result<Value, Stop> {
    serde_json::to_value(value).map_err(|e| Stop::Client(ClientError::Decode(e)))
}

/// Waits for the job, then prints its result (text) or the whole claim (JSON).
async fn wait(
    client: &Client,
    id: &str,
    waiting: &Waiting,
    format: Format,
) -> Result<ExitCode, Stop> {
    let options = WaitOptions {
        timeout: Duration::from_secs(waiting.timeout),
        ..WaitOptions::default()
    };
    let mut display = watch::Display::new(id, format == Format::Text);
    let job = client
        .wait_for_job(id, &options, |job| display.update(job))
        .await;
    display.finish();
    let job = job?;
    let succeeded = job.status.as_str() == "SUCCEEDED";
    match format {
        Format::Json => format.value(&to_value(&job)?),
        Format::Text if succeeded => format.value(job.result.as_ref().unwrap_or(&Value::Null)),
        Format::Text => match &job.error {
            Some(error) => eprintln!(
                "job {} {}: {} ({})",
                job.id, job.status, error.reason, error.kind
            ),
            None => eprintln!("job {} {}", job.id, job.status),
        },
    }
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::JOB_FAILED)
    })
}

async fn run(cli: Cli) -> ExitCode {
    let format = cli.output;
    match dispatch(cli).await {
        Ok(code) => code,
        Err(stop) => stop.report(format),
    }
}

/// `courier job-types check|publish`: exit 2 for a document with a problem, every problem
/// printed by its pointer.
async fn job_types_command(
    action: &JobTypesAction,
    cli: &Cli,
    format: Format,
) -> Result<ExitCode, Stop> {
    let aws = target::Aws {
        region: cli.region.clone(),
        profile: cli.profile.clone(),
        endpoint_url: cli.endpoint_url.clone(),
    };
    let stack = || {
        cli.stack.clone().ok_or_else(|| {
            Stop::Usage(
                "name the stack (--stack NAME): HTTP targets' secrets live under \
                 /courier/NAME/targets"
                    .into(),
            )
        })
    };
    let (file, deployment) = match action {
        JobTypesAction::Check { file, deployment }
        | JobTypesAction::Publish {
            file, deployment, ..
        } => (file, deployment),
        JobTypesAction::Secret {
            job_type,
            rotate,
            retire,
        } => {
            let what = match (rotate, retire) {
                (true, _) => job_types::SecretAction::Rotate,
                (_, true) => job_types::SecretAction::Retire,
                _ => job_types::SecretAction::Show,
            };
            let secrets = job_types::secret(&aws.config().await, &stack()?, job_type, what)
                .await
                .map_err(Stop::Api)?;
            match format {
                Format::Json => format.value(&serde_json::json!({"secrets": secrets})),
                Format::Text => println!("{}", secrets.join(" ")),
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let text = match read_document(file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {file}: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let document = match deployment.check(&text) {
        Ok(document) => document,
        Err(problems) => {
            eprintln!("{problems}");
            return Ok(ExitCode::from(2));
        }
    };
    let JobTypesAction::Publish { bucket, prefix, .. } = action else {
        println!("{}", job_types::summary(&document));
        return Ok(ExitCode::SUCCESS);
    };
    let config = aws.config().await;
    let has_http = document
        .types
        .values()
        .any(|t| matches!(t.target, courier_jobs::declared::Target::Http(_)));
    if has_http {
        let stack = stack()?;
        for created in job_types::ensure_secrets(&config, &stack, &document)
            .await
            .map_err(Stop::Api)?
        {
            format.note(format!(
                "{created}: a new signing secret; give it to the service: \
                 courier --stack {stack} job-types secret {created}"
            ));
        }
    }
    let published = job_types::publish(&config, &document, &text, bucket, prefix)
        .await
        .map_err(Stop::Api)?;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&published).expect("parameters are JSON")
        ),
        Format::Text => println!("{}", published.overrides()),
    }
    Ok(ExitCode::SUCCESS)
}

async fn dispatch(cli: Cli) -> Result<ExitCode, Stop> {
    let format = cli.output;
    if let Command::JobTypes { action } = &cli.command {
        return job_types_command(action, &cli, format).await;
    }
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "courier", &mut script);
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
        return Ok(ExitCode::SUCCESS);
    }
    let aws = target::Aws {
        region: cli.region.clone(),
        profile: cli.profile.clone(),
        endpoint_url: cli.endpoint_url.clone(),
    };
    let target = Target::resolve(cli.stack.as_deref(), aws)
        .await
        .map_err(Stop::Api)?;
    let api_url = match &cli.url {
        Some(url) => Ok(url.clone()),
        None => target.api_url(),
    };
    match cli.command {
        Command::Ws {
            job_type,
            payload,
            count,
            ws_url,
            json,
            gap_wait_ms,
            waiting,
        } => {
            let url = ws_url
                .map_or_else(|| target.websocket_url(), Ok)
                .map_err(Stop::Usage)?;
            // The same token as the HTTP API takes: `$connect` checks it too.
            let api_url = api_url.ok();
            let token = login::token(cli.token, api_url.as_deref().unwrap_or(""))
                .await
                .map_err(Stop::Api)?
                .ok_or_else(|| Stop::Usage("no token: give --token, or courier login".into()))?;
            let payload = payload::read(payload.as_deref()).map_err(Stop::Usage)?;
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
                json: json || format == Format::Json,
                gap_wait: Duration::from_millis(gap_wait_ms),
                timeout: Duration::from_secs(waiting.timeout),
                api,
            };
            return match ws::run(options).await {
                Ok(ws::Outcome::Succeeded) => Ok(ExitCode::SUCCESS),
                Ok(ws::Outcome::Failed) => Ok(ExitCode::from(exit::JOB_FAILED)),
                Ok(ws::Outcome::TimedOut) => {
                    format.failure(exit::TIMED_OUT, "timed out waiting for frames", None);
                    Ok(ExitCode::from(exit::TIMED_OUT))
                }
                Err(error) => Err(Stop::Api(error.to_string())),
            };
        }
        Command::Dlq { action } => return run_dlq(action, &target, format).await,
        Command::Quotas { action } => return run_quotas(action, &target, format).await,
        Command::Login {
            username,
            client_id,
            cognito_endpoint,
        } => {
            let login = login::LoginTarget {
                api_url: api_url.map_err(Stop::Usage)?,
                username,
                client_id: client_id.or_else(|| target.output("UserPoolClientId", "").ok()),
                // A deployed stack's Cognito is in its region; the local stack's is the emulator.
                region: match (&cli.region, &target.source) {
                    (Some(region), _) => Some(region.clone()),
                    (None, target::Source::Stack(_)) => target.region().await,
                    (None, _) => None,
                },
                cognito_endpoint: cognito_endpoint.or_else(|| {
                    cli.endpoint_url
                        .map(|e| format!("{}/", e.trim_end_matches('/')))
                }),
            };
            let message = login::login(login).await.map_err(Stop::Api)?;
            match format {
                Format::Text => eprintln!("{message}"),
                Format::Json => format.value(&json!({"signedIn": true, "message": message})),
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let url = api_url.map_err(Stop::Usage)?;
    let mut client = Client::new(&url)?;
    let token = login::token(cli.token, &url).await.map_err(Stop::Api)?;
    if let Command::Token = cli.command {
        let token =
            token.ok_or_else(|| Stop::Usage("no token: give --token, or courier login".into()))?;
        match format {
            Format::Text => println!("{token}"),
            Format::Json => format.value(&json!({"accessToken": token})),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(token) = token {
        client = client.with_token(token);
    }
    match cli.command {
        Command::Send(work) => {
            let accepted = client
                .send_message(&submission(&client, &work).await?)
                .await?;
            match format {
                Format::Text => {
                    println!("{}", accepted.message_id);
                    eprintln!(
                        "accepted at {} (correlation id {})",
                        accepted.accepted_at, accepted.correlation_id
                    );
                }
                Format::Json => format.value(&to_value(&accepted)?),
            }
        }
        Command::Submit {
            work,
            wait: and_wait,
            waiting,
        } => {
            let accepted = client
                .submit_job(&submission(&client, &work).await?)
                .await?;
            if and_wait {
                format.note(format_args!("job {}", accepted.id));
                return wait(&client, &accepted.id, &waiting, format).await;
            }
            match format {
                Format::Text => {
                    println!("{}", accepted.id);
                    eprintln!(
                        "status at {}{} until {}",
                        client.base_url(),
                        accepted.status_url,
                        accepted.expires_at
                    );
                }
                Format::Json => format.value(&to_value(&accepted)?),
            }
        }
        Command::Status { id } => {
            let (job, _) = client.get_job(&id).await?;
            format.value(&to_value(&job)?);
        }
        Command::Wait { id, waiting } => return wait(&client, &id, &waiting, format).await,
        Command::Cancel { id } => {
            let job = client.cancel_job(&id).await?;
            match format {
                Format::Text => eprintln!("job {} {}", job.id, job.status),
                Format::Json => format.value(&to_value(&job)?),
            }
        }
        Command::Jobs {
            action,
            status,
            filter,
            limit,
        } => match action {
            None => jobs::list(&client, &filter, status, limit, format).await?,
            Some(JobsAction::Cancel(bulk)) => jobs::bulk(&client, false, &bulk, format).await?,
            Some(JobsAction::Rerun(bulk)) => jobs::bulk(&client, true, &bulk, format).await?,
        },
        Command::Events { id } => jobs::events(&client, &id, format).await?,
        Command::Endpoints {
            action: EndpointAction::List,
        } => {
            let mut endpoints = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = client
                    .list_webhook_endpoints(Some(100), cursor.as_deref())
                    .await?;
                endpoints.extend(page.endpoints);
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            format.value(&json!({ "endpoints": endpoints }));
        }
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
                EndpointAction::List => unreachable!("listed above"),
                EndpointAction::Delete { id } => {
                    client.delete_webhook_endpoint(&id).await?;
                    match format {
                        Format::Text => eprintln!("endpoint {id} deleted"),
                        Format::Json => format.value(&json!({"id": id, "deleted": true})),
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            };
            format.value(&to_value(&endpoint)?);
        }
        Command::Destinations { action } => destinations::run(&client, action, format).await?,
        Command::Schedules { action } => schedules::run(&client, action, format).await?,
        Command::Listen {
            port,
            secret,
            answer,
        } => return run_listener(&client, port, secret, answer).await,
        Command::Ws { .. }
        | Command::Dlq { .. }
        | Command::Quotas { .. }
        | Command::Login { .. }
        | Command::Token
        | Command::JobTypes { .. }
        | Command::Completions { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn dlq_queues(
    target: &Target,
    queue: &DlqTarget,
    to: Option<String>,
) -> Result<dlq::Queues, String> {
    let (dlq_key, source_key) = match queue.queue {
        QueueName::Work => ("WorkDeadLetterQueueUrl", "WorkQueueUrl"),
        QueueName::Ordered => ("OrderedWorkDeadLetterQueueUrl", "OrderedWorkQueueUrl"),
        QueueName::Callback => ("CallbackDeadLetterQueueUrl", "CallbackQueueUrl"),
    };
    let dead_letters = match &queue.dlq {
        Some(url) => url.clone(),
        None => target.output(dlq_key, "--dlq")?,
    };
    let source = match to {
        Some(url) => url,
        None if queue.dlq.is_some() => {
            return Err("with --dlq, name the destination with --to".into());
        }
        None => target.output(source_key, "--to")?,
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

async fn run_quotas(
    action: QuotasAction,
    target: &Target,
    format: Format,
) -> Result<ExitCode, Stop> {
    let (QuotasAction::Set { caller, .. }
    | QuotasAction::Show { caller }
    | QuotasAction::Clear { caller }) = &action;
    let issuer = match &caller.issuer {
        Some(issuer) => issuer.clone(),
        None => target
            .output("JwtIssuer", "--issuer")
            .map_err(Stop::Usage)?,
    };
    let principal = courier_client::principal::Principal::new(issuer, caller.subject.clone());
    let table = quotas::Table {
        client: target.dynamodb().await.map_err(Stop::Usage)?,
        name: target.output("TableName", "--stack").map_err(Stop::Usage)?,
    };
    match &action {
        QuotasAction::Set { limits, .. } if limits.is_empty() => {
            return Err(Stop::Usage(
                "give at least one limit to set (--jobs-in-flight, --requests-per-second, \
                 --connections, --webhook-endpoints)"
                    .into(),
            ));
        }
        QuotasAction::Set { limits, .. } => table.set(&principal, limits).await,
        QuotasAction::Show { .. } => Ok(()),
        QuotasAction::Clear { .. } => table.clear(&principal).await,
    }
    .map_err(Stop::Api)?;
    format.value(&table.show(&principal).await.map_err(Stop::Api)?);
    Ok(ExitCode::SUCCESS)
}

async fn run_dlq(action: DlqAction, target: &Target, format: Format) -> Result<ExitCode, Stop> {
    let (queue, to, dry_run, redrive) = match action {
        DlqAction::List(queue) => (queue, None, true, false),
        DlqAction::Redrive {
            target,
            to,
            dry_run,
        } => (target, to, dry_run, true),
    };
    let queues = dlq_queues(target, &queue, to).map_err(Stop::Usage)?;
    let client = target.sqs().await.map_err(Stop::Usage)?;
    let selection = dlq::Selection {
        max: queue.max,
        ids: queue.ids.clone(),
    };
    let letters = if redrive {
        dlq::redrive(&client, &queues, &selection, dry_run).await
    } else {
        dlq::list(&client, &queues, &selection).await
    }
    .map_err(Stop::Api)?;
    let verb = match (redrive, dry_run) {
        (false, _) => "dead-lettered",
        (true, true) => "would be redriven; dead-lettered",
        (true, false) => "redriven; was",
    };
    print_letters(&letters, queue.json || format == Format::Json, verb);
    format.note(format_args!(
        "{} message(s){}",
        letters.len(),
        if redrive && !dry_run {
            format!(" sent to {}", queues.source)
        } else {
            String::new()
        }
    ));
    Ok(ExitCode::SUCCESS)
}

async fn run_listener(
    client: &Client,
    port: u16,
    secret: Option<String>,
    answer: u16,
) -> Result<ExitCode, Stop> {
    let answer = axum::http::StatusCode::from_u16(answer)
        .map_err(|_| Stop::Usage("--answer must be an HTTP status code".into()))?;
    let listener = listen::bind(port)
        .await
        .map_err(|e| Stop::Api(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let url = format!("http://{}/", listener.local_addr().expect("bound"));
    let (secret, registered) = match secret {
        Some(text) => {
            let secret = courier_client::webhook::Secret::parse(&text)
                .map_err(|e| Stop::Usage(format!("--secret: {e}")))?;
            (secret, None)
        }
        None => register(client, &url).await.map_err(|e| {
            Stop::Api(format!(
                "could not register {url} as a webhook endpoint: {e}"
            ))
        })?,
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
    served.map_err(|e| Stop::Api(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
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
    use clap::FromArgMatches;
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // A stack named on the command line is the target: a COURIER_URL left in the environment
    // must not send its jobs to another API than the one its queues belong to.
    if cli.stack.is_some()
        && matches.value_source("url") == Some(clap::parser::ValueSource::EnvVariable)
    {
        cli.url = None;
    }
    run(cli).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_types_take_a_file_or_standard_input() {
        let cli = Cli::try_parse_from(["courier", "job-types", "check", "-"]).unwrap();
        assert!(matches!(cli.command, Command::JobTypes { .. }));
        let cli = Cli::try_parse_from([
            "courier",
            "job-types",
            "publish",
            "types.json",
            "--bucket",
            "b",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::JobTypes { .. }));
    }

    #[test]
    fn a_stack_and_the_output_format_are_global() {
        for args in [
            &["courier", "--stack", "prod", "-o", "json", "status", "abc"][..],
            &[
                "courier", "status", "abc", "--stack", "prod", "--output", "json",
            ][..],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.stack.as_deref(), Some("prod"));
            assert_eq!(cli.output, Format::Json);
        }
        let cli = Cli::try_parse_from(["courier", "dlq", "list", "--queue", "callback", "--json"])
            .unwrap();
        assert_eq!(
            cli.output,
            Format::Text,
            "--json is the command's own alias"
        );
        assert!(Cli::try_parse_from(["courier", "-o", "yaml", "status", "abc"]).is_err());
    }

    #[test]
    fn every_exit_code_is_in_the_help() {
        for code in [
            0,
            exit::JOB_FAILED,
            exit::USAGE,
            exit::TIMED_OUT,
            exit::API_ERROR,
        ] {
            assert!(
                EXIT_CODES.contains(&format!("\n  {code}  ")),
                "exit code {code} is not documented"
            );
        }
    }

    #[test]
    fn completions_are_made_for_the_usual_shells() {
        for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
            let cli = Cli::try_parse_from(["courier", "completions", shell]).unwrap();
            assert!(
                matches!(cli.command, Command::Completions { .. }),
                "{shell}"
            );
        }
    }

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
