"""From a planned attack's scheduled time to its fault applied, through the daemon's own path.

Run: .venv/bin/python bench/schedule_latency.py [--runs 40] [--spacing 1.0] [--max-seconds 120].
One running target (busybox httpd, no published port) and RUNS Chaos Monkey mode policies on it
(each a 100 ms pause, window all day), each with one row of today's plan stored in the journal,
SPACING seconds apart. The monkey is started as `chaosmonkey run` starts it: `daemon.leadership`
takes the journal's lease and starts `daemon.runs.Runs` (the persistent scheduler, jobs in the
journal, reconciled), which fires `run_planned` at each row's time: `Engine.run_policy` for the
group (window, guards, listing, selection, caps, journal, lease fence) and the backend's call,
timed apart (`DockerBackend.pause`, POST /containers/{id}/pause). Delay = applied - scheduled - the
backend's call (= the call's start - scheduled). The first run is a warm-up, shown apart.
Exits 1 when the p99 delay exceeds 50 ms; stops after MAX_SECONDS in any case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _support as bench
import structlog

from chaosmonkey import logs
from chaosmonkey.backends.docker import DockerBackend
from chaosmonkey.daemon.leadership import leadership, open_lease
from chaosmonkey.daemon.runs import Runs
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import Target
from chaosmonkey.policy.models import Policy
from chaosmonkey.runtime import Runtime
from chaosmonkey.scheduling.planning import PlannedRun, PlanStore

TARGET_MS = 50.0
START_AFTER_S = 2.0  # the first planned time, after the monkey started


@dataclass(frozen=True)
class Timing:
    """One planned run, in epoch seconds."""

    scheduled: float
    recorded: float  # the attack's record created: after window, guards, listing, caps
    call_start: float
    call_end: float

    @property
    def delay(self) -> float:
        """Applied - scheduled - the backend's call."""
        return self.call_start - self.scheduled

    @property
    def call(self) -> float:
        return self.call_end - self.call_start


class TimedBackend:
    """The real backend, with each pause call's start and end (wall clock) kept by attack (the
    one the engine binds to the log context while it carries it out)."""

    def __init__(self, backend: DockerBackend) -> None:
        self._backend = backend
        self.calls: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def pause(self, target: Target) -> float:
        started = time.time()
        applied = self._backend.pause(target)
        attack_id = str(structlog.contextvars.get_contextvars()["attack_id"])
        with self._lock:
            self.calls[attack_id] = (started, time.time())
        return applied

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def policy(name: str, app: str) -> Policy:
    return Policy.model_validate(
        {
            "apiVersion": "chaosmonkey/v1",
            "kind": "Policy",
            "metadata": {"name": name},
            "spec": {
                "dryRun": False,
                "targets": {"labels": {"app": app}},
                "fault": {"type": "pause", "duration": "100ms"},
                "schedule": {"meanTimeBetweenAttacks": "1d"},
                "window": {"timezone": "UTC", "start": "00:00", "end": "23:59:59"},
                "limits": {"allowLastMember": True},
                "recovery": {"timeout": "5s"},
            },
        }
    )


def seed(db: Path, policies: list[Policy], group: str, spacing_s: float) -> dict[str, float]:
    """One planned row per policy, `spacing_s` apart; {policy: scheduled time (epoch s)}."""
    first = datetime.now(UTC) + timedelta(seconds=START_AFTER_S)
    scheduled = {}
    with PlanStore(db) as store:
        for index, chaos in enumerate(policies):
            at = first + timedelta(seconds=index * spacing_s)
            store.save(chaos.name, at.date(), [PlannedRun(group, at)])
            scheduled[chaos.name] = at.timestamp()
    return scheduled


