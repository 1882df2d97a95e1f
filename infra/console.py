#!/usr/bin/env python3
"""Serves the web console (console/) on 127.0.0.1, with a /config.json naming the local stack:
its API URLs from .local/outputs.json, its Cognito endpoint and app client, and the local
user's name (the password is typed in the page).

    infra/console.py start|stop        (infra/up.sh starts it, infra/down.sh stops it)

The port is COURIER_CONSOLE_PORT (infra/env.sh); the HTTP API allows that origin (CORS).
Every answer carries the headers the README asks a host of the console to set
(`security_headers`): a Content-Security-Policy that lets the page load only its own files and
talk only to the stack it is configured for, and is never framed.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(os.environ["COURIER_ROOT"])
LOCAL = Path(os.environ["COURIER_LOCAL_DIR"])
PORT = int(os.environ["COURIER_CONSOLE_PORT"])
PID_FILE = LOCAL / "console.pid"
URL = f"http://127.0.0.1:{PORT}/"


def origin(url: str) -> str:
    """scheme://host[:port] of a URL."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(outputs: dict) -> dict[str, str]:
    """What a host of the console sets (README, "The web console"), for this stack."""
    talks_to = " ".join(
        origin(outputs[name]) for name in ("HttpApiUrl", "WebSocketUrl", "Endpoint")
    )
    return {
        "Content-Security-Policy": "; ".join(
            [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self'",
                f"connect-src 'self' {talks_to}",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            ]
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


class Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        outputs = json.loads((LOCAL / "outputs.json").read_text())
        for name, value in security_headers(outputs).items():
            self.send_header(name, value)
        super().end_headers()

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        if self.path.split("?", 1)[0] != "/config.json":
            super().do_GET()
            return
        outputs = json.loads((LOCAL / "outputs.json").read_text())
        body = json.dumps(
            {
                "apiUrl": outputs["HttpApiUrl"],
                "webSocketUrl": outputs["WebSocketUrl"],
                "cognitoEndpoint": outputs["Endpoint"] + "/",
                "userPoolClientId": outputs["UserPoolClientId"],
                "username": outputs["LocalUsername"],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args) -> None:
        pass


def serve() -> None:
    handler = functools.partial(Handler, directory=str(ROOT / "console"))
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), handler).serve_forever()


def stop() -> None:
    if PID_FILE.exists():
        try:
            os.kill(int(PID_FILE.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        PID_FILE.unlink()


def start() -> None:
    stop()
    process = subprocess.Popen(
        [sys.executable, __file__, "serve"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(URL + "config.json", timeout=1).read()
            return
        except OSError:
            if process.poll() is not None:
                sys.exit(f"error: the console server exited (is port {PORT} taken?)")
            time.sleep(0.1)
    sys.exit(f"error: the console did not answer at {URL} within 10 s")


if __name__ == "__main__":
    {"start": start, "stop": stop, "serve": serve}[sys.argv[1]]()
