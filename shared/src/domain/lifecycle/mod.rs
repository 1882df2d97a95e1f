//! The two state machines at courier's heart, each an enum of states, an enum of events and one
//! transition table. Every store (DynamoDB's condition expressions, the in-memory twins' checks)
//! asks these tables which states an event may start from; no state is spelled anywhere else.

pub mod callback;
pub mod job;
mod table;

pub use callback::{CallbackEvent, CallbackStatus};
pub use job::{JobEvent, JobStatus};
