#!/usr/bin/env python3
"""Loose ends in a generated app: every file path its text files mention must exist.

Usage: scripts/references.py APP_DIR   (template repo only; run by scripts/template-tests.sh)

A mention is a path starting with one of the app's top-level folders (docs/, src/, pages/, ...)
or a `../` path. It resolves against the mentioning file's folder or any folder above it up to
the app's root (a crate's `tests/…` from its `src/`); a path leaving the app never resolves. Example names that only exist once someone runs the generator (`poll`,
`NAME`, placeholders) are allowed. Prints each missing path with where it is mentioned; exits 1
if there is any.
"""
import os
import re
import sys

ROOTS = "docs|scripts|src|pages|hooks|server|xtask|tools|template|e2e|bench|dist|\\.github|\\.cargo|tests"
MENTION = re.compile(r"(?<![A-Za-z0-9_./:-])((?:\.\./)+[A-Za-z0-9_./-]*[A-Za-z0-9_]|(?:%s)/[A-Za-z0-9_./-]*[A-Za-z0-9_])" % ROOTS)
# Example names (they exist once someone runs the generator) and what setup creates.
EXAMPLES = re.compile(r"poll|NAME|__|my_endpoint|team-board|acme|node_modules")
TEXT = {".rs", ".md", ".toml", ".sh", ".html", ".yml", ".yaml", ".css", ".json", ".rhai", ".py", ".mjs", ".txt"}
SKIP_DIRS = {"target", "node_modules", ".git", "dist"}
# Code that handles a folder being absent may name paths in it: xtask/ writes server/ files only
# with --endpoint, which it refuses in an app without server/ (dev_server=false).
MAY_NAME_ABSENT = {"xtask": ("server/",)}


def resolves(app, folder, target):
    """Whether `target` exists relative to `folder`, one of its parents in the app, or the app."""
    while True:
        candidate = os.path.normpath(os.path.join(folder, target))
        if (candidate == app or candidate.startswith(app + os.sep)) and os.path.exists(candidate):
            return True
        if folder == app or not folder.startswith(app):
            return False
        folder = os.path.dirname(folder)


def main(app):
    app = os.path.abspath(app)
    if not os.path.isfile(os.path.join(app, "Cargo.toml")):
        print(f"{app} is not an app (no Cargo.toml)", file=sys.stderr)
        return 2
    missing = []
    for folder, dirs, files in os.walk(app):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            if os.path.splitext(name)[1] not in TEXT or name in ("package-lock.json", "Cargo.lock"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    for mention in MENTION.findall(line):
                        if EXAMPLES.search(mention):
                            continue
                        top = os.path.relpath(path, app).split(os.sep)[0]
                        if mention.startswith(MAY_NAME_ABSENT.get(top, ())):
                            continue
                        target = mention.rstrip(".")
                        if resolves(app, folder, target):
                            continue
                        missing.append(f"{os.path.relpath(path, app)}:{number}: {mention}")
    for line in missing:
        print(line)
    print(f"{len(missing)} missing path(s) mentioned in {app}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
