//! Callers' webhook endpoints and destinations: register a URL (SSRF-checked) or a queue or bus
//! (checked, then proved by a delivery), with a new secret shown once; read one, rotate its
//! secret, delete it; and, for the notifier, the secrets that sign a delivery now.

use crate::application::clock::Clock;
use crate::application::ports::{
    DestinationProbe, PortError, SealingContext, SecretSealer, WebhookEndpointStore,
};
use crate::application::ssrf::SsrfPolicy;
use crate::domain::destination::InvalidDestination;
use crate::domain::webhook_endpoint::RotationRefused;
use crate::domain::{
    CallbackTarget, EndpointId, EndpointKind, Principal, ResourceArn, WebhookEndpoint,
};
use courier_protocol::webhook::Secret;
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;

/// Bytes of key in a new secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// How often a rotation that lost a race with another change of the same endpoint is tried
/// again before the caller is told to.
const ROTATION_TRIES: usize = 3;

#[derive(Debug, Error)]
pub enum EndpointError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error(transparent)]
    InvalidDestination(#[from] InvalidDestination),
    /// The notifier's try at the destination failed: nothing was kept.
    #[error(
        "courier's notifier could not deliver to {arn}: {reason}; the queue's or bus's policy must allow the notifier's role to send (see the README), and nothing was registered"
    )]
    Unreachable { arn: String, reason: String },
    /// Unknown, or another caller's: the two answer alike.
    #[error("no {} {id} is registered to you", kind_name(*.kind))]
    NotFound { kind: EndpointKind, id: String },
    #[error(transparent)]
    Rotation(#[from] RotationRefused),
    #[error("the endpoint changed while it was being rotated; retry")]
    Conflict,
    /// The URL's name could not be resolved just now: the same request may pass later.
    #[error("{0}")]
    ResolverUnavailable(String),
    /// The caller has as many endpoints as their quota allows.
    #[error(transparent)]
    QuotaExceeded(#[from] crate::application::quotas::QuotaExceeded),
    #[error(transparent)]
    Dependency(#[from] PortError),
}

fn kind_name(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Webhook => "webhook endpoint",
        EndpointKind::Destination => "destination",
    }
}

/// An endpoint and, just made, its new secret in the clear: shown to the caller once.
pub struct WithNewSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: Secret,
}

/// What a destination may be besides a well-formed ARN: in the stack's region (its notifier's
/// clients are regional), and never one of the stack's own queues or buses (a caller must not
/// be able to write into courier's own pipes).
#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    pub region: String,
    /// The stack's own account, and whether a destination may be in it: there, no resource
    /// policy is needed for the notifier to send, so any queue or bus of the account (other
    /// applications', the default bus) would pass the proof — off unless the operator says.
    pub account: String,
    pub same_account: bool,
    /// The ARNs of the stack's own queues and buses.
    pub own: Vec<String>,
}

impl DestinationPolicy {
    /// The target `new` names, if it may be one.
    pub fn check(
        &self,
        sqs: Option<&str>,
        bus: Option<&str>,
    ) -> Result<CallbackTarget, InvalidDestination> {
        let target = match (sqs, bus) {
            (Some(queue), None) => CallbackTarget::Queue(ResourceArn::queue(queue)?),
            (None, Some(bus)) => CallbackTarget::EventBus(ResourceArn::event_bus(bus)?),
            _ => return Err(InvalidDestination::NotExactlyOne),
        };
        let arn = target.arn().expect("a destination has an ARN");
        // Names compared as AWS compares them (queue names are case-sensitive; so are ARNs).
        if self.own.iter().any(|own| own == &arn.to_string()) {
            return Err(InvalidDestination::OwnResource(arn.to_string()));
        }
        if arn.account == self.account && !self.same_account {
            return Err(InvalidDestination::SameAccount(arn.to_string()));
        }
        if arn.region != self.region {
            return Err(InvalidDestination::OtherRegion(
                arn.to_string(),
                arn.region.clone(),
                self.region.clone(),
            ));
        }
        Ok(target)
    }
}

