//! The ports' implementations and the doors work comes in by.

pub mod aws;
pub mod callback_sender;
pub mod http;
pub mod http_target;
pub mod https;
pub mod jwt;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod webhook_sender;
pub mod websocket;
