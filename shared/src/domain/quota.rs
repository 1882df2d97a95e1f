//! A caller's fair share, as values: which quota, its limits (the deployment's, and an
//! operator's for one caller), and the refusal a caller over one gets.

use std::time::Duration;
use thiserror::Error;

/// API Gateway closes a WebSocket connection after two hours whatever happens: a connection
/// whose `$disconnect` never came stops counting then.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// Each quota, as problems and frames name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    JobsInFlight,
    RequestsPerSecond,
    Connections,
    WebhookEndpoints,
}

impl Quota {
    pub fn name(&self) -> &'static str {
        match self {
            Self::JobsInFlight => "jobsInFlight",
            Self::RequestsPerSecond => "requestsPerSecond",
            Self::Connections => "connections",
            Self::WebhookEndpoints => "webhookEndpoints",
        }
    }

    /// When asking again may pass: the next second for requests; for the others, a guess at
    /// when something of the caller's will have ended.
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::RequestsPerSecond => Duration::from_secs(1),
            Self::JobsInFlight => Duration::from_secs(5),
            Self::Connections => Duration::from_secs(30),
            Self::WebhookEndpoints => Duration::from_secs(60),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Self::JobsInFlight => "jobs in flight (accepted and not yet ended)",
            Self::RequestsPerSecond => "requests per second",
            Self::Connections => "open WebSocket connections",
            Self::WebhookEndpoints => "registered webhook endpoints",
        }
    }
}

/// A refusal: the caller holds `limit` of `quota` already. Nothing was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("over your {} quota: at most {limit} {}; nothing was accepted, retry after {} s", .quota.name(), .quota.what(), .quota.retry_after().as_secs())]
pub struct QuotaExceeded {
    pub quota: Quota,
    pub limit: u32,
}

/// One caller's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub jobs_in_flight: u32,
    pub requests_per_second: u32,
    pub connections: u32,
    pub webhook_endpoints: u32,
}

/// The limits an operator set for one caller; those left out are the deployment's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnLimits {
    pub jobs_in_flight: Option<u32>,
    pub requests_per_second: Option<u32>,
    pub connections: Option<u32>,
    pub webhook_endpoints: Option<u32>,
}

impl Limits {
    pub fn with(&self, own: &OwnLimits) -> Limits {
        Limits {
            jobs_in_flight: own.jobs_in_flight.unwrap_or(self.jobs_in_flight),
            requests_per_second: own.requests_per_second.unwrap_or(self.requests_per_second),
            connections: own.connections.unwrap_or(self.connections),
            webhook_endpoints: own.webhook_endpoints.unwrap_or(self.webhook_endpoints),
        }
    }
}

/// One job's slot of its caller's jobs in flight, as its claim carries it (`<tag>/<generation>/
/// <token>`): whose count it is in, the generation it was taken in, and which take it was (so
/// a request can tell its own claim from an earlier try's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSlot {
    pub tag: String,
    pub generation: u64,
    pub token: String,
}

impl JobSlot {
    /// A slot of the caller `tag`'s, taken in `generation`, with a fresh token.
    pub fn taken(tag: String, generation: u64) -> Self {
        Self {
            tag,
            generation,
            token: uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
        }
    }

    /// Whether the slot still counts in `generation` (see [`SlotCount`]): in the generation it
    /// was taken in and the next, never after.
    pub fn counts_in(&self, generation: u64) -> bool {
        generation <= self.generation + 1
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split('/');
        let (tag, generation, token) = (parts.next()?, parts.next()?, parts.next()?);
        let generation = generation.parse().ok()?;
        (parts.next().is_none() && !tag.is_empty() && !token.is_empty()).then(|| Self {
            tag: tag.to_owned(),
            generation,
            token: token.to_owned(),
        })
    }
}

impl std::fmt::Display for JobSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.tag, self.generation, self.token)
    }
}

/// A caller's jobs in flight, counted by the generation their slot was taken in. A generation
/// is as long as a claim lives, so a job is in flight for at most two of them: the count is
/// this generation's and the last one's, and one from before those drops out whole. So a slot
/// never given back (its job's end recorded, its give-back lost to a crash) stops counting two
/// generations on, however busy the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotCount {
    pub generation: u64,
    pub current: u32,
    pub previous: u32,
}

impl SlotCount {
    pub fn total(&self) -> u32 {
        self.current + self.previous
    }
}

/// What taking a slot in `generation` does to a count (`None`: none kept yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The same generation: one more in it.
    Add,
    /// The next generation: this one becomes the last, and the one before drops out.
    Roll,
    /// Two or more generations on (or none kept): the count starts again.
    Restart,
    /// At the limit: nothing taken.
    Full,
}

/// How a slot is taken in `generation` under `limit`. A count from a later generation (another
/// instance's clock a little ahead) is taken as the current one.
pub fn take(count: Option<SlotCount>, generation: u64, limit: u32) -> Take {
    let Some(count) = count else {
        return match limit {
            0 => Take::Full,
            _ => Take::Restart,
        };
    };
    if count.generation >= generation {
        return match count.total() < limit {
            true => Take::Add,
            false => Take::Full,
        };
    }
    if count.generation + 1 == generation {
        return match count.current < limit {
            true => Take::Roll,
            false => Take::Full,
        };
    }
    match limit {
        0 => Take::Full,
        _ => Take::Restart,
    }
}

