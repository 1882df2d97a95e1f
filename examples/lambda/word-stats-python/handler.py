"""A courier job type served by a plain Python Lambda function (no courier code in it).

courier invokes it once per attempt with the task request documented in the README:
{"jobId", "type", "payload", "attempt", "deadline", "correlationId", "idempotencyKey"}; a payload
too large to send (over 256 KiB) comes as "payloadUrl" instead, a URL to GET it from.
What it returns is the job's result. An error it raises is retried on courier's schedule,
unless its message starts with "courier:permanent:" (PermanentError below), which fails the
job at once with the rest of the message as the reason.
"""


import hashlib
import json
import urllib.request


class PermanentError(Exception):
    """Fails the job for good. The marker in the message works in every runtime and in the
    emulator; on AWS the class name alone (errorType "PermanentError") would do too."""

    def __init__(self, reason: str):
        super().__init__(f"courier:permanent: {reason}")


def payload_of(event):
    """The payload, wherever courier put it."""
    url = event.get("payloadUrl")
    if url is None:
        return event["payload"]
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.load(response)


def handler(event, context):
    payload = payload_of(event)
    text = payload.get("text", "")
    if not text.strip():
        raise PermanentError("there is no text to count")
    # For trying retries out: the first `failures` attempts fail, as a flaky dependency would.
    if event["attempt"] <= payload.get("failures", 0):
        raise RuntimeError(f"attempt {event['attempt']} failed on purpose")
    words = text.split()
    return {
        "words": len(words),
        "longest": max(words, key=len),
        "attempt": event["attempt"],
        "characters": len(text),
        # What the text was, byte for byte.
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        # The key for this job's own downstream calls: the same on every attempt.
        "idempotencyKey": event["idempotencyKey"],
    }
