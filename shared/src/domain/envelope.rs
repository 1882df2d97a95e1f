//! The work message courier puts on a work queue (its wire form is in `courier_protocol::queue`)
//! and which record the processor tracks it on.

pub use courier_protocol::queue::{Pattern, ReplyTo, WorkMessage, attribute};

/// The one name of a unit of work wherever it is tracked: a fire-and-forget message (tracked
/// on its own record) or a job (tracked on the claim the caller polls). How a store keys it is
/// the store's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkId {
    Message(String),
    Job(String),
}

impl WorkId {
    /// The work a queue message carries.
    pub fn of(work: &WorkMessage) -> Self {
        match work.pattern {
            Pattern::FireAndForget => Self::Message(work.message_id.clone()),
            Pattern::ClaimCheck | Pattern::Bidirectional => Self::Job(work.message_id.clone()),
        }
    }

    pub fn message(id: impl Into<String>) -> Self {
        Self::Message(id.into())
    }

    pub fn job(id: impl Into<String>) -> Self {
        Self::Job(id.into())
    }

    /// The message id or the job id.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Message(id) | Self::Job(id) => id,
        }
    }
}
