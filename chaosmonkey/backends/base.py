"""What a backend (Docker engine, Kubernetes API) offers the engine.

The engine speaks only this protocol; each backend package is the only importer of its SDK.
A backend lists targets and watches a target's group recover; faults act through the operations
it also offers (`chaosmonkey.faults.ops`), which their plans name.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chaosmonkey.model import Observation, Target
    from chaosmonkey.policy.models import Targets


class RecoveryWatch(Protocol):
    """Watches a target's group from before the fault until it is back.

    Entered before the fault is applied so that no event is missed. Impact is the first sign that
    the fault took effect (the process died, the container paused or turned unhealthy); recovery is
    the moment the group has as many available members as before the fault, after an impact.
    Times are the engine's own event times (epoch seconds) where it gives them.
    """

    def __enter__(self) -> RecoveryWatch: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def wait_impact(self, deadline: float) -> float | None:
        """Block until the first impact or `deadline` (epoch seconds); its time or None."""
        ...

    def wait_recovered(self, deadline: float) -> Observation:
        """Block until the group is back after an impact, or until `deadline`."""
        ...


class Backend(Protocol):
    """One place where targets live."""

    name: str

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        """Every candidate, running or not, the monkey's own container or pod left out.

        `scope` is the policy's `spec.targets`: a backend that may look only in some places
        (Kubernetes namespaces) lists there alone; None means everywhere it may look."""
        ...

    def watch(self, target: Target) -> RecoveryWatch:
        """A watch over `target`'s group, to be entered before `apply`."""
        ...

    def close(self) -> None: ...
