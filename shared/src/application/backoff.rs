//! How long a transiently failed message stays invisible before SQS delivers it again, and
//! the one retry schedule work and callbacks share.

use rand::Rng;
use std::time::Duration;

/// When and how often a transient failure is retried (a job's runs, a callback's POSTs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries at most, counted where they are recorded (on the claim, never by SQS receives).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait after the `attempt`th try (or receive) failed: [`retry_delay`] on this
    /// schedule.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        retry_delay(attempt, self.base_delay, self.max_delay, rng)
    }
}

/// Exponential in the receive count, capped, with "equal jitter": at least half the step, so
/// gaps still grow, plus a random share of the rest, so a burst of failures does not retry in
/// lockstep.
pub fn retry_delay(
    receive_count: u32,
    base: Duration,
    max: Duration,
    rng: &mut impl Rng,
) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(30);
    let step = base.saturating_mul(1u32 << exponent).min(max);
    let half = step / 2;
    let jitter_ms = rng.random_range(0..=(step - half).as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn stays_within_half_and_full_step_and_grows() {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for receive in 1..=10u32 {
            let step = (base * 2u32.pow(receive - 1)).min(max);
            for _ in 0..100 {
                let d = retry_delay(receive, base, max, &mut rng);
                assert!(
                    d >= step / 2 && d <= step,
                    "receive {receive}: {d:?} vs {step:?}"
                );
            }
        }
    }

    #[test]
    fn never_exceeds_the_cap_even_for_huge_counts() {
        let mut rng = StdRng::seed_from_u64(1);
        let d = retry_delay(
            u32::MAX,
            Duration::from_secs(1),
            Duration::from_secs(10),
            &mut rng,
        );
        assert!(d <= Duration::from_secs(10));
    }

    #[test]
    fn zero_base_means_retry_at_once() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            retry_delay(3, Duration::ZERO, Duration::from_secs(10), &mut rng),
            Duration::ZERO
        );
    }
}
