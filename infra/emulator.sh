#!/usr/bin/env bash
# Installs (pinned, into a project virtualenv), starts, checks and stops MiniStack.
#   infra/emulator.sh start|stop|status
set -euo pipefail
source "$(dirname "$0")/env.sh"

healthy() { curl -fsS -o /dev/null --max-time 2 "$COURIER_ENDPOINT/_ministack/health" 2>/dev/null \
  || curl -fsS -o /dev/null --max-time 2 "$COURIER_ENDPOINT/_localstack/health" 2>/dev/null; }

start() {
  if ! managed_emulator; then
    healthy || die "no emulator answers at $COURIER_ENDPOINT"
    log "using the emulator at $COURIER_ENDPOINT"
    return 0
  fi
  ensure_venv "$EMULATOR_VENV" "$COURIER_ROOT/infra/requirements-emulator.txt"
  if [[ -f "$EMULATOR_PID_FILE" ]] && kill -0 "$(cat "$EMULATOR_PID_FILE")" 2>/dev/null && healthy; then
    log "MiniStack already running (pid $(cat "$EMULATOR_PID_FILE"))"
    return 0
  fi
  if healthy; then
    die "something else already answers at $COURIER_ENDPOINT; stop it or set COURIER_ENDPOINT"
  fi
  mkdir -p "$COURIER_LOCAL_DIR"
  # Failpoints a crash-safety test armed in a stack that is gone must not fire in this one.
  rm -rf "${TMPDIR:-/tmp}/courier-failpoints-${COURIER_ENDPOINT//[^A-Za-z0-9]/-}"
  log "starting MiniStack on 127.0.0.1:$COURIER_PORT (log: ${EMULATOR_LOG#"$COURIER_ROOT"/})"
  # BIND_HOST keeps it off other interfaces; AWS_ENDPOINT_URL is what it hands to every function,
  # so their SDK calls come back here instead of going to AWS.
  BIND_HOST=127.0.0.1 GATEWAY_PORT="$COURIER_PORT" AWS_ENDPOINT_URL="$COURIER_ENDPOINT" \
    setsid "$EMULATOR_VENV/bin/ministack" >"$EMULATOR_LOG" 2>&1 < /dev/null &
  echo $! >"$EMULATOR_PID_FILE"
  for _ in $(seq 1 120); do
    healthy && { log "MiniStack is up"; return 0; }
    kill -0 "$(cat "$EMULATOR_PID_FILE")" 2>/dev/null || { tail -20 "$EMULATOR_LOG" >&2; die "MiniStack exited"; }
    sleep 0.5
  done
  die "MiniStack did not become healthy within 60 s (see $EMULATOR_LOG)"
}

stop() {
  managed_emulator || { log "external emulator at $COURIER_ENDPOINT left running"; return 0; }
  if [[ -f "$EMULATOR_PID_FILE" ]]; then
    local pid
    pid="$(cat "$EMULATOR_PID_FILE")"
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping MiniStack (pid $pid) and the functions it started"
      # setsid made it a process group leader: this also ends the function processes it spawned.
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$EMULATOR_PID_FILE"
  else
    log "no MiniStack started by these scripts is running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) healthy && echo "up at $COURIER_ENDPOINT" || { echo "down"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
