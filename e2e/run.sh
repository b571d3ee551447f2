#!/usr/bin/env bash
# End-to-end suite (template only; never copied into generated apps): two users in headless Debian
# Chromium (playwright-core from tools/node_modules) against an app freshly generated from this
# template with the default answers, built by trunk and served by its own dev server.
#
#   e2e/run.sh                 everything (node's test runner prints the summary: "# pass N", "# fail N")
#   e2e/run.sh e2e/tests/x.test.mjs   one file
#
# What it prepares (reused while newer than every template source, rebuilt otherwise):
#   - the default-answers app: target/generated/yew-realtime-app (from scripts/template-tests.sh)
#     if its dist/ is fresh, else its own copy in target/e2e/default-app/; the dist and the dev
#     server binary are copied into target/e2e/ so a concurrent template-tests run cannot pull
#     them away mid-suite;
#   - the absolute-URL variant (scenario 9) in target/e2e/abs-app/, its endpoints pointing at a
#     free non-default port recorded in target/e2e/abs-app/port (regenerated if that port is taken),
#     built with only the chat and notifications pages (cargo features `chat,notifications`).
# Artifacts: target/artifacts/e2e/ (screenshots of every scenario's pages, failures, server logs),
# target/artifacts/screenshots/ (the four pages, light and dark). Needs scripts/setup.sh to have run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=e2e
source scripts/lib.sh
source scripts/template-lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# The generated apps' build cache (as in scripts/template-tests.sh), never the repo's own target/:
# same-named packages from another path would stand in for each other there.
export CARGO_TARGET_DIR="$root/target/apps"

work="$root/target/e2e"
artifacts="$root/target/artifacts/e2e"
# Artifacts describe this run only.
rm -rf "$artifacts"
rm -f "$root"/target/artifacts/screenshots/{chat,typed-chat,notifications,cursors}-{light,dark,phone-light,phone-dark}.png
mkdir -p "$work/pids" "$work/bin" "$artifacts" "$root/target/artifacts/screenshots"

[ -x /usr/bin/chromium ] || die "no /usr/bin/chromium: run scripts/setup.sh first"
[ -f tools/node_modules/playwright-core/package.json ] || die "no playwright-core in tools/node_modules: run scripts/setup.sh first"
command -v trunk >/dev/null && command -v cargo-generate >/dev/null || die "trunk/cargo-generate missing: run scripts/setup.sh first"

