#!/usr/bin/env bash
# Installs everything the run and test commands need, and nothing twice.
#
# Idempotent and cache-friendly: each step checks for the pinned version first. Safe to run on a
# machine with only the base image (rustup + cargo + node + apt; as root, or a user with sudo) or
# on one where earlier runs or CI actions installed some of it. Pins, and why:
#   trunk 0.21.14, cargo-generate 0.23.14: the newest releases that build with rustc 1.95.
#   wasm-bindgen-cli: must equal the wasm-bindgen in Cargo.lock (read from it below); its
#     `--locked` install fails with this toolchain, so it is installed without.
#   binaryen 132 (npm): Debian's wasm-opt 108 cannot parse rustc 1.95 output.
#   chromium + chromium-driver (Debian): the only browser the tests use; no tool downloads its own.
#     Not installed when CHROME and CHROMEDRIVER name a browser and its driver already (as CI's
#     setup-chrome step does), nor when there is no server/ (the browser tests need the dev server).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }

TRUNK_VERSION=0.21.14
CARGO_GENERATE_VERSION=0.23.14

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# cargo_tool BIN CRATE VERSION [extra cargo install args...]
cargo_tool() {
  local bin=$1 crate=$2 version=$3; shift 3
  if command -v "$bin" >/dev/null 2>&1 && "$bin" --version 2>/dev/null | grep -qF " $version"; then
    return 0
  fi
  log "installing $crate $version (cargo install; takes minutes on 2 cores)"
  cargo install --quiet "$crate" --version "=$version" --force "$@"
}

cargo_tool trunk trunk "$TRUNK_VERSION" --locked
# cargo-generate is only for the repo apps are generated from (it has cargo-generate.toml).
if [ -f "$root/cargo-generate.toml" ]; then
  cargo_tool cargo-generate cargo-generate "$CARGO_GENERATE_VERSION" --locked
fi
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$root/Cargo.lock")
[ -n "$wb_version" ] || { log "cannot read the wasm-bindgen version from Cargo.lock"; exit 1; }
cargo_tool wasm-bindgen wasm-bindgen-cli "$wb_version"

# Debian packages: the browser for the browser tests; redis-server and nginx for the
# dev server's scale-out tests (its Redis tests start their own on free loopback ports; the
# packages' own services are not used); openssl for the TLS test's throwaway certificates. All
# of them only matter with the dev server.
apt_missing=()
if [ -d "$root/server" ]; then
  if [ -n "${CHROME:-}" ] && [ -n "${CHROMEDRIVER:-}" ]; then
    log "browser given: CHROME=$CHROME CHROMEDRIVER=$CHROMEDRIVER (no Debian chromium)"
  else
    command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || apt_missing+=(chromium-driver)
  fi
  command -v redis-server >/dev/null 2>&1 || apt_missing+=(redis-server)
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || apt_missing+=(nginx-light)
  # The Redis-over-TLS test makes a throwaway CA with it.
  command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${apt_missing[*]}"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo DEBIAN_FRONTEND=noninteractive)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

# Node tools live in tools/node_modules; scripts put tools/node_modules/.bin on PATH.
if ! (cd "$root/tools" && node -e '
  const want = require("./package.json").dependencies;
  for (const [name, version] of Object.entries(want)) {
    if (require(name + "/package.json").version !== version) process.exit(1);
  }' >/dev/null 2>&1); then
  log "installing node tools (binaryen, playwright-core)"
  (cd "$root/tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
ready="$(trunk --version), wasm-bindgen $wb_version"
if command -v cargo-generate >/dev/null 2>&1; then
  ready+=", cargo-generate $(cargo-generate --version 2>/dev/null | grep -oE "[0-9]+\.[0-9]+\.[0-9]+" | head -1)"
fi
if command -v redis-server >/dev/null 2>&1; then ready+=", $(redis-server --version | cut -d' ' -f1-3)"; fi
if browser=$("${CHROME:-chromium}" --version 2>/dev/null); then ready+=", $browser"; fi
log "ready: $ready"
