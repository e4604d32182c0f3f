#!/usr/bin/env bash
# The test command: prepares the host, then pytest (Docker and Prometheus required), ruff, mypy and
# the import contracts (lint-imports).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash deploy/setup-host.sh

failed=()
CHAOSMONKEY_REQUIRE_DOCKER=1 CHAOSMONKEY_REQUIRE_PROMETHEUS=1 .venv/bin/pytest "$@" || failed+=(pytest)
echo "ruff check:" && .venv/bin/ruff check || failed+=(ruff)
echo "mypy:" && .venv/bin/mypy || failed+=(mypy)
echo "lint-imports:" && .venv/bin/lint-imports --no-cache || failed+=(lint-imports)
if ((${#failed[@]})); then
    echo "tests/run.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "tests/run.sh: pytest, ruff, mypy and lint-imports passed"
