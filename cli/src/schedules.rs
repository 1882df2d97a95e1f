//! `courier schedules`: the caller's recurring schedules, each run a job of its own.

use crate::Stop;
use crate::output::Format;
use clap::Subcommand;
use courier_client::{CallbackSpec, Client, NewSchedule, ScheduledJob};
use serde_json::json;

#[derive(Subcommand)]
pub enum ScheduleAction {
    /// Make a schedule (POST /v1/schedules): each firing runs TYPE on PAYLOAD.
    Create {
        /// rate(1 hour), cron(0 9 * * ? *): EventBridge Scheduler's expressions.
        #[arg(long)]
        expression: String,
        /// The IANA time zone the expression is read in (default UTC), e.g. Europe/Paris.
        #[arg(long)]
        timezone: Option<String>,
        #[arg(value_name = "TYPE")]
        job_type: String,
        /// JSON, @FILE or - (standard input); default null.
        #[arg(value_name = "PAYLOAD")]
        payload: Option<String>,
        /// Deliver each run's outcome to this endpoint (ep_…) or destination (dst_…) of yours.
        #[arg(long, value_name = "ID")]
        callback: Option<String>,
    },
    /// Your schedules, newest first.
    List,
    Show {
        id: String,
    },
    /// No more runs until resumed.
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    /// No more runs; the schedule is gone (its runs stay your jobs).
    Delete {
        id: String,
    },
}

pub async fn run(client: &Client, action: ScheduleAction, format: Format) -> Result<(), Stop> {
    let failed = Stop::Client;
    let shown = match action {
        ScheduleAction::Create {
            expression,
            timezone,
            job_type,
            payload,
            callback,
        } => {
            let payload = crate::payload::read(payload.as_deref()).map_err(Stop::Usage)?;
            let callback = callback.map(|id| match id.starts_with("dst_") {
                true => CallbackSpec::destination(id),
                false => CallbackSpec::endpoint(id),
            });
            let new = NewSchedule {
                expression,
                timezone,
                job: ScheduledJob {
                    job_type,
                    payload,
                    callback,
                },
            };
            client.create_schedule(&new).await.map_err(failed)?
        }
        ScheduleAction::Show { id } => client.schedule(&id).await.map_err(failed)?,
        ScheduleAction::Pause { id } => client
            .set_schedule_paused(&id, true)
            .await
            .map_err(failed)?,
        ScheduleAction::Resume { id } => client
            .set_schedule_paused(&id, false)
            .await
            .map_err(failed)?,
        ScheduleAction::List => {
            let mut schedules = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = client
                    .list_schedules(cursor.as_deref())
                    .await
                    .map_err(failed)?;
                schedules.extend(page.schedules);
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            format.value(&json!({ "schedules": schedules }));
            return Ok(());
        }
        ScheduleAction::Delete { id } => {
            client.delete_schedule(&id).await.map_err(failed)?;
            match format {
                Format::Text => eprintln!("schedule {id} deleted"),
                Format::Json => format.value(&json!({"id": id, "deleted": true})),
            }
            return Ok(());
        }
    };
    format.value(&serde_json::to_value(&shown).expect("serialisable"));
    Ok(())
}