pub struct WebhookEndpoints {
    pub store: Arc<dyn WebhookEndpointStore>,
    pub sealer: Arc<dyn SecretSealer>,
    pub url_policy: Arc<SsrfPolicy>,
    pub destinations: DestinationPolicy,
    /// Proves the notifier can deliver to a new destination.
    pub probe: Arc<dyn DestinationProbe>,
    pub clock: Arc<dyn Clock>,
    /// Each caller's endpoints.
    pub quotas: Arc<crate::application::quotas::Quotas>,
}

fn new_secret() -> Secret {
    let mut key = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    Secret::from_bytes(key).expect("SECRET_BYTES is a valid length")
}

impl WebhookEndpoints {
    /// Registers `url` for `owner`. The URL is checked as a delivery would check it (names
    /// resolved), and checked again at every delivery.
    pub async fn register(
        &self,
        owner: &Principal,
        url: &str,
    ) -> Result<WithNewSecret, EndpointError> {
        let checked = self
            .url_policy
            .check_url(url)
            .map_err(|rejected| EndpointError::InvalidUrl(rejected.to_string()))?;
        self.admit(owner).await?;
        self.url_policy
            .resolve(&checked)
            .await
            .map_err(|rejected| match rejected.is_temporary() {
                true => EndpointError::ResolverUnavailable(rejected.to_string()),
                false => EndpointError::InvalidUrl(rejected.to_string()),
            })?;
        let target = CallbackTarget::Url(checked.as_str().to_owned());
        let made = self.create(owner, EndpointKind::Webhook, target).await?;
        tracing::info!(endpoint_id = %made.endpoint.id, "webhook endpoint registered");
        Ok(made)
    }

    /// Registers a queue (`sqs`) or a bus (`bus`) for `owner`, once the notifier has delivered
    /// a signed verification to it: one it cannot reach is not kept.
    pub async fn register_destination(
        &self,
        owner: &Principal,
        sqs: Option<&str>,
        bus: Option<&str>,
    ) -> Result<WithNewSecret, EndpointError> {
        let target = self.destinations.check(sqs, bus)?;
        let arn = target.arn().expect("a destination has an ARN").to_string();
        self.admit(owner).await?;
        let made = self
            .create(owner, EndpointKind::Destination, target)
            .await?;
        let id = &made.endpoint.id;
        let proved = self.probe.probe(id).await;
        if !matches!(proved, Ok(Ok(()))) {
            // Never kept unproved; should this delete fail, the record is harmless (no job can
            // have named it yet) and the caller may delete it by the id in the log.
            if let Err(error) = self.store.delete(id, owner).await {
                tracing::error!(%error, destination_id = %id, "an unproved destination was not removed");
            }
        }
        match proved? {
            Ok(()) => {
                tracing::info!(destination_id = %id, "destination registered");
                Ok(made)
            }
            Err(reason) => Err(EndpointError::Unreachable { arn, reason }),
        }
    }

    /// Refuses a new endpoint or destination past the caller's quota (the two count together).
    async fn admit(&self, owner: &Principal) -> Result<(), EndpointError> {
        // Counted from the caller's lists (eventually consistent: two registrations at the very
        // same moment may both pass the last place).
        let limit = self.quotas.limits(owner).await.webhook_endpoints as usize;
        let mut registered = 0;
        for kind in [EndpointKind::Webhook, EndpointKind::Destination] {
            let mut after = None;
            loop {
                let page = self.store.list(owner, kind, after.as_ref(), 100).await?;
                registered += page.items.len();
                after = page.next;
                if after.is_none() || registered >= limit {
                    break;
                }
            }
        }
        self.quotas.admit_endpoint(owner, registered).await?;
        Ok(())
    }

    /// Stores a new endpoint of `kind` with a new secret, sealed.
    async fn create(
        &self,
        owner: &Principal,
        kind: EndpointKind,
        target: CallbackTarget,
    ) -> Result<WithNewSecret, EndpointError> {
        let id = EndpointId::generate(kind);
        let secret = new_secret();
        let context = SealingContext {
            endpoint: id.clone(),
            owner: owner.clone(),
        };
        let sealed = self.sealer.seal(&secret, &context).await?;
        let endpoint = WebhookEndpoint::new(id, owner.clone(), target, sealed, self.clock.now());
        self.store.create(&endpoint).await?;
        Ok(WithNewSecret { endpoint, secret })
    }

