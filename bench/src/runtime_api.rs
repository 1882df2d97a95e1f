//! The smallest Lambda Runtime API stand-in: it notes when a function first asks for work
//! (`GET /2018-06-01/runtime/invocation/next`), which is where Lambda's Init Duration ends, and
//! never answers.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::mpsc;

pub struct RuntimeApi {
    pub address: SocketAddr,
    asked: mpsc::UnboundedReceiver<Instant>,
}

async fn next(State(asked): State<mpsc::UnboundedSender<Instant>>) -> &'static str {
    let _ = asked.send(Instant::now());
    // Holding the request open is what Lambda does between invocations.
    std::future::pending::<()>().await;
    ""
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let (tell, asked) = mpsc::unbounded_channel();
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .with_state(tell);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { address, asked })
    }

    /// When the next function asked for work.
    pub async fn first_ask(&mut self) -> Option<Instant> {
        self.asked.recv().await
    }
}
