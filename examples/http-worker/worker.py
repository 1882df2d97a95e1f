#!/usr/bin/env python3
"""A small HTTP service that courier runs jobs on (an HTTP target): it verifies each request's
Standard Webhooks signature with its job type's secret, does the work, and answers.

    python3 worker.py --port 6066 --stack courier-local      (infra/up.sh starts it locally)

courier POSTs one attempt per request, the task request as JSON:
{"jobId", "type", "payload", "attempt", "deadline", "correlationId", "idempotencyKey"}.
Its answer decides the attempt: 2xx with JSON is the result; 408, 429 and 5xx are retried
(after Retry-After, when given); any other 4xx fails the job with the problem's `detail`.

The secrets are the stack's (`courier --stack NAME job-types secret TYPE`): read from SSM
(`/courier/<stack>/targets/<type>`) with boto3, and read again when a signature does not
verify, so a rotation needs no restart. Standard library only, besides boto3.

It also keeps an inbox of attempts handed over by workers that finish later (the `approval`
type's Node.js function posts each attempt's task to `POST /inbox`; `GET /inbox/<job id>`
shows the latest, task token included, to whoever finishes the work). A local demonstration
only: a real inbox would know who may read it.

The `shout` type upper-cases `payload.text`. For trying courier's handling out, its payload may
also ask for a refusal (`reject`: a reason, answered 422), a busy service (`busyAttempts`: the
first attempts answered 503 with `Retry-After: retryAfterSeconds`), a slow one (`slowMs`, on
the first `slowAttempts` attempts, 1 unless said), and
the request as it arrived back in the result (`echoRequest`).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
import time

import boto3

TOLERANCE_SECONDS = 300
# The job types this service runs, by path: each verifies with its own type's secret.
ROUTES = {"/shout": "shout"}
MAX_BODY_BYTES = 1024 * 1024
# A signature that does not verify may mean a rotation: the secrets are read again, but not
# more often than this (unsigned traffic cannot make every request wait on SSM).
REREAD_AFTER_SECONDS = 30


class Secrets:
    """Each job type's secrets, from SSM, kept until a signature does not verify."""

    def __init__(self, stack: str):
        self.prefix = f"/courier/{stack}/targets"
        self.ssm = boto3.client("ssm", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        self.kept: dict[str, tuple[float, list[bytes]]] = {}
        self.lock = threading.Lock()

    def get(self, job_type: str, fresh: bool = False) -> list[bytes]:
        with self.lock:
            read_at, secrets = self.kept.get(job_type, (0.0, []))
            if not secrets or (fresh and time.monotonic() - read_at > REREAD_AFTER_SECONDS):
                value = self.ssm.get_parameter(
                    Name=f"{self.prefix}/{job_type}", WithDecryption=True
                )["Parameter"]["Value"]
                secrets = [
                    base64.b64decode(s.removeprefix("whsec_")) for s in value.replace(",", " ").split()
                ]
                self.kept[job_type] = (time.monotonic(), secrets)
            return secrets


def signature_holds(secrets: list[bytes], headers, body: bytes) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    given = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if "," in s]
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, g) for g in given):
            return True
    return False


INBOX: dict[str, dict] = {}
INBOX_LOCK = threading.Lock()


class Worker(http.server.BaseHTTPRequestHandler):
    secrets: Secrets

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if not self.path.startswith("/inbox/"):
            return self.answer(404, {"title": "Not Found", "detail": f"nothing at {self.path}"})
        with INBOX_LOCK:
            task = INBOX.get(self.path.removeprefix("/inbox/"))
        if task is None:
            return self.answer(404, {"title": "Not Found", "detail": "no task for this job"})
        self.answer(200, task)

    def take_into_inbox(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self.answer(413, {"title": "Content Too Large", "detail": "at most 1 MiB"})
        try:
            task = json.loads(self.rfile.read(length))
            job_id = str(task["jobId"])
        except (ValueError, KeyError):
            return self.answer(400, {"title": "Bad Request", "detail": "not a task"})
        with INBOX_LOCK:
            INBOX[job_id] = task
        self.answer(200, {"queued": job_id})

    def answer(self, status: int, document: dict, headers: dict | None = None) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        content_type = "application/json" if status < 300 else "application/problem+json"
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
        # The path says which type's work this is, and so which secret verifies it: never
        # anything in the body, which is not verified yet.
        if self.path == "/inbox":
            return self.take_into_inbox()
        job_type = ROUTES.get(self.path)
        if job_type is None:
            return self.answer(404, {"title": "Not Found", "detail": f"no work at {self.path}"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self.answer(413, {"title": "Content Too Large", "detail": "at most 1 MiB"})
        body = self.rfile.read(length)
        verified = any(
            signature_holds(self.secrets.get(job_type, fresh), self.headers, body)
            for fresh in (False, True)
        )
        if not verified:
            return self.answer(401, {"title": "Unauthorized", "detail": "the signature does not verify"})
        try:
            task = json.loads(body)
            payload = task["payload"]
        except (ValueError, KeyError):
            return self.answer(400, {"title": "Bad Request", "detail": "not a task request"})
        if payload.get("reject"):
            return self.answer(422, {"title": "Unprocessable Content", "detail": payload["reject"]})
        if task["attempt"] <= payload.get("busyAttempts", 0):
            after = str(payload.get("retryAfterSeconds", 1))
            return self.answer(503, {"title": "Busy", "detail": "try again later"}, {"Retry-After": after})
        if task["attempt"] <= payload.get("slowAttempts", 1):
            time.sleep(payload.get("slowMs", 0) / 1000)
        result = {"shouted": payload["text"].upper(), "attempt": task["attempt"],
                  "idempotencyKey": task["idempotencyKey"]}
        if payload.get("echoRequest"):
            result["request"] = {
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
        self.answer(200, result)

    def log_message(self, *_args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6066)
    parser.add_argument("--stack", default="courier-local")
    args = parser.parse_args()
    Worker.secrets = Secrets(args.stack)
    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Worker).serve_forever()


if __name__ == "__main__":
    main()
