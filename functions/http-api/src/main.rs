//! The REST API function: API Gateway (HTTP API) → one axum router.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    courier_shared::composition::http_api::run(courier_jobs::deployment).await
}
