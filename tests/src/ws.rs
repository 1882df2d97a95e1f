//! A WebSocket client's view in tests: connecting with the local token, and reading frames.

use crate::{DEADLINE, Stack};
use courier_client::frames::ServerFrame;
use courier_client::ws::{Auth, Event, WsClient};
use std::collections::HashSet;
use std::time::Instant;

pub async fn connect(stack: &Stack) -> WsClient {
    connect_as(stack, &stack.token).await
}

/// Connects as whoever `token` belongs to.
pub async fn connect_as(stack: &Stack, token: &str) -> WsClient {
    WsClient::connect(stack.output("WebSocketUrl"), Auth::Header(token))
        .await
        .expect("a local user's token is accepted")
}

/// Reads frames (in arrival order) until `done` holds for those read so far.
pub async fn frames_until(
    ws: &mut WsClient,
    what: &str,
    done: impl Fn(&[ServerFrame]) -> bool,
) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    let started = Instant::now();
    while !done(&frames) {
        let left = DEADLINE.checked_sub(started.elapsed()).unwrap_or_default();
        match ws
            .next_event(left)
            .await
            .expect("the connection stays healthy")
        {
            Event::Frame(frame) => frames.push(frame),
            other => panic!("{other:?} while waiting for {what}; frames so far: {frames:#?}"),
        }
    }
    frames
}

/// Reads frames until every request in `requests` has its final frame.
pub async fn frames_until_final(ws: &mut WsClient, requests: &[&str]) -> Vec<ServerFrame> {
    frames_until(ws, &format!("final frames of {requests:?}"), |frames| {
        let finished: HashSet<&str> = frames
            .iter()
            .filter(|f| f.is_final())
            .filter_map(|f| f.request_id.as_deref())
            .collect();
        requests.iter().all(|r| finished.contains(r))
    })
    .await
}

/// The frames in `seq` order, checked to be a gapless run that starts at `first`.
pub fn in_seq_order(mut frames: Vec<ServerFrame>, first: u64) -> Vec<ServerFrame> {
    frames.sort_by_key(|f| f.seq);
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    let expected: Vec<u64> = (first..first + frames.len() as u64).collect();
    assert_eq!(seqs, expected, "seq strictly increasing without gaps");
    frames
}

pub fn for_request<'a>(frames: &'a [ServerFrame], request_id: &str) -> Vec<&'a ServerFrame> {
    frames
        .iter()
        .filter(|f| f.request_id.as_deref() == Some(request_id))
        .collect()
}

/// Submits `jobs` while the processor's ordered-queue event source is paused, so that SQS
/// hands them out together (up to ten, one batch), then resumes it. Returns the frames read
/// meanwhile (each job's `accepted`). Another test may resume it sooner: what runs in one
/// batch is then only likely.
pub async fn submit_as_one_batch(
    stack: &Stack,
    ws: &mut WsClient,
    jobs: &[courier_client::frames::SubmitFrame],
) -> Vec<ServerFrame> {
    stack
        .while_paused("ProcessorFunctionName", ORDERED_QUEUE, async {
            for job in jobs {
                ws.submit(job).await.expect("the submit is sent");
            }
            frames_until(ws, "every job accepted", |frames| {
                frames
                    .iter()
                    .filter(|f| f.kind == courier_client::frames::FrameKind::Accepted)
                    .count()
                    == jobs.len()
            })
            .await
        })
        .await
}

/// The ordered (FIFO) work queue, as its event source mapping's ARN names it.
pub const ORDERED_QUEUE: &str = "ordered-work.fifo";
