"""The service as a probe's samples show it: impact, detection, recovery, degraded seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chaosmonkey.model import ServiceImpact, ServiceObservation
from chaosmonkey.policy.models import HttpProbe, Probe
from chaosmonkey.recovery.probes import judge
from chaosmonkey.recovery.service import Sample, ServiceTracker, Verdict

GOOD, SLOW, FAILED = Verdict.GOOD, Verdict.SLOW, Verdict.FAILED


def seen(*samples: tuple[float, float, Verdict]) -> ServiceTracker:
    tracker = ServiceTracker(settle=3)
    for sent_at, latency_s, verdict in samples:
        tracker.add(Sample(sent_at, sent_at + latency_s, verdict))
    return tracker


def test_a_service_never_hurt_says_so() -> None:
    """No bad sample: impact none, no detection or recovery time, settled from the start."""
    tracker = seen((0.0, 0.006, GOOD), (0.1, 0.008, GOOD))
    assert tracker.settled
    service = tracker.observation()
    assert service.worst_latency_s == pytest.approx(0.008)
    none = ServiceObservation(ServiceImpact.NONE, worst_latency_s=service.worst_latency_s)
    assert service == none


def test_slow_answers_are_a_degraded_service_for_as_long_as_they_last() -> None:
    """One replica of three killed behind a balancer that retries after its connect timeout: a
    request of 1 s at 0.45 s, good ones after it. Degraded from 0.45 to 1.456 s (the next
    request's answer), detected when the slow one answered, recovered at 1.456 s."""
    tracker = seen(
        (0.25, 0.006, GOOD),
        (0.45, 1.0, SLOW),
        (1.45, 0.006, GOOD),
        (1.55, 0.006, GOOD),
        (1.65, 0.006, GOOD),
    )
    service = tracker.observation()
    assert service.impact is ServiceImpact.DEGRADED
    assert service.detected_at == pytest.approx(1.45)
    assert service.recovered_at == pytest.approx(1.456)
    assert service.degraded_seconds == pytest.approx(1.006)
    assert service.worst_latency_s == pytest.approx(1.0)


def test_a_failed_answer_is_a_service_down_and_flapping_counts_every_bad_run() -> None:
    """Down, back, down again, then good for good: recovery is the first of the last good run;
    degraded seconds add up both bad runs."""
    tracker = seen(
        (0.0, 0.2, FAILED),
        (0.2, 0.2, FAILED),
        (0.4, 0.01, GOOD),
        (0.5, 0.3, SLOW),
        (0.8, 0.01, GOOD),
        (0.9, 0.01, GOOD),
        (1.0, 0.01, GOOD),
    )
    service = tracker.observation()
    assert service.impact is ServiceImpact.DOWN
    assert service.detected_at == pytest.approx(0.2)  # the first failure, once it gave up
    assert service.recovered_at == pytest.approx(0.81)
    assert service.degraded_seconds == pytest.approx(0.41 + 0.31)
    assert service.worst_latency_s == pytest.approx(0.3)  # of the answers: failures are apart


def test_a_service_is_back_only_after_good_samples_in_a_row() -> None:
    """One good answer after a failure is not yet a recovery; a service still failing is
    degraded up to its last answer."""
    flapping = seen((0.0, 0.1, FAILED), (0.1, 0.01, GOOD), (0.2, 0.01, GOOD))
    assert not flapping.settled
    assert flapping.observation().recovered_at is None
    still_down = seen((0.0, 1.0, FAILED), (1.0, 1.0, FAILED))
    assert still_down.observation().degraded_seconds == pytest.approx(2.0)
    assert still_down.observation().recovered_at is None


def probe(max_latency_ms: float | None) -> Probe:
    latency = None if max_latency_ms is None else timedelta(milliseconds=max_latency_ms)
    return Probe(http=HttpProbe(url="http://127.0.0.1:9/"), max_latency=latency)


def test_a_sample_is_slow_only_over_max_latency() -> None:
    """Over maxLatency an answer is slow; without a maxLatency it is good however slow."""
    assert judge(probe(200), 10.0, True, 10.3).verdict is SLOW
    assert judge(probe(200), 10.0, True, 10.1).verdict is GOOD
    assert judge(probe(200), 10.0, False, 10.1).verdict is FAILED
    assert judge(probe(None), 10.0, True, 12.0).verdict is GOOD


def test_max_latency_must_lie_below_the_timeout() -> None:
    """A maxLatency at or over the probe's timeout could never mark a sample slow."""
    with pytest.raises(ValueError, match=r"maxLatency: expected a duration above zero and below"):
        Probe(http=HttpProbe(url="http://127.0.0.1:9/"), max_latency=timedelta(seconds=1))


def test_a_sample_answered_once_back_dates_the_recovery_by_its_answer() -> None:
    """A 1 s freeze probed with a 300 ms timeout: the sample sent at 0.9 s, while still frozen,
    is answered at 1.05 s, once thawed. The service was seen back at 1.05 s, not at 0.9 s."""
    tracker = seen(
        (0.3, 0.3, FAILED),
        (0.6, 0.3, FAILED),
        (0.9, 0.15, GOOD),
        (1.05, 0.005, GOOD),
        (1.15, 0.005, GOOD),
    )
    service = tracker.observation()
    assert service.recovered_at == pytest.approx(1.05)
    assert service.degraded_seconds == pytest.approx(1.05 - 0.3)