    /// A page of `owner`'s endpoints of `kind`, newest first.
    pub async fn list(
        &self,
        owner: &Principal,
        kind: EndpointKind,
        after: Option<&crate::application::ports::ListPosition>,
        limit: usize,
    ) -> Result<crate::application::ports::Page<WebhookEndpoint>, EndpointError> {
        Ok(self.store.list(owner, kind, after, limit).await?)
    }

    /// `owner`'s endpoint of `kind` `raw_id`; anything else is `NotFound`.
    pub async fn get(
        &self,
        owner: &Principal,
        kind: EndpointKind,
        raw_id: &str,
    ) -> Result<WebhookEndpoint, EndpointError> {
        let not_found = || EndpointError::NotFound {
            kind,
            id: raw_id.to_owned(),
        };
        let id = EndpointId::parse_kind(raw_id, kind).map_err(|_| not_found())?;
        match self.store.get(&id).await? {
            Some(endpoint) if endpoint.visible_to(owner) => Ok(endpoint),
            _ => Err(not_found()),
        }
    }

    /// A new secret for `owner`'s endpoint; the ones signing now keep signing for `grace`.
    pub async fn rotate(
        &self,
        owner: &Principal,
        kind: EndpointKind,
        raw_id: &str,
        grace: Duration,
    ) -> Result<WithNewSecret, EndpointError> {
        for _ in 0..ROTATION_TRIES {
            let mut endpoint = self.get(owner, kind, raw_id).await?;
            let secret = new_secret();
            let sealed = self
                .sealer
                .seal(&secret, &SealingContext::of(&endpoint))
                .await?;
            endpoint.rotate(sealed, grace, self.clock.now())?;
            if self.store.replace_secrets(&endpoint).await? {
                tracing::info!(endpoint_id = %endpoint.id, grace_seconds = grace.as_secs(), "webhook secret rotated");
                return Ok(WithNewSecret { endpoint, secret });
            }
        }
        Err(EndpointError::Conflict)
    }

    pub async fn delete(
        &self,
        owner: &Principal,
        kind: EndpointKind,
        raw_id: &str,
    ) -> Result<(), EndpointError> {
        let not_found = || EndpointError::NotFound {
            kind,
            id: raw_id.to_owned(),
        };
        let id = EndpointId::parse_kind(raw_id, kind).map_err(|_| not_found())?;
        if self.store.delete(&id, owner).await? {
            tracing::info!(endpoint_id = %id, "webhook endpoint deleted");
            Ok(())
        } else {
            Err(not_found())
        }
    }
}

