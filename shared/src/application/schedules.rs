//! Callers' recurring schedules: made (expression, time zone, job type, payload and callback
//! checked as a job's would be), read, listed, paused, resumed and deleted, each only by its
//! owner. The scheduler fires each as a message carrying the whole job; the processor makes
//! one job of each firing (`Intake::accept_run`).

use crate::application::clock::Clock;
use crate::application::ports::{
    Definition, ListPosition, Page, PortError, RecurringScheduler, ScheduleStore,
    WebhookEndpointStore,
};
use crate::domain::schedule::{
    Expression, InvalidSchedule, MAX_SCHEDULED_PAYLOAD_BYTES, MAX_SCHEDULES, Schedule, ScheduleId,
    check_timezone,
};
use crate::domain::{EndpointId, EndpointKind, NamedCallback, Principal};
use courier_jobs::Registry;
use courier_protocol::rest::NewSchedule;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Invalid(String),
    /// Unknown, or another caller's: the two answer alike.
    #[error("no schedule {0} is yours")]
    NotFound(String),
    #[error("you have {MAX_SCHEDULES} schedules already; delete one first")]
    TooMany,
    #[error(transparent)]
    Dependency(#[from] PortError),
}

impl From<InvalidSchedule> for ScheduleError {
    fn from(invalid: InvalidSchedule) -> Self {
        Self::Invalid(invalid.to_string())
    }
}

pub struct Schedules {
    pub store: Arc<dyn ScheduleStore>,
    pub scheduler: Arc<dyn RecurringScheduler>,
    pub registry: Arc<Registry>,
    /// A job's callback must be one of the caller's endpoints or destinations.
    pub endpoints: Arc<dyn WebhookEndpointStore>,
    pub clock: Arc<dyn Clock>,
}

impl Schedules {
    /// Makes `owner`'s schedule: kept first, then made in the scheduler (a failure there takes
    /// the kept one back), so no firing ever names a schedule the API does not show.
    pub async fn create(
        &self,
        owner: &Principal,
        new: NewSchedule,
    ) -> Result<Schedule, ScheduleError> {
        let expression = Expression::parse(&new.expression)?;
        let timezone = new.timezone.unwrap_or_else(|| "UTC".to_owned());
        check_timezone(&timezone)?;
        let job = new.job;
        self.registry
            .validate(&job.job_type, &job.payload)
            .map_err(|e| ScheduleError::Invalid(format!("job: {e}")))?;
        if job.payload.to_string().len() > MAX_SCHEDULED_PAYLOAD_BYTES {
            return Err(ScheduleError::Invalid(format!(
                "job.payload: a schedule's payload is at most {MAX_SCHEDULED_PAYLOAD_BYTES} bytes"
            )));
        }
        if let Some(spec) = &job.callback {
            self.check_callback(owner, spec).await?;
        }
        let mut count = 0;
        let mut after = None;
        loop {
            let page = self.store.list(owner, after.as_ref(), 100).await?;
            count += page.items.len();
            after = page.next;
            if after.is_none() || count >= MAX_SCHEDULES {
                break;
            }
        }
        if count >= MAX_SCHEDULES {
            return Err(ScheduleError::TooMany);
        }
        let schedule = Schedule {
            id: ScheduleId::generate(),
            owner: owner.clone(),
            expression,
            timezone,
            job,
            paused: false,
            created_at: self.clock.now(),
        };
        self.store.create(&schedule).await?;
        let failed = match self.scheduler.put(&schedule).await {
            Ok(Definition::Taken) => None,
            Ok(Definition::Refused(reason)) => Some(ScheduleError::Invalid(format!(
                "expression or timezone: the scheduler refused the schedule ({reason})"
            ))),
            Err(error) => Some(error.into()),
        };
        if let Some(error) = failed {
            // It may have been made all the same (an answer lost): taken away too. Should that
            // fail as well, its firings find no record and remove it (the processor).
            if let Err(undo) = self.scheduler.delete(&schedule.id).await {
                tracing::warn!(error = %undo, schedule_id = %schedule.id, "a schedule the scheduler may hold was not removed");
            }
            if let Err(undo) = self.store.delete(&schedule.id, owner).await {
                tracing::error!(error = %undo, schedule_id = %schedule.id, "a schedule the scheduler refused was not taken back");
            }
            return Err(error);
        }
        tracing::info!(schedule_id = %schedule.id, "schedule made");
        Ok(schedule)
    }

