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
}

impl OneTimeSchedules {
    pub fn new(
        client: aws_sdk_scheduler::Client,
        group: impl Into<String>,
        role_arn: impl Into<String>,
        queue_arn: impl Into<String>,
    ) -> Self {
        Self {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
            queue_arn: queue_arn.into(),
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
            .input(super::sqs_text::json_body(&envelope.to_json()))
            .build()
            .map_err(|e| PortError::new("scheduler:CreateSchedule", e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| PortError::new("scheduler:CreateSchedule", e.to_string()))?;
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
