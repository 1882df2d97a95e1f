//! The noisy neighbour, measured through the local stack: a quiet caller's median end-to-end
//! latency (a trickle of short jobs, accepted to finished as their claims tell it) alone, then
//! while another caller floods courier with slow jobs (8 s each) — once past a jobs-in-flight quota of 3,
//! once with no quota of their own in reach (the local stack's limits). Both ratios are against
//! the quiet caller alone in the same run. Needs `infra/up.sh` first.
//!
//!     target/local/noisy-neighbour [trickle] [flood]    (defaults 10 and 200)

use courier_e2e::Stack;
use courier_e2e::fair_share::{flood, limit, median, trickle, wait_until_ended};
use std::time::Duration;

/// How far apart the quiet caller's jobs are submitted.
const SPACING: Duration = Duration::from_millis(300);

/// The quiet caller's median latency while `noisy` floods, and how the flood was answered.
async fn during_a_flood(
    stack: &Stack,
    quiet: &str,
    noisy: &str,
    trickled: usize,
    flooded: usize,
) -> (f64, usize, usize) {
    // The flood is in (accepted or refused) before the quiet caller's first job: its jobs are
    // queued ahead of the trickle and run while it runs.
    let replies = flood(stack, noisy, flooded, 8000).await;
    let latencies = trickle(stack, quiet, trickled, SPACING).await;
    let accepted: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 202)
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    let refused = replies.iter().filter(|r| r.status == 429).count();
    // Nothing the noisy caller was told was accepted is lost; and the next round starts idle.
    for id in &accepted {
        let job = wait_until_ended(stack, noisy, id).await;
        assert_eq!(job["status"], "SUCCEEDED", "{job}");
    }
    (median(latencies), accepted.len(), refused)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let trickled = args.next().unwrap_or(10);
    let flooded = args.next().unwrap_or(200);
    let stack = Stack::load().await;
    let quiet = stack.fresh_caller().await;
    let (limited, unlimited) = (stack.fresh_caller().await, stack.fresh_caller().await);
    limit(&limited, &[("jobs-in-flight", 3)]).await;
    // Warm the functions, so no cold start counts.
    trickle(&stack, &quiet, 3, SPACING).await;

    let alone = median(trickle(&stack, &quiet, trickled, SPACING).await);
    let (with_quota, accepted, refused) =
        during_a_flood(&stack, &quiet, &limited, trickled, flooded).await;
    let (without, all, _) = during_a_flood(&stack, &quiet, &unlimited, trickled, flooded).await;
    println!("| quiet caller's median latency (accepted → finished) | ms | × alone |");
    println!("|---|---|---|");
    println!("| alone | {:.0} | 1.00 |", alone * 1e3);
    println!(
        "| while another floods past a jobs-in-flight quota of 3 ({accepted} of {flooded} accepted, {refused} refused 429) | {:.0} | {:.2} |",
        with_quota * 1e3,
        with_quota / alone
    );
    println!(
        "| while another floods with no quota in reach ({all} of {flooded} accepted) | {:.0} | {:.2} |",
        without * 1e3,
        without / alone
    );
}
