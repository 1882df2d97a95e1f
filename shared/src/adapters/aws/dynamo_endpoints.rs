//! Webhook endpoints and destinations (`ENDPOINT#<id>`) in the same table as claims: the owner,
//! the URL (`url`) or the queue's or bus's ARN (`sqs`, `eventBridge`), and the sealed signing
//! secrets (ciphertext from the key service; never the secrets themselves).

use super::{condition_held, n, port_error, s};
use crate::application::clock::{parse_rfc3339, rfc3339};
use crate::application::ports::{ListPosition, Page, PortError, WebhookEndpointStore};
use crate::domain::{
    CallbackTarget, EndpointId, EndpointKind, Principal, ResourceArn, SealedSecret, SigningSecret,
    WebhookEndpoint,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoWebhookEndpoints {
    client: Client,
    table: String,
}

impl DynamoWebhookEndpoints {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn pk(id: &EndpointId) -> AttributeValue {
        s(format!("ENDPOINT#{id}"))
    }
}

fn secrets_value(secrets: &[SigningSecret]) -> AttributeValue {
    AttributeValue::L(
        secrets
            .iter()
            .map(|secret| {
                let mut map = HashMap::from([
                    (
                        "sealed".to_owned(),
                        AttributeValue::B(Blob::new(secret.sealed.0.clone())),
                    ),
                    ("createdAt".to_owned(), s(rfc3339(secret.created_at))),
                ]);
                if let Some(end) = secret.expires_at {
                    map.insert("expiresAt".to_owned(), s(rfc3339(end)));
                }
                AttributeValue::M(map)
            })
            .collect(),
    )
}

fn secret_from(value: &AttributeValue) -> Option<SigningSecret> {
    let map = value.as_m().ok()?;
    let instant = |name: &str| map.get(name)?.as_s().ok().and_then(|t| parse_rfc3339(t));
    Some(SigningSecret {
        sealed: SealedSecret(map.get("sealed")?.as_b().ok()?.as_ref().to_vec()),
        created_at: instant("createdAt")?,
        expires_at: instant("expiresAt"),
    })
}

/// The attribute a target is kept in, and its text.
fn target_attribute(target: &CallbackTarget) -> (&'static str, String) {
    match target {
        CallbackTarget::Url(url) => ("url", url.clone()),
        CallbackTarget::Queue(arn) => ("sqs", arn.to_string()),
        CallbackTarget::EventBus(arn) => ("eventBridge", arn.to_string()),
    }
}

fn target_from(item: &Item) -> Option<CallbackTarget> {
    let text = |name: &str| item.get(name)?.as_s().ok().map(String::as_str);
    if let Some(url) = text("url") {
        return Some(CallbackTarget::Url(url.to_owned()));
    }
    if let Some(arn) = text("sqs") {
        return ResourceArn::queue(arn).ok().map(CallbackTarget::Queue);
    }
    ResourceArn::event_bus(text("eventBridge")?)
        .ok()
        .map(CallbackTarget::EventBus)
}

fn listed(kind: EndpointKind) -> super::listing::Listed {
    match kind {
        EndpointKind::Webhook => super::listing::Listed::Endpoints,
        EndpointKind::Destination => super::listing::Listed::Destinations,
    }
}

/// Maps a stored item back to an endpoint; `None` if it is not a well-formed one.
fn endpoint_from(item: &Item) -> Option<WebhookEndpoint> {
    let text = |name: &str| item.get(name)?.as_s().ok().map(String::as_str);
    let id = EndpointId::parse(text("pk")?.strip_prefix("ENDPOINT#")?).ok()?;
    let target = target_from(item)?;
    // A URL for a webhook endpoint, a queue or a bus for a destination: never crossed.
    if (id.kind() == EndpointKind::Webhook) != target.url().is_some() {
        return None;
    }
    Some(WebhookEndpoint {
        id,
        owner: Principal::parse_key(text("owner")?)?,
        target,
        created_at: parse_rfc3339(text("createdAt")?)?,
        secrets: item
            .get("secrets")?
            .as_l()
            .ok()?
            .iter()
            .map(secret_from)
            .collect::<Option<_>>()?,
        revision: item.get("revision")?.as_n().ok()?.parse().ok()?,
    })
}

#[async_trait]
impl WebhookEndpointStore for DynamoWebhookEndpoints {
    async fn create(&self, endpoint: &WebhookEndpoint) -> Result<(), PortError> {
        let (attribute, target) = target_attribute(&endpoint.target);
        let kind = endpoint.id.kind();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::pk(&endpoint.id))
            .item(
                "kind",
                s(match kind {
                    EndpointKind::Webhook => "webhook-endpoint",
                    EndpointKind::Destination => "destination",
                }),
            )
            .item("owner", s(endpoint.owner.key()))
            .item(attribute, s(target))
            .item("createdAt", s(rfc3339(endpoint.created_at)))
            // Listed among its owner's endpoints or destinations (the `ByOwner` index).
            .item(
                super::listing::LISTED_AT,
                s(super::listing::key(
                    listed(kind),
                    &rfc3339(endpoint.created_at),
                    endpoint.id.as_str(),
                )),
            )
            .item("secrets", secrets_value(&endpoint.secrets))
            .item("revision", n(endpoint.revision))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| port_error("dynamodb:PutItem(endpoint)", e))?;
        Ok(())
    }

    async fn get(&self, id: &EndpointId) -> Result<Option<WebhookEndpoint>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::pk(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:GetItem(endpoint)", e))?;
        Ok(output.item().and_then(|item| {
            let endpoint = endpoint_from(item);
            if endpoint.is_none() {
                tracing::error!(endpoint_id = %id, "stored endpoint unreadable");
            }
            endpoint
        }))
    }

    async fn replace_secrets(&self, endpoint: &WebhookEndpoint) -> Result<bool, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::pk(&endpoint.id))
            .update_expression("SET secrets = :secrets, revision = :next")
            .condition_expression("revision = :current")
            .expression_attribute_values(":secrets", secrets_value(&endpoint.secrets))
            .expression_attribute_values(":next", n(endpoint.revision))
            .expression_attribute_values(":current", n(endpoint.revision.saturating_sub(1)))
            .send()
            .await;
        condition_held("dynamodb:UpdateItem(endpoint secrets)", result)
    }

    async fn delete(&self, id: &EndpointId, owner: &Principal) -> Result<bool, PortError> {
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
        condition_held("dynamodb:DeleteItem(endpoint)", result)
    }

    async fn list(
        &self,
        owner: &Principal,
        kind: EndpointKind,
        after: Option<&ListPosition>,
        limit: usize,
    ) -> Result<Page<WebhookEndpoint>, PortError> {
        let admit =
            |item: &Item| endpoint_from(item).filter(|e| &e.owner == owner && e.id.kind() == kind);
        let query = super::listing::ListQuery {
            kind: listed(kind),
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_endpoint_reads_back_as_it_was_written() {
        let now = datetime!(2026-11-30 12:00 UTC);
        let mut endpoint = WebhookEndpoint::new(
            EndpointId::generate(EndpointKind::Webhook),
            Principal::new("https://issuer.example", "alice"),
            CallbackTarget::Url("https://example.com/hook".into()),
            SealedSecret(vec![1, 2, 3]),
            now,
        );
        endpoint
            .rotate(
                SealedSecret(vec![4, 5]),
                std::time::Duration::from_secs(60),
                now,
            )
            .unwrap();
        let item: Item = HashMap::from([
            ("pk".to_owned(), DynamoWebhookEndpoints::pk(&endpoint.id)),
            ("owner".to_owned(), s(endpoint.owner.key())),
            ("url".to_owned(), s("https://example.com/hook")),
            ("createdAt".to_owned(), s(rfc3339(endpoint.created_at))),
            ("secrets".to_owned(), secrets_value(&endpoint.secrets)),
            ("revision".to_owned(), n(endpoint.revision)),
        ]);
        assert_eq!(endpoint_from(&item), Some(endpoint));
        let mut claim_like = item.clone();
        claim_like.insert("pk".to_owned(), s("JOB#x"));
        assert_eq!(endpoint_from(&claim_like), None);
        let mut crossed = item.clone();
        crossed.remove("url");
        crossed.insert(
            "sqs".to_owned(),
            s("arn:aws:sqs:us-east-1:123456789012:results"),
        );
        assert_eq!(
            endpoint_from(&crossed),
            None,
            "an ep_ id never names a queue"
        );
    }

    #[test]
    fn a_destination_reads_back_as_it_was_written() {
        let now = datetime!(2026-12-03 12:00 UTC);
        for target in [
            CallbackTarget::Queue(
                ResourceArn::queue("arn:aws:sqs:us-east-1:123456789012:results").unwrap(),
            ),
            CallbackTarget::EventBus(
                ResourceArn::event_bus("arn:aws:events:us-east-1:123456789012:event-bus/b")
                    .unwrap(),
            ),
        ] {
            let destination = WebhookEndpoint::new(
                EndpointId::generate(EndpointKind::Destination),
                Principal::new("https://issuer.example", "alice"),
                target.clone(),
                SealedSecret(vec![1]),
                now,
            );
            let (attribute, text) = target_attribute(&target);
            let item: Item = HashMap::from([
                ("pk".to_owned(), DynamoWebhookEndpoints::pk(&destination.id)),
                ("owner".to_owned(), s(destination.owner.key())),
                (attribute.to_owned(), s(text)),
                ("createdAt".to_owned(), s(rfc3339(now))),
                ("secrets".to_owned(), secrets_value(&destination.secrets)),
                ("revision".to_owned(), n(0)),
            ]);
            assert_eq!(endpoint_from(&item), Some(destination));
        }
    }
}
