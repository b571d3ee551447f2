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
#
# On a machine with nothing installed, the compiles take most of the time. The Debian packages and
# the npm tools are downloaded and installed in the background meanwhile. Their output goes to a log
# that is printed only if they fail. trunk and cargo-generate only start other programs, serve
# files and fill in templates, so they are built at opt-level 1 with no LTO: their own release
# profiles ask for fat LTO and a single codegen unit. Measured for trunk on 2 cores: 465 s as
# published, 389 s without LTO, 299 s without LTO at opt-level 1. wasm-bindgen keeps its
# optimised release build, because it runs on every build and every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }

TRUNK_VERSION=0.21.14
CARGO_GENERATE_VERSION=0.23.14

tmp=$(mktemp -d)
# On any exit, wait for the background installs before removing their logs: a dpkg that is cut off
# halfway leaves apt's state broken.
trap 'wait; rm -rf "$tmp"' EXIT
background=()   # "pid:name" entries, each with its output in $tmp/name.log

# in_background NAME COMMAND...: runs a function or command with its output in $tmp/NAME.log.
in_background() {
  local name=$1; shift
  "$@" >"$tmp/$name.log" 2>&1 &
  background+=("$!:$name")
}

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
install_apt() {
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo DEBIAN_FRONTEND=noninteractive)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq "${apt_missing[@]}" >/dev/null
}
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${apt_missing[*]}"
  if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
    in_background apt install_apt
  else
    install_apt   # sudo asks for a password: that needs the terminal
  fi
fi

# Node tools live in tools/node_modules; scripts put tools/node_modules/.bin on PATH.
if ! (cd "$root/tools" && node -e '
  const want = require("./package.json").dependencies;
  for (const [name, version] of Object.entries(want)) {
    if (require(name + "/package.json").version !== version) process.exit(1);
  }' >/dev/null 2>&1); then
  log "installing node tools (binaryen, playwright-core)"
  in_background npm sh -c 'cd "$1" && npm install --no-audit --no-fund --loglevel=error' sh "$root/tools"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# cargo_tool PROFILE BIN CRATE VERSION [extra cargo install args...]
# PROFILE: "quick" (opt-level 1, no LTO, see above) or "release" (the crate's own).
cargo_tool() {
  local profile=$1 bin=$2 crate=$3 version=$4; shift 4
  if command -v "$bin" >/dev/null 2>&1 && "$bin" --version 2>/dev/null | grep -qF " $version"; then
    return 0
  fi
  local settings=()
  [ "$profile" = quick ] && settings=(CARGO_PROFILE_RELEASE_OPT_LEVEL=1
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16)
  log "installing $crate $version (cargo install; takes minutes on 2 cores)"
  env "${settings[@]}" cargo install --quiet "$crate" --version "=$version" --force "$@"
}

cargo_tool quick trunk trunk "$TRUNK_VERSION" --locked
# cargo-generate is only for the repo apps are generated from (it has cargo-generate.toml).
if [ -f "$root/cargo-generate.toml" ]; then
  cargo_tool quick cargo-generate cargo-generate "$CARGO_GENERATE_VERSION" --locked
fi
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$root/Cargo.lock")
[ -n "$wb_version" ] || { log "cannot read the wasm-bindgen version from Cargo.lock"; exit 1; }
cargo_tool release wasm-bindgen wasm-bindgen-cli "$wb_version"

for job in "${background[@]}"; do
  if ! wait "${job%%:*}"; then
    cat "$tmp/${job#*:}.log" >&2
    log "installing the ${job#*:} packages failed (its output is above)"
    exit 1
  fi
done

ready="$(trunk --version), wasm-bindgen $wb_version"
if command -v cargo-generate >/dev/null 2>&1; then
  ready+=", cargo-generate $(cargo-generate --version 2>/dev/null | grep -oE "[0-9]+\.[0-9]+\.[0-9]+" | head -1)"
fi
if command -v redis-server >/dev/null 2>&1; then ready+=", $(redis-server --version | cut -d' ' -f1-3)"; fi
if browser=$("${CHROME:-chromium}" --version 2>/dev/null); then ready+=", $browser"; fi
log "ready: $ready"
