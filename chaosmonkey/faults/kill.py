"""`kill`: the target's main process is killed (docker), or its pod deleted (kubernetes)."""

from __future__ import annotations

import signal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator

from chaosmonkey.durations import whole_seconds
from chaosmonkey.faults.base import FaultSpec, Plan, register_fault, register_plan
from chaosmonkey.faults.ops import ContainerOps, PodOps
from chaosmonkey.model import Target
from chaosmonkey.schema import Duration


def _signal_name(value: str | int) -> str:
    name = str(value).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    if name not in signal.Signals.__members__:
        raise ValueError(f"expected a signal name such as SIGKILL or SIGTERM, got {value!r}")
    return name


SignalName = Annotated[str, BeforeValidator(_signal_name)]


@register_fault
class KillFault(FaultSpec):
    """The target's main process is killed. `crash` signals it as a crash would (the engine sees
    an unexpected exit, so restart policies apply); `api` asks the engine to kill it (a manual
    stop: restart policies do not bring it back). On kubernetes the pod is deleted with
    `gracePeriod` (default 0: killed at once)."""

    backends: ClassVar[tuple[str, ...]] = ("docker", "kubernetes")

    type: Literal["kill"]
    signal: SignalName = "SIGKILL"
    method: Literal["crash", "api"] = "crash"
    grace_period: Duration | None = None  # kubernetes only

    @property
    def docker_settings(self) -> list[str]:
        """The Docker-only settings given other values than their defaults."""
        given = {"signal": self.signal != "SIGKILL", "method": self.method != "crash"}
        return [name for name, changed in given.items() if changed]

    def check_backend(self, backend: str) -> None:
        super().check_backend(backend)
        if backend == "kubernetes" and self.docker_settings:
            raise ValueError(
                f"{' and '.join(self.docker_settings)}: docker settings; on kubernetes a kill "
                "deletes the pod (gracePeriod: 0 kills it at once)"
            )
        if backend == "docker" and self.grace_period is not None:
            raise ValueError(
                "gracePeriod: a kubernetes setting; on docker a kill takes signal and method"
            )

    def plan(self, attack_id: str, target: Target, ops: Any) -> Plan:
        if target.backend == "kubernetes":
            grace = whole_seconds(self.grace_period) if self.grace_period else 0
            return PodDelete(grace_period_s=grace)
        return ContainerKill(signal=self.signal, method=self.method)


@register_plan
class ContainerKill(Plan):
    """Docker: SIGKILL (or `signal`) to the main process from the host, or through the engine."""

    kind: ClassVar[str] = "docker.kill"
    needs: ClassVar[type] = ContainerOps

    signal: str
    method: Literal["crash", "api"]

    @property
    def action(self) -> str:
        return "signal_process" if self.method == "crash" else "kill"

    def apply(self, ops: ContainerOps, target: Target) -> float:
        if self.method == "crash":
            return ops.crash(target, self.signal)
        return ops.kill(target, self.signal)


@register_plan
class PodDelete(Plan):
    """Kubernetes: the pod deleted with a grace period (0: at once)."""

    kind: ClassVar[str] = "kubernetes.delete"
    needs: ClassVar[type] = PodOps

    grace_period_s: int

    @property
    def action(self) -> str:
        return "delete_pod"

    def apply(self, ops: PodOps, target: Target) -> float:
        return ops.delete(target, self.grace_period_s)
