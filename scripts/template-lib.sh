# Helpers of this template repo's own scripts (demo, tests, benchmarks); never copied into
# generated apps. Source it after scripts/lib.sh.

# snapshot_template DIR: a copy of this template's working tree without build output, for
# `cargo generate --path DIR`. cargo-generate walks its whole source folder before applying its
# `ignore` list; a multi-GB target/ makes that slow and breaks it when a build deletes files.
snapshot_template() {
  local src dest=$1
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  rm -rf "$dest"
  mkdir -p "$dest"
  (cd "$src" && tar --exclude=./target --exclude=./.git --exclude=./tools/node_modules \
    --exclude=./dist --exclude=./artifacts -cf - .) | tar -xf - -C "$dest"
}
