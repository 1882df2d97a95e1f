//! `courier quotas`: an operator's limits for one caller, kept in the stack's table as the item
//! `courier_protocol::quota` spells, which the functions read (at most a minute late). A limit
//! left unset is the deployment's (the `Quota*` template parameters). A caller is named by the
//! issuer and subject of their tokens.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use courier_client::principal::Principal;
use courier_client::quota::{LIMIT_NAMES as LIMITS, own_limits_key as key};
use serde_json::{Map, Value, json};

/// One caller's own limits: those set (a limit left out is the deployment's).
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct Own {
    /// Jobs accepted and not yet ended.
    #[arg(long)]
    pub jobs_in_flight: Option<u32>,
    /// Requests per second over both APIs.
    #[arg(long)]
    pub requests_per_second: Option<u32>,
    /// Open WebSocket connections.
    #[arg(long)]
    pub connections: Option<u32>,
    /// Registered webhook endpoints.
    #[arg(long)]
    pub webhook_endpoints: Option<u32>,
}

impl Own {
    fn values(&self) -> [(&'static str, Option<u32>); 4] {
        let [jobs, requests, connections, endpoints] = LIMITS;
        [
            (jobs, self.jobs_in_flight),
            (requests, self.requests_per_second),
            (connections, self.connections),
            (endpoints, self.webhook_endpoints),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.values().iter().all(|(_, v)| v.is_none())
    }
}

pub struct Table {
    pub client: Client,
    pub name: String,
}

fn describe(error: impl std::error::Error + 'static) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string()
}

impl Table {
    /// Sets the limits given, keeping the others as they were.
    pub async fn set(&self, caller: &Principal, own: &Own) -> Result<(), String> {
        let mut update = vec!["caller = :caller".to_owned()];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(key(caller)))
            .expression_attribute_values(":caller", AttributeValue::S(caller.key()));
        for (name, value) in own.values() {
            if let Some(value) = value {
                update.push(format!("{name} = :{name}"));
                request = request.expression_attribute_values(
                    format!(":{name}"),
                    AttributeValue::N(value.to_string()),
                );
            }
        }
        request
            .update_expression(format!("SET {}", update.join(", ")))
            .send()
            .await
            .map_err(describe)?;
        Ok(())
    }

    /// The caller's own limits, `null` where unset.
    pub async fn show(&self, caller: &Principal) -> Result<Value, String> {
        let read = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(key(caller)))
            .consistent_read(true)
            .send()
            .await
            .map_err(describe)?;
        let item = read.item().cloned().unwrap_or_default();
        let mut limits = Map::new();
        for name in LIMITS {
            let value = item
                .get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok());
            limits.insert(name.to_owned(), json!(value));
        }
        Ok(json!({"caller": caller.key(), "own": limits}))
    }

    /// Back to the deployment's limits.
    pub async fn clear(&self, caller: &Principal) -> Result<(), String> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(key(caller)))
            .send()
            .await
            .map_err(describe)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_item_is_named_by_their_tag() {
        use super::key;
        let caller = Principal::new("https://issuer.example", "alice");
        let key = key(&caller);
        let tag = key.strip_prefix("LIMITS#").unwrap();
        assert_eq!(tag.len(), 32);
        assert_eq!(tag, caller.tag());
        assert!(Own::default().is_empty());
    }
}
