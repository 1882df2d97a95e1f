//! `courier listen`: a local callback receiver that verifies each delivery's Standard Webhooks
//! signature and prints it, one JSON object per line.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use courier_client::webhook::{DEFAULT_TOLERANCE_SECONDS, Secret, verify_headers};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

struct Receiver {
    secret: Secret,
    answer: StatusCode,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match verify_headers(
        &receiver.secret,
        get,
        &body,
        now(),
        DEFAULT_TOLERANCE_SECONDS,
    ) {
        Ok(webhook_id) => {
            let parsed: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            println!(
                "{}",
                json!({
                    "verified": true,
                    "webhookId": webhook_id,
                    "correlationId": get("x-correlation-id"),
                    "body": parsed,
                })
            );
            receiver.answer
        }
        Err(error) => {
            eprintln!("refused a delivery: {error}");
            StatusCode::UNAUTHORIZED
        }
    }
}

/// Binds 127.0.0.1 only: this is a development tool.
pub async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Serves deliveries until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    secret: Secret,
    answer: StatusCode,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .fallback(receive)
        .with_state(Arc::new(Receiver { secret, answer }));
    eprintln!(
        "listening on http://{} (answering {} to verified deliveries; Ctrl-C stops)",
        listener.local_addr()?,
        answer.as_u16()
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
