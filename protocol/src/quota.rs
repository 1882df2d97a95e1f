//! An operator's limits for one caller, as the stack's table keeps them: written by `courier
//! quotas set`, read by the functions (`DynamoQuotas`). A limit left out is the deployment's.

use crate::principal::Principal;

/// The limits' attribute names, in the order jobs in flight, requests per second, open
/// WebSocket connections, registered webhook endpoints (also what problems name them).
pub const LIMIT_NAMES: [&str; 4] = [
    "jobsInFlight",
    "requestsPerSecond",
    "connections",
    "webhookEndpoints",
];

/// The key (`pk`) of `caller`'s own limits.
pub fn own_limits_key(caller: &Principal) -> String {
    format!("LIMITS#{}", caller.tag())
}
