//! The callback-queue consumer: signed webhook deliveries with retries, partial batch failures.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    courier_shared::composition::notifier::run().await
}
