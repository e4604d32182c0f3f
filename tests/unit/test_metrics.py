"""Metrics: what each attack leaves in a fresh registry."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from chaosmonkey import __version__
from chaosmonkey.metrics import Metrics
from chaosmonkey.model import AttackRecord, Outcome, ServiceImpact, ServiceObservation, Target

LABELS = {"policy": "web-kill", "fault": "kill", "backend": "docker"}


def record(
    outcome: Outcome | None,
    recovery_s: float | None = None,
    detect_s: float | None = None,
    policy: str = "web-kill",
) -> AttackRecord:
    """An ended attack injected at t=100 s, detected and recovered after the given delays."""
    return AttackRecord(
        id="a1",
        policy=policy,
        backend="docker",
        fault="kill",
        target=Target(backend="docker", id="3f2a9c", name="web-1", group="web"),
        dry_run=outcome is Outcome.DRY_RUN,
        outcome=outcome,
        injected_at=100.0,
        detected_at=None if detect_s is None else 100.0 + detect_s,
        recovered_at=None if recovery_s is None else 100.0 + recovery_s,
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of its own for each test."""
    return CollectorRegistry()


def attacks(registry: CollectorRegistry, outcome: str, **labels: str) -> float | None:
    return registry.get_sample_value(
        "chaosmonkey_attacks_total", {**LABELS, **labels, "outcome": outcome}
    )


def exposed(text: bytes, name: str, **labels: str) -> float | None:
    """The value of one sample in exposition text, None when absent."""
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def test_attack_finished_counts_by_outcome(registry: CollectorRegistry) -> None:
    """Each ended attack adds one to the counter of its outcome only."""
    metrics = Metrics(registry)
    metrics.attack_finished(record(Outcome.RECOVERED, recovery_s=2.0))
    metrics.attack_finished(record(Outcome.RECOVERED, recovery_s=3.0))
    metrics.attack_finished(record(Outcome.NOT_RECOVERED))
    assert attacks(registry, "recovered") == 2
    assert attacks(registry, "not_recovered") == 1
    assert attacks(registry, "failed") == 0


def test_every_outcome_starts_at_zero(registry: CollectorRegistry) -> None:
    """The first attack of a policy exports every outcome, so rate() sees later changes."""
    Metrics(registry).attack_finished(record(Outcome.SKIPPED))
    values = {o.value: attacks(registry, o.value) for o in Outcome}
    assert values == {
        "recovered": 0,
        "not_recovered": 0,
        "failed": 0,
        "dry_run": 0,
        "skipped": 1,
        "aborted": 0,
    }


def test_failed_reverts_are_counted_from_zero(registry: CollectorRegistry) -> None:
    """A declared policy exports its failed reverts at 0; each failed try adds one."""
    metrics = Metrics(registry)
    metrics.declare("web-kill", "kill", "docker")
    name = "chaosmonkey_revert_failures_total"
    assert registry.get_sample_value(name, LABELS) == 0
    metrics.revert_failed("web-kill", "kill", "docker")
    metrics.revert_failed("web-kill", "kill", "docker")
    assert registry.get_sample_value(name, LABELS) == 2


def test_policies_have_their_own_series(registry: CollectorRegistry) -> None:
    """The policy label separates counts of different policies."""
    metrics = Metrics(registry)
    metrics.attack_finished(record(Outcome.FAILED, policy="api-latency"))
    assert attacks(registry, "failed", policy="api-latency") == 1
    assert attacks(registry, "failed") is None


def test_durations_are_observed_in_seconds(registry: CollectorRegistry) -> None:
    """Recovery and detection times land in their histograms, in the right buckets."""
    Metrics(registry).attack_finished(record(Outcome.RECOVERED, recovery_s=4.0, detect_s=0.3))
    get = registry.get_sample_value
    assert get("chaosmonkey_recovery_seconds_count", LABELS) == 1
    assert get("chaosmonkey_recovery_seconds_sum", LABELS) == pytest.approx(4.0)
    assert get("chaosmonkey_recovery_seconds_bucket", {**LABELS, "le": "2.5"}) == 0
    assert get("chaosmonkey_recovery_seconds_bucket", {**LABELS, "le": "5.0"}) == 1
    assert get("chaosmonkey_time_to_detect_seconds_sum", LABELS) == pytest.approx(0.3)


def test_buckets_span_recovery_times(registry: CollectorRegistry) -> None:
    """The histogram buckets reach from 50 ms to ten minutes."""
    Metrics(registry).attack_finished(record(Outcome.RECOVERED, recovery_s=1.0))
    bucket = {**LABELS, "le": "0.05"}
    assert registry.get_sample_value("chaosmonkey_recovery_seconds_bucket", bucket) == 0
    bucket["le"] = "600.0"
    assert registry.get_sample_value("chaosmonkey_recovery_seconds_bucket", bucket) == 1


def test_missing_durations_are_not_observed(registry: CollectorRegistry) -> None:
    """An attack that never recovered adds nothing to the duration histograms."""
    Metrics(registry).attack_finished(record(Outcome.NOT_RECOVERED))
    assert registry.get_sample_value("chaosmonkey_recovery_seconds_count", LABELS) is None
    assert registry.get_sample_value("chaosmonkey_time_to_detect_seconds_count", LABELS) is None


