//! Adapters from courier's ports to SQS, DynamoDB, KMS, Lambda (declared job types' targets,
//! the notifier's destination probe), EventBridge (destinations) and S3 (the job-types document).

mod callback_start;
mod connections_api;
mod destination_probe;
mod destination_sender;
mod dynamo_claims;
mod dynamo_connections;
mod dynamo_endpoints;
mod dynamo_idempotency;
mod dynamo_ledger;
mod dynamo_quotas;
mod dynamo_schedules;
mod dynamo_tasks;
mod job_event_bus;
mod job_types_object;
mod kms_sealer;
mod lambda_target;
mod listing;
mod s3_blobs;
mod sqs;
mod sqs_text;
mod ssm_target_secrets;
mod timed_queue;
mod timeline;

pub use callback_start::QueuedCallbackStarter;
pub use connections_api::ApiGatewayConnectionPoster;
pub use destination_probe::{NotifierProbe, ProbeAnswer, ProbeRequest};
pub use destination_sender::{DestinationSender, EVENT_SOURCE, SUBJECT_ATTRIBUTE};
pub use dynamo_claims::DynamoClaimStore;
pub use dynamo_connections::DynamoConnectionStore;
pub use dynamo_endpoints::DynamoWebhookEndpoints;
pub use dynamo_idempotency::DynamoIdempotencyStore;
pub use dynamo_ledger::DynamoMessageLedger;
pub use dynamo_quotas::DynamoQuotas;
pub use dynamo_schedules::DynamoSchedules;
pub use job_event_bus::{EventBridgeJobEvents, claim_changes};
pub use job_types_object::read_job_types_object;
pub use kms_sealer::KmsSecretSealer;
pub use lambda_target::LambdaTargets;
pub use s3_blobs::{S3Blobs, s3_client};
pub use sqs::{SqsDeadLetterQueue, SqsRetryScheduler, SqsWorkQueue};
pub use ssm_target_secrets::SsmTargetSecrets;
pub use timed_queue::{OneTimeSchedules, RecurringSchedules, TimedWorkQueue};

use crate::application::ports::PortError;
use aws_sdk_dynamodb::types::AttributeValue;

/// A claim's attribute that says it holds one of its caller's job slots, naming the caller's
/// tag: written with the claim, removed (once) by `DynamoQuotas::release_job`.
pub(crate) const QUOTA_SLOT: &str = "quotaSlot";

/// The slot a claim held once it was given back: a request that took it can tell it was its
/// claim's after all.
pub(crate) const QUOTA_SLOT_GIVEN: &str = "quotaSlotGiven";

/// A number attribute of an item, if present.
pub(crate) fn number_of(
    item: &std::collections::HashMap<String, AttributeValue>,
    name: &str,
) -> Option<u32> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// A record's job status, if it keeps one that parses.
pub(crate) fn status_of(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Option<crate::domain::JobStatus> {
    crate::domain::JobStatus::parse(item.get("status")?.as_s().ok()?)
}

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

/// A conditional write's result: `Ok(true)` if it was made, `Ok(false)` if its condition did
/// not hold, an error otherwise.
pub(crate) fn condition_held<T, E, R>(
    operation: &'static str,
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<bool, PortError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(error) => Err(port_error(operation, error)),
    }
}

/// The longest failure reason a record keeps. A caller's own reason (a `fail` payload) is kept
/// whole — a request body is at most 128 KiB — but a reason can come from outside too (a
/// target's answer, a worker's report), and a record must stay well inside DynamoDB's 400 KB.
pub(crate) const MAX_STORED_REASON_CHARS: usize = 32 * 1024;

/// A reason as a record keeps it: at most [`MAX_STORED_REASON_CHARS`] characters.
pub(crate) fn bounded_reason(reason: &str) -> AttributeValue {
    match reason.char_indices().nth(MAX_STORED_REASON_CHARS) {
        Some((end, _)) => s(format!("{}…", &reason[..end])),
        None => s(reason),
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A condition that an attribute holds one of `values`, with the values it binds: how every
/// transition's "from" states, read from the domain's lifecycle tables, become a DynamoDB
/// condition. `prefix` keeps the placeholders of two such conditions apart.
pub(crate) fn one_of(
    attribute: &str,
    prefix: &str,
    values: &[&'static str],
) -> (String, Vec<(String, AttributeValue)>) {
    let placeholders: Vec<String> = (0..values.len()).map(|i| format!(":{prefix}{i}")).collect();
    let condition = format!("{attribute} IN ({})", placeholders.join(", "));
    let bound = placeholders
        .into_iter()
        .zip(values)
        .map(|(placeholder, value)| (placeholder, s(*value)))
        .collect();
    (condition, bound)
}

/// The spellings of the job states `event` may start from.
pub(crate) fn job_sources(event: crate::domain::JobEvent) -> Vec<&'static str> {
    crate::domain::lifecycle::job::sources(event)
        .into_iter()
        .map(|s| s.as_str())
        .collect()
}

/// The spellings of the callback states `event` may start from.
pub(crate) fn callback_sources(event: crate::domain::CallbackEvent) -> Vec<&'static str> {
    crate::domain::lifecycle::callback::sources(event)
        .into_iter()
        .map(|s| s.as_str())
        .collect()
}

/// `expression` (a SET clause, maybe followed by an ADD or a REMOVE clause) with `clause`
/// (`name = value`) set too.
pub(crate) fn setting_also(expression: &str, clause: &str) -> String {
    for keyword in [" ADD ", " REMOVE "] {
        if let Some((set, rest)) = expression.split_once(keyword) {
            return format!("{set}, {clause}{keyword}{rest}");
        }
    }
    format!("{expression}, {clause}")
}

/// Epoch seconds for DynamoDB's TTL attribute.
pub(crate) fn ttl_after(now: time::OffsetDateTime, keep: std::time::Duration) -> AttributeValue {
    n(now.unix_timestamp() + keep.as_secs() as i64)
}

#[cfg(test)]
mod condition_tests {
    use super::*;
    use crate::domain::lifecycle::{callback, job};
    use crate::domain::{CallbackEvent, JobEvent};

    /// The conditions the adapters send name exactly the table's source states.
    #[test]
    fn conditions_follow_the_lifecycle_tables() {
        for event in JobEvent::ALL {
            let (condition, values) = one_of("#status", "from", &job_sources(event));
            let bound: Vec<_> = values
                .iter()
                .map(|(_, v)| v.as_s().unwrap().clone())
                .collect();
            let table: Vec<_> = job::sources(event)
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            assert_eq!(bound, table, "{event:?}");
            assert_eq!(
                condition.matches(":from").count(),
                table.len(),
                "{condition}"
            );
        }
        for event in CallbackEvent::ALL {
            let bound: Vec<_> = one_of("callbackState", "cb", &callback_sources(event))
                .1
                .iter()
                .map(|(_, v)| v.as_s().unwrap().clone())
                .collect();
            let table: Vec<_> = callback::sources(event)
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            assert_eq!(bound, table, "{event:?}");
        }
        assert_eq!(
            one_of("#status", "from", &["PENDING", "RUNNING"]).0,
            "#status IN (:from0, :from1)"
        );
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[test]
    fn a_stored_reason_is_bounded_on_a_character_boundary() {
        let long = "é".repeat(MAX_STORED_REASON_CHARS + 10);
        let stored = bounded_reason(&long);
        let text = stored.as_s().unwrap();
        assert_eq!(text.chars().count(), MAX_STORED_REASON_CHARS + 1);
        assert!(text.ends_with('…'));
        assert_eq!(bounded_reason("short").as_s().unwrap(), "short");
    }
}
