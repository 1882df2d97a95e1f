//! The reference for start-up and size: a `lambda_runtime` function that does nothing, built
//! with the same profile and the same `lambda_runtime` features as courier's functions.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(Value::Null)
    }))
    .await
}
