#!/usr/bin/env bash
# The app's own checks: formatting, lints (wasm and native), native tests, and a release build.
# Needs the tools from scripts/setup.sh. Works offline once `cargo fetch` has run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=check
source scripts/lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

wasm_packages=(-p realtime-hooks -p realtime-pages -p "$(app_package_name)")

log "cargo fmt --check"
cargo fmt --all --check
log "clippy (wasm32): app, hooks, pages, browser tests"
cargo clippy --offline --target wasm32-unknown-unknown "${wasm_packages[@]}" --lib --bins -- -D warnings
cargo clippy --offline --target wasm32-unknown-unknown -p realtime-hooks --test browser --test lifecycle --test tokens --test resume -- -D warnings
# Each page is a cargo feature of the app shell: every page alone, and none (the blank shell),
# must build warning-free too. The pages are the `[features]` entries that turn on `any-page`
# (src/pages.rs is the registry; a unit test keeps the two lists equal).
app_package=${wasm_packages[${#wasm_packages[@]}-1]}
mapfile -t page_features < <(sed -n '/^\[features\]/,/^\[/p' Cargo.toml | sed -n 's/^\([a-z0-9_-]*\) *= *\[.*"any-page".*/\1/p')
[ ${#page_features[@]} -gt 0 ] || log "no page features in Cargo.toml: checking the blank shell only"
for pages in "${page_features[@]}" ""; do
  log "clippy (wasm32): app shell with pages [${pages:-none}]"
  cargo clippy --offline --target wasm32-unknown-unknown -p "$app_package" --bins --tests \
    --no-default-features ${pages:+--features "$pages"} -- -D warnings
  cargo test --offline -p "$app_package" --no-default-features ${pages:+--features "$pages"} --quiet
done
log "clippy (native): unit and property tests$([ -d server ] && echo ', dev server')"
cargo clippy --offline --workspace --all-targets -- -D warnings
log "native tests"
cargo test --offline --workspace
log "trunk build --release"
trunk build --release --offline
ls -l dist/*.wasm >&2
