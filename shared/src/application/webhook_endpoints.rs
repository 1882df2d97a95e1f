//! Callers' webhook endpoints: register a URL (SSRF-checked, with a new secret shown once),
//! read it, rotate its secret, delete it; and, for the notifier, the secrets that sign a
//! delivery now.

use crate::application::clock::Clock;
use crate::application::ports::{PortError, SealingContext, SecretSealer, WebhookEndpointStore};
use crate::application::ssrf::SsrfPolicy;
use crate::domain::webhook_endpoint::RotationRefused;
use crate::domain::{EndpointId, Principal, WebhookEndpoint};
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
    /// Unknown, or another caller's: the two answer alike.
    #[error("no webhook endpoint {0} is registered to you")]
    NotFound(String),
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

/// An endpoint and, just made, its new secret in the clear: shown to the caller once.
pub struct WithNewSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: Secret,
}

pub struct WebhookEndpoints {
    pub store: Arc<dyn WebhookEndpointStore>,
    pub sealer: Arc<dyn SecretSealer>,
    pub url_policy: Arc<SsrfPolicy>,
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
        // Counted from the caller's list (eventually consistent: two registrations at the very
        // same moment may both pass the last place).
        let limit = self.quotas.limits(owner).await.webhook_endpoints as usize;
        let (mut registered, mut after) = (0, None);
        loop {
            let page = self.store.list(owner, after.as_ref(), 100).await?;
            registered += page.items.len();
            after = page.next;
            if after.is_none() || registered >= limit {
                break;
            }
        }
        self.quotas.admit_endpoint(owner, registered).await?;
        self.url_policy
            .resolve(&checked)
            .await
            .map_err(|rejected| match rejected.is_temporary() {
                true => EndpointError::ResolverUnavailable(rejected.to_string()),
                false => EndpointError::InvalidUrl(rejected.to_string()),
            })?;
        let id = EndpointId::generate();
        let secret = new_secret();
        let context = SealingContext {
            endpoint: id.clone(),
            owner: owner.clone(),
        };
        let sealed = self.sealer.seal(&secret, &context).await?;
        let endpoint = WebhookEndpoint::new(
            id,
            owner.clone(),
            checked.as_str().to_owned(),
            sealed,
            self.clock.now(),
        );
        self.store.create(&endpoint).await?;
        tracing::info!(endpoint_id = %endpoint.id, "webhook endpoint registered");
        Ok(WithNewSecret { endpoint, secret })
    }

    /// `owner`'s endpoint `raw_id`; anything else is `NotFound`.
    /// A page of `owner`'s endpoints, newest first.
    pub async fn list(
        &self,
        owner: &Principal,
        after: Option<&crate::application::ports::ListPosition>,
        limit: usize,
    ) -> Result<crate::application::ports::Page<WebhookEndpoint>, EndpointError> {
        Ok(self.store.list(owner, after, limit).await?)
    }

    pub async fn get(
        &self,
        owner: &Principal,
        raw_id: &str,
    ) -> Result<WebhookEndpoint, EndpointError> {
        let not_found = || EndpointError::NotFound(raw_id.to_owned());
        let id = EndpointId::parse(raw_id).map_err(|_| not_found())?;
        match self.store.get(&id).await? {
            Some(endpoint) if endpoint.visible_to(owner) => Ok(endpoint),
            _ => Err(not_found()),
        }
    }

    /// A new secret for `owner`'s endpoint; the ones signing now keep signing for `grace`.
    pub async fn rotate(
        &self,
        owner: &Principal,
        raw_id: &str,
        grace: Duration,
    ) -> Result<WithNewSecret, EndpointError> {
        for _ in 0..ROTATION_TRIES {
            let mut endpoint = self.get(owner, raw_id).await?;
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

    pub async fn delete(&self, owner: &Principal, raw_id: &str) -> Result<(), EndpointError> {
        let id =
            EndpointId::parse(raw_id).map_err(|_| EndpointError::NotFound(raw_id.to_owned()))?;
        if self.store.delete(&id, owner).await? {
            tracing::info!(endpoint_id = %id, "webhook endpoint deleted");
            Ok(())
        } else {
            Err(EndpointError::NotFound(raw_id.to_owned()))
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
            .get(&alice(), made.endpoint.id.as_str())
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
            service.get(&bob(), id).await,
            Err(EndpointError::NotFound(_))
        ));
        assert!(matches!(
            service.rotate(&bob(), id, DEFAULT_GRACE_FOR_TESTS).await,
            Err(EndpointError::NotFound(_))
        ));
        assert!(matches!(
            service.delete(&bob(), id).await,
            Err(EndpointError::NotFound(_))
        ));
        assert!(
            service.get(&alice(), id).await.is_ok(),
            "bob changed nothing"
        );
        service.delete(&alice(), id).await.unwrap();
        assert!(matches!(
            service.get(&alice(), id).await,
            Err(EndpointError::NotFound(_))
        ));
        assert!(matches!(
            service.get(&alice(), "../etc").await,
            Err(EndpointError::NotFound(_))
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
            .rotate(&alice(), id, DEFAULT_GRACE_FOR_TESTS)
            .await
            .unwrap();
        let stored = service.get(&alice(), id).await.unwrap();
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
}
