"""Recovery watch over the Kubernetes API: the pods of the target's group, streamed, not polled.

The group's pods are listed when the watch is entered, then watched from that list's
resourceVersion, so no change is missed. Impact is the target pod being deleted, terminating or
not Ready; recovery the moment the group has as many Ready pods as before the fault (never more
than its workload wants). Times are the API's own when it gives them to the sub-second (a Ready
condition's lastTransitionTime), else the moment the event was received.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType

import urllib3
from kubernetes.watch import watch as _client_watch

from chaosmonkey.backends.kubernetes.pods import (
    Pod,
    ready,
    ready_since,
    running,
    serving,
    terminating,
)
from chaosmonkey.backends.watching import WatchThread
from chaosmonkey.errors import BackendError
from chaosmonkey.model import Target

# the client's splitting of a watch response into lines (it carries no annotations)
iter_resp_lines: Callable[[urllib3.BaseHTTPResponse], Iterator[str]] = _client_watch.iter_resp_lines
GONE = 410  # the resourceVersion is too old: list again
JOIN_S = 2.0
MIN_STREAM_S = 0.1


@dataclass(frozen=True)
class GroupScope:
    """Where a group's pods are: a namespace, narrowed by selectors; how many its workload wants."""

    namespace: str
    label_selector: str | None = None
    field_selector: str | None = None
    desired: int | None = None


ListPods = Callable[[GroupScope], tuple[list[Pod], str]]
OpenStream = Callable[[GroupScope, str], urllib3.BaseHTTPResponse]
Calling = Callable[[str], AbstractContextManager[None]]


class PodRecoveryTracker:
    """Impact and recovery read from the events of a group's pods; `members` as listed before."""

    def __init__(self, target_uid: str, members: Iterable[Pod], desired: int | None) -> None:
        self.target_uid = target_uid
        self._members = {str(pod["metadata"]["name"]): pod for pod in members}
        before = self.serving()
        self.baseline = before if desired is None else min(before, desired)
        self.impact_at: float | None = None
        self.recovered_at: float | None = None

    def serving(self) -> int:
        """Members Running and Ready, not being deleted."""
        return sum(serving(pod) for pod in self._members.values())

    def feed(self, kind: str, pod: Pod, received: float) -> None:
        """One watch event (ADDED, MODIFIED, DELETED) of a member."""
        name = str(pod["metadata"]["name"])
        current = self._members.get(name)
        if kind == "DELETED":
            if current is None or current["metadata"]["uid"] == pod["metadata"]["uid"]:
                self._members.pop(name, None)
        else:
            self._members[name] = pod
        if self.impact_at is None and self._hit(kind, pod):
            self.impact_at = received
        self._judge(pod, received)

    def sync(self, pods: Iterable[Pod], received: float) -> None:
        """A fresh listing, after the watch lost track (410 Gone)."""
        self._members = {str(pod["metadata"]["name"]): pod for pod in pods}
        target = [p for p in self._members.values() if p["metadata"]["uid"] == self.target_uid]
        if self.impact_at is None and (not target or self._hit("MODIFIED", target[0])):
            self.impact_at = received
        self._judge(None, received)

    def _hit(self, kind: str, pod: Pod) -> bool:
        if pod["metadata"]["uid"] != self.target_uid:
            return False
        return kind == "DELETED" or terminating(pod) or not running(pod) or ready(pod) is False

    def _judge(self, pod: Pod | None, received: float) -> None:
        if self.impact_at is None or self.recovered_at is not None:
            return
        if self.serving() >= self.baseline:
            became_ready = ready_since(pod) if pod is not None and serving(pod) else None
            self.recovered_at = max(self.impact_at, became_ready or received)


class KubeRecoveryWatch(WatchThread[PodRecoveryTracker]):
    """A `RecoveryWatch` over one group: a thread reads the watch stream while it is entered."""

    def __init__(
        self,
        target: Target,
        scope_of: Callable[[], GroupScope],
        list_pods: ListPods,
        open_stream: OpenStream,
        is_member: Callable[[Pod], bool],
        calling: Calling,
    ) -> None:
        super().__init__()
        self._target = target
        self._scope_of = scope_of
        self._list = list_pods
        self._open = open_stream
        self._is_member = is_member
        self._calling = calling
        self._tracker = PodRecoveryTracker(target.id, (), None)
        self._response: urllib3.BaseHTTPResponse | None = None

    def __enter__(self) -> KubeRecoveryWatch:
        scope = self._scope_of()
        pods, version = self._list(scope)
        members = [pod for pod in pods if self._is_member(pod)]
        self._tracker = PodRecoveryTracker(self._target.id, members, scope.desired)
        self._thread = threading.Thread(
            target=self._run, args=(scope, version), name=f"watch-{self._target.name}", daemon=True
        )
        self._thread.start()
        return self

    def _run(self, scope: GroupScope, version: str) -> None:
        try:
            while not self._closing and self._tracker.recovered_at is None:
                opened = time.monotonic()
                version = self._stream(scope, version)
                # a stream the server ends at once is not reopened in a tight loop
                time.sleep(max(0.0, MIN_STREAM_S - (time.monotonic() - opened)))
        except Exception as error:  # handed to the waiting thread, raised there
            self._error = error
        finally:
            self._ended()

    def _stream(self, scope: GroupScope, version: str) -> str:
        """Reads one watch request to its end; the resourceVersion to go on from."""
        what = f"watching the pods of {self._target.group}"
        with self._calling(what):
            self._response = self._open(scope, version)
            try:
                for line in iter_resp_lines(self._response):
                    version = self._event(scope, json.loads(line), version)
                    if self._tracker.recovered_at is not None or self._closing:
                        break
            except (urllib3.exceptions.HTTPError, OSError):
                if not self._closing:
                    raise
            finally:
                with contextlib.suppress(Exception):
                    self._response.release_conn()
        return version

    def _event(self, scope: GroupScope, event: dict[str, object], version: str) -> str:
        kind, pod = str(event.get("type")), event.get("object")
        if not isinstance(pod, dict):
            return version
        if kind == "ERROR":
            if pod.get("code") == GONE:
                return self._resync(scope)
            raise BackendError(f"the Kubernetes API ended the watch: {pod.get('message')}")
        version = str(pod.get("metadata", {}).get("resourceVersion") or version)
        if kind != "BOOKMARK" and self._is_member(pod):
            self._tracker.feed(kind, pod, time.time())
            self._signal()
        return version

    def _resync(self, scope: GroupScope) -> str:
        pods, version = self._list(scope)
        self._tracker.sync([pod for pod in pods if self._is_member(pod)], time.time())
        self._signal()
        return version

    def _signal(self) -> None:
        if self._tracker.impact_at is not None:
            self._impact.set()
        if self._tracker.recovered_at is not None:
            self._recovered.set()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        if self._response is not None:
            with contextlib.suppress(Exception):  # unblocks the thread's read
                self._response.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_S)
