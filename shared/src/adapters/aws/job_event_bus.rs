//! Job state change events on the stack's EventBridge bus (`PutEvents`, source `courier`,
//! detail-type `Courier Job State Change`), and the table's stream records read as the claim
//! changes they are.

use crate::application::job_events::ClaimChange;
use crate::application::ports::{JobEventBus, PortError};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use courier_protocol::events::{DETAIL_TYPE, JobStateChange, SOURCE};
use std::collections::HashMap;

pub struct EventBridgeJobEvents {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeJobEvents {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl JobEventBus for EventBridgeJobEvents {
    async fn publish(&self, events: &[JobStateChange]) -> Result<usize, PortError> {
        let entries = events.iter().map(|event| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus)
                .source(SOURCE)
                .detail_type(DETAIL_TYPE)
                .detail(serde_json::to_string(event).expect("serialisable"))
                .build()
        });
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .map_err(|e| super::port_error("events:PutEvents(job events)", e))?;
        // Entries answer in order; the first with an error code is the first not published.
        Ok(output
            .entries()
            .iter()
            .position(|entry| entry.error_code().is_some())
            .unwrap_or(events.len()))
    }
}

/// A stream record's images as the claim adapter reads items.
fn claim_of(image: &serde_dynamo::Item) -> Option<crate::domain::Claim> {
    if image.is_empty() {
        return None;
    }
    let item: HashMap<String, AttributeValue> = image.clone().into();
    super::dynamo_claims::claim_from_item(&item)
}

/// The claim changes among a stream batch's records (others — endpoints, quotas, request
/// counts — are not claims), in order. An image that does not read as a claim counts as none.
pub fn claim_changes(event: &Event) -> Vec<ClaimChange> {
    event.records.iter().filter_map(claim_change).collect()
}

fn claim_change(record: &EventRecord) -> Option<ClaimChange> {
    let keys = &record.change.keys;
    let is_claim = matches!(
        keys.get("pk"),
        Some(serde_dynamo::AttributeValue::S(pk)) if pk.starts_with("JOB#")
    );
    if !is_claim {
        return None;
    }
    Some(ClaimChange {
        position: record.change.sequence_number.clone().unwrap_or_default(),
        before: claim_of(&record.change.old_image),
        after: claim_of(&record.change.new_image),
    })
}
