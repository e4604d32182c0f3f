"""Plans as journals of version 0.1 recorded them (an `action` string and loose `params`), read
back so that a fault left open across an upgrade is still reverted exactly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from chaosmonkey.errors import BackendError
from chaosmonkey.faults.base import Plan, register_plan
from chaosmonkey.faults.evict import PodEviction
from chaosmonkey.faults.kill import ContainerKill, PodDelete
from chaosmonkey.faults.network import NetworkPlan, Placement
from chaosmonkey.faults.ops import NetworkOps
from chaosmonkey.faults.pause import ContainerPause
from chaosmonkey.faults.restart import ContainerRestart
from chaosmonkey.faults.stop import ContainerStop
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.netfaults.keeper import KeeperSpec


@register_plan
class RecordedNetworkFault(Plan):
    """A Docker network fault recorded by version 0.1, which kept only its tag and rules: it can
    be reverted (by its tag), never applied."""

    kind: ClassVar[str] = "network.v0"
    needs: ClassVar[type] = NetworkOps
    reversible: ClassVar[bool] = True

    fault: str
    tag: str

    @property
    def action(self) -> str:
        return "network"

    def apply(self, ops: NetworkOps, target: Target) -> float:
        raise BackendError(f"{self.tag}: a fault recorded by an earlier version is not applied")

    def revert(self, ops: NetworkOps, target: Target) -> RevertResult:
        return ops.release(target, self.tag, None, self.fault)


def plan_from_v0(backend: str, action: str, params: Mapping[str, Any]) -> Plan:
    """The plan a version 0.1 record describes; ValueError for one it never wrote."""
    if action in ("signal_process", "kill"):
        crash = action == "signal_process"
        return ContainerKill(signal=str(params["signal"]), method="crash" if crash else "api")
    if action == "stop":
        return ContainerStop(timeout_s=float(params["timeout_s"]))
    if action == "restart":
        return ContainerRestart(timeout_s=float(params["timeout_s"]))
    if action == "pause":
        return ContainerPause(duration_s=float(params["duration_s"]))
    if action == "delete_pod":
        return PodDelete(grace_period_s=int(params.get("grace_period_s") or 0))
    if action == "evict_pod":
        return PodEviction(grace_period_s=params.get("grace_period_s"))
    if action == "network" and backend == "kubernetes":
        request = params["request"]
        return NetworkPlan(
            fault=request["fault"],
            tag=request["tag"],
            peers=request.get("peers") or [],
            keeper=params["keeper"],
            placement=Placement(node=str(params["node"]), agent=str(params["agent"])),
        )
    if action == "network":
        tag = KeeperSpec.from_json(params["keeper"]).tag
        return RecordedNetworkFault(fault=str(params.get("fault") or "network"), tag=tag)
    raise ValueError(f"unknown {backend} action {action!r} in a journal record")
