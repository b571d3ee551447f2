#!/usr/bin/env bash
# The app's test command: its checks (scripts/check.sh: fmt, clippy, native tests, release build),
# then the hooks' browser tests in headless Chromium against the app's own dev server
# (scripts/browser-tests.sh) when server/ is there. Needs the tools from scripts/setup.sh.
# Prints one closing line: "steps: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=test
source scripts/lib.sh
start=$SECONDS


step "checks (fmt, clippy, native tests, release build)" scripts/check.sh
if [ -d server ]; then
  step "browser tests (hooks vs the dev server, headless Chromium)" scripts/browser-tests.sh
else
  log "browser tests not run: they need the dev server (server/), which this app does not have"
fi

steps_summary
