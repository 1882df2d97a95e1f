//! Ack throughput through the emulator: `POST /v1/messages` beside the reference — a function
//! that does exactly one raw SDK `SendMessage` behind the same HTTP API and JWT authorizer
//! (`bench/src/bin/reference_send.rs`) — with the same clients, in the same run, alternating
//! so the machine's drift falls on both. Then where the time goes: each function's handler
//! time (courier's from its meter lines) and the emulator's REPORT duration per invocation.
//!
//!     infra/bench-throughput.sh [--clients 16] [--seconds 5] [--rounds 3]

use courier_e2e::{LogEvent, Stack};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const REFERENCE_PATH: &str = "/bench/reference";
const COURIER_PATH: &str = "/v1/messages";

struct Settings {
    clients: usize,
    seconds: u64,
    rounds: usize,
}

/// Requests per second `clients` concurrent clients get from `path` in `duration`.
async fn rate(stack: &Stack, path: &str, body: &Value, clients: usize, duration: Duration) -> f64 {
    let ok = AtomicU64::new(0);
    let started = Instant::now();
    join_all((0..clients).map(|_| async {
        while started.elapsed() < duration {
            let reply = stack.post_json(path, body, &[]).await;
            assert_eq!(reply.status, 202, "{path}: {reply:?}");
            ok.fetch_add(1, Ordering::Relaxed);
        }
    }))
    .await;
    ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The mean of the emulator's `REPORT … Duration: N ms` over a function's invocations.
fn mean_report_ms(events: &[LogEvent]) -> Option<f64> {
    let durations: Vec<f64> = events
        .iter()
        .filter_map(|e| e.message.strip_prefix("REPORT RequestId: "))
        .filter_map(|m| {
            m.split("Duration: ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    (!durations.is_empty()).then(|| durations.iter().sum::<f64>() / durations.len() as f64)
}

/// The mean handler time of courier's meter lines, or of the reference's lines.
fn mean_handler_ms(events: &[LogEvent]) -> Option<f64> {
    let times: Vec<f64> = events
        .iter()
        .filter_map(LogEvent::json)
        .filter_map(|line| {
            line["courierMeter"]["handlerMs"]
                .as_f64()
                .or(line["handlerMs"].as_f64())
        })
        .collect();
    (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64)
}

#[tokio::main]
async fn main() {
    let mut settings = Settings {
        clients: 16,
        seconds: 5,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match arg.as_str() {
            "--clients" => settings.clients = value() as usize,
            "--seconds" => settings.seconds = value(),
            "--rounds" => settings.rounds = value() as usize,
            other => panic!("unknown argument {other}; see the file's doc comment"),
        }
    }
    let stack = Stack::load().await;
    let body = json!({"type": "echo", "payload": {"n": 1}});
    let duration = Duration::from_secs(settings.seconds);
    let reference_group = format!("/aws/lambda/{}-reference-send", stack.output("StackName"));

    // Warm-up: as many instances of each function as the clients will keep busy.
    rate(
        &stack,
        COURIER_PATH,
        &body,
        settings.clients,
        Duration::from_secs(2),
    )
    .await;
    rate(
        &stack,
        REFERENCE_PATH,
        &body,
        settings.clients,
        Duration::from_secs(2),
    )
    .await;

    let since = courier_e2e::now_ms();
    let (mut courier, mut reference) = (Vec::new(), Vec::new());
    for round in 0..settings.rounds {
        // Alternate which goes first, so a trend over the run falls on both alike.
        if round % 2 == 0 {
            courier.push(rate(&stack, COURIER_PATH, &body, settings.clients, duration).await);
            reference.push(rate(&stack, REFERENCE_PATH, &body, settings.clients, duration).await);
        } else {
            reference.push(rate(&stack, REFERENCE_PATH, &body, settings.clients, duration).await);
            courier.push(rate(&stack, COURIER_PATH, &body, settings.clients, duration).await);
        }
    }
    let (courier_rate, reference_rate) = (median(courier.clone()), median(reference.clone()));
    let ratio = courier_rate / reference_rate;

    // Only the lines the means need: a run writes more lines than one read returns.
    let courier_group = format!("/aws/lambda/{}", stack.output("HttpApiFunctionName"));
    let lines = |group: String, term: &'static str| {
        let stack = &stack;
        async move {
            stack
                .log_group_events_since(&group, since, Some(term))
                .await
        }
    };
    let courier_log = [
        lines(courier_group.clone(), "REPORT RequestId").await,
        lines(courier_group, "handlerMs").await,
    ]
    .concat();
    let reference_log = [
        lines(reference_group.clone(), "REPORT RequestId").await,
        lines(reference_group, "handlerMs").await,
    ]
    .concat();
    let ms = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.1}"));

    println!(
        "ack throughput: {} clients, {} rounds of {} s each, alternating (median of rounds)",
        settings.clients, settings.rounds, settings.seconds
    );
    println!("| route | requests/s (rounds) | × reference | goal |");
    println!("|---|---|---|---|");
    let rounds = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "| reference (`POST {REFERENCE_PATH}`: one raw SendMessage) | {reference_rate:.0} ({}) | 1.00 | reference |",
        rounds(&reference)
    );
    println!(
        "| courier `POST {COURIER_PATH}` | {courier_rate:.0} ({}) | {ratio:.2} | ≥ 0.90 {} |",
        rounds(&courier),
        if ratio >= 0.9 { "✓" } else { "✗" }
    );
    println!();
    println!("where the time goes, per invocation (mean over the measured rounds):");
    println!("| function | handler ms | emulator REPORT duration ms |");
    println!("|---|---|---|");
    println!(
        "| reference | {} | {} |",
        ms(mean_handler_ms(&reference_log)),
        ms(mean_report_ms(&reference_log))
    );
    println!(
        "| courier http-api | {} | {} |",
        ms(mean_handler_ms(&courier_log)),
        ms(mean_report_ms(&courier_log))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> LogEvent {
        LogEvent {
            stream: "s".into(),
            message: message.into(),
        }
    }

    #[test]
    fn report_durations_and_handler_times_are_averaged() {
        let events = [
            event("START RequestId: a Version: $LATEST"),
            event(r#"{"courierMeter":{"calls":{},"handlerMs":2.5}}"#),
            event("REPORT RequestId: a\tDuration: 50 ms\tBilled Duration: 50 ms"),
            event(r#"{"courierMeter":{"calls":{},"handlerMs":3.5}}"#),
            event("REPORT RequestId: b\tDuration: 70.5 ms\tBilled Duration: 71 ms"),
        ];
        assert_eq!(mean_report_ms(&events), Some(60.25));
        assert_eq!(mean_handler_ms(&events), Some(3.0));
        assert_eq!(mean_report_ms(&events[..2]), None);
    }
}
