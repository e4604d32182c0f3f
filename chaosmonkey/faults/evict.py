"""`evict` (kubernetes): the pod is evicted through the Eviction API, so PodDisruptionBudgets apply
(a refused eviction changes nothing and the attack is skipped, with the budget's reason)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from chaosmonkey.durations import whole_seconds
from chaosmonkey.faults.base import FaultSpec, Plan, register_fault, register_plan
from chaosmonkey.faults.ops import PodOps
from chaosmonkey.model import Target
from chaosmonkey.schema import Duration


@register_fault
class EvictFault(FaultSpec):
    """`gracePeriod` overrides the pod's own termination grace period."""

    backends: ClassVar[tuple[str, ...]] = ("kubernetes",)

    type: Literal["evict"]
    grace_period: Duration | None = None

    def check_backend(self, backend: str) -> None:
        if backend not in self.backends:
            raise ValueError("an evict fault (the Eviction API) needs backend kubernetes")

    def plan(self, attack_id: str, target: Target, ops: Any) -> PodEviction:
        grace = None if self.grace_period is None else whole_seconds(self.grace_period)
        return PodEviction(grace_period_s=grace)


@register_plan
class PodEviction(Plan):
    kind: ClassVar[str] = "kubernetes.evict"
    needs: ClassVar[type] = PodOps

    grace_period_s: int | None  # None: the pod's own

    @property
    def action(self) -> str:
        return "evict_pod"

    def apply(self, ops: PodOps, target: Target) -> float:
        return ops.evict(target, self.grace_period_s)
