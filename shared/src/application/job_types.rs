//! What a deployment says about its job types: the list `GET /v1/job-types` answers, and the
//! attempt budget each type runs under (one rule for the processor and the listing).

use courier_jobs::Registry;
use courier_jobs::api::{JobSettings, OnTimeout};
use courier_protocol::rest::{self, JobTypeList, JobTypeView};

/// The deployment's retry limits, as its template sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// `MaxAttempts`: a type without its own schedule runs at most this often.
    pub default_max_attempts: u32,
    /// `MaxReceiveCount`: SQS gives up on a message after this many receives, so no type
    /// gets more attempts than that.
    pub max_receive_count: u32,
}

/// Runs of a job of this type at most: its own schedule or the deployment's, never more than
/// the queue has receives, never fewer than one.
pub fn max_attempts(settings: &JobSettings, limits: AttemptLimits) -> u32 {
    settings
        .retry
        .map(|own| own.max_attempts)
        .or(settings.max_attempts)
        .unwrap_or(limits.default_max_attempts)
        .clamp(1, limits.max_receive_count.max(1))
}

/// Every type the registry holds, by name.
pub fn listing(registry: &Registry, limits: AttemptLimits) -> JobTypeList {
    JobTypeList {
        job_types: registry
            .types()
            .map(|job| {
                let settings = job.settings();
                JobTypeView {
                    name: job.name().to_owned(),
                    payload_schema: job.payload_schema().clone(),
                    timeout_seconds: settings.timeout.as_secs(),
                    on_timeout: match settings.on_timeout {
                        OnTimeout::Retry => rest::OnTimeout::Retry,
                        OnTimeout::Fail => rest::OnTimeout::Fail,
                    },
                    max_attempts: max_attempts(settings, limits),
                    max_result_bytes: settings.max_result_bytes,
                    completion: job.completion(),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_jobs::api::RetryPolicy;
    use courier_protocol::rest::Completion;
    use std::time::Duration;

    const LIMITS: AttemptLimits = AttemptLimits {
        default_max_attempts: 5,
        max_receive_count: 20,
    };

    #[test]
    fn a_types_own_schedule_wins_within_the_queues_receives() {
        let own = |n| {
            JobSettings::default().retry(RetryPolicy {
                max_attempts: n,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(2),
            })
        };
        assert_eq!(max_attempts(&JobSettings::default(), LIMITS), 5);
        assert_eq!(max_attempts(&own(3), LIMITS), 3);
        assert_eq!(max_attempts(&own(50), LIMITS), 20, "capped by the receives");
        assert_eq!(max_attempts(&own(0), LIMITS), 1, "at least one run");
        let declared = JobSettings::default().max_attempts(3);
        assert_eq!(
            max_attempts(&declared, LIMITS),
            3,
            "on the deployment's delays"
        );
        assert_eq!(
            max_attempts(&JobSettings::default().max_attempts(99), LIMITS),
            20
        );
    }

    #[test]
    fn every_registered_type_is_listed_with_its_schema_and_settings() {
        let registry = courier_jobs::examples::offline();
        let listed = listing(&registry, LIMITS);
        let names: Vec<&str> = listed.job_types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, registry.names().collect::<Vec<_>>());
        for view in &listed.job_types {
            let job = registry.get(&view.name).unwrap();
            assert_eq!(&view.payload_schema, job.payload_schema());
            assert_eq!(view.timeout_seconds, job.settings().timeout.as_secs());
            assert_eq!(view.completion, Completion::Inline);
        }
    }
}
