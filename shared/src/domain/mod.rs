//! The values courier passes between its functions, validated where they enter.

pub mod blob;
pub mod claim;
pub mod correlation;
pub mod destination;
pub mod envelope;
pub mod idempotency_key;
pub mod lifecycle;
pub mod quota;
pub mod random_id;
pub mod schedule;
pub mod submission;
pub mod task;
pub mod timeline;
pub mod webhook_endpoint;

pub use blob::{BlobKey, UploadId};
pub use claim::{CallbackState, Claim, JobFailure, JobId, KeptResult};
pub use correlation::CorrelationId;
pub use courier_protocol::principal::Principal;
pub use destination::{CallbackTarget, ResourceArn};
pub use envelope::{Pattern, ReplyTo, WorkId, WorkMessage};
pub use idempotency_key::IdempotencyKey;
pub use lifecycle::{CallbackEvent, CallbackStatus, JobEvent, JobStatus};
pub use submission::{NamedCallback, Submission, SubmissionError};
pub use task::{Reported, TaskState, TaskToken};
pub use timeline::{Happening, Recorded};
pub use webhook_endpoint::{
    EndpointId, EndpointKind, SealedSecret, SigningSecret, WebhookEndpoint,
};
