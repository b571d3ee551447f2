#!/usr/bin/env bash
# README command 2: every test. Installs what is missing, then runs, in order:
#   checks of this repo (fmt, clippy, native unit/property/integration tests, release build),
#   browser tests of the hooks against the real dev server, the template checks (generated apps),
#   the end-to-end suite, and the preview proof: README command 1 (scripts/demo.sh) and a git-URL
#   generated app's own scripts/dev.sh, each watched through `trunk serve` in headless Chromium.
# Prints one summary line at the end: "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=test
source scripts/lib.sh
start=$SECONDS

# Disk: a clean CI run peaked at 7.2 GB written (clean clone, 2026-12-04; it was over 14.9 GB
# before dependencies lost their debug info and CI its incremental caches, and ran a CI disk out
# of space). Say so up front rather than die of ENOSPC half an hour in.
need_gb=8
free_gb=$(df -P -BG "$root" | awk 'NR==2 { sub("G", "", $4); print $4 }')
log "free disk at $root: ${free_gb} GB (a clean run needs about ${need_gb} GB)"
if [ "${free_gb:-0}" -lt "$need_gb" ]; then
  log "warning: less than ${need_gb} GB free; the build may stop with 'No space left on device'"
fi
if [ -n "${CI:-}" ]; then
  # CI builds once from a clean clone: incremental caches (1.4 GB) would never be reused.
  export CARGO_INCREMENTAL=0
fi

scripts/setup.sh || die "setup failed"
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fetch --quiet || die "cargo fetch failed"


step "repo checks (fmt, clippy, native tests, release build)" scripts/check.sh
step "browser tests (hooks vs real dev server, headless chromium)" scripts/browser-tests.sh
step "template checks (generated apps)" scripts/template-tests.sh
step "end-to-end suite (two users, restarts, frozen link, bad input)" e2e/run.sh
if [ -n "${CI:-}" ]; then
  # The preview step builds each app in its own target/, as a team has it: on CI the generated
  # apps' shared cache (target/apps, up to 3.1 GB measured) has served its last step and only costs disk.
  rm -rf target/apps
fi
step "preview in a browser (scripts/demo.sh; a git-URL app's scripts/dev.sh)" scripts/preview-tests.sh

steps_summary
