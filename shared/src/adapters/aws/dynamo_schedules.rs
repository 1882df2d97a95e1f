//! Callers' recurring schedules (`SCHEDULE#<id>`) in the same table: the owner, the expression
//! and time zone, the job (as JSON), paused or not; listed among the owner's (`ByOwner`).

use super::{condition_held, port_error, s};
use crate::application::clock::{parse_rfc3339, rfc3339};
use crate::application::ports::{ListPosition, Page, PortError, ScheduleStore};
use crate::domain::Principal;
use crate::domain::schedule::{Expression, Schedule, ScheduleId};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

pub struct DynamoSchedules {
    client: Client,
    table: String,
}

impl DynamoSchedules {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn pk(id: &ScheduleId) -> AttributeValue {
        s(format!("SCHEDULE#{id}"))
    }
}

fn schedule_from(item: &Item) -> Option<Schedule> {
    let text = |name: &str| item.get(name)?.as_s().ok().map(String::as_str);
    Some(Schedule {
        id: ScheduleId::parse(text("pk")?.strip_prefix("SCHEDULE#")?).ok()?,
        owner: Principal::parse_key(text("owner")?)?,
        expression: Expression::parse(text("expression")?).ok()?,
        timezone: text("timezone")?.to_owned(),
        job: serde_json::from_str(text("job")?).ok()?,
        paused: *item.get("paused")?.as_bool().ok()?,
        created_at: parse_rfc3339(text("createdAt")?)?,
    })
}

#[async_trait]
impl ScheduleStore for DynamoSchedules {
    async fn create(&self, schedule: &Schedule) -> Result<(), PortError> {
        let created = rfc3339(schedule.created_at);
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::pk(&schedule.id))
            .item("kind", s("schedule"))
            .item("owner", s(schedule.owner.key()))
            .item("expression", s(schedule.expression.as_str()))
            .item("timezone", s(&schedule.timezone))
            .item(
                "job",
                s(serde_json::to_string(&schedule.job).expect("JSON")),
            )
            .item("paused", AttributeValue::Bool(schedule.paused))
            .item("createdAt", s(&created))
            .item(
                super::listing::LISTED_AT,
                s(super::listing::key(
                    super::listing::Listed::Schedules,
                    &created,
                    schedule.id.as_str(),
                )),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| port_error("dynamodb:PutItem(schedule)", e))?;
        Ok(())
    }

    async fn get(&self, id: &ScheduleId) -> Result<Option<Schedule>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(schedule)", e))?;
        Ok(output.item().and_then(schedule_from))
    }

    async fn set_paused(
        &self,
        id: &ScheduleId,
        owner: &Principal,
        paused: bool,
    ) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .update_expression("SET paused = :paused")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner.key()))
            .expression_attribute_values(":paused", AttributeValue::Bool(paused))
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(schedule)", result)
    }

    async fn delete(&self, id: &ScheduleId, owner: &Principal) -> Result<bool, PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner.key()))
            .send()
            .await;
        condition_held("dynamodb:DeleteItem(schedule)", result)
    }

    async fn list(
        &self,
        owner: &Principal,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<Page<Schedule>, PortError> {
        let admit = |item: &Item| schedule_from(item).filter(|e| &e.owner == owner);
        let query = super::listing::ListQuery {
            kind: super::listing::Listed::Schedules,
            owner,
            from: None,
            until: None,
            admit: &admit,
            fields: &[],
            after,
            limit,
        };
        let (items, next) = super::listing::page(&self.client, &self.table, query).await?;
        Ok(Page { items, next })
    }
}
