//! The WebSocket API's `$connect` authorizer: the caller's JWT, checked, to Allow or Deny.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    courier_shared::composition::authorizer::run().await
}
