//! Sending server frames: number each one from the connection's counter, keep it within API
//! Gateway's frame limit, post it, and forget a connection API Gateway says is gone.

use crate::application::ports::{
    ConnectionPoster, ConnectionStore, Ending, Failure, PortError, PostOutcome,
};
use crate::domain::{Claim, Principal};
use courier_protocol::frames::{FrameKind, MAX_FRAME_BYTES, ResultRef, ServerFrame, error_code};
use serde_json::{Value, json};
use std::sync::Arc;

/// Longest error message put in a frame; the claim keeps the whole reason.
const MAX_ERROR_MESSAGE_CHARS: usize = 2048;

/// An error frame's message: short enough that any frame holding it fits the frame limit
/// (the claim keeps the whole reason).
pub fn capped(message: &str) -> String {
    message.chars().take(MAX_ERROR_MESSAGE_CHARS).collect()
}

/// An error frame's data for a failed job.
pub fn job_failed(failure: &Failure) -> Value {
    json!({"code": error_code::JOB_FAILED, "kind": failure.kind.as_str(), "message": capped(&failure.reason)})
}

/// A job's last frame: its kind and data, or (a result held in the bucket) a reference to the
/// claim that links it.
#[derive(Debug, Clone, PartialEq)]
pub struct LastFrame {
    pub kind: FrameKind,
    pub data: Value,
    pub held: Option<u64>,
}

impl LastFrame {
    pub fn result(data: Value) -> Self {
        Self {
            kind: FrameKind::Result,
            data,
            held: None,
        }
    }

    /// A result of `bytes` held in the bucket.
    pub fn held(bytes: u64) -> Self {
        Self {
            kind: FrameKind::Result,
            data: Value::Null,
            held: Some(bytes),
        }
    }

    pub fn error(data: Value) -> Self {
        Self {
            kind: FrameKind::Error,
            data,
            held: None,
        }
    }
}

/// The last frame of a job that ended so; none for a cancelled one.
pub fn final_frame(ending: &Ending) -> Option<LastFrame> {
    match ending {
        Ending::Succeeded(result) => Some(LastFrame::result(result.clone())),
        Ending::Held { bytes } => Some(LastFrame::held(*bytes)),
        Ending::Failed(failure) => Some(LastFrame::error(job_failed(failure))),
        Ending::Cancelled => None,
    }
}

/// The last frame of a finished job, from its claim (none for a cancelled one), to the
/// claim's connection and request.
pub fn final_draft(claim: &Claim) -> Option<Draft> {
    let last = Ending::of(claim).as_ref().and_then(final_frame)?;
    Some(
        Draft {
            request_id: claim.reply_to.as_ref().map(|to| to.request_id.clone()),
            kind: last.kind,
            job_id: None,
            correlation_id: None,
            data: last.data,
            held: last.held,
        }
        .for_job(claim.id.as_str(), claim.correlation_id.as_str()),
    )
}

/// A frame before it has its `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub request_id: Option<String>,
    pub kind: FrameKind,
    pub job_id: Option<String>,
    pub correlation_id: Option<String>,
    pub data: Value,
    /// A result held in the bucket (its size): the frame refers to the claim (`resultRef`).
    pub held: Option<u64>,
}

impl Draft {
    pub fn error(request_id: Option<String>, code: &str, message: &str) -> Self {
        Self {
            request_id,
            kind: FrameKind::Error,
            job_id: None,
            correlation_id: None,
            data: json!({"code": code, "message": capped(message)}),
            held: None,
        }
    }

    pub fn for_job(mut self, job_id: &str, correlation_id: &str) -> Self {
        self.job_id = Some(job_id.to_owned());
        self.correlation_id = Some(correlation_id.to_owned());
        self
    }

    fn numbered(self, seq: u64) -> ServerFrame {
        let result_ref = self
            .held
            .zip(self.job_id.as_deref())
            .map(|(bytes, id)| ResultRef {
                href: format!("/v1/jobs/{id}"),
                bytes: bytes as usize,
            });
        ServerFrame {
            request_id: self.request_id,
            seq,
            kind: self.kind,
            job_id: self.job_id,
            correlation_id: self.correlation_id,
            data: self.data,
            result_ref,
        }
    }
}

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDelivery {
    Delivered {
        seq: u64,
    },
    /// The connection is not recorded (closed): nothing was sent.
    NotConnected,
    /// API Gateway said the connection is gone; its record was removed.
    Gone,
}

