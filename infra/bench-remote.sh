#!/usr/bin/env bash
# What the processor adds to a declared type's Lambda job, beside a minimal program making the
# same AWS calls (BENCHMARKS.md). Needs the stack up with the examples' document:
#   COURIER_PROFILE=measure infra/up.sh --job-types examples/job-types.json
# Argument: jobs per side (60 unless given).
set -euo pipefail
source "$(dirname "$0")/env.sh"
[[ -f "$OUTPUTS_FILE" ]] || die "no local stack; run infra/up.sh --job-types examples/job-types.json first"
AWS_ENDPOINT_URL="$COURIER_ENDPOINT" "$COURIER_BIN/remote-overhead" "$@" 2>/dev/null | grep -v '^{'
