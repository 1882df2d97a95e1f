#!/usr/bin/env python3
"""The example workers, as a team's existing work would already be running: the functions of
examples/lambda/* (plain Python and Node.js, no courier code in them) deployed into the local
emulator, and the HTTP service examples/http-worker/worker.py on 127.0.0.1:COURIER_WORKER_PORT.
Each Lambda folder is one function: its code, and `function.json` with its configuration
(name, runtime, handler, timeout).

    infra/example_workers.py start|stop     (infra/up.sh starts them, infra/down.sh stops them)

`infra/up.sh --job-types examples/job-types.json` puts them behind courier. Reads its settings
from the environment set by infra/env.sh.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

ROOT = Path(os.environ["COURIER_ROOT"])
LOCAL = Path(os.environ["COURIER_LOCAL_DIR"])
ENDPOINT = os.environ["COURIER_ENDPOINT"]
WORKER_PORT = int(os.environ["COURIER_WORKER_PORT"])
WORKER_PID_FILE = LOCAL / "http-worker.pid"
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
    # `{{WORKER_ORIGIN}}`: where the example HTTP worker runs for this checkout.
    text = (folder / "function.json").read_text()
    configuration = json.loads(text.replace("{{WORKER_ORIGIN}}", f"http://127.0.0.1:{WORKER_PORT}"))
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


def stop() -> None:
    if WORKER_PID_FILE.exists():
        try:
            os.kill(int(WORKER_PID_FILE.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        WORKER_PID_FILE.unlink()


def start_http_worker() -> None:
    stop()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "http-worker" / "worker.py"),
         "--port", str(WORKER_PORT), "--stack", os.environ["COURIER_STACK_NAME"]],
        env={**os.environ, "AWS_ENDPOINT_URL": ENDPOINT},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(LOCAL / "http-worker.log", "w"),
        start_new_session=True,
    )
    WORKER_PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{WORKER_PORT}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers (every GET is a 501)
        except OSError:
            if process.poll() is not None:
                sys.exit(f"error: the HTTP worker exited (is port {WORKER_PORT} taken?)")
            time.sleep(0.1)
    sys.exit(f"error: the HTTP worker did not answer on port {WORKER_PORT} within 10 s")


def start() -> None:
    lambda_client = boto3.client("lambda", endpoint_url=ENDPOINT)
    folders = sorted(p.parent for p in (ROOT / "examples" / "lambda").glob("*/function.json"))
    names = [deploy(lambda_client, folder) for folder in folders]
    start_http_worker()
    print(f"\033[1m==>\033[0m example workers: {', '.join(names)} (Lambda), "
          f"http://127.0.0.1:{WORKER_PORT} (HTTP)", file=sys.stderr)


if __name__ == "__main__":
    {"start": start, "stop": stop}[sys.argv[1]]()
