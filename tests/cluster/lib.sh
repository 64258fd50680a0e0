# Shared helpers for the local control plane scripts (sourced, not run).
# shellcheck shell=bash

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${PGRENV_CACHE:-$HOME/.cache/postgres-reconciler}"
# Where `up` writes, and `down` and the tests read, the facts of a running environment.
ENV_FILE="${PGRENV_FILE:-$REPO/target/pgr-cluster/env}"

log() { echo "[$(basename "$0")] $*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Prints N distinct free loopback TCP ports (bound together, so they are distinct).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# wait_until <seconds> <description> <command...>: polls the command every 0.25 s.
wait_until() {
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.25
  done
  log "$what ready"
}

# Starts a background process, records its pid under $W/pids/<name>.pid, logs to $W/logs/<name>.log.
start_process() {
  local name="$1"; shift
  "$@" >"$W/logs/$name.log" 2>&1 &
  echo $! >"$W/pids/$name.pid"
}

# Shows the tail of a component's log and fails.
fail_with_log() {
  local name="$1"; shift
  log "error: $* (last lines of $W/logs/$name.log follow)"
  tail -n 30 "$W/logs/$name.log" >&2 || true
  exit 1
}
