#!/usr/bin/env bash
# README command 1: generate a demo app from this template with the default answers into
# target/generated/demo, start its dev server and `trunk serve`, and print the URL.
# Ctrl-C stops everything. TRUNK_SERVE_PORT picks another page port (default 8080).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=demo
source scripts/lib.sh
source scripts/template-lib.sh
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fetch --quiet
out="$root/target/generated"
rm -rf "$out/demo"
mkdir -p "$out"
snapshot_template "$root/target/template-snapshot"
cargo generate --path "$root/target/template-snapshot" --name demo --destination "$out" --silent --vcs none >&2
# Share the generated apps' build cache (see template-tests.sh): the demo compiles only what differs.
export CARGO_TARGET_DIR="$root/target/apps"
exec "$out/demo/scripts/dev.sh"
