#!/usr/bin/env bash
# Runs every test: formatting, one compile that gives the functions, the CLI, every test binary
# and clippy's lints; unit tests; the end-to-end suites against a freshly deployed local stack
# (with a browser); the measured cost; the REST suites and the cost again through the lean door
# (Door=FunctionUrl); the fuzzer; the examples-disabled deployment. The SAM
# template lint and the AWS (arm64) build run beside all that, at the lowest CPU priority, so
# they only take time the rest leaves idle. Installs what it needs (pinned) on first run, stops
# the emulator it started, pass or fail, and prints where the minutes went.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$COURIER_ROOT"
mkdir -p "$COURIER_LOCAL_DIR"
# A run leaves the working tree as it found it (checked at the end).
tree_before="$(git status --porcelain=v1 --untracked-files=all 2>/dev/null || true)"

[[ "$COURIER_PROFILE" == local ]] || die "the test command builds with the local profile (COURIER_PROFILE=$COURIER_PROFILE)"
[[ -n "${RUSTC_WORKSPACE_WRAPPER:-}" ]] || die "clippy is missing: rustup component add clippy"

# Where the minutes go: each step's wall time, printed at the end (also when a step fails) and
# kept in .local/.
TIMES="$COURIER_LOCAL_DIR/test-times.txt"
: >"$TIMES"
step_name=""
step_started=$SECONDS
step() {
  step_name="$1"
  shift
  log "$step_name"
  step_started=$SECONDS
  "$@"
  printf '%-40s %4d s\n' "$step_name" $((SECONDS - step_started)) >>"$TIMES"
  step_name=""
}

started_here=""
background=()
cleanup() {
  local code=$? pid
  for pid in "${background[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null && kill -CONT -- "-$pid" 2>/dev/null || true
  done
  if [[ -n "$started_here" ]]; then "$COURIER_ROOT/infra/down.sh" || true; fi
  if [[ -n "$step_name" ]]; then
    printf '%-40s %4d s, FAILED\n' "$step_name" $((SECONDS - step_started)) >>"$TIMES"
  fi
  if ((code != 0)); then
    log "the run failed after $((SECONDS / 60)) min $((SECONDS % 60)) s; its steps:"
    cat "$TIMES" >&2
  fi
}
trap cleanup EXIT

# Warnings of courier's own code (rustc's and clippy's: clippy-driver compiles it) fail the run.
# Cargo reports a crate's warnings again whenever it finds the crate already built, so this
# holds for what `up` compiled before, and both share one compile (the lint settings are the
# same for both: see infra/env.sh).
without_warnings() {
  local output="$COURIER_LOCAL_DIR/build-output.log"
  "$@" 2>&1 | tee "$output"
  if grep -E "^warning: .+ generated [0-9]+ warnings?" "$output" >&2; then
    die "courier's code has warnings (above); they fail the test command"
  fi
}

# A job in the background: its own process group (cleanup ends a build with its children), its
# CPU priority, its output in .local/<name>.log, and its time.
spawn() {
  local name="$1" nice="$2"
  shift 2
  set -m
  (
    at=$SECONDS
    ((nice == 0)) || renice -n "$nice" -p "$BASHPID" >/dev/null || true
    # `set -e` holds inside the job (a failure anywhere in it fails it), and nothing it runs
    # can stop for input.
    set +e
    (set -e; "$@") </dev/null >"$COURIER_LOCAL_DIR/$name.log" 2>&1
    code=$?
    printf '%-40s %4d s (in the background)\n' "$name" $((SECONDS - at)) >>"$TIMES"
    exit "$code"
  ) &
  local pid=$!
  set +m
  background+=("$pid")
  printf -v "pid_${name//-/_}" '%s' "$pid"
}
join() {
  local name="$1" pid_var="pid_${1//-/_}" code=0
  wait "${!pid_var}" || code=$?
  local pid left=()
  for pid in "${background[@]}"; do [[ "$pid" == "${!pid_var}" ]] || left+=("$pid"); done
  background=("${left[@]}")
  if ((code != 0)); then
    cat "$COURIER_LOCAL_DIR/$name.log" >&2
    die "$name failed (its output is above, and in ${COURIER_LOCAL_DIR#"$COURIER_ROOT"/}/$name.log)"
  fi
}

step "cargo fmt --check" cargo fmt --all -- --check

