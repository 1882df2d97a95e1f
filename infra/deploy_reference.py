#!/usr/bin/env python3
"""Puts the ack-throughput reference onto the running local stack (BENCHMARKS.md).

The reference (`bench/src/bin/reference_send.rs`, built by infra/build.sh as
target/<profile>/reference-send) does exactly one raw SDK SendMessage per request. It goes behind
the stack's own HTTP API as `POST /bench/reference`, with the same JWT authorizer and the same
environment and role as the HTTP function, so a request to it differs from `POST /v1/messages`
only in the function that answers. It sends to its own queue, which nothing consumes.

Idempotent; the stack itself is not changed, and a redeploy of it leaves the route in place.
`pause-work-consumer` / `resume-work-consumer` switch the processor's work-queue mapping off and
on around the measurement (infra/bench-throughput.sh).
Reads its settings from the environment set by infra/env.sh (run it through
infra/bench-throughput.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError

from deploy import LOCAL, ROOT, STACK, client, log, zipped

ROUTE = "POST /bench/reference"


def code() -> bytes:
    built = ROOT / "target" / os.environ.get("COURIER_PROFILE", "local") / "reference-send"
    if not built.is_file():
        sys.exit(f"error: {built} is missing; run infra/build.sh first")
    with tempfile.TemporaryDirectory() as directory:
        shutil.copy(built, Path(directory) / "bootstrap")
        return zipped(Path(directory))


def ensure_function(outputs: dict, queue_url: str) -> str:
    lambda_ = client("lambda")
    name = f"{STACK}-reference-send"
    template = lambda_.get_function(FunctionName=outputs["HttpApiFunctionName"])["Configuration"]
    environment = dict(template.get("Environment", {}).get("Variables", {}))
    environment["QUEUE_URL"] = queue_url
    try:
        lambda_.get_function(FunctionName=name)
        lambda_.update_function_code(FunctionName=name, ZipFile=code())
        # Lambda refuses a second update while the first is in progress.
        lambda_.get_waiter("function_updated").wait(FunctionName=name)
        lambda_.update_function_configuration(
            FunctionName=name, Environment={"Variables": environment}
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        lambda_.create_function(
            FunctionName=name,
            Runtime=template["Runtime"],
            Handler="bootstrap",
            Role=template["Role"],
            MemorySize=template.get("MemorySize", 256),
            Timeout=template.get("Timeout", 10),
            Architectures=template.get("Architectures", ["x86_64"]),
            Code={"ZipFile": code()},
            Environment={"Variables": environment},
        )
    lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=name)
    arn = lambda_.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    try:
        lambda_.add_permission(
            FunctionName=name,
            StatementId="http-api",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceConflictException":
            raise
    return arn


def ensure_route(api_id: str, function_arn: str) -> None:
    api = client("apigatewayv2")

    def every(operation: str) -> list:
        pages = api.get_paginator(operation).paginate(ApiId=api_id)
        return [item for page in pages for item in page["Items"]]

    if any(r["RouteKey"] == ROUTE for r in every("get_routes")):
        return
    authorizers = [a for a in every("get_authorizers") if a["AuthorizerType"] == "JWT"]
    if not authorizers:
        sys.exit("error: the HTTP API has no JWT authorizer; is the stack deployed?")
    authorizer = authorizers[0]
    integration = api.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
    )
    api.create_route(
        ApiId=api_id,
        RouteKey=ROUTE,
        Target=f"integrations/{integration['IntegrationId']}",
        AuthorizationType="JWT",
        AuthorizerId=authorizer["AuthorizerId"],
    )


def set_work_consumer(outputs: dict, enabled: bool) -> None:
    """Pauses (or resumes) the processor's reading of the work queue: the measured ack path is
    then the same for both routes, a SendMessage to a queue no one reads meanwhile."""
    lambda_ = client("lambda")
    queue = outputs["WorkQueueUrl"].rsplit("/", 1)[-1]
    mappings = lambda_.list_event_source_mappings(FunctionName=outputs["ProcessorFunctionName"])
    for mapping in mappings["EventSourceMappings"]:
        if mapping["EventSourceArn"].endswith(f":{queue}"):
            lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled)
    log(f"work queue consumer {'resumed' if enabled else 'paused'}")


def main() -> None:
    outputs = json.loads((LOCAL / "outputs.json").read_text())
    if sys.argv[1:] in (["pause-work-consumer"], ["resume-work-consumer"]):
        set_work_consumer(outputs, sys.argv[1] == "resume-work-consumer")
        return
    queue_url = client("sqs").create_queue(QueueName=f"{STACK}-reference")["QueueUrl"]
    function_arn = ensure_function(outputs, queue_url)
    ensure_route(outputs["HttpApiId"], function_arn)
    log(f"reference deployed: {ROUTE} on the HTTP API, sending to {queue_url}")


if __name__ == "__main__":
    main()
