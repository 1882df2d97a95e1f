//! A job's timeline as its claim keeps it: what happened, appended by the write that made it
//! happen. The wire types are the protocol's; here is what decides which happenings are kept.

pub use courier_protocol::timeline::{DeliveryOutcome, Happening, Recorded, Timeline};

/// The longest reason a timeline event keeps (the claim keeps the whole last one).
pub const MAX_EVENT_REASON_CHARS: usize = 200;

/// The progress milestones an attempt's timeline notes: a few, never every update.
pub const MILESTONES: [u8; 3] = [25, 50, 75];

/// The milestone an update from `previous` to `percent` percent passes, if any (the highest,
/// when it passes several at once).
pub fn milestone(previous: u8, percent: u8) -> Option<u8> {
    MILESTONES
        .into_iter()
        .filter(|m| previous < *m && percent >= *m)
        .max()
}

/// A reason as an event keeps it: at most [`MAX_EVENT_REASON_CHARS`] characters.
pub fn capped(reason: &str) -> String {
    match reason.char_indices().nth(MAX_EVENT_REASON_CHARS) {
        Some((end, _)) => format!("{}…", &reason[..end]),
        None => reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_milestones_are_noted_once_each() {
        assert_eq!(milestone(0, 10), None);
        assert_eq!(milestone(0, 25), Some(25));
        assert_eq!(milestone(25, 40), None);
        assert_eq!(milestone(40, 100), Some(75));
        assert_eq!(milestone(75, 100), None);
        assert_eq!(milestone(30, 20), None);
        // An attempt's updates note at most three.
        let noted = (0..=100u8)
            .scan(0u8, |last, p| {
                let m = milestone(*last, p);
                *last = p;
                Some(m)
            })
            .flatten()
            .count();
        assert_eq!(noted, 3);
    }

    #[test]
    fn reasons_are_capped_on_a_character_boundary() {
        let long = "é".repeat(MAX_EVENT_REASON_CHARS + 5);
        let kept = capped(&long);
        assert_eq!(kept.chars().count(), MAX_EVENT_REASON_CHARS + 1);
        assert_eq!(capped("short"), "short");
    }
}
