"""`restart` (docker): the container is restarted (stopped within `timeout`, then started)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

from chaosmonkey.faults.base import FaultSpec, Plan, register_fault, register_plan
from chaosmonkey.faults.ops import ContainerOps
from chaosmonkey.model import Target
from chaosmonkey.schema import Duration


@register_fault
class RestartFault(FaultSpec):
    backends: ClassVar[tuple[str, ...]] = ("docker",)

    type: Literal["restart"]
    timeout: Duration = timedelta(seconds=10)

    def plan(self, attack_id: str, target: Target, ops: Any) -> ContainerRestart:
        return ContainerRestart(timeout_s=self.timeout.total_seconds())


@register_plan
class ContainerRestart(Plan):
    kind: ClassVar[str] = "docker.restart"
    needs: ClassVar[type] = ContainerOps

    timeout_s: float

    @property
    def action(self) -> str:
        return "restart"

    def apply(self, ops: ContainerOps, target: Target) -> float:
        return ops.restart(target, self.timeout_s)
