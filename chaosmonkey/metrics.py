"""Prometheus metrics for attacks; the only importer of prometheus_client.

Every label comes from a closed set (policy, fault, backend, outcome), never a container id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from chaosmonkey import __version__
from chaosmonkey.model import AttackRecord, Outcome, ServiceImpact

# From a container restart (tens of ms) to a slow rollout (ten minutes).
RECOVERY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600)
# Exported even when the journal has nothing active there, so dashboards show 0, not "no data".
DEFAULT_BACKENDS = ("docker",)

_ATTACK_LABELS = ("policy", "fault", "backend")
# The histograms of an attack's seconds, by the key attack_finished gives each: (name, help).
SECONDS = {
    "recovery": (
        "chaosmonkey_recovery_seconds",
        "Seconds from injection until recovery: the service's when probed, else the target's.",
    ),
    "detect": (
        "chaosmonkey_time_to_detect_seconds",
        "Seconds from injection until the impact was first seen: the service's when probed, "
        "else the target's.",
    ),
    "target_recovery": (
        "chaosmonkey_target_recovery_seconds",
        "Seconds from injection until the target's group was back (running, ready).",
    ),
    "target_detect": (
        "chaosmonkey_target_time_to_detect_seconds",
        "Seconds from injection until the backend showed the fault on the target.",
    ),
    "service_recovery": (
        "chaosmonkey_service_recovery_seconds",
        "Seconds from injection until the recovery probe saw the service back.",
    ),
    "service_detect": (
        "chaosmonkey_service_time_to_detect_seconds",
        "Seconds from injection until the recovery probe first saw the service slow or down.",
    ),
    "degraded": (
        "chaosmonkey_service_degraded_seconds",
        "Seconds the recovery probe saw the service slow (over maxLatency) or down.",
    ),
}


class MetricsServer:
    """The HTTP endpoint started by `Metrics.serve`, serving `/metrics` from a daemon thread."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The bound port; the one picked by the OS when `serve` was given 0."""
        return int(self._server.server_port)

    def shutdown(self) -> None:
        """Stops serving, closes the socket and joins the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _ActiveFaultsCollector:
    """Reads active faults per backend at scrape time, so the gauge holds across processes."""

    _NAME = "chaosmonkey_active_faults"
    _HELP = "Faults injected and not yet reverted, per backend, read from the journal at scrape."

    def __init__(self, active_faults: Callable[[], Mapping[str, int]]) -> None:
        self._active_faults = active_faults

    def describe(self) -> Iterable[Metric]:
        """Names the gauge without reading the journal at registration."""
        return [GaugeMetricFamily(self._NAME, self._HELP, labels=["backend"])]

    def collect(self) -> Iterable[Metric]:
        counts = {backend: 0 for backend in DEFAULT_BACKENDS} | dict(self._active_faults())
        family = GaugeMetricFamily(self._NAME, self._HELP, labels=["backend"])
        for backend, count in sorted(counts.items()):
            family.add_metric([backend], count)
        return [family]


class Metrics:
    """The attack metrics of one process, on their own registry unless one is given.

    `active_faults` returns {backend: count} of faults still in place (the journal's view); without
    it `chaosmonkey_active_faults` is not exported, since this process alone cannot know.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        active_faults: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._registry = registry if registry is not None else CollectorRegistry()
        self._attacks = Counter(
            "chaosmonkey_attacks",
            "Attacks that ended, by outcome.",
            [*_ATTACK_LABELS, "outcome"],
            registry=self._registry,
        )
        self._seconds = {
            key: _histogram(name, documentation, self._registry)
            for key, (name, documentation) in SECONDS.items()
        }
        self._impact = Counter(
            "chaosmonkey_service_impact",
            "Probed attacks that ended, by what the probe saw: none, degraded or down.",
            [*_ATTACK_LABELS, "impact"],
            registry=self._registry,
        )
        self._revert_failures = Counter(
            "chaosmonkey_revert_failures",
            "Tries at reverting a fault that failed (each try of the back-off, and of the "
            "daemon's retries, counts).",
            _ATTACK_LABELS,
            registry=self._registry,
        )
        self._missed = Counter(
            "chaosmonkey_runs_missed",
            "Scheduled or planned runs not run: due while no monkey ran them, or seen later than "
            "the misfire grace.",
            ["policy"],
            registry=self._registry,
        )
        build_info = Gauge(
            "chaosmonkey_build_info",
            "Always 1; the running version.",
            ["version"],
            registry=self._registry,
        )
        build_info.labels(version=__version__).set(1)
        if active_faults is not None:
            self._registry.register(_ActiveFaultsCollector(active_faults))

    def attack_finished(self, record: AttackRecord) -> None:
        """Counts an ended attack and observes its durations where the record has them."""
        if record.outcome is None:
            raise ValueError(f"attack {record.id} has no outcome yet; only ended attacks count")
        labels = (record.policy, record.fault, record.backend)
        self.declare(*labels)
        self._attacks.labels(*labels, record.outcome.value).inc()
        target, service = record.target_recovery(), record.service_recovery()
        seconds = {
            "recovery": record.recovery_seconds,
            "detect": record.time_to_detect_seconds,
            "target_recovery": target["recovery_seconds"],
            "target_detect": target["time_to_detect_seconds"],
        }
        if service is not None:
            self._impact.labels(*labels, service["impact"]).inc()
            seconds["service_recovery"] = service["recovery_seconds"]
            seconds["service_detect"] = service["time_to_detect_seconds"]
            seconds["degraded"] = service["degraded_seconds"]
        for key, value in seconds.items():
            if value is not None:
                self._seconds[key].labels(*labels).observe(value)

    def declare(self, policy: str, fault: str, backend: str, probed: bool = False) -> None:
        """Exports every outcome of a policy, its failed reverts and its missed runs (and, when
        it probes the service, every impact), at 0, so that rate() and increase() see the first
        one."""
        for outcome in Outcome:
            self._attacks.labels(policy, fault, backend, outcome.value)
        self._revert_failures.labels(policy, fault, backend)
        self._missed.labels(policy)
        for impact in ServiceImpact if probed else ():
            self._impact.labels(policy, fault, backend, impact.value)

    def revert_failed(self, policy: str, fault: str, backend: str) -> None:
        """Counts one failed try at reverting a fault of `policy`."""
        self._revert_failures.labels(policy, fault, backend).inc()

    def runs_missed(self, policy: str, count: int = 1) -> None:
        """Counts runs of `policy` that were due and did not run."""
        self._missed.labels(policy).inc(count)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self._registry)

    def serve(self, port: int, address: str = "127.0.0.1") -> MetricsServer:
        """Serves `/metrics` on `address:port` from a daemon thread; port 0 picks a free one."""
        server, thread = start_http_server(port, addr=address, registry=self._registry)
        return MetricsServer(server, thread)


def _histogram(name: str, documentation: str, registry: CollectorRegistry) -> Histogram:
    return Histogram(
        name, documentation, _ATTACK_LABELS, registry=registry, buckets=RECOVERY_BUCKETS_S
    )


