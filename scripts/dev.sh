#!/usr/bin/env bash
# Preview the app: starts the dev server (when server/ exists) on 127.0.0.1:8081 and `trunk serve`
# on 127.0.0.1:8080 (Trunk.toml proxies /ws, /sse and /api to the dev server), prints the URL, and
# stops both on Ctrl-C. Set TRUNK_SERVE_PORT for another page port. Logs go to target/, which
# Trunk.toml's [watch] ignore keeps out of Trunk's sight (a log write must never cause a rebuild).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=dev
source scripts/lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trap stop_spawned EXIT INT TERM

page_port=${TRUNK_SERVE_PORT:-8080}
port_in_use "$page_port" && die "port $page_port is taken: set TRUNK_SERVE_PORT to a free port"
mkdir -p target
# Resolve dependencies before Trunk watches: a first build that rewrites Cargo.lock (a freshly
# generated app renames its package) would otherwise trigger a second build and a page reload.
cargo fetch --quiet
name=$(app_package_name)
if [ -d server ]; then
  port_in_use 8081 && die "port 8081 (the dev server, see Trunk.toml) is taken by another process"
  log "building the dev server"
  cargo build --quiet -p realtime-server
  start_dev_server "${CARGO_TARGET_DIR:-target}/debug/realtime-server" target/dev-server.log \
    --addr 127.0.0.1:8081 --allowed-origins "http://127.0.0.1:$page_port,http://localhost:$page_port" \
    --dev-login
  log "dev server on $DEV_SERVER_URL (log: target/dev-server.log)"
fi
log "building the app with trunk (first build takes a few minutes)"
spawn target/trunk-serve.log trunk serve --port "$page_port" --address 127.0.0.1
trunk_pid=${SPAWNED[${#SPAWNED[@]}-1]}
# Print the URL only once it serves the built app (the page loads its wasm through a script).
waited=$SECONDS
until curl -fsS --max-time 2 "http://127.0.0.1:$page_port/" 2>/dev/null | grep -q '<script'; do
  kill -0 "$trunk_pid" 2>/dev/null || { tail -20 target/trunk-serve.log >&2; die "trunk serve stopped (log: target/trunk-serve.log)"; }
  (( SECONDS - waited < 1200 )) || die "trunk serve did not serve the app within 1200 s (log: target/trunk-serve.log)"
  sleep 0.5
done
echo "$name is running: http://127.0.0.1:$page_port/"
log "press Ctrl-C to stop (trunk log: target/trunk-serve.log)"
wait
