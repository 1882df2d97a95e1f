#!/usr/bin/env python3
"""Deploys template.yaml into the local emulator, as `sam deploy` would into AWS.

1. Reads template.yaml (the AWS template) and changes it for the local stack: where the emulator
   differs (API paths, Cognito keys, an identity source, no saved queries), and the local
   settings of infra/local.json — none of them template parameters, so `sam deploy --guided`
   never asks for them. `infra/deploy.py --render` prints the result.
2. Zips each function's built `bootstrap`, uploads it to an artifacts bucket (the emulator, like
   AWS, only takes code from S3 in a CloudFormation deploy) and points its `CodeUri` there, as
   `sam package` does; uploads the template beside them (a body over 51 200 bytes must come
   from S3) and creates or updates the stack through a change set.
3. Applies what the emulator does not do from the template (TTL on the table).
4. Makes sure the local caller exists in the stack's user pool (username and password sign-in).
   With `COURIER_JOB_TYPES=FILE` (`infra/up.sh --job-types FILE`), first checks and publishes
   the job-types document as `courier job-types publish` does on AWS, and deploys with the
   parameters derived from it; a bad document stops here, named by its JSON pointer.
5. Writes the stack outputs as one flat JSON object for tests, the CLI and other tools, with the
   API URL in the emulator's path form.

Reads its settings from the environment set by infra/env.sh.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import boto3
import yaml
from botocore.exceptions import ClientError

ROOT = Path(os.environ["COURIER_ROOT"])
LOCAL = Path(os.environ["COURIER_LOCAL_DIR"])
ENDPOINT = os.environ["COURIER_ENDPOINT"]
STACK = os.environ["COURIER_STACK_NAME"]
BUCKET = f"{STACK}-artifacts"

# The local stack's settings (infra/local.json): template parameter values, and environment
# only development may relax. The test command overrides two of them through the environment.
LOCAL_SETTINGS = json.loads((ROOT / "infra" / "local.json").read_text())
# The web console infra/console.py serves: the one origin the local HTTP API allows (CORS).
CONSOLE_ORIGIN = f"http://127.0.0.1:{os.environ['COURIER_CONSOLE_PORT']}"
PARAMETERS = {
    **LOCAL_SETTINGS["parameters"],
    "CorsAllowedOrigins": CONSOLE_ORIGIN,
    "LogLevel": os.environ.get("COURIER_LOG_LEVEL", "info"),
    # The test command switches the example job types off once to see them refused.
    "ExampleJobTypes": os.environ.get("COURIER_EXAMPLE_JOB_TYPES", "enabled"),
    # `infra/up.sh --door FunctionUrl` (or COURIER_DOOR): the lean door instead of the HTTP API.
    "Door": os.environ.get("COURIER_DOOR") or "HttpApi",
    # No declared job types unless a document is given (publish_job_types).
    "JobTypesObject": "",
    "JobTypeLambdaTargets": "",
}
# `infra/up.sh --job-types FILE` (or COURIER_JOB_TYPES=FILE): the declared job types.
JOB_TYPES = os.environ.get("COURIER_JOB_TYPES", "")
# examples/job-types.json names the example HTTP worker where it runs beside the default local
# stack; a checkout on another port runs it on its own port (COURIER_WORKER_PORT).
EXAMPLE_WORKER_ORIGIN = "http://127.0.0.1:6066/"
WORKER_ORIGIN = f"http://127.0.0.1:{os.environ.get('COURIER_WORKER_PORT', '6066')}/"


class TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (`!Ref`, `!Sub`, ...) read into their
    long JSON form, so the template is changed as data and sent as JSON."""


def _intrinsic(name: str):
    def construct(loader: yaml.Loader, node: yaml.Node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _tag, _name in {
    "!Ref": "Ref", "!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!If": "Fn::If",
    "!Equals": "Fn::Equals", "!Not": "Fn::Not", "!And": "Fn::And", "!Or": "Fn::Or",
    "!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split",
    "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64", "!GetAZs": "Fn::GetAZs",
    "!ImportValue": "Fn::ImportValue", "!Cidr": "Fn::Cidr", "!Condition": "Condition",
}.items():
    TemplateLoader.add_constructor(_tag, _intrinsic(_name))


def load_template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=TemplateLoader)


