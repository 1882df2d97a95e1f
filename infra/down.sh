#!/usr/bin/env bash
# Stops exactly what infra/up.sh started (the web console's server, the MiniStack process group
# and its functions).
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [[ -x "$EMULATOR_VENV/bin/python" ]]; then
  "$EMULATOR_VENV/bin/python" "$COURIER_ROOT/infra/console.py" stop
  "$EMULATOR_VENV/bin/python" "$COURIER_ROOT/infra/example_workers.py" stop
fi
"$COURIER_ROOT/infra/emulator.sh" stop
rm -f "$OUTPUTS_FILE"
