#!/usr/bin/env bash
# `make test-latest`: the suite against what a new user's pip resolves from the ranges of
# requirements/*.in today, without the lock, in a throw-away venv (build/latest/). It
# never touches .venv or install/, and `make test` does not depend on it: a new upstream
# release that breaks us shows here, on purpose, before it reaches the lock.
# Prints what it resolved differently from the lock, then the suite's summary.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LATEST="$ROOT/build/latest"
rm -rf "$LATEST"
mkdir -p "$LATEST"
export SSR_VENV="$LATEST/.venv" SSR_INSTALL="$LATEST/install" SSR_BUILD="$LATEST/build"
SSR_UNLOCKED=1 SSR_GROUPS=all bash scripts/setup.sh || { echo "test-latest: set-up failed" >&2; exit 1; }
echo "test-latest: resolved from the ranges (name: locked -> latest):"
"$SSR_VENV/bin/python" - <<'PY'
import sys
sys.path.insert(0, "scripts")
import lockfile
have = lockfile.installed()
locked = {}
for group in lockfile.GROUPS:
    locked.update({k: v[0] for k, v in lockfile.read_lock(group).items()})
changed = 0
for name in sorted(set(have) | set(locked)):
    if name in lockfile.FREEZE_SKIPS or have.get(name) == locked.get(name):
        continue
    changed += 1
    print(f"  {name}: {locked.get(name, '(not locked)')} -> {have.get(name, '(not installed)')}")
print(f"test-latest: {changed} package(s) differ from the lock")
PY
bash scripts/run_tests.sh "$@"
