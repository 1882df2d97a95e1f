//! The work-queue consumer: SQS batches (the standard work queue, and the FIFO queue of
//! WebSocket jobs) → job registry → DynamoDB (+ WebSocket frames), partial batch failures back.

use super::settings::ProcessorSettings;
use super::{JobCatalog, frame_sender, load_aws_config, start};
use crate::adapters::aws::SsmTargetSecrets;
use crate::adapters::aws::{
    DynamoMessageLedger, LambdaTargets, QueuedCallbackStarter, SqsDeadLetterQueue,
    SqsRetryScheduler, SqsWorkQueue,
};
use crate::adapters::http_target::HttpTargets;
use crate::application::backoff::RetryPolicy;
use crate::application::clock::{Clock, SystemClock};
use crate::application::consumer::SqsEvent;
use crate::application::ports::WorkQueue;
use crate::application::processor::{Inboxes, Limits, MessageProcessor, Tasks, WorkConsumer};
use courier_jobs::remote::{ByKind, TargetCaller};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::sync::Arc;

/// One processor per work queue, each with its own dead-letter queue and inbox; both send
/// WebSocket frames (a job submitted over HTTP may be resubmitted over WebSocket under the
/// same key: its frames then go where its claim says).
pub fn wire(
    config: &aws_config::SdkConfig,
    settings: &ProcessorSettings,
    jobs: courier_jobs::Registry,
) -> WorkConsumer {
    let sqs = aws_sdk_sqs::Client::new(config);
    let dynamodb = crate::metering::dynamodb_client(config);
    let registry = Arc::new(jobs);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The write that ends a job gives its caller's job slot back.
    let quotas: Arc<dyn crate::application::ports::QuotaStore> =
        Arc::new(crate::adapters::aws::DynamoQuotas::new(
            dynamodb.clone(),
            &settings.table_name,
            settings.claim_lifetime,
        ));
    let ledger = Arc::new(
        DynamoMessageLedger::new(
            dynamodb.clone(),
            &settings.table_name,
            settings.record_ttl,
            clock.clone(),
        )
        .giving_back_slots_to(quotas),
    );
    let retries = Arc::new(SqsRetryScheduler::new(
        sqs.clone(),
        vec![
            settings.work_queue_url.clone(),
            settings.ordered_work_queue_url.clone(),
            settings.task_check_queue_url.clone(),
            settings.dead_letter_inbox_url.clone(),
            settings.ordered_dead_letter_inbox_url.clone(),
        ],
    ));
    let callbacks = Arc::new(QueuedCallbackStarter::new(
        dynamodb.clone(),
        &settings.table_name,
        sqs.clone(),
        &settings.callback_queue_url,
    ));
    let retry = RetryPolicy {
        max_attempts: settings.max_attempts,
        base_delay: settings.retry_base_delay,
        max_delay: settings.retry_max_delay,
    };
    let payloads = super::payloads(config, &settings.payload_bucket);
    // A schedule's firing made a job: written as the intake writes one, with nothing to check
    // (the schedule was checked when it was made) — no idempotency record, endpoint or job
    // slot is read or taken, so the stores for them are never called.
    let schedule_runs = Arc::new(crate::application::intake::Intake {
        registry: registry.clone(),
        queue: Arc::new(SqsWorkQueue::new(sqs.clone(), &settings.work_queue_url)),
        claims: Arc::new(crate::adapters::aws::DynamoClaimStore::new(
            dynamodb.clone(),
            &settings.table_name,
            clock.clone(),
        )),
        idempotency: Arc::new(crate::adapters::aws::DynamoIdempotencyStore::new(
            dynamodb.clone(),
            &settings.table_name,
            std::time::Duration::from_secs(86_400),
            clock.clone(),
        )),
        endpoints: Arc::new(crate::adapters::aws::DynamoWebhookEndpoints::new(
            dynamodb.clone(),
            &settings.table_name,
        )),
        clock: clock.clone(),
        claim_lifetime: settings.claim_lifetime,
        quotas: super::quotas(
            dynamodb.clone(),
            &settings.table_name,
            crate::application::quotas::Limits {
                jobs_in_flight: u32::MAX,
                requests_per_second: u32::MAX,
                connections: u32::MAX,
                webhook_endpoints: u32::MAX,
            },
            clock.clone(),
            settings.claim_lifetime,
        ),
        payloads: Some(payloads.clone()),
    });
    // Work for later takes its caller's job slot as it comes due, against every caller's limits.
    let due_quotas = super::quotas(
        dynamodb.clone(),
        &settings.table_name,
        settings.quota_limits,
        clock.clone(),
        settings.claim_lifetime,
    );
    let due_claims: Arc<dyn crate::application::ports::ClaimStore> =
        Arc::new(crate::adapters::aws::DynamoClaimStore::new(
            dynamodb.clone(),
            &settings.table_name,
            clock.clone(),
        ));
    let due_requeue: Arc<dyn WorkQueue> =
        Arc::new(SqsWorkQueue::new(sqs.clone(), &settings.work_queue_url));
    let processor = |dead_letter_queue_url: &str| {
        MessageProcessor::new(
            registry.clone(),
            ledger.clone(),
            Arc::new(SqsDeadLetterQueue::new(sqs.clone(), dead_letter_queue_url)),
            retries.clone(),
            callbacks.clone(),
            Limits {
                retry,
                max_receive_count: settings.max_receive_count,
                claim_lifetime: settings.claim_lifetime,
            },
            clock.clone(),
        )
        .with_due_admission(crate::application::processor::DueAdmission {
            quotas: due_quotas.clone(),
            claims: due_claims.clone(),
            requeue: due_requeue.clone(),
        })
        .with_payloads(payloads.clone())
        .with_schedule_runs(crate::application::processor::ScheduleRuns {
            intake: schedule_runs.clone(),
            schedules: Arc::new(crate::adapters::aws::DynamoSchedules::new(
                dynamodb.clone(),
                &settings.table_name,
            )),
            scheduler: Arc::new(crate::adapters::aws::RecurringSchedules {
                client: aws_sdk_scheduler::Client::new(config),
                group: settings.schedule_group.clone(),
                role_arn: String::new(),
                queue_arn: String::new(),
                dead_letter_arn: None,
            }),
        })
    };
    let tasks = Tasks {
        ledger: ledger.clone(),
        checks: Arc::new(SqsWorkQueue::new(
            sqs.clone(),
            &settings.task_check_queue_url,
        )),
        requeue: Arc::new(SqsWorkQueue::new(sqs.clone(), &settings.work_queue_url)),
        report_url: settings.task_report_url.clone(),
    };
    let frames = frame_sender(
        config,
        dynamodb.clone(),
        &settings.table_name,
        &settings.websocket_management_url,
        clock.clone(),
    );
    WorkConsumer {
        standard: processor(&settings.dead_letter_queue_url)
            .with_frames(frames.clone())
            .with_tasks(tasks.clone()),
        ordered: processor(&settings.ordered_dead_letter_queue_url)
            .with_frames(frames)
            .with_tasks(tasks),
        inboxes: Inboxes {
            standard: queue_name(&settings.dead_letter_inbox_url),
            ordered: queue_name(&settings.ordered_dead_letter_inbox_url),
        },
    }
}

