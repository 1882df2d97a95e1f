#!/usr/bin/env bash
# Fuzzes the deployed local stack's HTTP API with a stock OpenAPI fuzzer (Schemathesis, pinned
# in infra/requirements-fuzz.txt): every operation in openapi.json, bodies valid and invalid
# against it, all of its checks — a schema-valid request must be accepted, an invalid one
# refused with a documented status, no 5xx, every response as documented.
#   infra/fuzz.sh            (after infra/up.sh; the test command runs it)
# COURIER_FUZZ_EXAMPLES (default 25) and COURIER_FUZZ_SEED (default 1) bound and fix the run;
# no example database is kept, so every run (here or in CI) generates the same requests.
set -euo pipefail
source "$(dirname "$0")/env.sh"

FUZZ_VENV="$COURIER_LOCAL_DIR/venv-fuzz"
ensure_venv "$FUZZ_VENV" "$COURIER_ROOT/infra/requirements-fuzz.txt"
api="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["HttpApiUrl"])' "$OUTPUTS_FILE")"

# Callback URLs are left out of generated bodies: the SSRF guard resolves a callback's host at
# submission and this machine has no DNS, so every generated host is refused (correctly) with
# 400 invalid-callback-url. The callback suite covers callbacks with real receivers.
work="$COURIER_LOCAL_DIR/fuzz"
mkdir -p "$work"
python3 - "$COURIER_ROOT/openapi.json" "$work/openapi.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for name, schema in doc["components"]["schemas"].items():
    if name.startswith("JobSubmission."):
        schema["properties"].pop("callback", None)
json.dump(doc, open(sys.argv[2], "w"), indent=1)
PY

# Signed in as the local user (the CLI's sign-in); Schemathesis also sends each route a
# request without it and expects the documented 401.
token="$("$COURIER_ROOT/target/release/courier" token)"

log "fuzzing the HTTP API (schemathesis, seed ${COURIER_FUZZ_SEED:-1})"
cd "$work"
if ! "$FUZZ_VENV/bin/schemathesis" run "$work/openapi.json" --url "$api" \
    --header "Authorization: Bearer $token" \
    --mode all --checks all --phases examples,coverage,fuzzing --generation-database none \
    --max-examples "${COURIER_FUZZ_EXAMPLES:-25}" --seed "${COURIER_FUZZ_SEED:-1}" \
    --no-color >"$work/report.txt" 2>&1; then
  cat "$work/report.txt" >&2
  die "the fuzzer found failures (report above, also in ${work#"$COURIER_ROOT"/}/report.txt)"
fi
log "fuzz: $(grep -oE "[0-9]+ generated" "$work/report.txt" | tail -1) requests, every check held"
