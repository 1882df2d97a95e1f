"""A courier job type served by a plain Python Lambda function (no courier code in it).

courier invokes it once per attempt with the task request documented in the README:
{"jobId", "type", "payload", "attempt", "deadline", "correlationId", "idempotencyKey"}.
What it returns is the job's result. An error it raises is retried on courier's schedule,
unless its message starts with "courier:permanent:" (PermanentError below), which fails the
job at once with the rest of the message as the reason.
"""


class PermanentError(Exception):
    """Fails the job for good. The marker in the message works in every runtime and in the
    emulator; on AWS the class name alone (errorType "PermanentError") would do too."""

    def __init__(self, reason: str):
        super().__init__(f"courier:permanent: {reason}")


def handler(event, context):
    payload = event["payload"]
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
        # The key for this job's own downstream calls: the same on every attempt.
        "idempotencyKey": event["idempotencyKey"],
    }