/// How declared types' attempts reach their targets: Lambda's `Invoke`, or a signed POST.
fn targets(
    aws: &aws_config::SdkConfig,
    settings: &ProcessorSettings,
) -> Result<Arc<dyn TargetCaller>, Error> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = SsmTargetSecrets::new(
        aws_sdk_ssm::Client::new(aws),
        &settings.target_secrets_prefix,
        clock.clone(),
    );
    let http = HttpTargets::new(
        settings.target_policy.clone(),
        Arc::new(secrets),
        clock,
        courier_jobs::declared::INLINE_TIMEOUT_CEILING,
    )?;
    Ok(Arc::new(ByKind {
        lambda: Arc::new(LambdaTargets::new(aws_sdk_lambda::Client::new(aws))),
        http: Arc::new(http),
    }))
}

/// A queue URL ends in the queue's name.
fn queue_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

pub async fn run(catalog: JobCatalog) -> Result<(), Error> {
    start("processor");
    let settings = ProcessorSettings::from_env()?;
    let aws = load_aws_config().await;
    let registry = super::deployment_registry(
        &aws,
        catalog,
        settings.claim_lifetime,
        Some(targets(&aws, &settings)?),
    )
    .await?;
    // A worker that finishes later must be told where to report.
    let finishes_later = registry
        .types()
        .any(|t| t.completion() == courier_jobs::api::Completion::External);
    if finishes_later && settings.task_report_url.is_empty() {
        return Err(
            "TASK_REPORT_URL is not set, and a declared type's worker finishes later".into(),
        );
    }
    let consumer = wire(&aws, &settings, registry);
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        crate::metering::batch_invocation(crate::metrics::per_invocation(async move {
            let deadline = event.context.deadline();
            Ok::<_, Error>(consumer.handle_event(event.payload, deadline).await)
        }))
    }))
    .await
}
