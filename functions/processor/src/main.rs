//! The work-queue consumer: SQS batches → job registry → DynamoDB (+ WebSocket frames).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    courier_shared::composition::processor::run(courier_jobs::deployment).await
}
