//! A webhook endpoint: a URL one caller registered for their callbacks (or a destination: a
//! queue or an event bus), and the secrets that sign deliveries to it. Secrets are held sealed (encrypted); which of them sign, and what a
//! rotation does to them, is decided here.

use super::Principal;
use super::destination::CallbackTarget;
use std::fmt;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;

/// An endpoint's id: `ep_` (a webhook endpoint) or `dst_` (a destination: a queue or an event
/// bus) and 32 lower-case hex digits (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct EndpointId(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("an endpoint id is ep_ or dst_ followed by 32 lower-case hex digits")]
pub struct InvalidEndpointId;

/// What an id names: the two share one store, one quota and one delivery pipeline, and are
/// told apart by their id's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// An HTTPS URL (`/v1/webhook-endpoints`, `ep_…`).
    Webhook,
    /// An SQS queue or EventBridge bus (`/v1/destinations`, `dst_…`).
    Destination,
}

impl EndpointKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Webhook => "ep_",
            Self::Destination => "dst_",
        }
    }
}

impl EndpointId {
    pub fn generate(kind: EndpointKind) -> Self {
        Self(super::random_id::generate(kind.prefix()))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidEndpointId> {
        [EndpointKind::Webhook, EndpointKind::Destination]
            .into_iter()
            .any(|kind| super::random_id::is_spelled(raw, kind.prefix()))
            .then(|| Self(raw.to_owned()))
            .ok_or(InvalidEndpointId)
    }

    /// An id of this kind only: the other kind's is as unknown as a malformed one.
    pub fn parse_kind(raw: &str, kind: EndpointKind) -> Result<Self, InvalidEndpointId> {
        Self::parse(raw).and_then(|id| match id.kind() == kind {
            true => Ok(id),
            false => Err(InvalidEndpointId),
        })
    }

    pub fn kind(&self) -> EndpointKind {
        match self.0.starts_with(EndpointKind::Destination.prefix()) {
            true => EndpointKind::Destination,
            false => EndpointKind::Webhook,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret as stored: ciphertext only the key service can open.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(pub Vec<u8>);

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

/// One signing secret and its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSecret {
    pub sealed: SealedSecret,
    pub created_at: OffsetDateTime,
    /// Set when a newer secret replaced it: it signs until then.
    pub expires_at: Option<OffsetDateTime>,
}

impl SigningSecret {
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

/// How long the secrets in use stay valid after a rotation unless the caller says otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest grace a rotation may give.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// At most this many secrets sign at once (each adds a signature to every delivery).
pub const MAX_ACTIVE_SECRETS: usize = 5;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RotationRefused {
    #[error("gracePeriodSeconds must be from 0 to {}", MAX_GRACE.as_secs())]
    GraceTooLong,
    #[error(
        "{MAX_ACTIVE_SECRETS} secrets are signing already; rotate again once the oldest expires, or with gracePeriodSeconds 0"
    )]
    TooManySecrets,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub owner: Principal,
    /// Where its deliveries go: a URL for an `ep_` id, a queue or a bus for a `dst_` one.
    pub target: CallbackTarget,
    pub created_at: OffsetDateTime,
    /// Oldest first; the last one is the newest.
    pub secrets: Vec<SigningSecret>,
    /// Bumped by every change, so two rotations at once cannot both win.
    pub revision: u64,
}

impl WebhookEndpoint {
    pub fn new(
        id: EndpointId,
        owner: Principal,
        target: CallbackTarget,
        secret: SealedSecret,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id,
            owner,
            target,
            created_at: now,
            secrets: vec![SigningSecret {
                sealed: secret,
                created_at: now,
                expires_at: None,
            }],
            revision: 0,
        }
    }

    /// Whether `caller` may use it: only its owner; to anyone else it does not exist.
    pub fn visible_to(&self, caller: &Principal) -> bool {
        &self.owner == caller
    }

    /// The secrets that sign a delivery made at `now`.
    pub fn active_secrets(&self, now: OffsetDateTime) -> impl Iterator<Item = &SigningSecret> {
        self.secrets.iter().filter(move |s| s.is_active(now))
    }

    /// Adds `new` as the newest secret; the ones signing now keep signing for `grace` (never
    /// longer than they already would), expired ones are dropped. A grace of zero retires
    /// them at once.
    pub fn rotate(
        &mut self,
        new: SealedSecret,
        grace: Duration,
        now: OffsetDateTime,
    ) -> Result<(), RotationRefused> {
        if grace > MAX_GRACE {
            return Err(RotationRefused::GraceTooLong);
        }
        let end = now + grace;
        let mut kept: Vec<SigningSecret> = self
            .secrets
            .iter()
            .filter(|s| !grace.is_zero() && s.is_active(now))
            .map(|s| SigningSecret {
                expires_at: Some(s.expires_at.map_or(end, |e| e.min(end))),
                ..s.clone()
            })
            .collect();
        if kept.len() >= MAX_ACTIVE_SECRETS {
            return Err(RotationRefused::TooManySecrets);
        }
        kept.push(SigningSecret {
            sealed: new,
            created_at: now,
            expires_at: None,
        });
        self.secrets = kept;
        self.revision += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint::new(
            EndpointId::generate(EndpointKind::Webhook),
            Principal::new("https://issuer.example", "alice"),
            CallbackTarget::Url("https://example.com/hook".into()),
            SealedSecret(vec![1]),
            NOW,
        )
    }

    fn active(endpoint: &WebhookEndpoint, at: OffsetDateTime) -> Vec<u8> {
        endpoint.active_secrets(at).map(|s| s.sealed.0[0]).collect()
    }

    #[test]
    fn ids_are_generated_and_parsed_in_one_spelling() {
        let id = EndpointId::generate(EndpointKind::Webhook);
        assert_eq!(EndpointId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.as_str().len(), 35);
        let destination = EndpointId::generate(EndpointKind::Destination);
        assert!(destination.as_str().starts_with("dst_"));
        assert_eq!(destination.kind(), EndpointKind::Destination);
        assert_eq!(
            EndpointId::parse_kind(destination.as_str(), EndpointKind::Webhook),
            Err(InvalidEndpointId),
            "a destination is no webhook endpoint"
        );
        assert_eq!(
            EndpointId::parse_kind(id.as_str(), EndpointKind::Webhook),
            Ok(id.clone())
        );
        let upper = id.as_str().to_ascii_uppercase();
        for bad in [
            "",
            "ep_",
            "ep_123",
            upper.as_str(),
            "ep_0123456789abcdef0123456789abcdeg",
            "xx_0123456789abcdef0123456789abcdef",
            "ep_0123456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(EndpointId::parse(bad), Err(InvalidEndpointId), "{bad:?}");
        }
    }

    #[test]
    fn after_a_rotation_both_secrets_sign_until_the_grace_ends() {
        let mut endpoint = endpoint();
        let grace = Duration::from_secs(60);
        endpoint.rotate(SealedSecret(vec![2]), grace, NOW).unwrap();
        assert_eq!(endpoint.revision, 1);
        assert_eq!(active(&endpoint, NOW), [1, 2]);
        assert_eq!(active(&endpoint, NOW + time::Duration::seconds(59)), [1, 2]);
        assert_eq!(active(&endpoint, NOW + time::Duration::seconds(60)), [2]);
    }

    #[test]
    fn a_zero_grace_retires_the_old_secrets_at_once() {
        let mut endpoint = endpoint();
        endpoint
            .rotate(SealedSecret(vec![2]), Duration::from_secs(600), NOW)
            .unwrap();
        endpoint
            .rotate(SealedSecret(vec![3]), Duration::ZERO, NOW)
            .unwrap();
        assert_eq!(active(&endpoint, NOW), [3]);
        assert_eq!(endpoint.secrets.len(), 1, "retired secrets are dropped");
    }

    #[test]
    fn a_second_rotation_never_lengthens_an_earlier_grace() {
        let mut endpoint = endpoint();
        endpoint
            .rotate(SealedSecret(vec![2]), Duration::from_secs(60), NOW)
            .unwrap();
        endpoint
            .rotate(SealedSecret(vec![3]), Duration::from_secs(600), NOW)
            .unwrap();
        assert_eq!(active(&endpoint, NOW), [1, 2, 3]);
        assert_eq!(active(&endpoint, NOW + time::Duration::seconds(60)), [2, 3]);
        assert_eq!(active(&endpoint, NOW + time::Duration::seconds(600)), [3]);
    }

    #[test]
    fn rotations_are_bounded() {
        let mut endpoint = endpoint();
        assert_eq!(
            endpoint.rotate(
                SealedSecret(vec![2]),
                MAX_GRACE + Duration::from_secs(1),
                NOW
            ),
            Err(RotationRefused::GraceTooLong)
        );
        for n in 2..=MAX_ACTIVE_SECRETS as u8 {
            endpoint
                .rotate(SealedSecret(vec![n]), DEFAULT_GRACE, NOW)
                .unwrap();
        }
        let before = endpoint.clone();
        assert_eq!(
            endpoint.rotate(SealedSecret(vec![9]), DEFAULT_GRACE, NOW),
            Err(RotationRefused::TooManySecrets)
        );
        assert_eq!(endpoint, before, "a refused rotation changes nothing");
        // Once the older ones expire, rotating works again.
        let later = NOW + time::Duration::seconds(DEFAULT_GRACE.as_secs() as i64);
        endpoint
            .rotate(SealedSecret(vec![9]), DEFAULT_GRACE, later)
            .unwrap();
        assert_eq!(active(&endpoint, later), [5, 9]);
    }

    #[test]
    fn only_the_owner_sees_it() {
        let endpoint = endpoint();
        assert!(endpoint.visible_to(&Principal::new("https://issuer.example", "alice")));
        assert!(!endpoint.visible_to(&Principal::new("https://issuer.example", "bob")));
    }
}
