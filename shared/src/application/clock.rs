//! Time as a dependency, so expiry and timestamps are testable.

use time::OffsetDateTime;
use time::macros::format_description;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// RFC 3339 with millisecond precision, always UTC (`2026-11-23T22:21:17.123Z`).
pub fn rfc3339(at: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("years 0-9999 always format")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_with_milliseconds() {
        let at = datetime!(2026-11-23 22:21:17.123456789 +02:00);
        assert_eq!(rfc3339(at), "2026-11-23T20:21:17.123Z");
    }

    #[test]
    fn always_prints_three_fraction_digits() {
        let at = datetime!(2026-11-23 22:21:17.7 UTC);
        assert_eq!(rfc3339(at), "2026-11-23T22:21:17.700Z");
    }
}

/// Reads back what [`rfc3339`] wrote (and any other RFC 3339 timestamp).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod parse_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trips() {
        let at = datetime!(2026-11-23 22:21:17.123 UTC);
        assert_eq!(parse_rfc3339(&rfc3339(at)), Some(at));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
