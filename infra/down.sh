#!/usr/bin/env bash
# Stops exactly what infra/up.sh started (the MiniStack process group and its functions).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$COURIER_ROOT/infra/emulator.sh" stop
rm -f "$OUTPUTS_FILE"
