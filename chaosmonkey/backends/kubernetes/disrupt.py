"""Disrupting a pod: what deleting and evicting it ask of the API, and what its refusals mean.

Both act on the very pod chosen: a uid precondition makes the API refuse (409) when a pod of the
same name replaced it since (a StatefulSet's). Neither can be undone.
"""

from __future__ import annotations

from kubernetes.client import V1DeleteOptions, V1Eviction, V1ObjectMeta, V1Preconditions

from chaosmonkey.errors import FaultRefused, TargetGone
from chaosmonkey.model import Target


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