/// A frame's JSON, within the frame limit: a result too large to fit is replaced by a reference
/// to its claim, which holds it whole.
pub fn encode(mut frame: ServerFrame) -> String {
    let text = serde_json::to_string(&frame).expect("frames serialise");
    if text.len() <= MAX_FRAME_BYTES || frame.kind != FrameKind::Result {
        return text;
    }
    let bytes = frame.data.to_string().len();
    frame.data = Value::Null;
    frame.result_ref = frame.job_id.as_deref().map(|id| ResultRef {
        href: format!("/v1/jobs/{id}"),
        bytes,
    });
    serde_json::to_string(&frame).expect("frames serialise")
}

fn kind_name(kind: FrameKind) -> &'static str {
    match kind {
        FrameKind::Accepted => "accepted",
        FrameKind::Progress => "progress",
        FrameKind::Result => "result",
        FrameKind::Error => "error",
    }
}

#[derive(Clone)]
pub struct FrameSender {
    connections: Arc<dyn ConnectionStore>,
    poster: Arc<dyn ConnectionPoster>,
}

impl FrameSender {
    pub fn new(connections: Arc<dyn ConnectionStore>, poster: Arc<dyn ConnectionPoster>) -> Self {
        Self {
            connections,
            poster,
        }
    }

    /// Takes the connection's next `seq` now, for a frame posted later: this fixes the frame's
    /// place in the order before anything else (another function's frames) can take one.
    /// With `owner`, only a connection of theirs gets one.
    pub async fn reserve(
        &self,
        connection_id: &str,
        owner: Option<&Principal>,
    ) -> Result<Option<u64>, PortError> {
        self.connections.next_seq(connection_id, owner).await
    }

    /// Numbers and posts a frame about `owner`'s work: to a connection of theirs only.
    pub async fn send(
        &self,
        connection_id: &str,
        owner: Option<&Principal>,
        draft: Draft,
    ) -> Result<FrameDelivery, PortError> {
        match self.reserve(connection_id, owner).await? {
            None => Ok(FrameDelivery::NotConnected),
            Some(seq) => self.send_reserved(connection_id, seq, draft).await,
        }
    }

    /// Posts a frame under a `seq` taken with [`FrameSender::reserve`].
    pub async fn send_reserved(
        &self,
        connection_id: &str,
        seq: u64,
        draft: Draft,
    ) -> Result<FrameDelivery, PortError> {
        let kind = draft.kind;
        let text = encode(draft.numbered(seq));
        match self.poster.post(connection_id, text.as_bytes()).await? {
            PostOutcome::Delivered => {
                crate::metrics::frame_sent(kind_name(kind));
                Ok(FrameDelivery::Delivered { seq })
            }
            PostOutcome::Gone => {
                crate::metrics::connection_gone(connection_id);
                // The client left without a $disconnect (it is best effort): forget the
                // connection so later frames stop here, at the counter.
                self.connections.close(connection_id).await?;
                tracing::info!(connection_id, "connection gone; its record was removed");
                Ok(FrameDelivery::Gone)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_frame(data: Value) -> ServerFrame {
        Draft {
            request_id: Some("r".into()),
            kind: FrameKind::Result,
            job_id: Some("j-1".into()),
            correlation_id: None,
            data,
            held: None,
        }
        .numbered(7)
    }

    #[test]
    fn small_results_travel_whole() {
        let text = encode(result_frame(json!({"ok": true})));
        let frame: ServerFrame = serde_json::from_str(&text).unwrap();
        assert_eq!(frame.data, json!({"ok": true}));
        assert_eq!(frame.result_ref, None);
    }

    #[test]
    fn large_results_become_a_claim_reference() {
        let big = json!({"blob": "x".repeat(MAX_FRAME_BYTES)});
        let text = encode(result_frame(big.clone()));
        assert!(text.len() <= MAX_FRAME_BYTES);
        let frame: ServerFrame = serde_json::from_str(&text).unwrap();
        assert_eq!(frame.data, Value::Null);
        assert_eq!(frame.seq, 7);
        let reference = frame.result_ref.unwrap();
        assert_eq!(reference.href, "/v1/jobs/j-1");
        assert_eq!(reference.bytes, big.to_string().len());
    }

    #[test]
    fn error_messages_are_capped() {
        let draft = Draft::error(None, "job-failed", &"e".repeat(10_000));
        let message = draft.data["message"].as_str().unwrap();
        assert_eq!(message.len(), MAX_ERROR_MESSAGE_CHARS);
    }
}
