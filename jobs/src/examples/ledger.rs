use crate::{JobContext, JobError, JobType};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `ledger`: books an amount to an account in a DynamoDB table, the way a team's own job type
/// calls a system of its own. The entry is keyed by the job's downstream idempotency key, so a
/// retried attempt finds its own earlier booking instead of booking twice.
///
/// `failAttempts` makes the first attempts fail transiently *after* booking: the case the key
/// exists for (the work was done, the attempt still failed).
pub struct Ledger {
    aws: aws_config::SdkConfig,
    /// Built on the first run: the doors register the type too, and never run it.
    client: std::sync::OnceLock<Client>,
    table: String,
}

impl Ledger {
    /// Keeps the function's shared configuration; the client is built and connects on first use.
    pub fn new(aws: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            aws: aws.clone(),
            client: std::sync::OnceLock::new(),
            table: table.into(),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| Client::new(&self.aws))
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerInput {
    /// The account to book to.
    #[schemars(length(min = 1, max = 64))]
    pub account: String,
    /// The amount, in cents (negative for a debit).
    pub amount_cents: i64,
    /// Attempts that fail (transiently) after booking, to show retries are safe.
    #[serde(default)]
    #[schemars(range(max = 4))]
    pub fail_attempts: u32,
    /// How long the downstream call takes, in milliseconds (a slow system of record).
    #[serde(default)]
    #[schemars(range(max = 5000))]
    pub hold_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    /// The entry's id: the job's downstream idempotency key.
    pub entry_id: String,
    /// Whether an earlier attempt of this job had booked it already.
    pub already_booked: bool,
    pub attempt: u32,
}

#[async_trait]
impl JobType for Ledger {
    const NAME: &'static str = "ledger";
    type Input = LedgerInput;
    type Output = LedgerEntry;

    async fn run(
        &self,
        input: LedgerInput,
        context: &JobContext<'_>,
    ) -> Result<LedgerEntry, JobError> {
        let entry_id = context.idempotency_key();
        let booked = self
            .client()
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("LEDGER#{entry_id}")))
            .item("kind", AttributeValue::S("ledger-entry".into()))
            .item("account", AttributeValue::S(input.account))
            .item(
                "amountCents",
                AttributeValue::N(input.amount_cents.to_string()),
            )
            .item("jobId", AttributeValue::S(context.job_id.to_owned()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let already_booked = match booked {
            Ok(_) => false,
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => true,
                other => return Err(JobError::transient(format!("ledger unavailable: {other}"))),
            },
        };
        // Every run is counted on the entry, so a run twice would show.
        self.client()
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("LEDGER#{entry_id}")))
            .update_expression("ADD runs :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| JobError::transient(format!("ledger unavailable: {e}")))?;
        tokio::time::sleep(std::time::Duration::from_millis(input.hold_ms)).await;
        if context.attempt <= input.fail_attempts {
            return Err(JobError::transient(format!(
                "ledger: planned failure after booking, attempt {} of {}",
                context.attempt, input.fail_attempts
            )));
        }
        Ok(LedgerEntry {
            entry_id,
            already_booked,
            attempt: context.attempt,
        })
    }
}
