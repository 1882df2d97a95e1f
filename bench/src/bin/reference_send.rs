//! The reference for ack throughput: a Lambda function behind the same HTTP API and JWT
//! authorizer as `POST /v1/messages` that does exactly one raw SDK `SendMessage` of the request
//! body and answers 202 — what any "accept after a durable write" function must do at least.
//! Same profile, same runtime and SDK configuration as courier's functions; deployed onto the
//! local stack by `infra/deploy_reference.py`, measured by `target/<profile>/throughput`.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = courier_shared::composition::load_aws_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = std::env::var("QUEUE_URL")?;
    let (sqs, queue_url) = (&sqs, queue_url.as_str());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let started = std::time::Instant::now();
            sqs.send_message()
                .queue_url(queue_url)
                .message_body(event.payload.body.unwrap_or_default())
                .send()
                .await?;
            // One line per request, as courier writes (with the handler's time, for the
            // comparison): the emulator holds an invocation that prints nothing for up to 50 ms
            // more, which would slow the reference, not courier.
            let handler_ms = started.elapsed().as_secs_f64() * 1e3;
            println!(r#"{{"message":"sent","handlerMs":{handler_ms:.3}}}"#);
            let mut accepted = ApiGatewayV2httpResponse::default();
            accepted.status_code = 202;
            Ok::<_, Error>(accepted)
        },
    ))
    .await
}
