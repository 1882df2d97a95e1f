//! The bidirectional pattern's WebSocket side: the `$connect` authorizer, client frames in,
//! numbered server frames out (shared with the processor, which sends progress and results).

pub mod auth;
mod handler;
pub mod inbound;

pub use handler::{CONNECTION_RECORD_LIFETIME, WebSocketApp};

/// The event API Gateway sends for every WebSocket route, and what the function answers.
pub use aws_lambda_events::event::apigw::{
    ApiGatewayProxyResponse as WebSocketResponse,
    ApiGatewayWebsocketProxyRequest as WebSocketRequest,
};

#[cfg(test)]
pub(crate) mod contract_tests;
#[cfg(test)]
mod tests;
