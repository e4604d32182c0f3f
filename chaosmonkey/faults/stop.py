"""`stop` (docker): a graceful stop (SIGTERM, then SIGKILL after `timeout`); started again by
revert if nothing brought the container back by the end of the recovery timeout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Literal

from chaosmonkey.faults.base import FaultSpec, Plan, register_fault, register_plan
from chaosmonkey.faults.ops import ContainerOps
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.schema import Duration


@register_fault
class StopFault(FaultSpec):
    backends: ClassVar[tuple[str, ...]] = ("docker",)

    type: Literal["stop"]
    timeout: Duration = timedelta(seconds=10)

    def plan(self, attack_id: str, target: Target, ops: Any) -> ContainerStop:
        return ContainerStop(timeout_s=self.timeout.total_seconds())


@register_plan
class ContainerStop(Plan):
    kind: ClassVar[str] = "docker.stop"
    needs: ClassVar[type] = ContainerOps
    reversible: ClassVar[bool] = True

    timeout_s: float

    @property
    def action(self) -> str:
        return "stop"

    def apply(self, ops: ContainerOps, target: Target) -> float:
        return ops.stop(target, self.timeout_s)

    def revert(self, ops: ContainerOps, target: Target) -> RevertResult:
        return ops.start(target)
