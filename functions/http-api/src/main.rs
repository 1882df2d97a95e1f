//! The REST API function: API Gateway (HTTP API) → one axum router.

use courier::config::HttpApiSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    courier::telemetry::init();
    courier::metrics::cold_start("http-api");
    let settings = HttpApiSettings::from_env()?;
    let aws = courier::aws::load_config().await;
    let app = courier::http::router(courier::aws::http_app_state(&aws, &settings));
    lambda_http::run(app).await
}
