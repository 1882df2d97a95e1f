//! `courier-bench`: what the functions cost before they do any work, each figure beside a
//! reference measured in the same run.
//!
//! - `init [--runs N] [--dir DIR]`: start-up. Each function's bootstrap is started against a
//!   Runtime API stand-in and timed from `exec` to its first `GET …/invocation/next` (what
//!   Lambda reports as Init Duration), beside `hello-lambda`, the smallest `lambda_runtime`
//!   function built with the same profile. Runs are interleaved so the machine's noise falls on
//!   all alike.
//! - `sizes [--dir DIR]`: each bootstrap's size beside `hello-lambda`'s.
//!
//! Build first: `cargo build --release -p courier-bench -p http-api -p processor -p notifier
//! -p websocket -p authorizer`.

mod runtime_api;

use runtime_api::RuntimeApi;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

const REFERENCE: &str = "hello-lambda";
const FUNCTIONS: [&str; 5] = [
    "http-api",
    "processor",
    "notifier",
    "websocket",
    "authorizer",
];

/// What Lambda puts in every function's environment, and what courier's template adds: every
/// function gets all of courier's settings (each reads only its own). Values only need to
/// parse: nothing is called at start-up.
fn environment(runtime_api: &str) -> Vec<(&'static str, String)> {
    let queue = |name: &str| format!("http://127.0.0.1:9/000000000000/{name}");
    let mut env: Vec<(&'static str, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ("LAMBDA_TASK_ROOT", "/var/task".into()),
        ("_HANDLER", "bootstrap".into()),
        ("TZ", ":UTC".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK".into()),
        ("AWS_SECRET_ACCESS_KEY", "benchmark".into()),
        ("AWS_SESSION_TOKEN", "benchmark".into()),
        ("RUST_LOG", "info".into()),
        ("TABLE_NAME", "courier".into()),
        ("EXAMPLE_JOB_TYPES", "enabled".into()),
        ("WORK_QUEUE_URL", queue("work")),
        ("ORDERED_WORK_QUEUE_URL", queue("ordered.fifo")),
        ("DEAD_LETTER_QUEUE_URL", queue("work-dlq")),
        ("ORDERED_DEAD_LETTER_QUEUE_URL", queue("ordered-dlq.fifo")),
        ("DEAD_LETTER_INBOX_URL", queue("work-inbox")),
        ("ORDERED_DEAD_LETTER_INBOX_URL", queue("ordered-inbox.fifo")),
        ("CALLBACK_QUEUE_URL", queue("callbacks")),
        (
            "WEBHOOK_KEY_ID",
            "arn:aws:kms:us-east-1:000000000000:key/bench".into(),
        ),
        (
            "WEBSOCKET_MANAGEMENT_URL",
            "https://example.execute-api.us-east-1.amazonaws.com/v1".into(),
        ),
        (
            "JWT_ISSUER",
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench".into(),
        ),
        ("JWT_AUDIENCES", "bench-client".into()),
        ("JWKS_URL", "".into()),
    ];
    for (name, value) in [
        ("CLAIM_LIFETIME_SECONDS", "86400"),
        ("MAX_ATTEMPTS", "5"),
        ("MAX_RECEIVE_COUNT", "20"),
        ("RETRY_BASE_DELAY_SECONDS", "5"),
        ("CALLBACK_MAX_ATTEMPTS", "8"),
        ("CALLBACK_RETRY_BASE_DELAY_SECONDS", "30"),
        ("CALLBACK_RETRY_MAX_DELAY_SECONDS", "3600"),
        ("CALLBACK_TIMEOUT_MS", "5000"),
        ("CALLBACK_ALLOW_HTTP", "false"),
        ("CALLBACK_ALLOWED_HOSTS", ""),
    ] {
        env.push((name, value.to_owned()));
    }
    env
}

/// One start: from spawning `binary` to its first request for work.
async fn start_once(api: &mut RuntimeApi, binary: &Path) -> Result<Duration, String> {
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(environment(&api.address.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let started = std::time::Instant::now();
    let asked = tokio::select! {
        asked = api.first_ask() => asked.ok_or("the runtime API stopped")?,
        status = child.wait() => return Err(format!("{} exited before asking for work: {status:?}", binary.display())),
        _ = tokio::time::sleep(Duration::from_secs(10)) => return Err(format!("{} never asked for work", binary.display())),
    };
    let _ = child.kill().await;
    Ok(asked.saturating_duration_since(started))
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn init(dir: &Path, runs: usize) -> Result<(), String> {
    let names: Vec<&str> = std::iter::once(REFERENCE).chain(FUNCTIONS).collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let mut api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
    // One warm-up start each (page cache), then interleaved rounds.
    for name in &names {
        start_once(&mut api, &dir.join(name)).await?;
    }
    for round in 0..runs {
        for offset in 0..names.len() {
            let i = (round + offset) % names.len();
            samples[i].push(start_once(&mut api, &dir.join(names[i])).await?);
        }
    }
    for list in &mut samples {
        list.sort();
    }
    let reference = quantile(&samples[0], 0.5);
    println!(
        "start-up: exec → first GET /runtime/invocation/next, {runs} starts each, interleaved"
    );
    println!("| function | median ms | p90 ms | × {REFERENCE} (median) | goal |");
    println!("|---|---|---|---|---|");
    for (name, list) in names.iter().zip(&samples) {
        let median = quantile(list, 0.5);
        let ratio = median.as_secs_f64() / reference.as_secs_f64();
        let goal = if *name == REFERENCE {
            "reference"
        } else if ratio <= 2.0 {
            "≤ 2× ✓"
        } else {
            "≤ 2× ✗"
        };
        println!(
            "| {name} | {} | {} | {ratio:.2} | {goal} |",
            ms(median),
            ms(quantile(list, 0.9))
        );
    }
    Ok(())
}

fn sizes(dir: &Path) -> Result<(), String> {
    let size = |name: &str| -> Result<u64, String> {
        // `sam build` leaves each function's binary as <LogicalId>/bootstrap.
        let direct = dir.join(name);
        let path = if direct.is_file() {
            direct
        } else {
            dir.join(name).join("bootstrap")
        };
        std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let mb = |bytes: u64| format!("{:.1}", bytes as f64 / 1_000_000.0);
    let reference = size(REFERENCE).ok();
    println!("| bootstrap | MB | × {REFERENCE} |");
    println!("|---|---|---|");
    for name in std::iter::once(REFERENCE).chain(FUNCTIONS) {
        let Ok(bytes) = size(name) else {
            println!("| {name} | (not built) | |");
            continue;
        };
        let ratio = reference.map_or("".into(), |r| format!("{:.1}", bytes as f64 / r as f64));
        println!("| {name} | {} | {ratio} |", mb(bytes));
    }
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!("usage: courier-bench init [--runs N] [--dir DIR] | sizes [--dir DIR]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dir = option("--dir").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release")),
        PathBuf::from,
    );
    let result = match args.first().map(String::as_str) {
        Some("init") => {
            let Some(runs) = option("--runs").map_or(Some(30), |r| r.parse().ok()) else {
                return usage();
            };
            init(&dir, runs).await
        }
        Some("sizes") => sizes(&dir),
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("courier-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
