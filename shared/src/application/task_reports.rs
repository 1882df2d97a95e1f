//! Reports from workers that finish later (`POST /v1/tasks/report`): the task token names the
//! job's attempt and proves itself against the claim in the write itself; a progress report
//! reaches the claim and the job's WebSocket client like a compiled job's, and a reported
//! outcome is settled by the processor, told through a task check on the work queue.

use crate::application::frames::{Draft, FrameSender};
use crate::application::ports::{PortError, ReportAnswer, ReportRefusal, TaskChecks, TaskLedger};
use crate::domain::TaskToken;
use courier_protocol::frames::FrameKind;
use courier_protocol::queue::TaskCheck;
use courier_protocol::task::TaskReport;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A report that was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub job_id: String,
    pub attempt: u32,
}

pub struct TaskReports {
    ledger: Arc<dyn TaskLedger>,
    checks: Arc<dyn TaskChecks>,
    frames: Option<FrameSender>,
}

impl TaskReports {
    pub fn new(
        ledger: Arc<dyn TaskLedger>,
        checks: Arc<dyn TaskChecks>,
        frames: Option<FrameSender>,
    ) -> Self {
        Self {
            ledger,
            checks,
            frames,
        }
    }

    /// Takes `report` for the attempt `token` names, or says why not (nothing changed then).
    pub async fn report(
        &self,
        token: &str,
        report: &TaskReport,
    ) -> Result<Result<Taken, ReportRefusal>, PortError> {
        let Ok(token) = TaskToken::parse(token) else {
            return Ok(Err(ReportRefusal::Unknown));
        };
        let (claim, settle) = match self.ledger.report(&token, report).await? {
            ReportAnswer::Recorded { claim, settle } => (claim, settle),
            ReportAnswer::Refused(refusal) => return Ok(Err(refusal)),
        };
        let correlation_id = claim
            .as_ref()
            .map(|c| c.correlation_id.to_string())
            .unwrap_or_default();
        if settle {
            // Told now rather than at the attempt's next timer; if this send fails, the worker's
            // retried report (the same outcome is taken again) or the timer settles it.
            let check = TaskCheck {
                job_id: token.job_id.to_string(),
                attempt: token.attempt,
                correlation_id: correlation_id.clone(),
                due: None,
            };
            self.checks.schedule(&check, Duration::ZERO).await?;
        }
        if let (TaskReport::Progress { percent, message }, Some(frames), Some(claim)) =
            (report, &self.frames, &claim)
            && let Some(to) = &claim.reply_to
        {
            let mut data = json!({"percent": percent});
            if let Some(message) = message {
                data["message"] = json!(message);
            }
            let draft = Draft {
                request_id: Some(to.request_id.clone()),
                kind: FrameKind::Progress,
                job_id: None,
                correlation_id: None,
                data,
                held: None,
            }
            .for_job(&token.job_id.to_string(), &correlation_id);
            // Best effort, as a compiled job's progress: the claim keeps it.
            if let Err(error) = frames
                .send(&to.connection_id, claim.owner.as_ref(), draft)
                .await
            {
                tracing::warn!(%error, "progress frame not sent");
            }
        }
        Ok(Ok(Taken {
            job_id: token.job_id.to_string(),
            attempt: token.attempt,
        }))
    }
}
