#!/usr/bin/env bash
# Ack throughput through the emulator (BENCHMARKS.md): puts the reference function (one raw SDK
# SendMessage) behind the local stack's HTTP API, then measures POST /v1/messages beside it,
# with the work queue's consumer paused meanwhile.
# Needs the stack up (COURIER_PROFILE=measure infra/up.sh: the shipped code generation).
# Arguments go to target/<profile>/throughput.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$COURIER_ROOT"

[[ -f "$OUTPUTS_FILE" ]] || { echo "error: no local stack; run infra/up.sh first" >&2; exit 1; }
reference() { (cd "$COURIER_ROOT/infra" && "$EMULATOR_VENV/bin/python" deploy_reference.py "$@"); }
reference
# Both routes then only send: the processor does not read the work queue during the run (it
# catches up afterwards), so the emulator is not also serving courier's processing.
trap 'reference resume-work-consumer' EXIT
reference pause-work-consumer
"$COURIER_BIN/throughput" "$@"
