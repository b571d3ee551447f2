#!/usr/bin/env bash
# README command 2: every test. Installs what is missing, then runs, in order:
#   checks of this repo (fmt, clippy, native unit/property/integration tests, release build),
#   browser tests of the hooks against the real dev server, the template checks (generated apps),
#   and a smoke test of the demo command (README command 1).
# Prints one summary line at the end: "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=test
source scripts/lib.sh
start=$SECONDS

scripts/setup.sh || die "setup failed"
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fetch --quiet || die "cargo fetch failed"

passed=0 failed=0 failures=()
step() { # NAME COMMAND...
  local name=$1 t=$SECONDS; shift
  log "== $name"
  if "$@"; then
    passed=$((passed + 1)); log "ok: $name ($((SECONDS - t))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); log "FAILED: $name ($((SECONDS - t))s)"
  fi
}

demo_smoke() {
  local port; port=$(free_port)
  port_in_use 8081 && { log "port 8081 is taken; the demo's dev server needs it"; return 1; }
  local logfile="$root/target/logs/demo-smoke.log"
  mkdir -p "$root/target/logs"
  setsid env TRUNK_SERVE_PORT="$port" scripts/demo.sh >"$logfile" 2>&1 &
  local pid=$!
  local start_wait=$SECONDS url=""
  while [ -z "$url" ]; do
    url=$(sed -n 's/^yew-realtime is running: //p' "$logfile" | head -1)
    kill -0 "$pid" 2>/dev/null || { tail -30 "$logfile" >&2; return 1; }
    (( SECONDS - start_wait < 900 )) || { log "waited 900s for the demo URL"; kill -TERM -- "-$pid"; return 1; }
    sleep 1
  done
  # Trunk may rebuild once right after it starts serving (its watcher sees the first build's
  # Cargo.lock update) and swap dist/ meanwhile: give the checks a bounded 30 s to hold.
  local ok=1 until_s=$((SECONDS + 30))
  while (( SECONDS < until_s )); do
    if curl -fsS "$url" | grep -q '<script' && curl -fsS "${url}typed-chat" | grep -q '<script' \
        && curl -fsS "http://127.0.0.1:8081/healthz" | grep -q '"ok"'; then
      ok=0; break
    fi
    sleep 1
  done
  kill -TERM -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if [ $ok = 0 ]; then log "demo served $url"; else log "the demo at $url did not serve the app for 30 s"; fi
  return $ok
}

step "repo checks (fmt, clippy, native tests, release build)" scripts/check.sh
step "browser tests (hooks vs real dev server, headless chromium)" scripts/browser-tests.sh
step "template checks (generated apps)" scripts/template-tests.sh
step "end-to-end suite (two users, restarts, frozen link, bad input)" e2e/run.sh
step "demo command serves the app" demo_smoke

log "wall time $((SECONDS - start))s"
for f in "${failures[@]}"; do log "failed: $f"; done
echo "steps: $passed passed, $failed failed"
[ "$failed" = 0 ]
