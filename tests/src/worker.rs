//! The example worker of the `approval` types (examples/job-types.json: a Node.js function
//! hands each attempt's task to the example worker's inbox): the tests take a task from the
//! inbox and finish it, as a worker would, with its token.

use crate::{Reply, Stack, eventually};
use serde_json::Value;

/// The task the worker handed over for `job` (its `attempt`th), once it is in the inbox.
pub async fn handed_over(stack: &Stack, job: &str, attempt: u64) -> Value {
    let url = format!("{}/inbox/{job}", stack.output("ExampleWorkerUrl"));
    eventually(
        &format!("attempt {attempt} of {job} in the inbox"),
        || async {
            let answer = stack.http.get(&url).send().await.ok()?;
            let task: Value = answer.json().await.ok()?;
            (task["attempt"] == attempt).then_some(task)
        },
    )
    .await
}

pub async fn report(stack: &Stack, task: &Value, token: Option<&str>, body: Value) -> Reply {
    let mut request = stack
        .http
        .post(task["reportUrl"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("courier-task-token", token);
    }
    Reply::from(request.send().await.expect("the report reaches the API")).await
}

pub fn token(task: &Value) -> &str {
    task["token"].as_str().unwrap()
}