    async fn check_callback(
        &self,
        owner: &Principal,
        spec: &courier_protocol::rest::CallbackSpec,
    ) -> Result<(), ScheduleError> {
        let named = match (&spec.endpoint_id, &spec.destination_id) {
            (Some(id), None) => NamedCallback {
                kind: EndpointKind::Webhook,
                id: id.clone(),
            },
            (None, Some(id)) => NamedCallback {
                kind: EndpointKind::Destination,
                id: id.clone(),
            },
            _ => {
                return Err(ScheduleError::Invalid(
                    "job.callback: exactly one of endpointId or destinationId".into(),
                ));
            }
        };
        let unknown = || {
            ScheduleError::Invalid(format!(
                "job.{}: {} is not one of yours",
                named.field(),
                named.id
            ))
        };
        let id = EndpointId::parse_kind(&named.id, named.kind).map_err(|_| unknown())?;
        match self.endpoints.get(&id).await? {
            Some(endpoint) if endpoint.visible_to(owner) => Ok(()),
            _ => Err(unknown()),
        }
    }

    /// `owner`'s schedule `raw`; anything else is `NotFound`.
    pub async fn get(&self, owner: &Principal, raw: &str) -> Result<Schedule, ScheduleError> {
        let not_found = || ScheduleError::NotFound(raw.to_owned());
        let id = ScheduleId::parse(raw).map_err(|_| not_found())?;
        match self.store.get(&id).await? {
            Some(schedule) if schedule.visible_to(owner) => Ok(schedule),
            _ => Err(not_found()),
        }
    }

    pub async fn list(
        &self,
        owner: &Principal,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<Page<Schedule>, ScheduleError> {
        Ok(self.store.list(owner, after, limit).await?)
    }

    /// Pauses (`true`) or resumes it: the scheduler first (it is what fires), then the record.
    pub async fn set_paused(
        &self,
        owner: &Principal,
        raw: &str,
        paused: bool,
    ) -> Result<Schedule, ScheduleError> {
        let mut schedule = self.get(owner, raw).await?;
        schedule.paused = paused;
        // An update only: a pause racing a delete never brings the schedule back.
        if !self.scheduler.update(&schedule).await?
            || !self.store.set_paused(&schedule.id, owner, paused).await?
        {
            return Err(ScheduleError::NotFound(raw.to_owned()));
        }
        Ok(schedule)
    }

    /// Deletes it: the scheduler first (nothing fires once it is gone; a firing already on
    /// its way still makes its one job), then the record.
    pub async fn delete(&self, owner: &Principal, raw: &str) -> Result<(), ScheduleError> {
        let schedule = self.get(owner, raw).await?;
        self.scheduler.delete(&schedule.id).await?;
        if !self.store.delete(&schedule.id, owner).await? {
            return Err(ScheduleError::NotFound(raw.to_owned()));
        }
        tracing::info!(schedule_id = %schedule.id, "schedule deleted");
        Ok(())
    }
}

/// The job id of one firing of a schedule: the same for every delivery of that firing (its
/// claim is made once), different for every firing.
pub fn run_id(schedule_id: &str, firing: &str) -> crate::domain::JobId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{schedule_id}\0{firing}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // A version-8 (name-based, custom) UUID: a job id like any other.
    let id = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    crate::domain::JobId::parse(&id.to_string()).expect("a UUID is a job id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_firing_names_one_job_and_the_next_another() {
        let a = run_id("sch_1", "2026-12-03T09:00:00Z");
        assert_eq!(a, run_id("sch_1", "2026-12-03T09:00:00Z"));
        assert_ne!(a, run_id("sch_1", "2026-12-03T10:00:00Z"));
        assert_ne!(a, run_id("sch_2", "2026-12-03T09:00:00Z"));
    }
}