# Servers started by the tests leave their pid here; whatever is still running at exit (a test
# process killed mid-run) is stopped, and only if it really is a dev server we started.
stop_leftovers() {
  local f pid
  for f in "$work"/pids/*; do
    [ -e "$f" ] || continue
    pid=$(basename "$f")
    if grep -qaE "realtime-server|redis-server|nginx" "/proc/$pid/cmdline" 2>/dev/null; then
      kill -CONT -- "-$pid" 2>/dev/null || true
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}
node_pid=
cleanup() {
  # The test runner runs in its own process group (below): end it, then any server it left.
  [ -n "$node_pid" ] && kill -TERM -- "-$node_pid" 2>/dev/null
  stop_leftovers
}
stop_leftovers
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Files whose change makes a generated app stale (what ends up in its wasm or its server).
sources=(Cargo.toml Cargo.lock index.html Trunk.toml cargo-generate.toml hooks pages src server template tools/package.json)
fresh() { # APP: generated after the last change to the template, and built
  [ -f "$1/Cargo.toml" ] && [ -f "$1/dist/index.html" ] && ls "$1"/dist/*.wasm >/dev/null 2>&1 \
    && [ "$1/dist/index.html" -nt "$1/Cargo.toml" ] \
    && [ -z "$(find "${sources[@]}" -newer "$1/Cargo.toml" -type f -print -quit)" ]
}

# cargo-generate reads the template from a snapshot without target/ (snapshot_template, scripts/lib.sh).
generate_and_build() { # DEST NAME LOG [cargo-generate -d args...]; PAGES=a,b builds only those
  local dest=$1 name=$2 logfile=$3; shift 3
  local features=()
  [ -z "${PAGES:-}" ] || features=(--no-default-features --features "$PAGES")
  rm -rf "$dest"
  mkdir -p "$dest"
  log "generating $name into ${dest#"$root"/} (log: ${logfile#"$root"/})"
  snapshot_template "$work/template"
  cargo generate --path "$work/template" --name "$name" --destination "$dest" --silent --vcs none "$@" >"$logfile" 2>&1 \
    || { tail -30 "$logfile" >&2; die "cargo generate $name failed"; }
  log "building $name with trunk (release; a minute or two)"
  (cd "$dest/$name" && cargo fetch --quiet && trunk build --release --offline ${features[@]+"${features[@]}"}) >>"$logfile" 2>&1 \
    || { tail -40 "$logfile" >&2; die "trunk build of $name failed"; }
}

# 1. The default-answers app and its dev server.
app="$root/target/generated/yew-realtime-app"
if ! fresh "$app"; then
  app="$work/default-app/yew-realtime-app"
  fresh "$app" || generate_and_build "$work/default-app" yew-realtime-app "$work/default-app.log"
fi
log "app: ${app#"$root"/}"
log "building its dev server"
(cd "$app" && cargo build --quiet --offline -p realtime-server) || die "building the dev server of ${app#"$root"/} failed"
rm -rf "$work/dist-default"
cp -r "$app/dist" "$work/dist-default"
cp "$CARGO_TARGET_DIR/debug/realtime-server" "$work/bin/realtime-server.tmp"
mv -f "$work/bin/realtime-server.tmp" "$work/bin/realtime-server"

# 2. The variant with absolute endpoint URLs on a non-default port (no dev server of its own),
#    generated without sign-in (auth_login_url empty): it connects without tokens.
abs="$work/abs-app"
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null; }
# The port is baked into the build, so it is picked below the kernel's ephemeral range (where
# the browser's and node's own outgoing connections take their local ports) and away from 8081.
pick_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    port_free "$p" && { echo "$p"; return; }
  done
  die "found no free port in 20000-31999"
}
abs_port=$(cat "$abs/port" 2>/dev/null || true)
abs_pages=chat,notifications
if [ -z "$abs_port" ] || ! fresh "$abs/e2e-abs-app" || ! port_free "$abs_port" \
  || [ "$(cat "$abs/pages" 2>/dev/null)" != "$abs_pages" ]; then
  abs_port=$(pick_port)
  PAGES=$abs_pages generate_and_build "$abs" e2e-abs-app "$work/abs-app.log" \
    -d "chat_ws_url=ws://127.0.0.1:$abs_port/ws/chat" \
    -d "typed_chat_ws_url=ws://127.0.0.1:$abs_port/ws/typed-chat" \
    -d "notifications_sse_url=http://127.0.0.1:$abs_port/sse/notifications" \
    -d "presence_ws_url=ws://127.0.0.1:$abs_port/ws/presence" \
    -d "auth_login_url=" \
    -d dev_server=false
  echo "$abs_port" >"$abs/port"
  echo "$abs_pages" >"$abs/pages"
fi
grep -qF "CHAT: &str = ws(\"ws://127.0.0.1:$abs_port/ws/chat\")" "$abs/e2e-abs-app/src/config.rs" \
  || die "the absolute-URL app's src/config.rs does not point at port $abs_port"
grep -qF 'AUTH_LOGIN: &str = login("")' "$abs/e2e-abs-app/src/config.rs" \
  || die "the absolute-URL app was meant to be generated without sign-in (auth_login_url empty)"
log "absolute-URL app: ${abs#"$root"/}/e2e-abs-app, endpoints on 127.0.0.1:$abs_port"

export E2E_SERVER_BIN="$work/bin/realtime-server"
export E2E_APP_DIST="$work/dist-default"
export E2E_ABS_DIST="$abs/e2e-abs-app/dist"
export E2E_ABS_PORT="$abs_port"
export E2E_ABS_PAGES="$abs_pages"
export E2E_PID_DIR="$work/pids"
export E2E_ARTIFACTS="$artifacts"

if [ $# -eq 0 ]; then set -- e2e/tests/; fi
log "running: node --test --test-concurrency=1 $*"
# In the background and its own process group, so that INT/TERM reach the trap at once and the
# cleanup can stop the runner, its test processes and their browsers together.
setsid node --test --test-concurrency=1 "$@" &
node_pid=$!
rc=0
wait "$node_pid" || rc=$?
node_pid=
exit "$rc"
