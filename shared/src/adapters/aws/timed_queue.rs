//! Work held back until a time: SQS holds a message up to 15 minutes (its delay); further
//! ahead, an EventBridge Scheduler one-time schedule (`at(…)`, UTC, deleted after it fires)
//! sends the same message to the same queue when its time comes.

use super::SqsWorkQueue;
use crate::application::ports::{PortError, WorkQueue};
use crate::domain::WorkMessage;
use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};

/// A message as a schedule's input: the scheduler fills in every `<aws.scheduler.…>` it finds,
/// a caller's payload's too, so each `<` is written as its JSON escape (the same JSON) but in
/// the one placeholder courier means.
fn scheduler_input(json: &str) -> String {
    const FIRING: &str = "<aws.scheduler.scheduled-time>";
    let escaped = super::sqs_text::json_body(json).replace('<', "\\u003c");
    escaped.replace(&FIRING.replace('<', "\\u003c"), FIRING)
}

/// Scheduler's window off: a schedule fires at its time, not within a window after it.
fn on_time() -> Result<FlexibleTimeWindow, aws_sdk_scheduler::error::BuildError> {
    FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
}

/// Where a firing the scheduler could not deliver goes.
fn dead_letters(arn: Option<&String>) -> Option<aws_sdk_scheduler::types::DeadLetterConfig> {
    arn.map(|arn| {
        aws_sdk_scheduler::types::DeadLetterConfig::builder()
            .arn(arn)
            .build()
    })
}

/// SQS's longest message delay.
const SQS_MAX_DELAY: u32 = 900;

/// One-time schedules in the stack's schedule group, each sending one work message.
pub struct OneTimeSchedules {
    client: aws_sdk_scheduler::Client,
    /// The stack's schedule group.
    group: String,
    /// The role Scheduler sends as (it may send to the work queue only).
    role_arn: String,
    queue_arn: String,
    dead_letter_arn: Option<String>,
}

impl OneTimeSchedules {
    pub fn new(
        client: aws_sdk_scheduler::Client,
        group: impl Into<String>,
        role_arn: impl Into<String>,
        queue_arn: impl Into<String>,
        dead_letter_arn: Option<String>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
            queue_arn: queue_arn.into(),
            dead_letter_arn,
        }
    }

    /// `envelope` sent to the queue `delay_seconds` from now. A retry of the same work finds
    /// its schedule made already: that is success (one schedule per work id).
    async fn schedule(&self, envelope: &WorkMessage, delay_seconds: u32) -> Result<(), PortError> {
        let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(delay_seconds.into());
        let expression = format!(
            "at({:04}-{:02}-{:02}T{:02}:{:02}:{:02})",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        let target = Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.role_arn)
            .input(scheduler_input(&envelope.to_json()))
            .set_dead_letter_config(dead_letters(self.dead_letter_arn.as_ref()))
            .build()
            .map_err(|e| PortError::new("scheduler:CreateSchedule", e.to_string()))?;
        let window =
            on_time().map_err(|e| PortError::new("scheduler:CreateSchedule", e.to_string()))?;
        let made = self
            .client
            .create_schedule()
            .name(format!("run-{}", envelope.message_id))
            .group_name(&self.group)
            .schedule_expression(expression)
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .action_after_completion(ActionAfterCompletion::Delete)
            .target(target)
            .send()
            .await;
        match made {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(super::port_error("scheduler:CreateSchedule", error)),
        }
    }
}

/// The work queue, with work held back past SQS's delay scheduled instead.
pub struct TimedWorkQueue {
    pub queue: SqsWorkQueue,
    pub schedules: OneTimeSchedules,
    /// Held back longer than this (and always past 900 s), work is scheduled.
    pub schedule_after: u32,
}

#[async_trait]
impl WorkQueue for TimedWorkQueue {
    async fn enqueue(&self, envelope: &WorkMessage, delay_seconds: u32) -> Result<(), PortError> {
        if delay_seconds <= self.schedule_after.min(SQS_MAX_DELAY) {
            return self.queue.enqueue(envelope, delay_seconds).await;
        }
        self.schedules.schedule(envelope, delay_seconds).await
    }
}

/// Callers' recurring schedules in the stack's group (named by their ids), each firing a
/// [`courier_protocol::queue::ScheduleRun`] with the whole job onto the work queue.
pub struct RecurringSchedules {
    pub client: aws_sdk_scheduler::Client,
    pub group: String,
    pub role_arn: String,
    pub queue_arn: String,
    /// Where a firing the scheduler could not deliver goes (none: the scheduler drops it).
    pub dead_letter_arn: Option<String>,
}

impl RecurringSchedules {
    fn state(
        schedule: &crate::domain::schedule::Schedule,
    ) -> aws_sdk_scheduler::types::ScheduleState {
        match schedule.paused {
            true => aws_sdk_scheduler::types::ScheduleState::Disabled,
            false => aws_sdk_scheduler::types::ScheduleState::Enabled,
        }
    }

