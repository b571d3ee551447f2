#!/usr/bin/env bash
# How many builds does `trunk serve` start per saved file? Two ways of saving, alternated:
#   in place  truncate and write the watched file (Node's writeFileSync; most editors' default);
#   rename    write a file outside the watched folders, then rename it over the watched file
#             (vim, JetBrains' "safe write"; e2e/preview/preview.test.mjs saves this way).
# A static page (no Rust) keeps each build to milliseconds, so hundreds of saves take minutes.
# Prints, per way: saves, builds, extra builds. Trunk 0.21.14's 25 ms debouncer can hand the
# truncate and the write of one in-place save to its watcher as two changes; each change after a
# build has started starts another build, and each build reloads the page.
#
#   bench/trunk-save.sh [SAVES_PER_ROUND] [ROUNDS] [BUSY]    defaults 100 2 0
# BUSY 1 keeps both cores busy (two shell spin loops) while saving, as on a loaded CI machine.
# Every round uses a fresh trunk on a free loopback port; nothing outlives the script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
LOG_TAG=trunk-save
source "$root/scripts/lib.sh"
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
saves=${1:-100} rounds=${2:-2} busy=${3:-0}
command -v trunk >/dev/null || die "trunk is not installed (scripts/setup.sh installs it)"

work=$(mktemp -d)
spinners=()
cleanup() {
  for pid in "${spinners[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_spawned
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir -p "$work/site/src" "$work/side"
cat >"$work/site/index.html" <<'HTML'
<!DOCTYPE html><html><head><title>trunk-save</title></head><body>saved</body></html>
HTML
cat >"$work/site/Trunk.toml" <<'TOML'
[build]
target = "index.html"
dist = "dist"
[watch]
watch = ["index.html", "src"]
TOML
head -c 9000 /dev/zero | tr '\0' 'x' | fold -w 90 >"$work/site/src/page.rs"

cat >"$work/save.mjs" <<'JS'
// node save.mjs MODE N FILE SIDE: N saves of FILE, 400 ms apart (each build is done by then).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
const [mode, n, file, side] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
const original = readFileSync(file, 'utf8');
for (let i = 0; i < n; i++) {
  const text = `${original}// save ${i}\n`;
  if (mode === 'rename') {
    writeFileSync(side, text);
    renameSync(side, file);
  } else {
    writeFileSync(file, text);
  }
  await new Promise((resolve) => setTimeout(resolve, 400));
}
JS

builds() { grep -c 'starting build' "$1" || true; }

# one MODE: a fresh trunk, SAVES saves; sets `made` to the builds they started.
made=0
one() {
  local mode=$1 logfile="$work/trunk-$1.log" port before after
  port=$(free_port)
  spawn "$logfile" trunk serve --address 127.0.0.1 --port "$port"
  local pid=${SPAWNED[${#SPAWNED[@]}-1]} waited=$SECONDS
  until curl -fsS --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null | grep -q saved; do
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "trunk serve stopped"; }
    (( SECONDS - waited < 60 )) || die "trunk serve did not serve within 60 s"
    sleep 0.2
  done
  sleep 1
  before=$(builds "$logfile")
  node "$work/save.mjs" "$mode" "$saves" "$work/site/src/page.rs" "$work/side/page.rs.tmp"
  sleep 1
  after=$(builds "$logfile")
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  made=$((after - before))
}

if [ "$busy" = 1 ]; then
  for _ in 1 2; do timeout 3600 sh -c 'while :; do :; done' & spinners+=("$!"); done
fi
cd "$work/site"
declare -A total=([inplace]=0 [rename]=0)
for round in $(seq "$rounds"); do
  for mode in inplace rename; do
    one "$mode"
    total[$mode]=$((total[$mode] + made))
    log "round $round, $mode: $saves saves, $made builds"
  done
done
for mode in inplace rename; do
  echo "$mode: $((saves * rounds)) saves, ${total[$mode]} builds, $((total[$mode] - saves * rounds)) extra (busy=$busy)"
done
