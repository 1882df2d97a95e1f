#!/usr/bin/env python3
"""Deploys the example workers (examples/lambda/*: plain Python and Node.js functions with no
courier code in them) into the local emulator, as a team's existing functions would already be
deployed in its account. Each folder is one function: its code, and `function.json` with the
function's configuration (name, runtime, handler, timeout). Running it again updates them.

Then `infra/up.sh --job-types examples/job-types.json` puts them behind courier.
Reads its settings from the environment set by infra/env.sh.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

ROOT = Path(os.environ["COURIER_ROOT"])
ENDPOINT = os.environ["COURIER_ENDPOINT"]
# The emulator neither needs nor checks an execution role; AWS would.
ROLE = "arn:aws:iam::000000000000:role/courier-example-worker"


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "function.json" and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(path.relative_to(folder)), (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def deploy(lambda_client, folder: Path) -> str:
    configuration = json.loads((folder / "function.json").read_text())
    name = configuration["FunctionName"]
    code = zipped(folder)
    try:
        lambda_client.get_function(FunctionName=name)
        lambda_client.update_function_code(FunctionName=name, ZipFile=code)
        settings = {k: v for k, v in configuration.items() if k != "FunctionName"}
        lambda_client.update_function_configuration(FunctionName=name, **settings)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        lambda_client.create_function(Role=ROLE, Code={"ZipFile": code}, **configuration)
    deadline = time.monotonic() + 60
    while lambda_client.get_function(FunctionName=name)["Configuration"].get("State") not in (None, "Active"):
        if time.monotonic() > deadline:
            sys.exit(f"error: {name} did not become active")
        time.sleep(0.5)
    return name


def main() -> None:
    lambda_client = boto3.client("lambda", endpoint_url=ENDPOINT)
    folders = sorted(p.parent for p in (ROOT / "examples" / "lambda").glob("*/function.json"))
    names = [deploy(lambda_client, folder) for folder in folders]
    print(f"\033[1m==>\033[0m example workers deployed: {', '.join(names)}", file=sys.stderr)


if __name__ == "__main__":
    main()
