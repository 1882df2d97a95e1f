#!/usr/bin/env bash
# Runs every test: formatting and lints, unit tests, the SAM template lint and the AWS (arm64)
# build, then the end-to-end suite against a freshly deployed local stack. Installs what it needs
# (pinned) on first run, and stops the emulator it started, pass or fail.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$COURIER_ROOT"

started_here=""
cleanup() {
  if [[ -n "$started_here" ]]; then "$COURIER_ROOT/infra/down.sh" || true; fi
}
trap cleanup EXIT

log "cargo fmt --check"
cargo fmt --all -- --check

# The browser test drives Debian's Chromium through its WebDriver (chromedriver): installed from
# the distribution's packages in the background while the workspace builds.
install_browser() {
  command -v chromedriver >/dev/null && return 0
  local sudo=()
  [[ $EUID -eq 0 ]] || sudo=(sudo -n)
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
  "${install[@]}" || { "${sudo[@]}" apt-get update -qq && "${install[@]}"; }
}
mkdir -p "$COURIER_LOCAL_DIR"
install_browser >"$COURIER_LOCAL_DIR/browser-install.log" 2>&1 &
browser_install=$!

# One profile and one package set (--workspace) for every cargo call, so features unify the same
# way each time and the AWS SDK is compiled once.
log "building functions, CLI and tests"
"$COURIER_ROOT/infra/build.sh"
cargo test --profile local --locked --workspace --features "$COURIER_FEATURES" --no-run

log "unit tests"
cargo test --profile local --locked --workspace --features "$COURIER_FEATURES" --lib --bins
cargo test --profile local --locked --workspace --features "$COURIER_FEATURES" --doc

log "cargo clippy"
cargo clippy --profile local --locked --workspace --all-targets \
  --features "$COURIER_FEATURES,courier-e2e/examples-disabled" -- -D warnings

log "sam validate --lint"
ensure_venv "$TOOLS_VENV" "$COURIER_ROOT/infra/requirements-tools.txt"
"$TOOLS_VENV/bin/sam" validate --lint --template-file "$COURIER_ROOT/template.yaml"

# The AWS build path: arm64 bootstraps through cargo-lambda, as `sam deploy` would ship them.
"$COURIER_ROOT/infra/sam-build.sh"

if managed_emulator && ! "$COURIER_ROOT/infra/emulator.sh" status >/dev/null 2>&1; then
  started_here=1
fi
"$COURIER_ROOT/infra/up.sh" >/dev/null

wait "$browser_install" || { cat "$COURIER_LOCAL_DIR/browser-install.log" >&2; die "could not install chromium and chromium-driver"; }
log "end-to-end tests against the local stack (and the web console in headless $(chromium --version 2>/dev/null || echo Chromium))"
cargo test --profile local --locked --workspace --features "$COURIER_FEATURES" --test '*'

# The measured bill (BENCHMARKS.md): every AWS call the requests made is one the pricing knows.
log "cost per million requests, measured"
"$COURIER_ROOT/target/local/cost" --requests 20

# Last: the fuzzer leaves delayed jobs and dead letters behind that the suite above would wait on.
"$COURIER_ROOT/infra/fuzz.sh"

# The template parameter that switches the example job types off, on the deployed stack; then
# the stack is put back as `up` left it.
log "redeploying with ExampleJobTypes=disabled"
deploy() { "$EMULATOR_VENV/bin/python" "$COURIER_ROOT/infra/deploy.py" >/dev/null; }
COURIER_EXAMPLE_JOB_TYPES=disabled deploy
cargo test --profile local --locked --workspace --features "$COURIER_FEATURES,courier-e2e/examples-disabled" \
  --test examples_disabled
deploy
