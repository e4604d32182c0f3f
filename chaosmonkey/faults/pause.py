"""`pause` (docker): every process of the container frozen for `duration`, then thawed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

from chaosmonkey.faults.base import FaultSpec, Plan, register_fault, register_plan
from chaosmonkey.faults.ops import ContainerOps
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.schema import Duration


@register_fault
class PauseFault(FaultSpec):
    backends: ClassVar[tuple[str, ...]] = ("docker",)

    type: Literal["pause"]
    duration: Duration = timedelta(seconds=30)

    def held_for(self) -> timedelta:
        return self.duration

    def plan(self, attack_id: str, target: Target, ops: Any) -> ContainerPause:
        return ContainerPause(duration_s=self.duration.total_seconds())


@register_plan
class ContainerPause(Plan):
    kind: ClassVar[str] = "docker.pause"
    needs: ClassVar[type] = ContainerOps
    reversible: ClassVar[bool] = True

    duration_s: float

    @property
    def action(self) -> str:
        return "pause"

    def apply(self, ops: ContainerOps, target: Target) -> float:
        return ops.pause(target)

    def revert(self, ops: ContainerOps, target: Target) -> RevertResult:
        return ops.unpause(target)
