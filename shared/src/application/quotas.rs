//! A fair share per caller: how much of courier one caller may hold at once — jobs in flight,
//! requests per second, WebSocket connections, webhook endpoints — so no caller's flood can
//! starve the others. The limits are the deployment's (template parameters), raised or lowered
//! for one caller by an operator (`courier quotas set`), whose own limits are read at most once
//! a minute per function instance.
//!
//! What is counted where:
//! - a **job** (`POST /v1/jobs`, a WebSocket submit, a rerun) takes a slot before its claim is
//!   written (or reopened) and holds it until it has ended — succeeded, failed, expired or
//!   dead-lettered (the ledger's write that ends it moves the slot off the claim, and the
//!   delivery that made it gives the count back: `MessageLedger`), cancelled (the cancel does,
//!   through [`QuotaStore::release_job`], a conditional write): the claim carries the slot, and
//!   it is given back once. Slots are counted by generation (`domain::quota::SlotCount`, a claim's lifetime
//!   each), so one whose give-back was lost to a crash stops counting two generations on.
//!   Fire-and-forget messages hold no slot: the request rate bounds them.
//! - a **request**: every authenticated HTTP request and every WebSocket frame counts in the
//!   current second.
//! - a **connection**: from `$connect` to `$disconnect`, or at most API Gateway's two hours.
//! - **endpoints**: those registered, counted when one more is asked for.

use crate::application::clock::Clock;
use crate::application::ports::{PortError, QuotaStore};
pub use crate::domain::quota::{JobSlot, Limits, OwnLimits, Quota, QuotaExceeded};
use crate::domain::{JobId, Principal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

pub use crate::domain::quota::CONNECTION_LIFETIME;

/// How long an operator's limits for a caller are kept by a function instance.
pub const OWN_LIMITS_KEPT: Duration = Duration::from_secs(60);

/// The quotas of one function: the deployment's limits, and each caller's count.
pub struct Quotas {
    store: Arc<dyn QuotaStore>,
    defaults: Limits,
    clock: Arc<dyn Clock>,
    /// How long a generation of job slots lasts: a claim's lifetime, the longest a job is in
    /// flight.
    generation: Duration,
    kept: Mutex<HashMap<String, (Instant, Limits)>>,
}

impl Quotas {
    pub fn new(
        store: Arc<dyn QuotaStore>,
        defaults: Limits,
        clock: Arc<dyn Clock>,
        claim_lifetime: Duration,
    ) -> Self {
        Self {
            store,
            defaults,
            clock,
            generation: claim_lifetime.max(Duration::from_secs(1)),
            kept: Mutex::default(),
        }
    }

    /// `owner`'s limits: an operator's for them, else the deployment's. Should the operator's
    /// be unreadable, the deployment's apply (a quota never refuses for lack of its limits).
    pub async fn limits(&self, owner: &Principal) -> Limits {
        let tag = owner.tag();
        if let Some((read, limits)) = self.kept.lock().unwrap().get(&tag)
            && read.elapsed() < OWN_LIMITS_KEPT
        {
            return *limits;
        }
        let limits = match self.store.own_limits(owner).await {
            Ok(own) => self.defaults.with(&own),
            Err(error) => {
                tracing::warn!(%error, "a caller's own limits are unreadable; the deployment's apply");
                return self.defaults;
            }
        };
        let mut kept = self.kept.lock().unwrap();
        if kept.len() >= 4096 {
            kept.clear();
        }
        kept.insert(tag, (Instant::now(), limits));
        limits
    }

    /// Counts one request of `owner`'s. A store that fails lets the request through: the rate
    /// limit protects the others, and refusing everyone for its sake would not.
    pub async fn admit_request(&self, owner: &Principal) -> Result<(), QuotaExceeded> {
        let limit = self.limits(owner).await.requests_per_second;
        let second = self.clock.now().unix_timestamp();
        match self.store.count_request(owner, second, limit).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(QuotaExceeded {
                quota: Quota::RequestsPerSecond,
                limit,
            }),
            Err(error) => {
                tracing::warn!(%error, "requests could not be counted; this one is let through");
                Ok(())
            }
        }
    }

    /// The generation of job slots now.
    fn generation_now(&self) -> u64 {
        let now = u64::try_from(self.clock.now().unix_timestamp()).unwrap_or(0);
        now / self.generation.as_secs()
    }

    /// Takes a job slot for `job`, for its claim to carry, or says why not.
    pub async fn take_job(&self, owner: &Principal, job: &JobId) -> Result<JobSlot, TakeRefused> {
        let limit = self.limits(owner).await.jobs_in_flight;
        let generation = self.generation_now();
        match self
            .store
            .take_job_slot(owner, job, generation, limit)
            .await?
        {
            Some(slot) => Ok(slot),
            None => Err(TakeRefused::Exceeded(QuotaExceeded {
                quota: Quota::JobsInFlight,
                limit,
            })),
        }
    }

    /// Whether `slot` still counts in its caller's jobs in flight (two generations at most).
    pub fn still_counted(&self, slot: &JobSlot) -> bool {
        slot.counts_in(self.generation_now())
    }

    /// Gives back a slot whose claim this request did not write (refused, failed, or an
    /// earlier try's claim is there).
    pub async fn give_back_job(&self, slot: &JobSlot) {
        if let Err(error) = self.store.give_back_job_slot(slot).await {
            tracing::warn!(%error, "a job slot could not be given back; it stops counting two generations on");
        }
    }

    /// Gives back the slot an ended job's claim holds, once (see [`release`]).
    pub async fn release_job(&self, job: &JobId) {
        release(&*self.store, job).await
    }

    /// Counts a new connection of `owner`'s, or refuses it.
    pub async fn open_connection(
        &self,
        owner: &Principal,
        connection: &str,
    ) -> Result<(), TakeRefused> {
        let limit = self.limits(owner).await.connections;
        let now = self.clock.now();
        let until = (now + CONNECTION_LIFETIME).unix_timestamp();
        match self
            .store
            .open_connection(owner, connection, until, now.unix_timestamp(), limit)
            .await?
        {
            true => Ok(()),
            false => Err(TakeRefused::Exceeded(QuotaExceeded {
                quota: Quota::Connections,
                limit,
            })),
        }
    }

    pub async fn close_connection(&self, owner: &Principal, connection: &str) {
        if let Err(error) = self.store.close_connection(owner, connection).await {
            tracing::warn!(%error, "a closed connection could not be uncounted; it stops counting after two hours");
        }
    }

    /// Refuses one more endpoint when `owner` has `registered` already.
    pub async fn admit_endpoint(
        &self,
        owner: &Principal,
        registered: usize,
    ) -> Result<(), QuotaExceeded> {
        let limit = self.limits(owner).await.webhook_endpoints;
        match registered < limit as usize {
            true => Ok(()),
            false => Err(QuotaExceeded {
                quota: Quota::WebhookEndpoints,
                limit,
            }),
        }
    }
}

