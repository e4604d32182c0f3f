#!/usr/bin/env bash
# Runs every benchmark in sequence, then repeats their SUMMARY lines.
# Usage: bench/run_all.sh   (from anywhere; needs the venv at .venv and a Docker engine)
# Exits 1 when any benchmark failed its target (reported-only goals never fail).
set -uo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
log=$(mktemp /tmp/bench-run-all.XXXXXX)
trap 'rm -f "$log"' EXIT
failed=()
for name in metrics_render select_targets kill_overhead attack_process recovery_error service_fidelity proxy_overhead netfault_apply scheduling_tick kube_select schedule_latency; do
    echo "=== bench/$name.py"
    if ! "$python" "bench/$name.py" 2>&1 | tee -a "$log"; then
        failed+=("$name")
    fi
done
echo "=== summary"
grep '^SUMMARY ' "$log"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
