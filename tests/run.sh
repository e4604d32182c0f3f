#!/usr/bin/env bash
# The test command: prepares the host, then pytest (Docker and Prometheus required), ruff, mypy and
# the import contracts (lint-imports).
#
# pytest runs in two phases: every test but those marked `timing`, in parallel (pytest-xdist, one
# file per worker, so that a module's fixtures are made once); then the `timing` tests, which
# measure durations against tolerances, alone. CHAOSMONKEY_TEST_WORKERS sets the workers (3: the
# integration tests mostly wait on containers and processes, not on the CPU).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash deploy/setup-host.sh

export CHAOSMONKEY_REQUIRE_DOCKER=1 CHAOSMONKEY_REQUIRE_PROMETHEUS=1
workers="${CHAOSMONKEY_TEST_WORKERS:-3}"
failed=()
# One pytest phase, timed; "no tests collected" (exit 5: none of the phase's kind among the
# tests asked for) is no failure.
phase() {
    local started=$SECONDS status=0
    .venv/bin/pytest "$@" || status=$?
    echo "($((SECONDS - started)) s)"
    ((status == 0 || status == 5))
}
echo "pytest, in parallel ($workers workers):"
phase -n "$workers" --dist loadfile -m "not timing" "$@" || failed+=(pytest)
echo "pytest, the timing tests alone:"
phase -p no:xdist -m timing "$@" || failed+=(pytest-timing)
echo "ruff check:" && .venv/bin/ruff check || failed+=(ruff)
echo "mypy:" && .venv/bin/mypy || failed+=(mypy)
echo "lint-imports:" && .venv/bin/lint-imports --no-cache || failed+=(lint-imports)
if ((${#failed[@]})); then
    echo "tests/run.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "tests/run.sh: pytest, ruff, mypy and lint-imports passed"