/// Gives back the slot an ended job's claim holds, once. A failure is logged, not passed on:
/// the job's end stands, and the slot stops counting two generations on.
pub async fn release(store: &dyn QuotaStore, job: &JobId) {
    match store.release_job(job).await {
        Ok(Some(_)) => tracing::debug!("the caller's job slot given back"),
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "an ended job's slot could not be given back; it stops counting two generations on")
        }
    }
}

/// A slot taken for a claim that may not carry it (a request not accepted, a claim there
/// already, a rerun that did not reopen its job here): kept if the claim carries it or gave it
/// back already (its job ended meanwhile), given back otherwise. Unreadable, it is kept: a slot
/// counted too long drops out two generations on, one given back twice would let the caller
/// past their limit.
pub async fn settle(
    quotas: &Quotas,
    claims: &dyn crate::application::ports::ClaimStore,
    id: &JobId,
    slot: &JobSlot,
) {
    let ours = slot.to_string();
    match claims.get(id).await {
        Ok(Some(claim))
            if claim.slot.as_deref() == Some(ours.as_str())
                || claim.slot_given_back.as_deref() == Some(ours.as_str()) => {}
        Ok(_) => quotas.give_back_job(slot).await,
        Err(error) => {
            tracing::warn!(%error, "whether the claim holds this job slot is unknown; kept")
        }
    }
}

