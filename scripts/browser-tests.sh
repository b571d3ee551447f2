#!/usr/bin/env bash
# Browser tests of the hooks: headless Debian Chromium (through chromedriver) against the real dev
# server, started here on a free loopback port with its test-only endpoints and stopped at exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=browser-tests
source scripts/lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trap stop_spawned EXIT INT TERM

mkdir -p target/logs
cargo build --quiet --offline -p realtime-server
start_dev_server "${CARGO_TARGET_DIR:-target}/debug/realtime-server" target/logs/browser-tests-server.log \
  --addr 127.0.0.1:0 --test-endpoints --demo-interval-ms 0 --allowed-origins '*' \
  --outbound-queue 20000 --sse-retry-ms 500
log "dev server at $DEV_SERVER_URL"

export REALTIME_TEST_SERVER=$DEV_SERVER_URL
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=120
# webdriver.json (headless flags for Debian's chromium) is read from the package directory.
cargo test --offline --target wasm32-unknown-unknown -p realtime-hooks --test browser
