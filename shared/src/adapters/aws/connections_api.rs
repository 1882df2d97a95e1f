//! Posts frames through API Gateway's `@connections` management API.

use super::port_error;
use crate::application::ports::{ConnectionPoster, PortError, PostOutcome};
use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

#[derive(Clone)]
pub struct ApiGatewayConnectionPoster {
    client: Client,
}

impl ApiGatewayConnectionPoster {
    /// `endpoint` is the WebSocket API's management URL, `https://{api-id}.execute-api.
    /// {region}.amazonaws.com/{stage}` on AWS (the template passes it in).
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(config)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

#[async_trait]
impl ConnectionPoster for ApiGatewayConnectionPoster {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<PostOutcome, PortError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PostOutcome::Delivered),
            Err(error) => match error.into_service_error() {
                PostToConnectionError::GoneException(_) => Ok(PostOutcome::Gone),
                other => Err(port_error("execute-api:PostToConnection", other)),
            },
        }
    }
}
