#!/usr/bin/env bash
# The AWS build: `sam build` with cargo-lambda (rust-cargolambda), arm64, zig from PyPI, no
# Docker. Checks that every function came out as an aarch64 Linux `bootstrap` in .aws-sam/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$COURIER_ROOT"

ensure_venv "$TOOLS_VENV" "$COURIER_ROOT/infra/requirements-tools.txt"
# What ships is compiled by rustc alone: not through the local builds' clippy-driver wrapper
# (which also turns MIR optimisations off), and never with their features.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

# Cross-compiling needs the Rust standard library for aarch64, a rustup component (from
# static.rust-lang.org, not a package registry). Where it cannot be fetched, say so and stop
# here without failing the run, unless COURIER_REQUIRE_SAM_BUILD=1.
target=aarch64-unknown-linux-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  log "adding the $target standard library (rustup)"
  if ! rustup target add "$target"; then
    if [[ "${COURIER_REQUIRE_SAM_BUILD:-0}" == 1 ]]; then
      echo "error: cannot install the $target target; sam build needs it" >&2
      exit 1
    fi
    log "SKIPPED sam build: the $target target cannot be installed on this machine"
    exit 0
  fi
fi
# cargo-lambda and zig live in the tools virtualenv; sam finds them on PATH.
export PATH="$TOOLS_VENV/bin:$PATH"
log "sam build (arm64, cargo-lambda)"
sam build --template-file template.yaml --parameter-overrides Architecture=arm64

# Functions of one CodeUri (the notifier and the destination probe) are built once, into
# "<the first>-Shared": each function's artifact is where the built template points it.
artifact() {
  awk -v name="$1:" '
    $1 == name { inside = 1; next }
    inside && /^  [A-Za-z]/ { exit }
    inside && $1 == "CodeUri:" { print $2; exit }
  ' .aws-sam/build/template.yaml
}
for function in HttpApiFunction ProcessorFunction NotifierFunction DestinationProbeFunction WebSocketFunction AuthorizerFunction; do
  bootstrap=".aws-sam/build/$(artifact "$function")/bootstrap"
  [[ -x "$bootstrap" ]] || { echo "error: $bootstrap missing" >&2; exit 1; }
  # ELF e_machine (bytes 18-19, little endian) 0xb7 is AArch64.
  machine="$(od -An -tx1 -j18 -N2 "$bootstrap" | tr -d ' \n')"
  [[ "$machine" == "b700" ]] || { echo "error: $bootstrap is not an aarch64 binary ($machine)" >&2; exit 1; }
  # The crash-safety failpoints and the AWS-call meter are for the local stack only.
  if grep -q "processor.after-start" "$bootstrap"; then
    echo "error: $bootstrap carries failpoints" >&2
    exit 1
  fi
  if grep -q "courierMeter" "$bootstrap"; then
    echo "error: $bootstrap carries the AWS-call meter" >&2
    exit 1
  fi
  log "$function: $(du -h "$bootstrap" | cut -f1) aarch64 bootstrap, no failpoints, no meter"
done
