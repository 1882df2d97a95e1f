#!/usr/bin/env bash
# Builds every function for this machine (the emulator runs them as host processes) and lays out
# one directory per function holding its `bootstrap`, as Lambda's provided.al2023 expects.
# AWS builds use `sam build` (cargo lambda, arm64) instead; see the README.
set -euo pipefail
source "$(dirname "$0")/env.sh"

FUNCTIONS=(http-api processor notifier websocket authorizer)
log "building functions and the courier CLI (profile $COURIER_PROFILE, host architecture)"
# --workspace (not -p): the same package set as the test builds, so no dependency is compiled twice.
(cd "$COURIER_ROOT" && cargo build --profile "$COURIER_PROFILE" --locked --workspace --bins --features "$COURIER_FEATURES")
for f in "${FUNCTIONS[@]}"; do
  mkdir -p "$COURIER_LOCAL_DIR/build/$f"
  install -m 0755 "$COURIER_BIN/$f" "$COURIER_LOCAL_DIR/build/$f/bootstrap"
done