/// The generation a slot taken as `how` is counted in: the count's own when it is ahead of
/// `generation` (another instance's clock a little ahead started the next one), else
/// `generation`.
pub fn taken_in(count: Option<SlotCount>, generation: u64, how: Take) -> u64 {
    match (how, count) {
        (Take::Add, Some(count)) => count.generation.max(generation),
        _ => generation,
    }
}

/// Where a slot taken in `taken_in` is given back: the current generation's count, the last
/// one's, or nowhere (it dropped out already, or there is nothing to give back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveBack {
    Current,
    Previous,
    Nowhere,
}

pub fn give_back(count: Option<SlotCount>, taken_in: u64) -> GiveBack {
    match count {
        Some(c) if c.generation == taken_in && c.current > 0 => GiveBack::Current,
        Some(c) if c.generation == taken_in + 1 && c.previous > 0 => GiveBack::Previous,
        _ => GiveBack::Nowhere,
    }
}

/// The count after `take` in `generation`.
pub fn after_take(count: Option<SlotCount>, generation: u64, take: Take) -> Option<SlotCount> {
    match (take, count) {
        (Take::Add, Some(c)) => Some(SlotCount {
            current: c.current + 1,
            ..c
        }),
        (Take::Roll, Some(c)) => Some(SlotCount {
            generation,
            current: 1,
            previous: c.current,
        }),
        (Take::Restart, _) => Some(SlotCount {
            generation,
            current: 1,
            previous: 0,
        }),
        (_, count) => count,
    }
}

/// The count after a slot is given back `where`.
pub fn after_give_back(count: SlotCount, place: GiveBack) -> SlotCount {
    match place {
        GiveBack::Current => SlotCount {
            current: count.current - 1,
            ..count
        },
        GiveBack::Previous => SlotCount {
            previous: count.previous - 1,
            ..count
        },
        GiveBack::Nowhere => count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(generation: u64, current: u32, previous: u32) -> Option<SlotCount> {
        Some(SlotCount {
            generation,
            current,
            previous,
        })
    }

    #[test]
    fn a_slot_is_taken_while_both_generations_together_are_under_the_limit() {
        assert_eq!(take(None, 7, 2), Take::Restart);
        assert_eq!(take(count(7, 1, 0), 7, 2), Take::Add);
        assert_eq!(take(count(7, 1, 1), 7, 2), Take::Full);
        // The next generation: the current becomes the last; the one before drops out.
        assert_eq!(take(count(6, 1, 5), 7, 2), Take::Roll);
        assert_eq!(after_take(count(6, 1, 5), 7, Take::Roll), count(7, 1, 1));
        assert_eq!(take(count(6, 2, 0), 7, 2), Take::Full);
        // Two generations on, every slot of the old count has dropped out.
        assert_eq!(take(count(4, 9, 9), 7, 2), Take::Restart);
        assert_eq!(after_take(count(4, 9, 9), 7, Take::Restart), count(7, 1, 0));
        // Another instance a generation ahead: its count is the current one.
        assert_eq!(take(count(8, 0, 1), 7, 2), Take::Add);
        assert_eq!(take(None, 7, 0), Take::Full);
    }

    #[test]
    fn a_slot_is_given_back_to_the_generation_it_was_taken_in_or_nowhere() {
        assert_eq!(give_back(count(7, 1, 0), 7), GiveBack::Current);
        assert_eq!(give_back(count(8, 0, 1), 7), GiveBack::Previous);
        assert_eq!(give_back(count(9, 3, 3), 7), GiveBack::Nowhere);
        assert_eq!(give_back(count(7, 0, 4), 7), GiveBack::Nowhere);
        assert_eq!(give_back(None, 7), GiveBack::Nowhere);
        assert_eq!(
            after_give_back(
                SlotCount {
                    generation: 8,
                    current: 2,
                    previous: 1
                },
                GiveBack::Previous
            ),
            SlotCount {
                generation: 8,
                current: 2,
                previous: 0
            }
        );
    }

    #[test]
    fn a_lost_slot_stops_counting_two_generations_on_however_busy_the_caller() {
        // One slot lost in generation 1; the caller keeps one other job in flight throughout.
        let mut c = after_take(None, 1, Take::Restart);
        c = after_take(c, 1, take(c, 1, 2));
        assert_eq!(c.unwrap().total(), 2);
        assert_eq!(take(c, 1, 2), Take::Full);
        // Generation 2: the busy job ends and another starts; the lost one still counts.
        c = Some(after_give_back(c.unwrap(), give_back(c, 1)));
        c = after_take(c, 2, take(c, 2, 2));
        assert_eq!(c, count(2, 1, 1));
        // Generation 3: the lost slot has dropped out.
        c = Some(after_give_back(c.unwrap(), give_back(c, 2)));
        assert_eq!(take(c, 3, 2), Take::Roll);
        c = after_take(c, 3, Take::Roll);
        assert_eq!(c, count(3, 1, 0));
        assert_eq!(take(c, 3, 2), Take::Add);
    }

    #[test]
    fn a_slot_reads_back_as_written() {
        let slot = JobSlot {
            tag: "0123456789abcdef0123456789abcdef".into(),
            generation: 20_500,
            token: "a1b2".into(),
        };
        assert_eq!(JobSlot::parse(&slot.to_string()), Some(slot));
        for bad in ["", "a/1", "a/x/t", "a/1/t/extra", "/1/t", "a/1/"] {
            assert_eq!(JobSlot::parse(bad), None, "{bad}");
        }
    }
}
