#!/usr/bin/env bash
# Run the test suite in the environment of scripts/env.sh. pytest's exit code 5
# ("no tests collected") counts as a failure: a suite that runs nothing proves nothing.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
set +u
# shellcheck disable=SC1091
. scripts/env.sh || exit 1
set -u
python -m pytest -p no:cacheprovider "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "run_tests: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