def for_the_emulator(template: dict) -> dict:
    """The AWS template, changed where the emulator differs and for local development. Nothing
    here is a template parameter, so none of it reaches `sam deploy --guided`."""
    resources = template["Resources"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    # The emulator serves every API under a path on its own port.
    variables["WEBSOCKET_MANAGEMENT_URL"] = {
        "Fn::Sub": ENDPOINT + "/_aws/execute-api/${WebSocketApi}/v1"
    }
    # Workers report to the emulator's path of the HTTP API, or of the function URL (its id is
    # the first label of the URL's host).
    processor = resources["ProcessorFunction"]["Properties"]["Environment"]["Variables"]
    url_id = {"Fn::Select": [0, {"Fn::Split": [".", {"Fn::Select": [
        2, {"Fn::Split": ["/", {"Fn::GetAtt": ["HttpFunctionUrl", "FunctionUrl"]}]}]}]}]}
    processor["TASK_REPORT_URL"] = {
        "Fn::If": [
            "ApiGatewayDoor",
            {"Fn::Sub": ENDPOINT + "/_aws/execute-api/${HttpApi}/$default/v1/tasks/report"},
            {"Fn::Join": ["", [ENDPOINT + "/_aws/lambda-url/", url_id, "/v1/tasks/report"]]},
        ]
    }
    # Development only: http:// callback URLs, and the local receivers' hosts past the SSRF guard.
    variables.update(LOCAL_SETTINGS["environment"])
    # The emulator serves its Cognito pools' keys itself, not at the issuer's address: to the
    # WebSocket authorizer, and to the lean door's own check.
    for function in ("AuthorizerFunction", "HttpApiFunction"):
        resources[function]["Properties"]["Environment"]["Variables"]["JWKS_URL"] = {
            "Fn::If": [
                "OwnUserPool",
                {"Fn::Sub": ENDPOINT + "/${UserPool}/.well-known/jwks.json"},
                {"Ref": "JwksUrl"},
            ]
        }
    # It defaults an undeclared identity source to the Authorization header, which would refuse
    # a browser's `?token=` before the authorizer runs.
    resources["WebSocketAuthorizer"]["Properties"]["IdentitySource"] = []
    # It keeps a Number parameter as a string, and an event source's MaximumConcurrency read
    # as a string stops its poller: the value itself, as a number.
    for function in resources.values():
        for event in function.get("Properties", {}).get("Events", {}).values():
            scaling = event.get("Properties", {}).get("ScalingConfig", {})
            limit = scaling.get("MaximumConcurrency")
            if isinstance(limit, dict) and "Ref" in limit:
                name = limit["Ref"]
                scaling["MaximumConcurrency"] = int(
                    PARAMETERS.get(name, template["Parameters"][name]["Default"])
                )
    # It cannot create saved Logs Insights queries.
    for name in [n for n, r in resources.items() if r["Type"] == "AWS::Logs::QueryDefinition"]:
        del resources[name]
    return template


# The local callers: one to use, and a second the tests use to see that callers' jobs are
# kept apart.
LOCAL_USERS = ("courier-local", "courier-local-other")


def local_password(username: str) -> str:
    """A local caller's password, made once per checkout and kept in .local/; it meets the
    pool's policy (upper, lower, digits)."""
    path = LOCAL / f"password-{username}"
    if not path.exists():
        path.write_text("Local-" + os.urandom(12).hex() + "-Pw1\n")
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_local_user(pool_id: str, username: str) -> None:
    """A local caller, confirmed with its permanent password (no first-sign-in challenge)."""
    idp = client("cognito-idp")
    try:
        idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    except ClientError as error:
        if error.response["Error"]["Code"] != "UsernameExistsException":
            raise
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=local_password(username), Permanent=True
    )


def elsewhere_client(pool_id: str) -> str:
    """A second app client of the pool: its tokens are genuine, signed by the pool, but for
    another audience, which courier's authorizers must refuse (the tests use it)."""
    idp = client("cognito-idp")
    name = "courier-local-elsewhere"
    for existing in idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]:
        if existing["ClientName"] == name:
            return existing["ClientId"]
    created = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=name,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    return created["UserPoolClient"]["ClientId"]


def client(service: str):
    return boto3.client(service, endpoint_url=ENDPOINT)


def log(message: str) -> None:
    print(f"\033[1m==>\033[0m {message}", file=sys.stderr, flush=True)


