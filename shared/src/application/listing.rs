//! A caller's lists (`GET /v1/jobs`, `GET /v1/webhook-endpoints`): the page size and the
//! cursor.
//!
//! A cursor is opaque to callers: the position of the last item of a page, with a digest that
//! binds it to the caller and to the list's filters. The store always reads the caller's own
//! partition (the owner comes from the token, never from the cursor), so no cursor can reach
//! another caller's items; the digest turns any altered cursor, or one used by another caller
//! or with other filters, into a precise 400 instead of a page of something else.

use crate::application::clock::{parse_rfc3339, rfc3339};
use crate::application::ports::{JobFilter, ListPosition};
use crate::domain::Principal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// A page holds at most this many items; `limit` defaults to [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 100;
pub const DEFAULT_LIMIT: usize = 20;

/// Why a cursor was not taken.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "the cursor is not one this list handed out to this caller with these filters; start again without it"
)]
pub struct BadCursor;

/// Which list, with which filters, a cursor belongs to.
pub fn job_scope(filter: &JobFilter) -> String {
    format!(
        "jobs\0{}\0{}\0{}\0{}",
        filter.status.map(|s| s.as_str()).unwrap_or(""),
        filter.job_type.as_deref().unwrap_or(""),
        filter.created_from.map(rfc3339).unwrap_or_default(),
        filter.created_until.map(rfc3339).unwrap_or_default(),
    )
}

pub const ENDPOINT_SCOPE: &str = "webhook-endpoints";
/// The scope of `GET /v1/destinations` cursors.
pub const DESTINATION_SCOPE: &str = "destinations";
/// The scope of `GET /v1/schedules` cursors.
pub const SCHEDULE_SCOPE: &str = "schedules";

fn digest(owner: &Principal, scope: &str, position: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [owner.key().as_str(), scope, position] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..16])
}

/// The cursor that continues `owner`'s list `scope` after `position`.
pub fn encode(position: &ListPosition, owner: &Principal, scope: &str) -> String {
    let json = serde_json::to_string(position).expect("a position serialises");
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        digest(owner, scope, &json)
    )
}

/// The position a cursor continues from, if it is one `encode` made for `owner` and `scope`.
pub fn decode(cursor: &str, owner: &Principal, scope: &str) -> Result<ListPosition, BadCursor> {
    let (body, mac) = cursor.split_once('.').ok_or(BadCursor)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| BadCursor)?;
    let json = String::from_utf8(json).map_err(|_| BadCursor)?;
    if digest(owner, scope, &json) != mac {
        return Err(BadCursor);
    }
    let position: ListPosition = serde_json::from_str(&json).map_err(|_| BadCursor)?;
    // Only ever a stored spelling (what the store's key is made of).
    match parse_rfc3339(&position.created_at) {
        Some(at) if rfc3339(at) == position.created_at => Ok(position),
        _ => Err(BadCursor),
    }
}

/// Whether `position` lies inside the filter's creation window (a position outside it is no
/// place in this list).
pub fn within(filter: &JobFilter, position: &ListPosition) -> bool {
    let Some(at) = parse_rfc3339(&position.created_at) else {
        return false;
    };
    filter.created_from.is_none_or(|from| at >= from)
        && filter.created_until.is_none_or(|until| at < until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    fn position() -> ListPosition {
        ListPosition {
            created_at: "2026-12-03T10:00:00.000Z".into(),
            id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        }
    }

    #[test]
    fn a_cursor_reads_back_for_its_caller_and_filters_only() {
        let scope = job_scope(&JobFilter::default());
        let cursor = encode(&position(), &alice(), &scope);
        assert_eq!(decode(&cursor, &alice(), &scope), Ok(position()));
        // Another caller, or other filters: refused.
        let bob = Principal::new("https://issuer.example", "bob");
        assert_eq!(decode(&cursor, &bob, &scope), Err(BadCursor));
        let failed = JobFilter {
            status: Some(crate::domain::JobStatus::Failed),
            ..JobFilter::default()
        };
        assert_eq!(
            decode(&cursor, &alice(), &job_scope(&failed)),
            Err(BadCursor)
        );
    }

    #[test]
    fn an_altered_cursor_is_refused() {
        let scope = job_scope(&JobFilter::default());
        let cursor = encode(&position(), &alice(), &scope);
        let (body, mac) = cursor.split_once('.').unwrap();
        let other = ListPosition {
            id: "1f8fad5b-d9cb-469f-a165-70867728950e".into(),
            ..position()
        };
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_string(&other).unwrap());
        for bad in [
            String::new(),
            "x".into(),
            format!("{forged_body}.{mac}"),
            format!("{body}.{}", &mac[1..]),
            format!("{body}x.{mac}"),
            body.to_owned(),
        ] {
            assert_eq!(decode(&bad, &alice(), &scope), Err(BadCursor), "{bad:?}");
        }
    }

    #[test]
    fn a_filter_admits_only_unexpired_claims_it_names() {
        use crate::domain::{Claim, CorrelationId, JobId, JobStatus};
        let now = parse_rfc3339("2026-12-03T12:00:00Z").unwrap();
        let claim = Claim::pending(
            JobId::generate(),
            "sleep".into(),
            CorrelationId::generate(),
            alice(),
            now - time::Duration::hours(1),
            std::time::Duration::from_secs(7200),
        );
        let any = JobFilter::default();
        assert!(any.admits(&claim, now));
        assert!(
            !any.admits(&claim, now + time::Duration::hours(1)),
            "expired"
        );
        let failed = JobFilter {
            status: Some(JobStatus::Failed),
            ..JobFilter::default()
        };
        assert!(!failed.admits(&claim, now));
        let echo = JobFilter {
            job_type: Some("echo".into()),
            ..JobFilter::default()
        };
        assert!(!echo.admits(&claim, now));
        let later = JobFilter {
            created_from: Some(now),
            ..JobFilter::default()
        };
        assert!(!later.admits(&claim, now));
        let earlier = JobFilter {
            created_until: Some(now - time::Duration::hours(1)),
            ..JobFilter::default()
        };
        assert!(!earlier.admits(&claim, now), "created before is exclusive");
    }

    #[test]
    fn positions_outside_the_window_are_no_place_in_the_list() {
        let from = parse_rfc3339("2026-12-03T11:00:00Z");
        let filter = JobFilter {
            created_from: from,
            ..JobFilter::default()
        };
        assert!(!within(&filter, &position()));
        assert!(within(&JobFilter::default(), &position()));
    }
}
