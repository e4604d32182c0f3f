"""The pod faults: what `kill` and `evict` ask of the API, and what its refusals mean.

Both act on the very pod chosen: a uid precondition makes the API refuse (409) when a pod of the
same name replaced it since (a StatefulSet's). Neither can be undone.
"""

from __future__ import annotations

import math
from datetime import timedelta

from kubernetes.client import V1DeleteOptions, V1Eviction, V1ObjectMeta, V1Preconditions

from chaosmonkey.backends._kube_pods import BACKEND
from chaosmonkey.errors import FaultRefused, PolicyError, TargetGone
from chaosmonkey.model import Injection, Target
from chaosmonkey.policy.models import EvictFault, Fault, KillFault

DELETE, EVICT = "delete_pod", "evict_pod"


def plan_injection(attack_id: str, target: Target, fault: Fault) -> Injection:
    """`kill` deletes the pod with gracePeriod (0 unless given); `evict` asks the Eviction API,
    with the pod's own grace period unless given. Docker-only faults and settings are refused."""
    if isinstance(fault, KillFault):
        if fault.docker_settings:
            raise PolicyError(
                "spec.fault",
                f"{' and '.join(fault.docker_settings)}: docker settings, not "
                "available on kubernetes (a kill deletes the pod with gracePeriod)",
            )
        grace = _whole_seconds(fault.grace_period) if fault.grace_period else 0
        return Injection(attack_id, BACKEND, target, DELETE, {"grace_period_s": grace}, None)
    if isinstance(fault, EvictFault):
        evict_grace = None if fault.grace_period is None else _whole_seconds(fault.grace_period)
        return Injection(attack_id, BACKEND, target, EVICT, {"grace_period_s": evict_grace}, None)
    raise PolicyError(
        "spec.fault",
        f"the kubernetes backend cannot apply a {fault.type!r} fault; expected kill or evict",
    )


def _whole_seconds(duration: timedelta) -> int:
    """The API takes whole seconds; round up so that the pod gets at least its grace time."""
    return math.ceil(duration.total_seconds())


def delete_options(target: Target, grace_period_s: int | None) -> V1DeleteOptions:
    """Deletion of this very pod (its uid), with the grace period given or the pod's own."""
    return V1DeleteOptions(
        grace_period_seconds=grace_period_s, preconditions=V1Preconditions(uid=target.id)
    )


def eviction(target: Target, options: V1DeleteOptions) -> V1Eviction:
    return V1Eviction(
        metadata=V1ObjectMeta(name=target.name, namespace=target.namespace),
        delete_options=options,
    )


def gone(target: Target) -> TargetGone:
    return TargetGone(
        f"pod {target.namespace}/{target.name} is gone, or was replaced, since it was chosen"
    )


class EvictionRefused(FaultRefused):
    """An eviction a PodDisruptionBudget forbids (429): nothing changed. `api_message` is the
    API's own reason."""

    def __init__(self, target: Target, api_message: str) -> None:
        super().__init__(f"eviction of pod {target.namespace}/{target.name} refused: {api_message}")
        self.api_message = api_message


def refused(target: Target, message: str) -> EvictionRefused:
    return EvictionRefused(target, message)
