//! `courier destinations`: the caller's SQS queues and EventBridge buses their callbacks go to.

use crate::output::Format;
use clap::Subcommand;
use courier_client::{Client, ClientError, NewDestination};
use serde_json::json;
use std::time::Duration;

#[derive(Subcommand)]
pub enum DestinationAction {
    /// Register a queue or a bus (POST /v1/destinations) once courier has delivered a signed
    /// verification to it; prints the destination with its secret, which is shown only now.
    Create {
        /// A standard SQS queue's ARN (its policy allows the stack's notifier role to send).
        #[arg(
            long,
            value_name = "QUEUE_ARN",
            conflicts_with = "event_bridge",
            required_unless_present = "event_bridge"
        )]
        sqs: Option<String>,
        /// An EventBridge bus's ARN (its policy allows the notifier role to put events).
        #[arg(long, value_name = "BUS_ARN")]
        event_bridge: Option<String>,
    },
    /// Your destinations, newest first (GET /v1/destinations; never their secrets).
    List,
    /// Show a destination: its queue or bus and when its secrets were made and expire.
    Show { id: String },
    /// Make a new secret (printed, once); the ones signing now keep signing for --grace.
    Rotate {
        id: String,
        /// Seconds the current secrets stay valid beside the new one (0-604800; default 86400).
        #[arg(long, value_name = "SECONDS")]
        grace: Option<u64>,
    },
    /// Delete a destination: callbacks still due to it fail without a delivery.
    Delete { id: String },
}

pub async fn run(
    client: &Client,
    action: DestinationAction,
    format: Format,
) -> Result<(), ClientError> {
    let shown = match action {
        DestinationAction::Create { sqs, event_bridge } => {
            let new = NewDestination { sqs, event_bridge };
            client.create_destination(&new).await?
        }
        DestinationAction::Show { id } => client.destination(&id).await?,
        DestinationAction::Rotate { id, grace } => {
            client
                .rotate_destination_secret(&id, grace.map(Duration::from_secs))
                .await?
        }
        DestinationAction::List => {
            let mut destinations = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = client
                    .list_destinations(Some(100), cursor.as_deref())
                    .await?;
                destinations.extend(page.destinations);
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            format.value(&json!({ "destinations": destinations }));
            return Ok(());
        }
        DestinationAction::Delete { id } => {
            client.delete_destination(&id).await?;
            match format {
                Format::Text => eprintln!("destination {id} deleted"),
                Format::Json => format.value(&json!({"id": id, "deleted": true})),
            }
            return Ok(());
        }
    };
    format.value(&serde_json::to_value(&shown).expect("serialisable"));
    Ok(())
}
