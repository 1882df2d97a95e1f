//! `courier ws`: the bidirectional pattern from a terminal. Connects, submits jobs, and prints
//! the server's frames in `seq` order, reporting any frame that never arrives.

use courier_client::Client;
use courier_client::frames::{FrameKind, ServerFrame, SubmitFrame};
use courier_client::ws::{Auth, Event, Sequenced, Sequencer, WsClient, WsError};
use serde_json::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

pub struct Options {
    pub url: String,
    pub token: String,
    pub job_type: String,
    pub payload: Value,
    pub count: u32,
    pub json: bool,
    pub gap_wait: Duration,
    pub timeout: Duration,
    /// The HTTP API, to fetch results sent as a claim reference.
    pub api: Option<Client>,
}

/// How a session ended.
pub enum Outcome {
    /// Every job succeeded.
    Succeeded,
    /// At least one error frame.
    Failed,
    TimedOut,
}

pub async fn run(options: Options) -> Result<Outcome, WsError> {
    let mut ws = WsClient::connect(&options.url, Auth::Header(&options.token)).await?;
    let mut open: HashSet<String> = HashSet::new();
    for n in 1..=options.count {
        let request_id = format!("r{n}");
        let frame = SubmitFrame::new(&request_id, &options.job_type, options.payload.clone());
        ws.submit(&frame).await?;
        open.insert(request_id);
    }
    let deadline = Instant::now() + options.timeout;
    let mut sequencer = Sequencer::default();
    let mut failed = false;
    while !open.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Outcome::TimedOut);
        }
        // While a frame is missing, wait only so long for it before reporting the gap.
        let wait = if sequencer.is_waiting() {
            options.gap_wait
        } else {
            deadline - now
        };
        let released = match ws.next_event(wait.min(deadline - now)).await? {
            Event::Frame(frame) => sequencer.push(frame),
            Event::Idle => sequencer.skip_gap(),
            Event::Gateway(message) => {
                eprintln!("courier: the gateway reported a failure: {message}");
                Vec::new()
            }
            Event::Closed => {
                eprintln!("courier: the server closed the connection");
                return Ok(Outcome::Failed);
            }
        };
        for item in released {
            match item {
                Sequenced::Gap(range) => {
                    eprintln!(
                        "gap: frames #{}-#{} never arrived",
                        range.start(),
                        range.end()
                    )
                }
                Sequenced::Frame(frame) => {
                    show(&frame, &options).await;
                    if frame.is_final() {
                        failed |= frame.kind == FrameKind::Error;
                        if let Some(id) = &frame.request_id {
                            open.remove(id);
                        } else {
                            // An error not tied to a request (cannot happen for our own
                            // well-formed submits): nothing more will come.
                            return Ok(Outcome::Failed);
                        }
                    }
                }
            }
        }
    }
    let _ = ws.close().await;
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Succeeded
    })
}

async fn show(frame: &ServerFrame, options: &Options) {
    if options.json {
        println!(
            "{}",
            serde_json::to_string(frame).expect("frames serialise")
        );
        return;
    }
    let request = frame.request_id.as_deref().unwrap_or("-");
    let job = frame.job_id.as_deref().unwrap_or("-");
    let detail = match frame.kind {
        FrameKind::Progress => format!("{}%", frame.data["percent"]),
        FrameKind::Error => format!(
            "{}: {}",
            frame.data["code"].as_str().unwrap_or("error"),
            frame.data["message"].as_str().unwrap_or("")
        ),
        FrameKind::Result => match &frame.result_ref {
            None => frame.data.to_string(),
            Some(reference) => fetch_large_result(job, reference.bytes, options).await,
        },
        FrameKind::Accepted => frame.data["statusUrl"].as_str().unwrap_or("").to_owned(),
    };
    let kind = serde_json::to_value(frame.kind).expect("kinds serialise");
    println!(
        "#{:<3} {:<8} {request} job={job} {detail}",
        frame.seq,
        kind.as_str().unwrap_or("?")
    );
}

async fn fetch_large_result(job: &str, bytes: usize, options: &Options) -> String {
    let Some(api) = &options.api else {
        return format!("({bytes}-byte result: GET /v1/jobs/{job})");
    };
    match api.get_job(job).await {
        Ok((claim, _)) => claim.result.unwrap_or(Value::Null).to_string(),
        Err(error) => format!("({bytes}-byte result; fetching it failed: {error})"),
    }
}
