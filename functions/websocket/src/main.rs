//! The WebSocket API function: `$connect`, `$disconnect`, `submit` and `$default`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    courier_shared::composition::websocket::run(courier_jobs::deployment).await
}
