//! The work message courier puts on a work queue (its wire form is in `courier_protocol::queue`)
//! and the table record the processor tracks it on.

pub use courier_protocol::queue::{Pattern, ReplyTo, WorkMessage, attribute};

/// The table key of the record a piece of work is tracked on: the processor's own record for a
/// fire-and-forget message, the claim the caller polls for a job.
pub fn record_key(work: &WorkMessage) -> String {
    match work.pattern {
        Pattern::FireAndForget => format!("MSG#{}", work.message_id),
        Pattern::ClaimCheck | Pattern::Bidirectional => format!("JOB#{}", work.message_id),
    }
}
