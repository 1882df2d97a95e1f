//! A WebSocket client for the bidirectional pattern: connect with a token, submit jobs, and read
//! the server's frames — raw, or put back in `seq` order by a [`Sequencer`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), courier_client::ws::WsError> {
//! use courier_client::frames::SubmitFrame;
//! use courier_client::ws::{Auth, WsClient};
//! let mut ws = WsClient::connect("ws://127.0.0.1:4566/_aws/execute-api/abc/v1", Auth::Header("token")).await?;
//! ws.submit(&SubmitFrame::new("r1", "sleep", serde_json::json!({"ms": 500}))).await?;
//! while let Some(frame) = ws.next_frame(std::time::Duration::from_secs(30)).await? {
//!     println!("{} {:?}", frame.seq, frame.kind);
//!     if frame.is_final() { break; }
//! }
//! # Ok(()) }
//! ```

use crate::frames::{ServerFrame, SubmitFrame};
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, Error)]
pub enum WsError {
    /// The server answered the upgrade with an HTTP error (a bad token is refused this way).
    #[error("connection refused with HTTP {status}")]
    Refused { status: u16 },
    #[error("invalid WebSocket URL: {0}")]
    Url(String),
    #[error("WebSocket error: {0}")]
    Transport(String),
    /// API Gateway answered instead of courier: the route's function failed (see
    /// [`Event::Gateway`]).
    #[error("the gateway reported a failure: {0}")]
    Gateway(String),
    /// The server sent text that is neither a courier frame nor a gateway message.
    #[error("unexpected frame from the server: {0}")]
    Protocol(String),
}

impl From<tungstenite::Error> for WsError {
    fn from(error: tungstenite::Error) -> Self {
        match error {
            tungstenite::Error::Http(response) => Self::Refused {
                status: response.status().as_u16(),
            },
            tungstenite::Error::Url(e) => Self::Url(e.to_string()),
            other => Self::Transport(other.to_string()),
        }
    }
}

/// How the `$connect` token travels. Browsers cannot set headers on a WebSocket, hence the query
/// parameter; elsewhere prefer the header, which stays out of access logs.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    Header(&'a str),
    Query(&'a str),
    None,
}

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    pub async fn connect(url: &str, auth: Auth<'_>) -> Result<Self, WsError> {
        let url = match auth {
            Auth::Query(token) => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}token={}", encode_query_value(token))
            }
            _ => url.to_owned(),
        };
        let mut request = url.as_str().into_client_request()?;
        if let Auth::Header(token) = auth {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| WsError::Url(e.to_string()))?;
            request.headers_mut().insert("authorization", value);
        }
        let tls = tokio_tungstenite::Connector::Rustls(
            crate::tls::client_config().map_err(WsError::Transport)?,
        );
        let (stream, _response) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(tls))
                .await?;
        Ok(Self { stream })
    }

    pub async fn submit(&mut self, frame: &SubmitFrame) -> Result<(), WsError> {
        let text = serde_json::to_string(frame).expect("a submit frame serialises");
        self.send_text(text).await
    }

    /// Sends any text as one message (for frames that are not submits, or deliberately bad ones).
    pub async fn send_text(&mut self, text: impl Into<String>) -> Result<(), WsError> {
        self.stream
            .send(Message::text(text.into()))
            .await
            .map_err(WsError::from)
    }

    /// The next server frame in arrival order; `None` if the connection closed or nothing
    /// arrived within `wait` ([`WsClient::next_event`] tells the two apart).
    pub async fn next_frame(&mut self, wait: Duration) -> Result<Option<ServerFrame>, WsError> {
        match self.next_event(wait).await? {
            Event::Frame(frame) => Ok(Some(frame)),
            Event::Closed | Event::Idle => Ok(None),
            Event::Gateway(message) => Err(WsError::Gateway(message.to_string())),
        }
    }

    /// The next thing that happens on the connection within `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Result<Event, WsError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return Ok(Event::Idle),
                Ok(None) => return Ok(Event::Closed),
                Ok(Some(message)) => message?,
            };
            match message {
                Message::Text(text) => return event_of(text.as_str()),
                Message::Close(_) => return Ok(Event::Closed),
                // Pings are answered by the library; binary frames are not part of the protocol.
                _ => continue,
            }
        }
    }

    /// Closes the connection cleanly (API Gateway then runs `$disconnect`).
    pub async fn close(mut self) -> Result<(), WsError> {
        self.stream.close(None).await.map_err(WsError::from)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Frame(ServerFrame),
    /// A message from API Gateway itself, not from courier: the route's function failed (AWS
    /// sends `{"message": "Internal server error", ...}`). The submit it answers may or may not
    /// have been accepted: sending it again, with the same `requestId`, finds out safely.
    Gateway(serde_json::Value),
    Closed,
    /// Nothing arrived in the time given.
    Idle,
}

