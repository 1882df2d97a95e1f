//! The work-queue consumer: SQS batches (the standard work queue, and the FIFO queue of
//! WebSocket jobs) → job registry → DynamoDB (+ WebSocket frames), partial batch failures back.

use courier::config::ProcessorSettings;
use courier::processor::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    courier::telemetry::init();
    courier::metrics::cold_start("processor");
    let settings = ProcessorSettings::from_env()?;
    let aws = courier::aws::load_config().await;
    let consumer = courier::aws::work_consumer(&aws, &settings);
    let consumer = &consumer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(consumer.handle_event(event.payload).await)
    }))
    .await
}
