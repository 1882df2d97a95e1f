#!/usr/bin/env bash
# Installs the pinned AWS build and deploy tools — SAM CLI, cfn-lint, cargo-lambda and zig
# (infra/requirements-tools.txt, from PyPI) — into .local/venv-tools, and the aarch64 Rust
# standard library the arm64 build needs; then prints how to put them on PATH.
#   infra/tools.sh
#   export PATH="$PWD/.local/venv-tools/bin:$PATH"   # then: sam build && sam deploy --guided
set -euo pipefail
source "$(dirname "$0")/env.sh"

ensure_venv "$TOOLS_VENV" "$COURIER_ROOT/infra/requirements-tools.txt"
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  log "adding the $target standard library (rustup)"
  rustup target add "$target"
fi
log "installed: $("$TOOLS_VENV/bin/sam" --version), $("$TOOLS_VENV/bin/cargo-lambda" lambda --version 2>/dev/null | awk '{print $1, $2}')"
echo "export PATH=\"$TOOLS_VENV/bin:\$PATH\""
