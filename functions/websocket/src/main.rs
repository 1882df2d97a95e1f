//! The WebSocket API function: `$connect` (token check), `$disconnect`, `submit` and `$default`.

use courier::config::WebSocketSettings;
use courier::websocket::WebSocketRequest;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    courier::telemetry::init();
    courier::metrics::cold_start("websocket");
    let settings = WebSocketSettings::from_env()?;
    let aws = courier::aws::load_config().await;
    let app = courier::aws::websocket_app(&aws, &settings);
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<WebSocketRequest>| async move {
            Ok::<_, Error>(app.handle(event.payload).await)
        },
    ))
    .await
}
