"""How long Metrics.render() takes with about 1,000 series, against a one-counter baseline.

Run: .venv/bin/python bench/metrics_render.py [--runs 200]. Exits 1 when the median misses
the target (20 ms for 1,000 series).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, generate_latest

from chaosmonkey.metrics import RECOVERY_BUCKETS_S, Metrics
from chaosmonkey.model import AttackRecord, Outcome, Target

TARGET_MS = 20.0
FAULTS = ("kill", "pause")
# Per (policy, fault, backend): 5 outcome counters and two histograms of buckets + +Inf, sum, count.
SERIES_PER_COMBO = len(Outcome) + 2 * (len(RECOVERY_BUCKETS_S) + 3)
WANTED_SERIES = 1_000


def populated_metrics() -> tuple[Metrics, int]:
    """Metrics holding at least WANTED_SERIES series, and how many it holds."""
    metrics = Metrics(active_faults=lambda: {"docker": 1, "kubernetes": 0})
    combos = -(-WANTED_SERIES // SERIES_PER_COMBO)  # ceiling division
    for index in range(combos):
        policy, fault = f"policy-{index // len(FAULTS)}", FAULTS[index % len(FAULTS)]
        for outcome in Outcome:
            metrics.attack_finished(_record(policy, fault, outcome))
    return metrics, combos * SERIES_PER_COMBO


def _record(policy: str, fault: str, outcome: Outcome) -> AttackRecord:
    target = Target(backend="docker", id="c0ffee", name="web-1", group="web")
    return AttackRecord(
        id="a1", policy=policy, backend="docker", fault=fault, target=target, dry_run=False,
        outcome=outcome, injected_at=0.0, detected_at=0.4, recovered_at=3.0,
    )  # fmt: skip


def baseline_render() -> Callable[[], bytes]:
    """Renders a registry holding a single counter."""
    registry = CollectorRegistry()
    Counter("baseline", "One series.", registry=registry).inc()
    return lambda: generate_latest(registry)


def timings_ms(render: Callable[[], bytes], runs: int) -> list[float]:
    """Wall time of `runs` renders in ms, after a short warm-up."""
    for _ in range(10):
        render()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        render()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[18]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    metrics, series = populated_metrics()
    lines = sum(1 for line in metrics.render().splitlines() if not line.startswith(b"#"))
    base = timings_ms(baseline_render(), runs)
    full = timings_ms(metrics.render, runs)
    base_median, full_median = statistics.median(base), statistics.median(full)
    print(f"baseline (1 counter):  median {base_median:.3f} ms  p95 {p95(base):.3f} ms")
    print(f"metrics ({series} series, {lines} sample lines incl. _created):")
    print(f"                       median {full_median:.3f} ms  p95 {p95(full):.3f} ms")
    verdict = "PASS" if full_median <= TARGET_MS else "FAIL"
    print(
        f"SUMMARY metrics_render: {series} series median {full_median:.2f} ms "
        f"p95 {p95(full):.2f} ms, baseline {base_median:.3f} ms, "
        f"ratio {full_median / base_median:.0f}x, target <= {TARGET_MS:.0f} ms: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
