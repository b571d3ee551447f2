#!/usr/bin/env bash
# The preview, proven the way people use it (template repo only; never copied into apps):
#   1. README command 1, `scripts/demo.sh`, started as a user starts it;
#   2. an app made with `cargo generate --git <a git repository of this template>`, named
#      acme-board, extended with `cargo xtask new-page poll --endpoint` (no hand edit), checked
#      with its own `scripts/check.sh` (fmt, clippy for every page, native tests, release build),
#      and started with its own `scripts/dev.sh` (its own target/, as a team has it).
# Each serves with `trunk serve`; e2e/preview/preview.test.mjs then watches the printed URL in
# headless Chromium: one page load in 20 s, chat both ways, a notification and a cursor through
# Trunk's proxies within 2 s each, and an edit of a page's source that reloads the page exactly
# once; on acme-board, two users post to each other on the generated /poll page. Figures:
# target/artifacts/preview/{demo,acme-board,acme-board-new-page,generator}.json; logs:
# target/logs/preview-*.log.
#
#   scripts/preview-tests.sh [demo] [acme-board]     both when none is named
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=preview-tests
source scripts/lib.sh
source scripts/template-lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
mkdir -p target/logs target/artifacts/preview
rm -f target/artifacts/preview/*

# preview LABEL APP_DIR NAME COMMAND...: starts COMMAND (its own process group) with a free page
# port, waits for its "NAME is running: URL" line, runs the browser proof, stops it.
preview() {
  local label=$1 app=$2 name=$3; shift 3
  local logfile="$root/target/logs/preview-$label.log" port pid url="" rc=0
  port_in_use 8081 && { log "port 8081 is taken; the dev server of $label needs it (Trunk.toml proxies to it)"; return 1; }
  port=$(free_port)
  log "$label: starting $* (page port $port; log ${logfile#"$root"/})"
  : >"$logfile" # now, not in the background job: the loop below must never read the last run's URL
  setsid env TRUNK_SERVE_PORT="$port" "$@" >>"$logfile" 2>&1 &
  pid=$!
  local waited=$SECONDS
  while [ -z "$url" ]; do
    url=$(sed -n "s/^$name is running: //p" "$logfile" | head -1)
    kill -0 "$pid" 2>/dev/null || { tail -30 "$logfile" >&2; log "$label: exited before printing its URL"; return 1; }
    if (( SECONDS - waited > 1500 )); then
      log "$label: no URL after 1500 s"; kill -TERM -- "-$pid"; wait "$pid" 2>/dev/null; return 1
    fi
    sleep 1
  done
  log "$label: serving $url after $((SECONDS - waited)) s; watching it in Chromium"
  PREVIEW_URL=$url PREVIEW_APP=$app PREVIEW_LABEL=$label PREVIEW_NAME=$name PREVIEW_NEW_PAGE=${NEW_PAGE:-} \
    node --test --test-concurrency=1 e2e/preview/preview.test.mjs || rc=$?
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # The dev server's port must be free again for the next preview.
  for _ in $(seq 50); do port_in_use 8081 || break; sleep 0.2; done
  local builds
  builds=$(grep -c 'starting build' "$app/target/trunk-serve.log" 2>/dev/null || echo '?')
  log "$label: trunk started $builds builds (the first, the edit and its undo are expected)"
  return $rc
}

want=" ${*:-demo acme-board} "
failed=0
# 1. README command 1.
if [[ $want == *" demo "* ]]; then
  preview demo "$root/target/generated/demo" demo scripts/demo.sh || failed=1
fi
[[ $want == *" acme-board "* ]] || exit $failed

# 2. From a git URL, as teams generate. The repository holds this working tree (committed or not),
#    so what is tested is what is here.
work="$root/target/preview"
rm -rf "$work"
mkdir -p "$work"
snapshot_template "$work/template.git"
git -C "$work/template.git" init --quiet
git -C "$work/template.git" add -A
git -C "$work/template.git" -c user.name=preview -c user.email=preview@localhost commit --quiet -m snapshot
log "acme-board: cargo generate --git file://$work/template.git"
cargo generate --git "file://$work/template.git" --name acme-board --destination "$work" --silent \
  >"$root/target/logs/preview-generate.log" 2>&1 || { tail -20 "$root/target/logs/preview-generate.log" >&2; die "cargo generate --git failed"; }
# Extending it as a team would: one command adds a page and its endpoint, then the app's own
# checks must pass with no hand edit. As a team runs it: no shared build cache, the app's own target/.
app="$work/acme-board"
log "acme-board: cargo xtask new-page poll --endpoint"
started=$SECONDS
(cd "$app" && env -u CARGO_TARGET_DIR cargo xtask new-page poll --endpoint) \
  >"$root/target/logs/preview-xtask.log" 2>&1 || { cat "$root/target/logs/preview-xtask.log" >&2; die "cargo xtask new-page failed"; }
generated=$((SECONDS - started))
sed 's/^/  /' "$root/target/logs/preview-xtask.log" >&2
log "acme-board: its own scripts/check.sh with the new page"
(cd "$app" && env -u CARGO_TARGET_DIR scripts/check.sh) >"$root/target/logs/preview-check.log" 2>&1 \
  || { tail -40 "$root/target/logs/preview-check.log" >&2; die "acme-board's scripts/check.sh failed after new-page"; }
checked=$((SECONDS - started))
python3 - "$root/target/logs/preview-xtask.log" "$generated" "$checked" >target/artifacts/preview/generator.json <<'PY'
import json, sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip().startswith(("created", "edited"))]
print(json.dumps({"command": "cargo xtask new-page poll --endpoint", "files": lines,
                  "generate_s": int(sys.argv[2]), "generate_and_check_s": int(sys.argv[3])}, indent=2))
PY
log "acme-board: new-page took ${generated} s (a first build of xtask included); with the app's checks ${checked} s"
NEW_PAGE="/poll:Poll" preview acme-board "$app" acme-board env -u CARGO_TARGET_DIR "$app/scripts/dev.sh" || failed=1
exit $failed
