//! The work-queue consumer: SQS batches → job registry → DynamoDB, partial batch failures back.

use courier::config::ProcessorSettings;
use courier::processor::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    courier::telemetry::init();
    let settings = ProcessorSettings::from_env()?;
    let aws = courier::aws::load_config().await;
    let processor = courier::aws::message_processor(&aws, &settings);
    let processor = &processor;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(processor.handle_event(event.payload).await)
    }))
    .await
}
