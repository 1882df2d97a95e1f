#!/usr/bin/env bash
# The AWS build: `sam build` with cargo-lambda (rust-cargolambda), arm64, zig from PyPI, no
# Docker. Checks that every function came out as an aarch64 Linux `bootstrap` in .aws-sam/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$COURIER_ROOT"

ensure_venv "$TOOLS_VENV" "$COURIER_ROOT/infra/requirements-tools.txt"
# cargo-lambda and zig live in the tools virtualenv; sam finds them on PATH.
export PATH="$TOOLS_VENV/bin:$PATH"
log "sam build (arm64, cargo-lambda)"
sam build --template-file template.yaml --parameter-overrides Architecture=arm64

for function in HttpApiFunction ProcessorFunction NotifierFunction WebSocketFunction; do
  bootstrap=".aws-sam/build/$function/bootstrap"
  [[ -x "$bootstrap" ]] || { echo "error: $bootstrap missing" >&2; exit 1; }
  # ELF e_machine (bytes 18-19, little endian) 0xb7 is AArch64.
  machine="$(od -An -tx1 -j18 -N2 "$bootstrap" | tr -d ' \n')"
  [[ "$machine" == "b700" ]] || { echo "error: $bootstrap is not an aarch64 binary ($machine)" >&2; exit 1; }
  log "$function: $(du -h "$bootstrap" | cut -f1) aarch64 bootstrap"
done
