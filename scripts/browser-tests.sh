#!/usr/bin/env bash
# Browser tests of the hooks: headless Chromium (through chromedriver) against the real dev server,
# started here on a free loopback port with its test-only endpoints and stopped at exit.
# The browser is $CHROME if set, else the first of chromium, google-chrome, google-chrome-stable,
# chromium-browser on PATH; the driver is $CHROMEDRIVER if set, else chromedriver on PATH. The two
# must be the same major version (Debian's chromium + chromium-driver from scripts/setup.sh are).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=browser-tests
source scripts/lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trap stop_spawned EXIT INT TERM

mkdir -p target/logs
browser=${CHROME:-}
if [ -z "$browser" ]; then
  for name in chromium google-chrome google-chrome-stable chromium-browser; do
    browser=$(command -v "$name" 2>/dev/null) && break
  done
fi
[ -n "$browser" ] && [ -x "$(command -v "$browser")" ] \
  || die "no browser: install chromium (scripts/setup.sh) or set CHROME=/path/to/chrome"
driver=${CHROMEDRIVER:-$(command -v chromedriver 2>/dev/null || true)}
[ -n "$driver" ] && [ -x "$driver" ] \
  || die "no chromedriver: install chromium-driver (scripts/setup.sh) or set CHROMEDRIVER=/path/to/chromedriver"
log "browser: $("$browser" --version 2>/dev/null) ($browser); driver: $("$driver" --version | cut -d' ' -f1-2)"
# hooks/webdriver.json holds the headless flags; the browser binary is added here, in a copy that
# wasm-bindgen-test-runner reads through WASM_BINDGEN_TEST_WEBDRIVER_JSON.
capabilities="$root/target/logs/browser-tests-webdriver.json"
python3 - "$root/hooks/webdriver.json" "$(command -v "$browser")" >"$capabilities" <<'PY'
import json, sys
caps = json.load(open(sys.argv[1]))
caps.setdefault("goog:chromeOptions", {})["binary"] = sys.argv[2]
print(json.dumps(caps, indent=2))
PY

cargo build --quiet --offline -p realtime-server
start_dev_server "${CARGO_TARGET_DIR:-target}/debug/realtime-server" target/logs/browser-tests-server.log \
  --addr 127.0.0.1:0 --test-endpoints --demo-interval-ms 0 --allowed-origins '*' \
  --outbound-queue 20000 --outbound-queue-bytes 67108864 --sse-retry-ms 500
log "dev server at $DEV_SERVER_URL"

export REALTIME_TEST_SERVER=$DEV_SERVER_URL
export CHROMEDRIVER=$driver
export WASM_BINDGEN_TEST_WEBDRIVER_JSON=$capabilities
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=120
# Arguments select test binaries and filters (e.g. `--test lifecycle item_05`); default: all.
if [ $# -eq 0 ]; then set -- --test browser --test lifecycle --test tokens --test resume; fi
cargo test --offline --target wasm32-unknown-unknown -p realtime-hooks "$@"
