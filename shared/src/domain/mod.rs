//! The values courier passes between its functions, validated where they enter.

pub mod claim;
pub mod correlation;
pub mod envelope;
pub mod idempotency_key;
pub mod submission;

pub use claim::{CallbackState, Claim, JobError, JobId, JobStatus, callback_state};
pub use correlation::CorrelationId;
pub use envelope::{Pattern, ReplyTo, WorkMessage, record_key};
pub use idempotency_key::IdempotencyKey;
pub use submission::{Submission, SubmissionError};
