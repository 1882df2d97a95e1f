//! When to poll next: exponential backoff with full jitter, never sooner than the server's
//! `Retry-After`, never past the caller's deadline.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait; doubles per poll.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before poll number `attempt` (0-based): uniform in `[0, min(cap, base·2^attempt)]`
    /// ("full jitter"), raised to `retry_after` if the server asked for more, and cut to
    /// `remaining` so the deadline is kept. `None` when no time remains.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        remaining: Duration,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if remaining.is_zero() {
            return None;
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(30))
            .min(self.cap);
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling.as_millis() as u64));
        let wait = retry_after.map_or(jittered, |server| jittered.max(server));
        Some(wait.min(remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn waits_stay_under_the_growing_ceiling_and_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
        };
        let mut rng = StdRng::seed_from_u64(3);
        for attempt in 0..12 {
            let ceiling =
                (Duration::from_millis(100) * 2u32.pow(attempt)).min(Duration::from_secs(2));
            let mut largest = Duration::ZERO;
            for _ in 0..500 {
                let d = backoff.delay(attempt, None, LONG, &mut rng).unwrap();
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
                largest = largest.max(d);
            }
            // Full jitter spreads over the whole range: the largest of 500 draws is near the top.
            assert!(
                largest >= ceiling * 9 / 10,
                "attempt {attempt}: {largest:?}"
            );
        }
    }

    #[test]
    fn jitter_reaches_down_to_zero() {
        let mut rng = StdRng::seed_from_u64(5);
        let smallest = (0..500)
            .map(|_| Backoff::default().delay(4, None, LONG, &mut rng).unwrap())
            .min()
            .unwrap();
        assert!(smallest < Duration::from_millis(100), "{smallest:?}");
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut rng = StdRng::seed_from_u64(9);
        for attempt in 0..5 {
            let d = Backoff::default()
                .delay(attempt, Some(Duration::from_secs(3)), LONG, &mut rng)
                .unwrap();
            assert!(d >= Duration::from_secs(3), "{d:?}");
        }
    }

    #[test]
    fn the_deadline_cuts_every_wait_and_ends_polling() {
        let mut rng = StdRng::seed_from_u64(1);
        let left = Duration::from_millis(40);
        let d = Backoff::default()
            .delay(10, Some(Duration::from_secs(5)), left, &mut rng)
            .unwrap();
        assert_eq!(d, left);
        assert_eq!(
            Backoff::default().delay(0, None, Duration::ZERO, &mut rng),
            None
        );
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(2);
        let d = Backoff::default()
            .delay(u32::MAX, None, LONG, &mut rng)
            .unwrap();
        assert!(d <= Backoff::default().cap);
    }
}