def zipped(build_dir: Path) -> bytes:
    """A deterministic zip (fixed timestamps), so unchanged code gives an unchanged key."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(build_dir.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(str(path.relative_to(build_dir)), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o100755 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def ensure_bucket() -> None:
    try:
        client("s3").create_bucket(Bucket=BUCKET)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def publish_job_types(template: dict) -> None:
    """Checks the job-types document as the deployment will read it and uploads it under its
    digest (`courier job-types publish`, as on AWS), deploying with the parameters derived from
    it. A document with a problem stops the deploy, every problem named by its JSON pointer."""
    if not JOB_TYPES:
        return
    defaults = template["Parameters"]
    lifetime = PARAMETERS.get("ClaimLifetimeSeconds", str(defaults["ClaimLifetimeSeconds"]["Default"]))
    courier = Path(os.environ["COURIER_BIN"]) / "courier"
    document = Path(JOB_TYPES)
    text = document.read_text()
    if EXAMPLE_WORKER_ORIGIN in text and WORKER_ORIGIN != EXAMPLE_WORKER_ORIGIN:
        document = LOCAL / "job-types.json"
        document.write_text(text.replace(EXAMPLE_WORKER_ORIGIN, WORKER_ORIGIN))
    run = subprocess.run(
        [str(courier), "--endpoint-url", ENDPOINT, "--region", os.environ["AWS_REGION"],
         "--stack", STACK, "--output", "json", "job-types", "publish", str(document),
         "--bucket", BUCKET,
         "--claim-lifetime-seconds", str(lifetime),
         "--example-job-types", PARAMETERS["ExampleJobTypes"],
         # The local stack lets callbacks and targets use http:// to its own hosts.
         *[arg for host in LOCAL_SETTINGS["environment"]["CALLBACK_ALLOWED_HOSTS"].split(",")
           for arg in ("--allow-http-host", host)]],
        capture_output=True, text=True,
    )
    if run.returncode != 0:
        sys.exit(f"error: the job-types document {JOB_TYPES} is refused:\n{run.stderr.strip()}")
    published = json.loads(run.stdout)
    PARAMETERS["JobTypesObject"] = published["JobTypesObject"]
    PARAMETERS["JobTypeLambdaTargets"] = published["JobTypeLambdaTargets"]
    log(f"job types from {JOB_TYPES}: {PARAMETERS['JobTypesObject']}")


def upload_code(template: dict) -> dict:
    """Points each function's `CodeUri: functions/<name>` at its zipped build in the artifacts
    bucket, as `sam package` does."""
    s3 = client("s3")
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
        and str(r["Properties"].get("CodeUri", "")).startswith("functions/")
    ]
    if not functions:
        sys.exit("error: no CodeUri: functions/<name> found in template.yaml")
    for properties in functions:
        function = properties["CodeUri"].removeprefix("functions/")
        build_dir = LOCAL / "build" / function
        if not (build_dir / "bootstrap").is_file():
            sys.exit(f"error: {build_dir}/bootstrap is missing; run infra/build.sh first")
        body = zipped(build_dir)
        key = f"{function}-{hashlib.sha256(body).hexdigest()[:16]}.zip"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        properties["CodeUri"] = f"s3://{BUCKET}/{key}"
    return template


def stack_exists(cfn) -> bool:
    try:
        stacks = cfn.describe_stacks(StackName=STACK)["Stacks"]
    except ClientError:
        return False
    return bool(stacks) and stacks[0]["StackStatus"] not in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE")


def wait_for(cfn, done, what: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        status = stack["StackStatus"]
        if done(status):
            return stack
        if status.endswith("FAILED") or status.endswith("ROLLBACK_COMPLETE"):
            events = cfn.describe_stack_events(StackName=STACK).get("StackEvents", [])
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                for e in events
                if "FAILED" in e.get("ResourceStatus", "")
            ]
            sys.exit(f"error: {what} failed ({status}):\n  " + "\n  ".join(reasons[:10]))
        time.sleep(1)
    sys.exit(f"error: {what} did not finish within {timeout:.0f} s")


def upload_template(template_body: str) -> str:
    """The packaged template's URL in the artifacts bucket: a body over CloudFormation's 51 200
    bytes must come from S3, as `sam deploy` sends it."""
    body = template_body.encode()
    key = f"template-{hashlib.sha256(body).hexdigest()[:16]}.yaml"
    client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"{ENDPOINT}/{BUCKET}/{key}"


def deploy(template_body: str) -> dict:
    cfn = client("cloudformation")
    change_type = "UPDATE" if stack_exists(cfn) else "CREATE"
    name = f"deploy-{int(time.time())}"
    log(f"{'updating' if change_type == 'UPDATE' else 'creating'} stack {STACK}")
    cfn.create_change_set(
        StackName=STACK,
        ChangeSetName=name,
        ChangeSetType=change_type,
        TemplateURL=upload_template(template_body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + 120
    while True:
        change_set = cfn.describe_change_set(StackName=STACK, ChangeSetName=name)
        status = change_set["Status"]
        if status == "CREATE_COMPLETE":
            break
        if status == "FAILED":
            reason = change_set.get("StatusReason", "")
            if "didn't contain changes" in reason or "No updates" in reason:
                log("no changes to deploy")
                cfn.delete_change_set(StackName=STACK, ChangeSetName=name)
                return cfn.describe_stacks(StackName=STACK)["Stacks"][0]
            sys.exit(f"error: change set failed: {reason}")
        if time.monotonic() > deadline:
            sys.exit("error: change set was not created within 120 s")
        time.sleep(0.5)
    cfn.execute_change_set(StackName=STACK, ChangeSetName=name)
    return wait_for(cfn, lambda s: s in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), "deploy")


def apply_cors(template: dict, api_id: str) -> None:
    """The emulator's CloudFormation keeps an HTTP API's CorsConfiguration as the template spells
    it (PascalCase), which its gateway does not read: set the template's configuration again
    through the API."""
    configuration = dict(template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"][1])
    configuration["AllowOrigins"] = PARAMETERS["CorsAllowedOrigins"].split(",")
    client("apigatewayv2").update_api(ApiId=api_id, CorsConfiguration=configuration)


def enable_ttl(table: str) -> None:
    """The emulator ignores TimeToLiveSpecification in templates; AWS honours it."""
    dynamodb = client("dynamodb")
    current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    dynamodb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    log(f"enabled TTL on {table}")


def main() -> None:
    template = for_the_emulator(load_template())
    if sys.argv[1:] == ["--render"]:
        # What the local stack is deployed from (code locations aside), for inspection and tests.
        print(json.dumps(template, indent=2))
        return
    ensure_bucket()
    publish_job_types(template)
    stack = deploy(json.dumps(upload_code(template)))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    enable_ttl(outputs["TableName"])
    if "HttpApiId" in outputs:
        apply_cors(template, outputs["HttpApiId"])
        # The emulator serves APIs under a path on its own port; the $default stage is the root.
        outputs["HttpApiUrl"] = f"{ENDPOINT}/_aws/execute-api/{outputs['HttpApiId']}/$default"
    else:
        # And function URLs under a path named by the URL's id (its host's first label).
        url_id = outputs["HttpApiUrl"].removeprefix("https://").split(".", 1)[0]
        outputs["HttpApiUrl"] = f"{ENDPOINT}/_aws/lambda-url/{url_id}"
    ws_endpoint = ENDPOINT.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    outputs["WebSocketUrl"] = f"{ws_endpoint}/_aws/execute-api/{outputs['WebSocketApiId']}/v1"
    outputs["Endpoint"] = ENDPOINT
    outputs["Region"] = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    outputs["StackName"] = STACK
    outputs["ConsoleUrl"] = CONSOLE_ORIGIN + "/"
    # The example HTTP worker up runs beside the stack (and its inbox of handed-over tasks).
    outputs["ExampleWorkerUrl"] = WORKER_ORIGIN.rstrip("/")
    for username in LOCAL_USERS:
        ensure_local_user(outputs["UserPoolId"], username)
    user, other = LOCAL_USERS
    outputs["LocalUsername"] = user
    outputs["LocalPassword"] = local_password(user)
    outputs["LocalOtherUsername"] = other
    outputs["LocalOtherPassword"] = local_password(other)
    outputs["LocalElsewhereClientId"] = elsewhere_client(outputs["UserPoolId"])
    (LOCAL / "outputs.json").write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    log(f"outputs written to {(LOCAL / 'outputs.json').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