/// The secrets that sign a delivery to `endpoint` made at `now`, opened.
pub async fn signing_secrets(
    sealer: &dyn SecretSealer,
    endpoint: &WebhookEndpoint,
    now: OffsetDateTime,
) -> Result<Vec<Secret>, PortError> {
    let context = SealingContext::of(endpoint);
    let mut secrets = Vec::new();
    for secret in endpoint.active_secrets(now) {
        secrets.push(sealer.open(&secret.sealed, &context).await?);
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{FixedClock, InMemorySealer, InMemoryWebhookEndpoints};
    use time::macros::datetime;

    fn service() -> (WebhookEndpoints, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(datetime!(2026-11-30 12:00 UTC)));
        let service = WebhookEndpoints {
            store: Arc::new(InMemoryWebhookEndpoints::default()),
            sealer: Arc::new(InMemorySealer::default()),
            url_policy: Arc::new(SsrfPolicy {
                allow_http: true,
                allowed_hosts: vec!["127.0.0.1".into()],
            }),
            destinations: DestinationPolicy {
                region: "us-east-1".into(),
                own: vec![OWN_QUEUE.into()],
                account: "000000000000".into(),
                same_account: false,
            },
            probe: Arc::new(crate::adapters::memory::RecordingProbe::default()),
            clock: clock.clone(),
            quotas: crate::adapters::memory::roomy_quotas(
                Arc::new(crate::adapters::memory::InMemoryQuotas::default()),
                clock.clone(),
            ),
        };
        (service, clock)
    }

    fn alice() -> Principal {
        Principal::new("https://issuer.example", "alice")
    }

    fn bob() -> Principal {
        Principal::new("https://issuer.example", "bob")
    }

    #[tokio::test]
    async fn a_registered_endpoint_signs_with_the_secret_it_was_given() {
        let (service, clock) = service();
        let made = service
            .register(&alice(), "http://127.0.0.1:9/hook")
            .await
            .unwrap();
        assert!(made.secret.to_whsec().starts_with("whsec_"));
        let stored = service
            .get(&alice(), EndpointKind::Webhook, made.endpoint.id.as_str())
            .await
            .unwrap();
        assert_ne!(
            stored.secrets[0].sealed.0,
            made.secret.expose_bytes(),
            "stored sealed, never in the clear"
        );
        let signing = signing_secrets(service.sealer.as_ref(), &stored, clock.now())
            .await
            .unwrap();
        assert_eq!(signing, vec![made.secret]);
    }

    #[tokio::test]
    async fn refused_urls_register_nothing() {
        let (service, _) = service();
        for url in ["http://10.0.0.1/", "ftp://127.0.0.1/", "not a url"] {
            let error = service.register(&alice(), url).await.err().unwrap();
            assert!(
                matches!(error, EndpointError::InvalidUrl(_)),
                "{url}: {error}"
            );
        }
    }

    #[tokio::test]
    async fn another_callers_endpoint_does_not_exist_for_them() {
        let (service, _) = service();
        let made = service
            .register(&alice(), "http://127.0.0.1:9/hook")
            .await
            .unwrap();
        let id = made.endpoint.id.as_str();
        assert!(matches!(
            service.get(&bob(), EndpointKind::Webhook, id).await,
            Err(EndpointError::NotFound { .. })
        ));
        assert!(matches!(
            service
                .rotate(&bob(), EndpointKind::Webhook, id, DEFAULT_GRACE_FOR_TESTS)
                .await,
            Err(EndpointError::NotFound { .. })
        ));
        assert!(matches!(
            service.delete(&bob(), EndpointKind::Webhook, id).await,
            Err(EndpointError::NotFound { .. })
        ));
        assert!(
            service
                .get(&alice(), EndpointKind::Webhook, id)
                .await
                .is_ok(),
            "bob changed nothing"
        );
        service
            .delete(&alice(), EndpointKind::Webhook, id)
            .await
            .unwrap();
        assert!(matches!(
            service.get(&alice(), EndpointKind::Webhook, id).await,
            Err(EndpointError::NotFound { .. })
        ));
        assert!(matches!(
            service.get(&alice(), EndpointKind::Webhook, "../etc").await,
            Err(EndpointError::NotFound { .. })
        ));
    }

    const DEFAULT_GRACE_FOR_TESTS: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_rotation_signs_with_both_secrets_until_the_grace_ends() {
        let (service, clock) = service();
        let first = service
            .register(&alice(), "http://127.0.0.1:9/hook")
            .await
            .unwrap();
        let id = first.endpoint.id.as_str();
        let second = service
            .rotate(&alice(), EndpointKind::Webhook, id, DEFAULT_GRACE_FOR_TESTS)
            .await
            .unwrap();
        let stored = service
            .get(&alice(), EndpointKind::Webhook, id)
            .await
            .unwrap();
        let signing = signing_secrets(service.sealer.as_ref(), &stored, clock.now())
            .await
            .unwrap();
        assert_eq!(signing, vec![first.secret, second.secret.clone()]);
        clock.advance(DEFAULT_GRACE_FOR_TESTS);
        let signing = signing_secrets(service.sealer.as_ref(), &stored, clock.now())
            .await
            .unwrap();
        assert_eq!(signing, vec![second.secret]);
    }

    const OWN_QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:courier-work";
    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:results";

    #[tokio::test]
    async fn a_destination_is_kept_once_the_notifier_reached_it() {
        let (service, clock) = service();
        let made = service
            .register_destination(&alice(), Some(QUEUE), None)
            .await
            .unwrap();
        let id = made.endpoint.id.as_str();
        assert!(id.starts_with("dst_"), "{id}");
        let stored = service
            .get(&alice(), EndpointKind::Destination, id)
            .await
            .unwrap();
        assert_eq!(stored.target.arn().unwrap().to_string(), QUEUE);
        let signing = signing_secrets(service.sealer.as_ref(), &stored, clock.now())
            .await
            .unwrap();
        assert_eq!(signing, vec![made.secret]);
        assert!(
            matches!(
                service.get(&alice(), EndpointKind::Webhook, id).await,
                Err(EndpointError::NotFound { .. })
            ),
            "a destination is not a webhook endpoint"
        );
        assert!(matches!(
            service.get(&bob(), EndpointKind::Destination, id).await,
            Err(EndpointError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn a_queue_that_does_not_allow_courier_is_refused_and_not_kept() {
        let (mut service, _) = service();
        let probe = Arc::new(crate::adapters::memory::RecordingProbe::refusing(
            "AccessDenied: not authorized to perform sqs:SendMessage",
        ));
        service.probe = probe.clone();
        let error = service
            .register_destination(&alice(), Some(QUEUE), None)
            .await
            .err()
            .unwrap();
        let EndpointError::Unreachable { arn, reason } = &error else {
            panic!("{error}");
        };
        assert_eq!(arn, QUEUE);
        assert!(reason.contains("AccessDenied"), "{reason}");
        assert!(error.to_string().contains("policy must allow"), "{error}");
        assert_eq!(probe.probed().len(), 1, "the notifier was asked to try it");
        let left = service
            .list(&alice(), EndpointKind::Destination, None, 10)
            .await
            .unwrap();
        assert!(left.items.is_empty(), "nothing kept: {:?}", left.items);
    }

    #[tokio::test]
    async fn own_fifo_foreign_region_and_malformed_destinations_are_refused_before_any_try() {
        let (mut service, _) = service();
        let probe = Arc::new(crate::adapters::memory::RecordingProbe::default());
        service.probe = probe.clone();
        let cases: [(Option<&str>, Option<&str>); 7] = [
            (
                None,
                Some("arn:aws:events:us-east-1:000000000000:event-bus/default"),
            ),
            (Some(OWN_QUEUE), None),
            (
                Some("arn:aws:sqs:us-east-1:123456789012:results.fifo"),
                None,
            ),
            (Some("arn:aws:sqs:eu-west-1:123456789012:results"), None),
            (Some("https://sqs.us-east-1.amazonaws.com/1/q"), None),
            (None, None),
            (
                Some(QUEUE),
                Some("arn:aws:events:us-east-1:123456789012:event-bus/b"),
            ),
        ];
        for (sqs, bus) in cases {
            let error = service
                .register_destination(&alice(), sqs, bus)
                .await
                .err()
                .unwrap();
            assert!(
                matches!(error, EndpointError::InvalidDestination(_)),
                "{sqs:?} {bus:?}: {error}"
            );
        }
        assert!(probe.probed().is_empty(), "nothing was tried");
    }

    #[tokio::test]
    async fn endpoints_and_destinations_count_together_in_the_quota() {
        let (mut service, clock) = service();
        let quotas = Arc::new(crate::adapters::memory::InMemoryQuotas::default());
        service.quotas = Arc::new(crate::application::quotas::Quotas::new(
            quotas,
            crate::application::quotas::Limits {
                jobs_in_flight: 10,
                requests_per_second: 10,
                connections: 10,
                webhook_endpoints: 2,
            },
            clock.clone(),
            Duration::from_secs(3600),
        ));
        service
            .register(&alice(), "http://127.0.0.1:9/hook")
            .await
            .unwrap();
        service
            .register_destination(&alice(), Some(QUEUE), None)
            .await
            .unwrap();
        let error = service
            .register_destination(&alice(), Some(QUEUE), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(error, EndpointError::QuotaExceeded(_)), "{error}");
        let error = service
            .register(&alice(), "http://127.0.0.1:9/hook")
            .await
            .err()
            .unwrap();
        assert!(matches!(error, EndpointError::QuotaExceeded(_)), "{error}");
    }
}
