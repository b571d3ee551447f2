# Shell helpers shared by the scripts: ports, processes, waiting, test steps. Source it; it defines
# functions and the step counters only.

log() { printf '[%s] %s\n' "${LOG_TAG:-yew-realtime}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A free TCP port on 127.0.0.1 (asks the kernel; the tiny race is acceptable for tests).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_in_use() {
  python3 -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# Processes started with `spawn` are stopped (whole process group) when the script exits; call
# it directly, not in $(...), or the parent never learns the pid.
SPAWNED=()
spawn() {
  local logfile=$1; shift
  setsid "$@" >"$logfile" 2>&1 &
  SPAWNED+=("$!")
}
stop_spawned() {
  local pid
  for pid in "${SPAWNED[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${SPAWNED[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  SPAWNED=()
}

# start_dev_server BIN LOGFILE ARGS...: starts the dev server on the address in ARGS, waits for
# its "listening on URL" line and sets DEV_SERVER_URL and DEV_SERVER_PID. Call it directly, not
# in $(...): a subshell would lose the process from SPAWNED, and nothing would stop it at exit.
start_dev_server() {
  local bin=$1 logfile=$2; shift 2
  local out="$logfile.stdout"
  setsid "$bin" "$@" >"$out" 2>"$logfile" &
  local pid=$!
  SPAWNED+=("$pid")
  local start=$SECONDS
  until grep -q '^listening on ' "$out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "dev server exited during start"; }
    (( SECONDS - start < 30 )) || die "waited 30s for the dev server to listen"
    sleep 0.1
  done
  DEV_SERVER_URL=$(sed -n 's/^listening on //p' "$out" | head -1)
  DEV_SERVER_PID=$pid
}

# The app's package name (the root package of the workspace, the one Trunk builds).
app_package_name() {
  cargo metadata --no-deps --format-version 1 --offline \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["name"] for p in m["packages"] if p["manifest_path"] == m["workspace_root"] + "/Cargo.toml"))'
}

# A test command's steps: `step NAME COMMAND...` runs one and counts it; `steps_summary` logs the
# wall time (from $start, else the script's start) and the failures, prints the closing line
# "steps: N passed, N failed" and fails when any step did.
passed=0 failed=0 failures=()
step() {
  local name=$1 t=$SECONDS; shift
  log "== $name"
  if "$@"; then
    passed=$((passed + 1)); log "ok: $name ($((SECONDS - t))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); log "FAILED: $name ($((SECONDS - t))s)"
  fi
  log "disk free after it: $(df -P -h . | awk 'NR==2 { print $4 }')"
}
steps_summary() {
  log "wall time $((SECONDS - ${start:-0}))s"
  local f
  for f in ${failures[@]+"${failures[@]}"}; do log "failed: $f"; done
  echo "steps: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
