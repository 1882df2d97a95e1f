#!/usr/bin/env bash
# Fuzzes the deployed local stack's HTTP API with a stock OpenAPI fuzzer (Schemathesis, pinned
# in infra/requirements-fuzz.txt): every operation of the deployment's own API document
# (GET /v1/openapi.json: openapi.json with exactly the job types it runs, declared ones
# included, where the committed one takes any other type generically), bodies valid and invalid
# against it, all of its checks — a schema-valid request must be accepted, an invalid one
# refused with a documented status, no 5xx, every response as documented.
#   infra/fuzz.sh            (after infra/up.sh; the test command runs it)
# COURIER_FUZZ_EXAMPLES (default 25) and COURIER_FUZZ_SEED (default 1) bound and fix the run;
# no example database is kept, so every run (here or in CI) generates the same requests.
set -euo pipefail
source "$(dirname "$0")/env.sh"

ensure_venv "$FUZZ_VENV" "$COURIER_ROOT/infra/requirements-fuzz.txt"
api="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["HttpApiUrl"])' "$OUTPUTS_FILE")"

# Endpoint URLs are narrowed to the local stack's allowed host: the SSRF guard resolves a URL's
# host at registration and this machine has no DNS, so every generated host name would be
# refused (correctly) with 400 invalid-endpoint-url. Callbacks are left out of generated job
# bodies: a generated endpoint id names no endpoint of the caller's (400 invalid-callback). The
# webhook endpoint and callback suites cover both with real endpoints and receivers. Lists are
# fuzzed without their cursors (below).
work="$COURIER_LOCAL_DIR/fuzz"
mkdir -p "$work"
# Signed in as the local user (the CLI's sign-in); Schemathesis also sends each route a
# request without it and expects the documented 401.
token="$("$COURIER_BIN/courier" token)"
python3 - "$api/v1/openapi.json" "$token" "$work/deployed.json" <<'PY' ||
import sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {sys.argv[2]}"})
open(sys.argv[3], "wb").write(urllib.request.urlopen(request, timeout=30).read())
PY
  die "the deployment's API document (GET /v1/openapi.json) could not be read"
python3 - "$work/deployed.json" "$work/openapi.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for name, schema in doc["components"]["schemas"].items():
    if name.startswith("JobSubmission."):
        schema["properties"].pop("callback", None)
    if name.startswith(("JobSubmission.", "MessageSubmission.")):
        # A generated upload id names no upload of the caller's (400 invalid-payload-ref);
        # tests/tests/large_payloads.rs sends real, foreign and missing ones.
        schema["properties"].pop("payloadRef", None)
doc["components"]["schemas"]["NewWebhookEndpoint"]["properties"]["url"] = {
    "type": "string", "pattern": "^http://127\\.0\\.0\\.1/[a-z]{0,20}$"}
# A schedule's expression, time zone and job are checked beyond their schemas (the grammar,
# the zone, the job as POST /v1/jobs checks it): narrowed to ones that are valid, and that
# never fire while the rest of the run goes on; tests/tests/schedules.rs refuses bad ones.
schedules = doc["components"]["schemas"]
schedules["NewSchedule"]["properties"]["expression"] = {
    "type": "string", "pattern": "^rate\\(([2-9]|[1-9][0-9]) days\\)$"}
schedules["NewSchedule"]["properties"]["timezone"] = {"enum": ["UTC", "Europe/Paris"]}
schedules["ScheduledJob"]["properties"].pop("callback", None)
schedules["ScheduledJob"]["properties"]["type"] = {"const": "echo"}
# The emulator's gateway reads a %23 in a path as the start of a fragment: a generated id
# holding one reaches courier cut short, where another route may answer 405.
for path, item in doc["paths"].items():
    if "{" in path:
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("405", {"description": "cut short by the emulator"})
# A list's cursor is opaque and bound to its caller and filters: any string the fuzzer makes up
# is rightly a 400 invalid-cursor, so lists are fuzzed without one (the lists' end-to-end tests
# send real, stolen and altered cursors).
for item in doc["paths"].values():
    for operation in item.values():
        if isinstance(operation, dict) and "parameters" in operation:
            operation["parameters"] = [
                p for p in operation["parameters"]
                if p.get("$ref") != "#/components/parameters/Cursor"]
json.dump(doc, open(sys.argv[2], "w"), indent=1)
PY

# What the narrowed pattern leaves out can still be a URL the guard accepts (another spelling of
# an allowed host, say), so for registration only a pattern-violating URL is not expected to be
# refused; every other check still applies to it, and all checks to every other operation.
cat >"$work/schemathesis.toml" <<'TOML'
[[operations]]
include-path = "/v1/webhook-endpoints"
include-method = "POST"
checks.negative_data_rejection.enabled = false

# A destination is kept only once courier has delivered to it: a generated queue or bus ARN
# names nothing there is, so a well-formed one is refused too (400 destination-unreachable or
# invalid-destination); tests/tests/destinations.rs registers real ones.
[[operations]]
include-path = "/v1/destinations"
include-method = "POST"
checks.positive_data_acceptance.enabled = false
TOML

log "fuzzing the HTTP API (schemathesis, seed ${COURIER_FUZZ_SEED:-1})"
cd "$work"
if ! "$FUZZ_VENV/bin/schemathesis" run "$work/openapi.json" --url "$api" \
    --header "Authorization: Bearer $token" \
    --mode all --phases examples,coverage,fuzzing --generation-database none \
    --max-examples "${COURIER_FUZZ_EXAMPLES:-25}" --seed "${COURIER_FUZZ_SEED:-1}" \
    --no-color >"$work/report.txt" 2>&1; then
  cat "$work/report.txt" >&2
  die "the fuzzer found failures (report above, also in ${work#"$COURIER_ROOT"/}/report.txt)"
fi
log "fuzz: $(grep -oE "[0-9]+ generated" "$work/report.txt" | tail -1) requests, every check held"
