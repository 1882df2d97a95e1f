//! WebSocket connection records, `CONN#<connectionId>`: written at `$connect`, removed at
//! `$disconnect` or when a post finds the connection gone, and expired by TTL after API
//! Gateway's 2-hour connection limit in case neither happens (`$disconnect` is best effort).
//! `seq` is the connection's frame counter, taken one at a time by atomic `ADD`.

use super::{n, port_error, s};
use crate::application::clock::Clock;
use crate::application::ports::{Connection, ConnectionStore, PortError};
use crate::domain::Principal;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use std::sync::Arc;

#[derive(Clone)]
pub struct DynamoConnectionStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoConnectionStore {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    fn pk(connection_id: &str) -> aws_sdk_dynamodb::types::AttributeValue {
        s(format!("CONN#{connection_id}"))
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn open(&self, connection: &Connection) -> Result<(), PortError> {
        let mut request = self.client.put_item();
        if let Some(owner) = &connection.owner {
            request = request.item("owner", s(owner.key()));
        }
        request
            .table_name(&self.table)
            .item("pk", Self::pk(&connection.id))
            .item("kind", s("connection"))
            .item("connectionId", s(&connection.id))
            .item(
                "connectedAt",
                s(crate::application::clock::rfc3339(connection.connected_at)),
            )
            .item("seq", n(0))
            .item("ttl", n(connection.expires_at.unix_timestamp()))
            .send()
            .await
            .map_err(|e| port_error("dynamodb:PutItem(connection)", e))?;
        Ok(())
    }

    async fn close(&self, connection_id: &str) -> Result<Option<Principal>, PortError> {
        let removed = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", Self::pk(connection_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:DeleteItem(connection)", e))?;
        Ok(removed
            .attributes()
            .and_then(|old| old.get("owner"))
            .and_then(|owner| owner.as_s().ok())
            .and_then(|key| Principal::parse_key(key)))
    }

    async fn next_seq(
        &self,
        connection_id: &str,
        owner: Option<&Principal>,
    ) -> Result<Option<u64>, PortError> {
        // Never recreate a removed record (ADD alone would), nor count on an expired one, nor
        // number a frame for a connection of another caller.
        let mut condition = "attribute_exists(pk) AND #ttl > :now".to_owned();
        let mut request = self.client.update_item();
        if let Some(owner) = owner {
            condition.push_str(" AND #owner = :owner");
            request = request
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":owner", s(owner.key()));
        }
        let result = request
            .table_name(&self.table)
            .key("pk", Self::pk(connection_id))
            .update_expression("ADD seq :one")
            .condition_expression(condition)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes
                .as_ref()
                .and_then(|a| a.get("seq"))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| PortError::new("dynamodb:UpdateItem(seq)", "no seq returned")),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(port_error("dynamodb:UpdateItem(seq)", other)),
            },
        }
    }
}