# The browser test drives Debian's Chromium through its WebDriver (chromedriver); the example
# workers include a Node.js function, which the emulator runs on the host's node. One apt-get
# for whatever is missing (two at once would fight over dpkg's lock).
install_browser() {
  local missing=()
  command -v chromedriver >/dev/null || missing+=(chromium chromium-driver)
  command -v node >/dev/null || missing+=(nodejs)
  ((${#missing[@]})) || return 0
  local sudo=()
  [[ $EUID -eq 0 ]] || sudo=(sudo -n)
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}")
  "${install[@]}" || { "${sudo[@]}" apt-get update -qq && "${install[@]}"; }
}
# The AWS build path: the template lint, then arm64 bootstraps through cargo-lambda, as
# `sam deploy` would ship them (target/aarch64-…/release: no lock shared with target/local).
aws_build() {
  ensure_venv "$TOOLS_VENV" "$COURIER_ROOT/infra/requirements-tools.txt"
  "$TOOLS_VENV/bin/sam" validate --lint --template-file "$COURIER_ROOT/template.yaml"
  "$COURIER_ROOT/infra/sam-build.sh"
}
spawn browser-install 0 install_browser
spawn emulator-install 0 ensure_venv "$EMULATOR_VENV" "$COURIER_ROOT/infra/requirements-emulator.txt"
spawn fuzzer-install 0 ensure_venv "$FUZZ_VENV" "$COURIER_ROOT/infra/requirements-fuzz.txt"
spawn aws-build 19 aws_build
ensure_nextest

# One profile and one feature set for every cargo call: the dependencies compile once for the
# functions, the CLI, every test and the lints.
build_everything() {
  without_warnings "$COURIER_ROOT/infra/build.sh"
  without_warnings cargo nextest run --cargo-profile "$COURIER_PROFILE" --locked --workspace --features "$COURIER_FEATURES" \
    --all-targets --no-run
}
step "build (functions, CLI, tests, lints)" build_everything

# Everything but the end-to-end suites needs no stack.
unit_tests() {
  cargo nextest run --cargo-profile "$COURIER_PROFILE" --locked --workspace --features "$COURIER_FEATURES" \
    -E "not ($E2E_TESTS)"
  cargo test --profile "$COURIER_PROFILE" --locked --workspace --features "$COURIER_FEATURES" --doc
}
step "unit tests" unit_tests

join emulator-install
if managed_emulator && ! "$COURIER_ROOT/infra/emulator.sh" status >/dev/null 2>&1; then
  started_here=1
fi
# With the example job-types document: its types are served by the example workers, plain
# Python and Node.js functions that `up` deploys beside the stack.
export COURIER_JOB_TYPES="$COURIER_ROOT/examples/job-types.json"
step "local stack up (emulator, deploy)" "$COURIER_ROOT/infra/up.sh" >/dev/null

join browser-install
# Many at a time: they wait on the emulator, not on the CPU. The crash-safety tests take turns
# among themselves (.config/nextest.toml).
e2e_tests() {
  log "in headless $(chromium --version 2>/dev/null || echo Chromium) for the web console"
  cargo nextest run --cargo-profile "$COURIER_PROFILE" --locked --workspace --features "$COURIER_FEATURES" \
    --profile e2e -E "$E2E_TESTS"
}
step "end-to-end tests" e2e_tests

# The measured bill (BENCHMARKS.md): every AWS call the requests made is one the pricing knows.
step "cost per million requests, measured" "$COURIER_BIN/cost" --requests 20

deploy() { "$EMULATOR_VENV/bin/python" "$COURIER_ROOT/infra/deploy.py" >/dev/null; }

# The lean door (Door=FunctionUrl): the suites that call the REST routes, again through the
# function URL, and its bill; then the stack as `up` left it. The rest (crash safety, runAt,
# schedules, WebSocket, events, expiry) never pass through the door; README "The lean door"
# names the subset.
lean_door() {
  COURIER_DOOR=FunctionUrl deploy
  cargo nextest run --cargo-profile "$COURIER_PROFILE" --locked --workspace --features "$COURIER_FEATURES" \
    --profile e2e -E "$LEAN_DOOR_TESTS"
  "$COURIER_BIN/cost" --requests 20
  deploy
}
step "redeployed with Door=FunctionUrl" lean_door

# After the suites: the fuzzer leaves delayed jobs and dead letters behind that they would wait on.
join fuzzer-install
step "fuzz the HTTP API" "$COURIER_ROOT/infra/fuzz.sh"

# The template parameter that switches the example job types off, on the deployed stack; then
# the stack is put back as `up` left it.
examples_disabled() {
  COURIER_EXAMPLE_JOB_TYPES=disabled deploy
  cargo nextest run --cargo-profile "$COURIER_PROFILE" --locked --workspace --features "$COURIER_FEATURES" \
    --profile e2e --run-ignored only -E 'binary(examples_disabled)'
  deploy
}
step "redeployed with ExampleJobTypes=disabled" examples_disabled

step "waiting for the AWS build" join aws-build
grep -E "aarch64 bootstrap|SKIPPED" "$COURIER_LOCAL_DIR/aws-build.log" >&2 || true

if [[ "$(git status --porcelain=v1 --untracked-files=all 2>/dev/null || true)" != "$tree_before" ]]; then
  git status --short >&2
  die "the run changed the working tree (above): whatever wrote there belongs in .local/ or target/"
fi

log "where the minutes went (total $((SECONDS / 60)) min $((SECONDS % 60)) s)"
cat "$TIMES" >&2
