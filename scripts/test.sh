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

scripts/setup.sh || die "setup failed"
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fetch --quiet || die "cargo fetch failed"


step "repo checks (fmt, clippy, native tests, release build)" scripts/check.sh
step "browser tests (hooks vs real dev server, headless chromium)" scripts/browser-tests.sh
step "template checks (generated apps)" scripts/template-tests.sh
step "end-to-end suite (two users, restarts, frozen link, bad input)" e2e/run.sh
step "preview in a browser (scripts/demo.sh; a git-URL app's scripts/dev.sh)" scripts/preview-tests.sh

steps_summary
