"""Value objects shared by every layer: no I/O, no SDK objects."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROTECTED_LABEL = "chaosmonkey.io/protected"
ENABLED_LABEL = "chaosmonkey.io/enabled"  # opt-in: the only targets of a policy with optIn
GROUP_LABEL = "chaosmonkey.io/group"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


class Outcome(enum.StrEnum):
    """How an attack ended; the closed set of the `outcome` metric label."""

    RECOVERED = "recovered"
    NOT_RECOVERED = "not_recovered"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    ABORTED = "aborted"  # a stop condition was breached during the attack: reverted early


class Status(enum.StrEnum):
    """Where an attack is in its life; `DONE` once it has an outcome."""

    PLANNED = "planned"
    INJECTED = "injected"
    DONE = "done"


@dataclass(frozen=True)
class Target:
    """A container or pod as seen at one moment; never a live SDK object."""

    backend: str
    id: str
    name: str
    group: str
    labels: Mapping[str, str] = field(default_factory=dict)
    running: bool = True
    healthy: bool | None = None  # None: the target has no health check
    namespace: str | None = None
    created_at: float | None = None  # epoch seconds
    excluded: str | None = None  # why the backend never lets this target be attacked, if so
    opted_in_by_scope: bool = False  # opted in where it lives (a Kubernetes namespace annotation)

    @property
    def available(self) -> bool:
        """Running, and healthy when it has a health check."""
        return self.running and self.healthy is not False

    @property
    def opted_in(self) -> bool:
        """Labelled chaosmonkey.io/enabled=true, or living where that was granted to all."""
        return self.opted_in_by_scope or self.labels.get(ENABLED_LABEL, "").lower() == "true"

    @property
    def protected(self) -> bool:
        return self.labels.get(PROTECTED_LABEL, "").lower() == "true"

    def ref(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "group": self.group}


@dataclass(frozen=True)
class Injection:
    """Exactly what a fault changes on a target, so that revert needs nothing else.

    `action` is the backend call that applies the fault; `revert_action` the call that undoes it,
    or None when the fault cannot be undone (a kill).
    """

    attack_id: str
    backend: str
    target: Target
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    revert_action: str | None = None

    @property
    def reversible(self) -> bool:
        return self.revert_action is not None


class RevertResult(enum.StrEnum):
    """What revert found on the target."""

    REVERTED = "reverted"
    ALREADY_CLEAN = "already_clean"  # the target was already as it was before the fault
    TARGET_GONE = "target_gone"
    NOTHING_TO_REVERT = "nothing_to_revert"  # the fault is not reversible
    FAILED = "failed"  # the revert did not succeed: the fault stays recorded as active


class ServiceImpact(enum.StrEnum):
    """What a recovery probe saw of the service during an attack."""

    NONE = "none"  # every sample answered, in time
    DEGRADED = "degraded"  # some answered too slowly (over the probe's maxLatency), none failed
    DOWN = "down"  # some failed


@dataclass(frozen=True)
class ServiceObservation:
    """The service as a recovery probe saw it, epoch seconds: its first bad sample (`detected_at`,
    when it was judged bad), the first sample of the good run that followed its last bad one
    (`recovered_at`, when it answered), how long it was degraded or down, its slowest answer."""

    impact: ServiceImpact
    detected_at: float | None = None
    recovered_at: float | None = None
    degraded_seconds: float = 0.0
    worst_latency_s: float | None = None

    @property
    def recovered(self) -> bool:
        """Not hurt at all, or back."""
        return self.impact is ServiceImpact.NONE or self.recovered_at is not None


@dataclass(frozen=True)
class Observation:
    """What a recovery watch saw, as epoch seconds; None where it saw nothing. `impact_at` and
    `recovered_at` are the target's (its group back to as many available members as before);
    `service` is what a recovery probe saw, when the policy has one."""

    impact_at: float | None
    recovered_at: float | None
    service: ServiceObservation | None = None

    @property
    def complete(self) -> bool:
        """The target back and, when probed, the service too."""
        return self.recovered_at is not None and (self.service is None or self.service.recovered)


@dataclass
class AttackRecord:
    """One attack on one target, as the journal keeps it."""

    id: str
    policy: str
    backend: str
    fault: str
    target: Target
    dry_run: bool
    status: Status = Status.PLANNED
    outcome: Outcome | None = None
    created_at: float = 0.0
    injected_at: float | None = None
    detected_at: float | None = None
    recovered_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None
    revert_result: RevertResult | None = None
    # the target's own recovery (its group back), and the service's as a probe saw it
    target_detected_at: float | None = None
    target_recovered_at: float | None = None
    service: ServiceObservation | None = None

    @property
    def recovered(self) -> bool:
        return self.outcome is Outcome.RECOVERED

    @property
    def time_to_detect_seconds(self) -> float | None:
        """Of the recovery the attack is judged by: the service's when probed, else the target's."""
        return self._since_injected(self.detected_at)

    @property
    def recovery_seconds(self) -> float | None:
        return self._since_injected(self.recovered_at)

    def _since_injected(self, at: float | None) -> float | None:
        if at is None or self.injected_at is None:
            return None
        return round(max(0.0, at - self.injected_at), 6)

    def target_recovery(self) -> dict[str, float | None]:
        return {
            "time_to_detect_seconds": self._since_injected(self.target_detected_at),
            "recovery_seconds": self._since_injected(self.target_recovered_at),
        }

    def service_recovery(self) -> dict[str, Any] | None:
        service = self.service
        if service is None:
            return None
        return {
            "impact": service.impact.value,
            "time_to_detect_seconds": self._since_injected(service.detected_at),
            "recovery_seconds": self._since_injected(service.recovered_at),
            "degraded_seconds": round(service.degraded_seconds, 6),
            "worst_latency_seconds": (
                None if service.worst_latency_s is None else round(service.worst_latency_s, 6)
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "policy": self.policy,
            "backend": self.backend,
            "target": self.target.ref(),
            "fault": self.fault,
            "dry_run": self.dry_run,
            "status": (self.outcome or self.status).value,
            "recovered": self.recovered,
            "recovery_seconds": self.recovery_seconds,
            "time_to_detect_seconds": self.time_to_detect_seconds,
            "reason": self.reason,
            "revert": self.revert_result.value if self.revert_result else None,
            "target_recovery": self.target_recovery(),
            "service_recovery": self.service_recovery(),
            "created_at": self.created_at,
            "injected_at": self.injected_at,
            "ended_at": self.ended_at,
        }