/// Why a slot was not taken.
#[derive(Debug, Error)]
pub enum TakeRefused {
    #[error(transparent)]
    Exceeded(#[from] QuotaExceeded),
    #[error(transparent)]
    Unavailable(#[from] PortError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{FixedClock, InMemoryQuotas};

    fn alice() -> Principal {
        Principal::new("https://issuer", "alice")
    }

    fn bob() -> Principal {
        Principal::new("https://issuer", "bob")
    }

    const DEFAULTS: Limits = Limits {
        jobs_in_flight: 2,
        requests_per_second: 3,
        connections: 1,
        webhook_endpoints: 2,
    };

    fn quotas() -> (Quotas, Arc<InMemoryQuotas>, Arc<FixedClock>) {
        let store = Arc::new(InMemoryQuotas::default());
        let clock = Arc::new(FixedClock::at_unix(1_800_000_000));
        let quotas = Quotas::new(
            store.clone(),
            DEFAULTS,
            clock.clone(),
            Duration::from_secs(3600),
        );
        (quotas, store, clock)
    }

    #[tokio::test]
    async fn requests_are_counted_per_second_and_per_caller() {
        let (quotas, _, clock) = quotas();
        for _ in 0..3 {
            quotas.admit_request(&alice()).await.unwrap();
        }
        let refused = quotas.admit_request(&alice()).await.unwrap_err();
        assert_eq!(refused.quota, Quota::RequestsPerSecond);
        assert_eq!(refused.limit, 3);
        assert_eq!(refused.quota.retry_after(), Duration::from_secs(1));
        quotas.admit_request(&bob()).await.unwrap();
        clock.advance(Duration::from_secs(1));
        quotas.admit_request(&alice()).await.unwrap();
    }

    #[tokio::test]
    async fn a_job_slot_is_held_until_the_job_is_released_once() {
        use crate::application::ports::QuotaStore;
        let (quotas, store, _) = quotas();
        let (one, two, three) = (JobId::generate(), JobId::generate(), JobId::generate());
        quotas.take_job(&alice(), &one).await.unwrap();
        quotas.take_job(&alice(), &two).await.unwrap();
        let refused = quotas.take_job(&alice(), &three).await.unwrap_err();
        assert!(matches!(
            refused,
            TakeRefused::Exceeded(QuotaExceeded {
                quota: Quota::JobsInFlight,
                limit: 2
            })
        ));
        quotas.take_job(&bob(), &three).await.unwrap();
        quotas.release_job(&one).await;
        assert!(
            store.release_job(&one).await.unwrap().is_none(),
            "a second release gives back nothing"
        );
        let slot = quotas.take_job(&alice(), &three).await.unwrap();
        quotas.give_back_job(&slot).await;
        quotas.take_job(&alice(), &JobId::generate()).await.unwrap();
    }

    #[tokio::test]
    async fn a_lost_slot_stops_counting_two_claim_lifetimes_on() {
        let (quotas, store, clock) = quotas();
        let (lost, busy) = (JobId::generate(), JobId::generate());
        quotas.take_job(&alice(), &lost).await.unwrap();
        store.lose(&lost);
        quotas.take_job(&alice(), &busy).await.unwrap();
        assert!(quotas.take_job(&alice(), &JobId::generate()).await.is_err());
        // A claim's lifetime on (the harness's is an hour), the busy job ends and another
        // starts: the lost slot still counts.
        clock.advance(Duration::from_secs(3600));
        quotas.release_job(&busy).await;
        let next = JobId::generate();
        quotas.take_job(&alice(), &next).await.unwrap();
        assert!(quotas.take_job(&alice(), &JobId::generate()).await.is_err());
        // Another lifetime on, it has dropped out.
        clock.advance(Duration::from_secs(3600));
        quotas.release_job(&next).await;
        quotas.take_job(&alice(), &JobId::generate()).await.unwrap();
        quotas.take_job(&alice(), &JobId::generate()).await.unwrap();
    }

    #[tokio::test]
    async fn a_slot_its_claim_carries_or_gave_back_is_kept_and_any_other_given_back() {
        use crate::application::ports::ClaimStore;
        let (quotas, store, clock) = quotas();
        let claims = crate::adapters::memory::InMemoryClaims::default();
        let id = JobId::generate();
        let slot = quotas.take_job(&alice(), &id).await.unwrap();
        // The claim was this request's after all, and its job ended and gave the slot back
        // before the request looked.
        let mut claim = crate::domain::Claim::pending(
            id.clone(),
            "echo".into(),
            crate::domain::CorrelationId::generate(),
            alice(),
            crate::application::clock::Clock::now(&*clock),
            Duration::from_secs(3600),
        );
        claim.slot_given_back = Some(slot.to_string());
        claims.create(&claim).await.unwrap();
        settle(&quotas, &claims, &id, &slot).await;
        assert_eq!(
            store.slots_held(&alice()),
            1,
            "not given back a second time"
        );
        // No claim carries this one: given back.
        let other = JobId::generate();
        let unclaimed = quotas.take_job(&alice(), &other).await.unwrap();
        settle(&quotas, &claims, &other, &unclaimed).await;
        assert_eq!(store.slots_held(&alice()), 1);
    }

    #[tokio::test]
    async fn an_operators_limits_apply_to_that_caller_only() {
        let (quotas, store, _) = quotas();
        store.set_own_limits(
            &alice(),
            OwnLimits {
                jobs_in_flight: Some(3),
                ..OwnLimits::default()
            },
        );
        assert_eq!(quotas.limits(&alice()).await.jobs_in_flight, 3);
        assert_eq!(quotas.limits(&alice()).await.requests_per_second, 3);
        assert_eq!(quotas.limits(&bob()).await, DEFAULTS);
    }

    #[tokio::test]
    async fn connections_count_until_closed_or_two_hours_on() {
        let (quotas, _, clock) = quotas();
        quotas.open_connection(&alice(), "c1").await.unwrap();
        assert!(quotas.open_connection(&alice(), "c2").await.is_err());
        quotas.open_connection(&bob(), "c3").await.unwrap();
        quotas.close_connection(&alice(), "c1").await;
        quotas.open_connection(&alice(), "c2").await.unwrap();
        // c2's $disconnect never comes: after API Gateway's two hours it no longer counts.
        clock.advance(CONNECTION_LIFETIME + Duration::from_secs(1));
        quotas.open_connection(&alice(), "c4").await.unwrap();
    }

    #[tokio::test]
    async fn endpoints_are_refused_at_the_limit() {
        let (quotas, _, _) = quotas();
        quotas.admit_endpoint(&alice(), 1).await.unwrap();
        let refused = quotas.admit_endpoint(&alice(), 2).await.unwrap_err();
        assert_eq!(refused.quota, Quota::WebhookEndpoints);
        assert!(
            refused
                .to_string()
                .contains("at most 2 registered webhook endpoints")
        );
    }
}