/// A courier frame carries `seq`; any other JSON object is the gateway speaking.
fn event_of(text: &str) -> Result<Event, WsError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| WsError::Protocol(format!("{e}: {text}")))?;
    if value.get("seq").is_none() && value.is_object() {
        return Ok(Event::Gateway(value));
    }
    serde_json::from_value(value)
        .map(Event::Frame)
        .map_err(|e| WsError::Protocol(format!("{e}: {text}")))
}

fn encode_query_value(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a [`Sequencer`] releases: frames in `seq` order, and the ranges it gave up waiting for.
#[derive(Debug, Clone, PartialEq)]
pub enum Sequenced {
    Frame(ServerFrame),
    Gap(RangeInclusive<u64>),
}

/// Puts frames back in `seq` order. Frames can arrive out of order (the `accepted` frame and the
/// processor's frames are posted by different functions); a frame that never arrives is
/// reported as a gap when the caller decides it has waited long enough ([`Sequencer::skip_gap`]).
#[derive(Debug)]
pub struct Sequencer {
    next: u64,
    waiting: BTreeMap<u64, ServerFrame>,
}

impl Default for Sequencer {
    fn default() -> Self {
        Self {
            next: 1,
            waiting: BTreeMap::new(),
        }
    }
}

impl Sequencer {
    /// Accepts one frame; returns whatever is now in order. Duplicates and frames older than
    /// what was already released are dropped.
    pub fn push(&mut self, frame: ServerFrame) -> Vec<Sequenced> {
        if frame.seq >= self.next {
            self.waiting.entry(frame.seq).or_insert(frame);
        }
        self.release()
    }

    /// Whether frames are held back waiting for an earlier one.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Gives up on the missing frames before the earliest held one: reports them as a gap and
    /// releases what follows.
    pub fn skip_gap(&mut self) -> Vec<Sequenced> {
        let Some(&first) = self.waiting.keys().next() else {
            return Vec::new();
        };
        let mut out = vec![Sequenced::Gap(self.next..=first - 1)];
        self.next = first;
        out.extend(self.release());
        out
    }

    fn release(&mut self) -> Vec<Sequenced> {
        let mut out = Vec::new();
        while let Some(frame) = self.waiting.remove(&self.next) {
            self.next += 1;
            out.push(Sequenced::Frame(frame));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::FrameKind;

    #[test]
    fn a_gateway_message_is_told_apart_from_frames_and_from_garbage() {
        let gateway =
            r#"{"message": "Internal server error", "connectionId": "c", "requestId": "r"}"#;
        assert!(
            matches!(event_of(gateway), Ok(Event::Gateway(v)) if v["message"] == "Internal server error")
        );
        let frame =
            r#"{"requestId": "r", "seq": 2, "kind": "progress", "jobId": null, "data": {}}"#;
        assert!(matches!(event_of(frame), Ok(Event::Frame(f)) if f.seq == 2));
        assert!(matches!(event_of("not json"), Err(WsError::Protocol(_))));
        assert!(matches!(
            event_of(r#"{"seq": "two"}"#),
            Err(WsError::Protocol(_))
        ));
    }

    fn frame(seq: u64) -> ServerFrame {
        ServerFrame {
            request_id: Some("r".into()),
            seq,
            kind: FrameKind::Progress,
            job_id: None,
            correlation_id: None,
            data: serde_json::Value::Null,
            result_ref: None,
        }
    }

    fn seqs(out: &[Sequenced]) -> Vec<String> {
        out.iter()
            .map(|s| match s {
                Sequenced::Frame(f) => f.seq.to_string(),
                Sequenced::Gap(r) => format!("gap {}-{}", r.start(), r.end()),
            })
            .collect()
    }

    #[test]
    fn releases_in_order_and_holds_early_frames() {
        let mut sequencer = Sequencer::default();
        assert_eq!(seqs(&sequencer.push(frame(2))), Vec::<String>::new());
        assert!(sequencer.is_waiting());
        assert_eq!(seqs(&sequencer.push(frame(1))), ["1", "2"]);
        assert_eq!(seqs(&sequencer.push(frame(3))), ["3"]);
        assert!(!sequencer.is_waiting());
    }

    #[test]
    fn drops_duplicates_and_stale_frames() {
        let mut sequencer = Sequencer::default();
        assert_eq!(seqs(&sequencer.push(frame(1))), ["1"]);
        assert!(sequencer.push(frame(1)).is_empty());
        sequencer.push(frame(3));
        assert!(sequencer.push(frame(3)).is_empty());
    }

    #[test]
    fn reports_a_gap_when_told_to_stop_waiting() {
        let mut sequencer = Sequencer::default();
        sequencer.push(frame(1));
        sequencer.push(frame(4));
        sequencer.push(frame(5));
        assert_eq!(seqs(&sequencer.skip_gap()), ["gap 2-3", "4", "5"]);
        assert!(sequencer.skip_gap().is_empty());
        // A straggler from the gap is too late now.
        assert!(sequencer.push(frame(2)).is_empty());
    }

    #[test]
    fn query_tokens_are_percent_encoded() {
        assert_eq!(encode_query_value("a b&c=d"), "a%20b%26c%3Dd");
    }
}
