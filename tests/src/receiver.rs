//! A real HTTP callback receiver on 127.0.0.1 for the tests: answers from a script, records
//! every request with its arrival time.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to answer one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Sleep, then answer: longer than the notifier's timeout means no answer at all.
    SlowStatus(Duration, u16),
}

#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Arrival {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct Shared {
    script: Vec<Answer>,
    /// Used once the script runs out.
    then: Option<Answer>,
    arrivals: Vec<Arrival>,
}

#[derive(Clone)]
pub struct Receiver {
    shared: Arc<Mutex<Shared>>,
    pub url: String,
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut shared = shared.lock().unwrap();
        shared.arrivals.push(Arrival {
            at: Instant::now(),
            headers,
            body,
        });
        let n = shared.arrivals.len() - 1;
        shared
            .script
            .get(n)
            .copied()
            .or(shared.then)
            .unwrap_or(Answer::Status(204))
    };
    let code = match answer {
        Answer::Status(code) => code,
        Answer::SlowStatus(wait, code) => {
            tokio::time::sleep(wait).await;
            code
        }
    };
    StatusCode::from_u16(code).unwrap().into_response()
}

impl Receiver {
    /// Starts a receiver that answers `script` in order, then `then` (or 204) for ever.
    pub async fn start(script: Vec<Answer>, then: Option<Answer>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script,
            then,
            arrivals: vec![],
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/courier", listener.local_addr().unwrap());
        let app = Router::new().fallback(receive).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { shared, url }
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.shared.lock().unwrap().arrivals.clone()
    }
}
