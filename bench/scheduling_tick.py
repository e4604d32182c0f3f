"""How long one Chaos Monkey mode scheduling tick takes over 10,000 targets in 1,000 groups.

Run: .venv/bin/python bench/scheduling_tick.py [--runs 30]. One tick is what the daily planning
does for a policy: the engine's listing turned into targets (`target_from_summary`, as the Docker
backend does), the policy's filters (`selection.eligible`), its groups, and the draw of the day's
plan for every group (`planning.draw_plan`, with each group's last attack known). The same 10,000
synthetic container summaries as bench/select_targets.py (1,000 compose services). Baseline: one
pass over the list. Exits 1 when the median exceeds 100 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta

from select_targets import CONTAINERS, summary

from chaosmonkey.backends.docker import target_from_summary
from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling.planning import draw_plan
from chaosmonkey.selection import eligible

TARGET_MS = 100.0
DAY = date(2026, 11, 24)  # a Tuesday
POLICY = Policy.model_validate(
    {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": "bench-tick"},
        "spec": {
            "fault": {"type": "kill"},
            "targets": {"labels": {"com.docker.compose.project": "shop"}},
            "schedule": {"meanTimeBetweenAttacks": "2d", "minTimeBetweenAttacks": "1d"},
            "window": {
                "timezone": "Europe/Amsterdam",
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "start": "09:00",
                "end": "17:00",
            },
        },
    }
)


def tick(summaries: list[dict[str, object]], last: dict[str, datetime], seed: int) -> int:
    targets = [target_from_summary(item) for item in summaries]
    groups = sorted({target.group for target in eligible(targets, POLICY.spec.targets)})
    return len(draw_plan(POLICY, groups, DAY, last, random.Random(seed)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    rng = random.Random(1)
    summaries = [summary(index, rng) for index in range(CONTAINERS)]
    yesterday = datetime(2026, 11, 23, 12, tzinfo=UTC)
    last = {f"svc-{i:04d}": yesterday - timedelta(days=i % 5) for i in range(0, 1000, 3)}
    planned = tick(summaries, last, 0)
    times, baseline = [], []
    for run in range(runs):
        started = time.perf_counter()
        tick(summaries, last, run)
        times.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        sum(1 for item in summaries if item)
        baseline.append((time.perf_counter() - started) * 1000)
    median, base = statistics.median(times), statistics.median(baseline)
    verdict = "PASS" if median <= TARGET_MS else "FAIL"
    print(
        f"one tick: {planned} groups planned or left out; median {median:.1f} ms, "
        f"max {max(times):.1f} ms; baseline one pass {base:.2f} ms"
    )
    print(
        f"SUMMARY scheduling_tick: {CONTAINERS} targets in 1000 groups median {median:.1f} ms, "
        f"ratio {median / base:.0f}x baseline, target <={TARGET_MS:.0f} ms: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
