"""The watch for faults the backend's events cannot show (network faults): the fault's impact is
the moment it was applied, and the target is back the moment it was reverted. With a probe on
top (`ProbeWatch`), what clients saw decides instead."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from chaosmonkey.model import Observation


class AppliedFaultWatch:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._applied_at: float | None = None
        self._reverted_at: float | None = None

    def __enter__(self) -> AppliedFaultWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def applied(self, at: float) -> None:
        with self._changed:
            self._applied_at = at
            self._changed.notify_all()

    def reverted(self, at: float) -> None:
        with self._changed:
            self._reverted_at = at
            self._changed.notify_all()

    def wait_impact(self, deadline: float) -> float | None:
        with self._changed:
            self._changed.wait_for(lambda: self._applied_at is not None, _left(deadline))
            return self._applied_at

    def wait_recovered(self, deadline: float) -> Observation:
        with self._changed:
            self._changed.wait_for(lambda: self._reverted_at is not None, _left(deadline))
            return Observation(self._applied_at, self._reverted_at)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.time())