    fn target(
        &self,
        schedule: &crate::domain::schedule::Schedule,
    ) -> Result<Target, aws_sdk_scheduler::error::BuildError> {
        Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.role_arn)
            .input(Self::input(schedule))
            .set_dead_letter_config(dead_letters(self.dead_letter_arn.as_ref()))
            .build()
    }

    /// What a schedule sends at each firing (the scheduler fills in the firing's time).
    pub fn input(schedule: &crate::domain::schedule::Schedule) -> String {
        let run = courier_protocol::queue::QueueMessage::ScheduleRun(
            courier_protocol::queue::ScheduleRun {
                schedule_id: schedule.id.to_string(),
                owner: schedule.owner.clone(),
                job: schedule.job.clone(),
                scheduled_at: "<aws.scheduler.scheduled-time>".into(),
            },
        );
        scheduler_input(&run.to_json())
    }
}

#[async_trait]
impl crate::application::ports::RecurringScheduler for RecurringSchedules {
    async fn put(
        &self,
        schedule: &crate::domain::schedule::Schedule,
    ) -> Result<crate::application::ports::Definition, PortError> {
        use crate::application::ports::Definition;
        let operation = "scheduler:CreateSchedule";
        let build =
            |e: aws_sdk_scheduler::error::BuildError| PortError::new(operation, e.to_string());
        let target = self.target(schedule).map_err(build)?;
        let window = on_time().map_err(build)?;
        let state = Self::state(schedule);
        let made = self
            .client
            .create_schedule()
            .name(schedule.id.as_str())
            .group_name(&self.group)
            .schedule_expression(schedule.expression.as_str())
            .schedule_expression_timezone(&schedule.timezone)
            .flexible_time_window(window)
            .state(state)
            .target(target)
            .send()
            .await;
        match made {
            Ok(_) => Ok(Definition::Taken),
            // There already (a retry whose first answer was lost): brought to this definition.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) =>
            {
                self.update(schedule).await.map(|_| Definition::Taken)
            }
            // Its definition (what courier's checks let through, e.g. a time zone name of the
            // right shape that Scheduler does not know): the caller's to mend.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_validation_exception()) =>
            {
                let reason = error
                    .as_service_error()
                    .and_then(|e| e.meta().message())
                    .unwrap_or("the scheduler refused it")
                    .to_owned();
                Ok(Definition::Refused(reason))
            }
            Err(error) => Err(super::port_error(operation, error)),
        }
    }

    async fn update(
        &self,
        schedule: &crate::domain::schedule::Schedule,
    ) -> Result<bool, PortError> {
        let operation = "scheduler:UpdateSchedule";
        let build =
            |e: aws_sdk_scheduler::error::BuildError| PortError::new(operation, e.to_string());
        let target = self.target(schedule).map_err(build)?;
        let window = on_time().map_err(build)?;
        let updated = self
            .client
            .update_schedule()
            .name(schedule.id.as_str())
            .group_name(&self.group)
            .schedule_expression(schedule.expression.as_str())
            .schedule_expression_timezone(&schedule.timezone)
            .flexible_time_window(window)
            .state(Self::state(schedule))
            .target(target)
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(super::port_error(operation, error)),
        }
    }

    async fn delete(&self, id: &crate::domain::schedule::ScheduleId) -> Result<(), PortError> {
        match self
            .client
            .delete_schedule()
            .name(id.as_str())
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(super::port_error("scheduler:DeleteSchedule", error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::{Expression, Schedule, ScheduleId};

    #[test]
    fn a_firing_carries_its_whole_job_and_the_time_the_scheduler_fills_in() {
        let schedule = Schedule {
            id: ScheduleId::generate(),
            owner: crate::domain::Principal::new("https://issuer.example", "alice"),
            expression: Expression::parse("rate(1 hour)").unwrap(),
            timezone: "Europe/Paris".into(),
            job: courier_protocol::rest::ScheduledJob {
                job_type: "echo".into(),
                // A caller's text the scheduler must not fill in.
                payload: serde_json::json!({"a": "<aws.scheduler.execution-id>"}),
                callback: None,
            },
            paused: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let input = RecurringSchedules::input(&schedule);
        assert!(!input.contains("<aws.scheduler.execution-id>"), "{input}");
        assert!(
            input.contains("\"<aws.scheduler.scheduled-time>\""),
            "{input}"
        );
        let Ok(courier_protocol::queue::QueueMessage::ScheduleRun(run)) =
            courier_protocol::queue::QueueMessage::from_json(&input)
        else {
            panic!("a schedule run: {input}");
        };
        assert_eq!(run.schedule_id, schedule.id.to_string());
        assert_eq!(run.owner, schedule.owner);
        assert_eq!(run.job, schedule.job);
        assert_eq!(run.scheduled_at, "<aws.scheduler.scheduled-time>");
    }
}
