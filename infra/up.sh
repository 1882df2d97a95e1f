#!/usr/bin/env bash
# Brings the whole system up locally: pinned emulator, functions built for this machine, the same
# template.yaml deployed into it. Running it again rebuilds and redeploys.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# --job-types FILE: deploy with the job types a document declares (or COURIER_JOB_TYPES=FILE).
# --door HttpApi|FunctionUrl: what serves the REST routes (or COURIER_DOOR; HttpApi by default).
usage="usage: infra/up.sh [--job-types FILE] [--door HttpApi|FunctionUrl]"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --job-types) [[ $# -ge 2 ]] || die "--job-types needs a FILE"; COURIER_JOB_TYPES="$2"; shift 2 ;;
    --job-types=*) COURIER_JOB_TYPES="${1#*=}"; shift ;;
    --door) [[ $# -ge 2 ]] || die "--door needs HttpApi or FunctionUrl"; COURIER_DOOR="$2"; shift 2 ;;
    --door=*) COURIER_DOOR="${1#*=}"; shift ;;
    *) die "unknown argument $1 ($usage)" ;;
  esac
done
case "${COURIER_DOOR:-HttpApi}" in
  HttpApi|FunctionUrl) export COURIER_DOOR="${COURIER_DOOR:-HttpApi}" ;;
  *) die "unknown door ${COURIER_DOOR} ($usage)" ;;
esac
if [[ -n "${COURIER_JOB_TYPES:-}" ]]; then
  [[ -f "$COURIER_JOB_TYPES" ]] || die "no job-types document at $COURIER_JOB_TYPES"
  COURIER_JOB_TYPES="$(cd "$(dirname "$COURIER_JOB_TYPES")" && pwd)/$(basename "$COURIER_JOB_TYPES")"
  export COURIER_JOB_TYPES
fi

"$COURIER_ROOT/infra/emulator.sh" start
"$COURIER_ROOT/infra/build.sh"
# The deploy script uses the emulator virtualenv's boto3 (pinned with it).
ensure_venv "$EMULATOR_VENV" "$COURIER_ROOT/infra/requirements-emulator.txt"
PYTHON="$EMULATOR_VENV/bin/python"
"$PYTHON" "$COURIER_ROOT/infra/deploy.py"
# The example workers (examples/lambda): functions of the kind a team already has, which
# examples/job-types.json declares as job types.
"$PYTHON" "$COURIER_ROOT/infra/example_workers.py" start
"$PYTHON" "$COURIER_ROOT/infra/console.py" start

output() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$OUTPUTS_FILE" "$1"; }
url="$(output HttpApiUrl)"
courier="${COURIER_BIN#"$COURIER_ROOT"/}/courier"
ws_url="$(output WebSocketUrl)"
cat <<MSG

courier is up.
  API base URL : $url
  WebSocket    : $ws_url  (the same token, as Authorization: Bearer or ?token=)
  web console  : $(output ConsoleUrl)  (sign in as $(output LocalUsername); password in the outputs)
  outputs      : ${OUTPUTS_FILE#"$COURIER_ROOT"/}
  stop it with : infra/down.sh

Every route takes a JWT of the stack's user pool; the local user ($(output LocalUsername),
password in the outputs) signs in by itself when the courier CLI talks to the local stack:
  TOKEN="\$($courier token)"

Send a fire-and-forget message:
  curl -si -X POST '$url/v1/messages' \\
    -H "Authorization: Bearer \$TOKEN" \\
    -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \\
    -d '{"type": "sha256", "payload": {"data": "hello"}}'

Submit a job and wait for it, or stream one over the WebSocket API:
  $courier submit sleep '{"ms": 2000}' --wait
  $courier ws sleep '{"ms": 2000}'
MSG