def run(app: str, group: str, count: int, spacing_s: float, limit_s: float) -> list[Timing]:
    """Runs the monkey over the seeded plan; the timings of the runs applied, in order."""
    policies = [policy(f"latency-{index:03d}", app) for index in range(count)]
    with tempfile.TemporaryDirectory(prefix="bench-schedule-") as tmp:
        db = Path(tmp) / "j.db"
        with Runtime.open(db) as runtime:
            engine = runtime.engine
            docker_backend = runtime.backend("docker")
            assert isinstance(docker_backend, DockerBackend)
            timed = TimedBackend(docker_backend)
            engine.backend_for = lambda name: timed  # type: ignore[assignment,return-value]
            metrics = Metrics()
            engine.recorder = metrics
            scheduled = seed(db, policies, group, spacing_s)
            deadline = time.monotonic() + limit_s
            runs = Runs(policies, engine, db, metrics)
            with runs, leadership(engine, open_lease(db, 10.0, None), runs):
                while time.monotonic() < deadline and _planned_left(runs, policies, group):
                    time.sleep(0.1)
            by_policy = _calls_by_policy(runtime, timed)
            outcomes = Counter(
                str(r.outcome.value if r.outcome else r.status.value)
                for r in runtime.journal.attacks(limit=10_000)
            )
            print(
                f"attacks: {len(by_policy)} of {count} planned applied; outcomes {dict(outcomes)}"
            )
    return [Timing(at, *by_policy[name]) for name, at in scheduled.items() if name in by_policy]


def _planned_left(runs: Runs, policies: list[Policy], group: str) -> bool:
    today = datetime.now(UTC).date()
    return any(runs.plans.status(chaos.name, today, group) == "planned" for chaos in policies)


def _calls_by_policy(
    runtime: Runtime, timed: TimedBackend
) -> dict[str, tuple[float, float, float]]:
    """{policy: (its attack's record created, backend call start, call end)}."""
    records = runtime.journal.attacks(limit=10_000)
    return {
        record.policy: (record.created_at, *timed.calls[record.id])
        for record in records
        if record.id in timed.calls
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between planned runs")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    options = parser.parse_args()
    logs.configure("warning", json=True)
    with bench.bench_session() as client:
        app = bench.unique_app()
        container = bench.run_target(client, app, publish=False)
        bench.wait_running(container)
        # the target's group is its name: it has no compose service or group label
        name = str(container.name)
        results = run(app, name, options.runs + 1, options.spacing, options.max_seconds)
    if len(results) < 2:
        print(f"SUMMARY schedule_latency: only {len(results)} runs applied: FAIL")
        return 1
    warm, rest = results[0], results[1:]
    delays = [bench.ms(run.delay) for run in rest]
    calls = [bench.ms(run.call) for run in rest]
    p50, p99 = statistics.median(delays), _p99(delays)
    print(
        f"warm-up run: delay {bench.ms(warm.delay):.1f} ms, "
        f"backend call {bench.ms(warm.call):.1f} ms"
    )
    print(
        f"scheduled -> applied, minus the backend's call (n={len(delays)}): p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(delays):.1f} ms"
    )
    to_record = [bench.ms(run.recorded - run.scheduled) for run in rest]
    to_call = [bench.ms(run.call_start - run.recorded) for run in rest]
    print(
        f"  of which scheduled -> the attack's record (scheduler, window, guards, listing, caps): "
        f"p50 {statistics.median(to_record):.1f} ms; record -> the call (journal, lease fence, "
        f"event watch): p50 {statistics.median(to_call):.1f} ms"
    )
    print(
        f"the backend's own call (pause): p50 {statistics.median(calls):.1f} ms, "
        f"p99 {_p99(calls):.1f} ms"
    )
    result = bench.verdict(p99 <= TARGET_MS)
    print(
        f"SUMMARY schedule_latency: {len(delays)} planned runs, delay p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms (+ backend call p50 {statistics.median(calls):.1f} ms), "
        f"target p99 <={TARGET_MS:.0f} ms plus the backend call: {result}"
    )
    return 0 if result == "PASS" else 1


def _p99(values: list[float]) -> float:
    """The 99th percentile, interpolated between the two largest below 100 samples."""
    return statistics.quantiles(values, n=100, method="inclusive")[98]


if __name__ == "__main__":
    sys.exit(main())
