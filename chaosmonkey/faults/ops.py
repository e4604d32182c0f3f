"""The operations backends offer faults: what a plan may ask of the Docker engine, of the
Kubernetes API, or of a target's network, in the backend's own terms and errors.

A backend implements the protocols it can (the Docker backend `ContainerOps` and `NetworkOps`, the
Kubernetes backend `PodOps` and `NetworkOps`); a plan names the one it `needs`. Each call that
changes something returns when (epoch seconds) the backend was asked; each that undoes something
says what it found (`RevertResult`). A target that is gone raises TargetGone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from chaosmonkey.model import RevertResult, Target

if TYPE_CHECKING:
    from chaosmonkey.faults.network import NetworkPlan, Placement
    from chaosmonkey.netfaults.destinations import Destination


@runtime_checkable
class ContainerOps(Protocol):
    """A container engine: the container's processes and its state."""

    def crash(self, target: Target, signal: str) -> float:
        """Signals the container's main process from outside, as a crash would."""
        ...

    def kill(self, target: Target, signal: str) -> float:
        """Asks the engine to kill the container (a manual stop)."""
        ...

    def stop(self, target: Target, timeout_s: float) -> float: ...

    def restart(self, target: Target, timeout_s: float) -> float: ...

    def pause(self, target: Target) -> float: ...

    def start(self, target: Target) -> RevertResult:
        """Starts a stopped container; ALREADY_CLEAN when it runs."""
        ...

    def unpause(self, target: Target) -> RevertResult:
        """Thaws a paused container; ALREADY_CLEAN when it is not paused."""
        ...


@runtime_checkable
class PodOps(Protocol):
    """A pod API: the very pod chosen (a pod replaced since is not touched)."""

    def delete(self, target: Target, grace_period_s: int) -> float: ...

    def evict(self, target: Target, grace_period_s: int | None) -> float:
        """Asks the Eviction API (None: the pod's own grace period); a disruption budget's
        refusal raises FaultRefused, having changed nothing."""
        ...


@runtime_checkable
class NetworkOps(Protocol):
    """A target's network namespace, where a network fault's keeper holds its changes."""

    def place(self, target: Target, allow_host_network: bool) -> Placement | None:
        """Where the fault's keeper will run, when the backend must record it (a node agent);
        raises PolicyError for a target on its host's network unless allowed."""
        ...

    def resolve(self, destinations: list[str]) -> list[Destination]:
        """The destinations as networks and ports (names resolved where the backend can)."""
        ...

    def hold(self, target: Target, plan: NetworkPlan) -> float:
        """Starts the keeper that applies the plan's changes and ends them at its deadline."""
        ...

    def release(
        self, target: Target, tag: str, placement: Placement | None, fault: str
    ) -> RevertResult:
        """Stops the keeper of `tag` (a `fault` fault) and removes whatever the tag still owns."""
        ...
