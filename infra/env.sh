# Shared settings for the local stack scripts. Source it; override any value from the environment.
# shellcheck shell=bash

COURIER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export COURIER_ROOT
export COURIER_LOCAL_DIR="${COURIER_LOCAL_DIR:-$COURIER_ROOT/.local}"

# The emulator: MiniStack on 127.0.0.1:$COURIER_PORT (4566 unless set; give each checkout its
# own port to run two local stacks side by side). Point COURIER_ENDPOINT at a running emulator
# to use it instead; the scripts then neither install nor start nor stop MiniStack.
export COURIER_PORT="${COURIER_PORT:-4566}"
export COURIER_ENDPOINT="${COURIER_ENDPOINT:-http://127.0.0.1:$COURIER_PORT}"
# The web console (infra/console.py), served beside the stack; its origin is the one the local
# HTTP API allows (CORS).
export COURIER_CONSOLE_PORT="${COURIER_CONSOLE_PORT:-$((COURIER_PORT + 1000))}"
# The example HTTP worker (examples/http-worker), which up starts beside the stack (not 2000
# above: browsers' and Node's fetch refuse ports such as 6566 and 6666).
export COURIER_WORKER_PORT="${COURIER_WORKER_PORT:-$((COURIER_PORT + 1500))}"
export COURIER_STACK_NAME="${COURIER_STACK_NAME:-courier-local}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="$AWS_DEFAULT_REGION"
# Emulator credentials: never real ones.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export SAM_CLI_TELEMETRY=0

EMULATOR_VENV="$COURIER_LOCAL_DIR/venv-emulator"
TOOLS_VENV="$COURIER_LOCAL_DIR/venv-tools"
FUZZ_VENV="$COURIER_LOCAL_DIR/venv-fuzz"
EMULATOR_PID_FILE="$COURIER_LOCAL_DIR/ministack.pid"
EMULATOR_LOG="$COURIER_LOCAL_DIR/ministack.log"
OUTPUTS_FILE="$COURIER_LOCAL_DIR/outputs.json"

# `local` builds fast; `measure` is the shipped code generation without LTO, for benchmarks.
export COURIER_PROFILE="${COURIER_PROFILE:-local}"
# The local stack's builds carry the crash-safety failpoints and the AWS-call meter; `local`
# builds also tokio's paused clock (the unit tests'), so that the functions, the CLI and every
# test share one compile of the dependencies. AWS builds, through sam build, carry none of them.
# Every cargo call of the local scripts uses this one profile and feature set.
COURIER_FEATURES="courier-shared/failpoints,courier-shared/metering"
if [[ "$COURIER_PROFILE" == local ]]; then
  COURIER_FEATURES+=",courier-shared/paused-clock"
fi
export COURIER_FEATURES
case "$COURIER_PROFILE" in
  dev | test) COURIER_BIN="$COURIER_ROOT/target/debug" ;;
  bench) COURIER_BIN="$COURIER_ROOT/target/release" ;;
  *) COURIER_BIN="$COURIER_ROOT/target/$COURIER_PROFILE" ;;
esac
export COURIER_BIN
# In `local` builds clippy-driver compiles courier's own crates (the workspace's compiler wrapper;
# dependencies are compiled by rustc as usual): one compile gives the binaries, the tests and
# clippy's lints, where `cargo clippy` would check every dependency a second time. The lints are
# warnings here; the test command fails on any warning cargo reports (it replays them for crates
# already built), so `up` and the tests share that compile. `measure` builds, and sam build, are
# compiled by rustc alone (clippy-driver turns MIR optimisations off).
if [[ "$COURIER_PROFILE" == local ]]; then
  if [[ -z "${RUSTC_WORKSPACE_WRAPPER+set}" ]]; then
    RUSTC_WORKSPACE_WRAPPER="$(cd "$COURIER_ROOT" && { rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true; })"
  fi
  export RUSTC_WORKSPACE_WRAPPER
  export CLIPPY_ARGS="${CLIPPY_ARGS:-}"
else
  unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
fi
# The deploy scripts import each other: no __pycache__ in the working tree.
export PYTHONDONTWRITEBYTECODE=1

managed_emulator() {
  # MiniStack is ours to manage only when the endpoint is the default local one.
  [[ -z "${COURIER_EXTERNAL_EMULATOR:-}" && "$COURIER_ENDPOINT" == "http://127.0.0.1:$COURIER_PORT" ]]
}

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Creates (or refreshes, when the pinned requirements change) a virtualenv.
ensure_venv() {
  local venv="$1" requirements="$2"
  local stamp="$venv/.requirements.sha256"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  log "installing $(basename "$requirements") into ${venv#"$COURIER_ROOT"/}"
  rm -rf "$venv"
  python3 -m venv "$venv" || return
  # The stamp only once everything is in: a failed install is retried by the next run.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements" || return
  echo "$want" >"$stamp"
}

# The test runner: cargo-nextest, pinned. Used from the machine where it is that version,
# otherwise built from crates.io into .local/cargo-tools.
NEXTEST_VERSION=0.9.143
ensure_nextest() {
  local own="$COURIER_LOCAL_DIR/cargo-tools/bin"
  export PATH="$own:$PATH"
  if [[ "$(cargo nextest --version 2>/dev/null | head -1)" == "cargo-nextest $NEXTEST_VERSION "* ]]; then
    return 0
  fi
  log "installing cargo-nextest $NEXTEST_VERSION into ${own%/bin}"
  cargo install --locked --quiet --root "${own%/bin}" "cargo-nextest@$NEXTEST_VERSION"
}

# The end-to-end tests (nextest's filter language): they need the deployed local stack.
E2E_TESTS='package(courier-e2e) and kind(test)'
# The suites that call the REST routes, run again through the lean door (infra/test.sh).
LEAN_DOOR_TESTS="$E2E_TESTS and (binary(bad_input) | binary(fire_and_forget) | binary(claim_check) | binary(callback) | binary(idempotency) | binary(see_every_job) | binary(webhook_endpoints) | binary(destinations) | binary(later) | binary(quotas) | binary(job_types) | binary(large_payloads) | binary(remote_types) | binary(console) | binary(operations))"
