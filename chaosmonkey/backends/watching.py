"""What the backends' recovery watches share: a reader thread that hands the impact and the
recovery it sees (or the error it met) to the thread waiting for them."""

from __future__ import annotations

import threading
import time
from typing import Generic, Protocol, TypeVar

from chaosmonkey.model import Observation


class Tracker(Protocol):
    """Impact and recovery as a backend's events show them."""

    impact_at: float | None
    recovered_at: float | None
    baseline: int


TrackerT = TypeVar("TrackerT", bound=Tracker)


class WatchThread(Generic[TrackerT]):
    """The waiting half of a `RecoveryWatch`; a subclass sets `_tracker`, starts `_thread` on
    enter, calls `_ended()` when its reader stops, and sets `_closing` on exit."""

    _tracker: TrackerT

    def __init__(self) -> None:
        self._impact = threading.Event()
        self._recovered = threading.Event()
        self._closing = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _ended(self) -> None:
        """The reader stopped: nobody waits any longer."""
        self._impact.set()
        self._recovered.set()

    def wait_impact(self, deadline: float) -> float | None:
        self._impact.wait(max(0.0, deadline - time.time()))
        if self._tracker.impact_at is None:
            self._raise_error()
        return self._tracker.impact_at

    def wait_recovered(self, deadline: float) -> Observation:
        self._recovered.wait(max(0.0, deadline - time.time()))
        if self._tracker.recovered_at is None:
            self._raise_error()
        return Observation(self._tracker.impact_at, self._tracker.recovered_at)

    @property
    def baseline(self) -> int:
        """Available members the group must have again to count as recovered."""
        return self._tracker.baseline

    def _raise_error(self) -> None:
        if self._error is not None and not self._closing:
            raise self._error
