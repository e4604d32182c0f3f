"""A real Prometheus scrapes Metrics.serve and reads the attack metrics back through PromQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaosmonkey.metrics import Metrics, MetricsServer
from chaosmonkey.model import AttackRecord, Outcome, Target
from tests.prometheus import Result, StartPrometheus, values

pytestmark = pytest.mark.prometheus


def record(outcome: Outcome, recovery_s: float | None = None) -> AttackRecord:
    """An ended kill attack of the web-kill policy, recovered after `recovery_s` when given."""
    return AttackRecord(
        id="a1",
        policy="web-kill",
        backend="docker",
        fault="kill",
        target=Target(backend="docker", id="3f2a9c", name="web-1", group="web"),
        dry_run=False,
        outcome=outcome,
        injected_at=100.0,
        detected_at=100.5,
        recovered_at=None if recovery_s is None else 100.0 + recovery_s,
    )


@pytest.fixture
def active() -> dict[str, int]:
    """What the journal would report as active faults; tests change it in place."""
    return {"docker": 2}


@pytest.fixture
def metrics(active: dict[str, int]) -> Metrics:
    """Metrics with three recovered attacks, one not recovered and one failed."""
    metrics = Metrics(active_faults=lambda: active)
    for recovery_s in (1.0, 3.0, 40.0):
        metrics.attack_finished(record(Outcome.RECOVERED, recovery_s))
    metrics.attack_finished(record(Outcome.NOT_RECOVERED))
    metrics.attack_finished(record(Outcome.FAILED))
    return metrics


@pytest.fixture
def server(metrics: Metrics) -> Iterator[MetricsServer]:
    """The metrics endpoint on a free loopback port."""
    server = metrics.serve(0, "127.0.0.1")
    yield server
    server.shutdown()


def test_attacks_by_outcome_reach_prometheus(
    prometheus: StartPrometheus, server: MetricsServer
) -> None:
    """sum by (outcome) of the counter gives the counts of every outcome, zeros included."""
    handle = prometheus([f"127.0.0.1:{server.port}"])
    result = handle.wait_for(
        "sum by (outcome) (chaosmonkey_attacks_total)", lambda r: len(r) == len(Outcome)
    )
    assert values(result, "outcome") == {
        "recovered": 3,
        "not_recovered": 1,
        "failed": 1,
        "dry_run": 0,
        "skipped": 0,
        "aborted": 0,
    }


def test_recovery_histogram_reaches_prometheus(
    prometheus: StartPrometheus, server: MetricsServer
) -> None:
    """Only recovered attacks are counted in the recovery histogram; detection in all five."""
    handle = prometheus([f"127.0.0.1:{server.port}"])
    recovery = handle.wait_for("sum(chaosmonkey_recovery_seconds_count)", bool)
    assert float(recovery[0]["value"][1]) == 3
    detect = handle.query("sum(chaosmonkey_time_to_detect_seconds_count)")
    assert float(detect[0]["value"][1]) == 5
    within_5s = handle.query('sum(chaosmonkey_recovery_seconds_bucket{le="5.0"})')
    assert float(within_5s[0]["value"][1]) == 2


def test_active_faults_follow_the_journal(
    prometheus: StartPrometheus, server: MetricsServer, active: dict[str, int]
) -> None:
    """The gauge changes with the callable between scrapes, and docker falls back to 0."""
    handle = prometheus([f"127.0.0.1:{server.port}"])
    query = "chaosmonkey_active_faults"
    handle.wait_for(query, lambda r: values(r, "backend") == {"docker": 2})
    active.clear()
    active["kubernetes"] = 1

    def moved(result: Result) -> bool:
        return values(result, "backend") == {"docker": 0, "kubernetes": 1}

    assert moved(handle.wait_for(query, moved, timeout=10))