def test_unfinished_attack_is_refused(registry: CollectorRegistry) -> None:
    """An attack with no outcome is a caller bug and names the attack."""
    with pytest.raises(ValueError, match="attack a1 has no outcome"):
        Metrics(registry).attack_finished(record(None))


def test_active_faults_are_read_at_scrape_time(registry: CollectorRegistry) -> None:
    """The gauge follows the callable on every collection, not a value cached earlier."""
    active: dict[str, int] = {"docker": 2}
    Metrics(registry, active_faults=lambda: active)
    assert registry.get_sample_value("chaosmonkey_active_faults", {"backend": "docker"}) == 2
    active.update(docker=0, kubernetes=1)
    assert registry.get_sample_value("chaosmonkey_active_faults", {"backend": "docker"}) == 0
    assert registry.get_sample_value("chaosmonkey_active_faults", {"backend": "kubernetes"}) == 1


def test_docker_exports_zero_when_nothing_is_active(registry: CollectorRegistry) -> None:
    """With no active fault, the docker backend still exports 0 rather than nothing."""
    empty: Mapping[str, int] = {}
    Metrics(registry, active_faults=lambda: empty)
    assert registry.get_sample_value("chaosmonkey_active_faults", {"backend": "docker"}) == 0


def test_active_faults_absent_without_a_source(registry: CollectorRegistry) -> None:
    """Without a journal to read, the process does not claim to know the active faults."""
    Metrics(registry)
    assert registry.get_sample_value("chaosmonkey_active_faults", {"backend": "docker"}) is None


def test_build_info_names_the_version(registry: CollectorRegistry) -> None:
    """chaosmonkey_build_info is 1 with the package version as a label."""
    Metrics(registry)
    assert registry.get_sample_value("chaosmonkey_build_info", {"version": __version__}) == 1


def test_each_metrics_gets_a_fresh_registry() -> None:
    """Two Metrics without a registry do not share counts (nor clash on names)."""
    first, second = Metrics(), Metrics()
    first.attack_finished(record(Outcome.RECOVERED))
    name = "chaosmonkey_attacks_total"
    assert exposed(first.render(), name, **LABELS, outcome="recovered") == 1
    assert exposed(second.render(), name, **LABELS, outcome="recovered") is None


def test_labels_never_carry_the_container_id() -> None:
    """The target's id and name stay out of the exposition."""
    metrics = Metrics()
    metrics.attack_finished(record(Outcome.RECOVERED, recovery_s=1.0, detect_s=0.5))
    text = metrics.render()
    assert b"3f2a9c" not in text
    assert b"web-1" not in text


def test_serve_exposes_render_on_a_free_port() -> None:
    """serve(0) binds a free port and answers /metrics with the same text as render()."""
    metrics = Metrics()
    metrics.attack_finished(record(Outcome.FAILED))
    server = metrics.serve(0, "127.0.0.1")
    try:
        assert server.port > 0
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
    finally:
        server.shutdown()
    assert exposed(body, "chaosmonkey_attacks_total", **LABELS, outcome="failed") == 1


def test_the_targets_recovery_and_the_services_are_exported_apart(
    registry: CollectorRegistry,
) -> None:
    """A probed attack: the target back after 2.4 s, the service degraded for 1.0 s and back
    after 1.45 s; the judged recovery is the service's. An attack without a probe adds to the
    target's histograms only."""
    metrics = Metrics(registry)
    probed = record(Outcome.RECOVERED, recovery_s=1.45, detect_s=0.4)
    probed.target_detected_at, probed.target_recovered_at = 100.01, 102.4
    probed.service = ServiceObservation(ServiceImpact.DEGRADED, 100.4, 101.45, 1.0, 1.0)
    metrics.attack_finished(probed)
    plain = record(Outcome.RECOVERED, recovery_s=3.0, detect_s=0.1)
    plain.target_detected_at, plain.target_recovered_at = 100.1, 103.0
    metrics.attack_finished(plain)

    def total(name: str) -> float | None:
        return registry.get_sample_value(f"{name}_sum", LABELS)

    assert total("chaosmonkey_recovery_seconds") == pytest.approx(1.45 + 3.0)
    assert total("chaosmonkey_target_recovery_seconds") == pytest.approx(2.4 + 3.0)
    assert total("chaosmonkey_service_recovery_seconds") == pytest.approx(1.45)
    assert total("chaosmonkey_service_time_to_detect_seconds") == pytest.approx(0.4)
    assert total("chaosmonkey_service_degraded_seconds") == pytest.approx(1.0)
    impact = {**LABELS, "impact": "degraded"}
    assert registry.get_sample_value("chaosmonkey_service_impact_total", impact) == 1


def test_a_probed_policy_exports_every_impact_at_zero(registry: CollectorRegistry) -> None:
    """Declared with a probe, a policy's impacts are there before its first attack."""
    Metrics(registry).declare("web-kill", "kill", "docker", probed=True)
    for impact in ("none", "degraded", "down"):
        labels = {**LABELS, "impact": impact}
        assert registry.get_sample_value("chaosmonkey_service_impact_total", labels) == 0
