"""Recovery watch over the Docker engine's event stream.

Times come from the events' `timeNano`, stamped by the engine when the state changed, so the
measurement does not depend on how fast this process reads the stream.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

from chaosmonkey.backends.watching import WatchThread
from chaosmonkey.errors import BackendUnavailable
from chaosmonkey.model import Target

if TYPE_CHECKING:
    from docker.types.daemon import CancellableStream

IMPACT_ACTIONS = frozenset(
    {"die", "stop", "kill", "pause", "oom", "destroy", "health_status: unhealthy"}
)
RECOVERY_ACTIONS = ("start", "unpause", "health_status")
# `health_status` matches every `health_status: <state>` in the engine's event filter.
WATCHED_EVENTS = sorted({"die", "stop", "kill", "pause", "oom", "destroy", *RECOVERY_ACTIONS})

Events: TypeAlias = "CancellableStream[dict[str, Any]]"
OpenEvents = Callable[[int, dict[str, Any]], Events]
CountAvailable = Callable[[str | None], int]


def event_time(event: Mapping[str, Any]) -> float:
    """The engine's time of an event, epoch seconds (nanosecond precision when given)."""
    if event.get("timeNano"):
        return int(event["timeNano"]) / 1e9
    return float(event.get("time") or 0)


class RecoveryTracker:
    """Impact and recovery read from a sequence of engine events; the member count is passed in.

    Impact is the first impact event on the target; recovery the first start, unpause or health
    event of a group member after it at which the group has `baseline` available members again.
    """

    def __init__(self, target_id: str, baseline: int, not_before: float) -> None:
        self.target_id = target_id
        self.baseline = baseline
        self.not_before = not_before
        self.impact_at: float | None = None
        self.recovered_at: float | None = None

    def feed(self, event: Mapping[str, Any], count_available: CountAvailable) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        actor = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")
        at = event_time(event)
        if self.recovered_at is not None or at < self.not_before:
            return
        if self.impact_at is None:
            if actor == self.target_id and action in IMPACT_ACTIONS:
                self.impact_at = at
            return
        if action.startswith(RECOVERY_ACTIONS) and count_available(actor) >= self.baseline:
            self.recovered_at = at


class DockerRecoveryWatch(WatchThread[RecoveryTracker]):
    """A `RecoveryWatch` over one group: a thread reads the engine's events while it is entered."""

    def __init__(
        self,
        open_events: OpenEvents,
        target: Target,
        group_filters: Mapping[str, Any],
        count_available: CountAvailable,
    ) -> None:
        super().__init__()
        self._open_events = open_events
        self._target = target
        self._filters = {"type": ["container"], "event": WATCHED_EVENTS, **group_filters}
        self._count = count_available
        self._tracker = RecoveryTracker(target.id, 0, 0.0)
        self._stream: Events | None = None

    def __enter__(self) -> DockerRecoveryWatch:
        since = time.time()
        self._tracker = RecoveryTracker(self._target.id, self._count(None), since)
        # The engine replays events from `since` on: none is lost while the stream opens.
        self._stream = self._open_events(int(since), self._filters)
        self._thread = threading.Thread(
            target=self._run, name=f"watch-{self._target.name}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._stream is not None
        try:
            for event in self._stream:
                self._tracker.feed(event, self._count)
                if self._tracker.impact_at is not None:
                    self._impact.set()
                if self._tracker.recovered_at is not None:
                    return
            if not self._closing:
                self._error = BackendUnavailable("the Docker engine closed its event stream")
        except Exception as error:  # handed to the waiting thread, raised there
            self._error = error
        finally:
            self._ended()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        if self._stream is not None:
            # SSH streams cannot be cancelled: the daemon thread then ends with the process.
            with contextlib.suppress(Exception):
                self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
