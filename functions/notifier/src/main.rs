//! The callback-queue consumer: signed webhook deliveries with retries, partial batch failures.

use courier::config::NotifierSettings;
use courier::processor::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    courier::telemetry::init();
    courier::metrics::cold_start("notifier");
    let settings = NotifierSettings::from_env()?;
    let aws = courier::aws::load_config().await;
    let notifier = courier::aws::notifier(&aws, &settings)?;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(notifier.handle_event(event.payload).await)
    }))
    .await
}
