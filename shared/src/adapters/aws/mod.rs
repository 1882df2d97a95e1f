//! Adapters from courier's ports to SQS and DynamoDB.

mod callback_start;
mod connections_api;
mod dynamo_claims;
mod dynamo_connections;
mod dynamo_idempotency;
mod dynamo_ledger;
mod sqs;

pub use callback_start::QueuedCallbackStarter;
pub use connections_api::ApiGatewayConnectionPoster;
pub use dynamo_claims::DynamoClaimStore;
pub use dynamo_connections::DynamoConnectionStore;
pub use dynamo_idempotency::DynamoIdempotencyStore;
pub use dynamo_ledger::DynamoMessageLedger;
pub use sqs::{SqsDeadLetterQueue, SqsRetryScheduler, SqsWorkQueue};

use crate::application::ports::PortError;
use aws_sdk_dynamodb::types::AttributeValue;

/// Wraps any SDK error with the full chain of causes, which `Display` alone hides.
pub(crate) fn port_error<E>(operation: &'static str, error: E) -> PortError
where
    E: std::error::Error + 'static,
{
    PortError::new(
        operation,
        aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string(),
    )
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Epoch seconds for DynamoDB's TTL attribute.
pub(crate) fn ttl_after(now: time::OffsetDateTime, keep: std::time::Duration) -> AttributeValue {
    n(now.unix_timestamp() + keep.as_secs() as i64)
}
