"""Containers on one Docker engine, through its API (and host signals for crashes).

The backend offers faults the container operations (`ContainerOps`) and a container's network
(`NetworkOps`). A crash signals the container's main process from the host, so the engine sees an
unexpected exit and the restart policy applies; a kill through the engine counts as a manual stop:
restart policies do not bring it back.
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
from docker.types.daemon import CancellableStream

from chaosmonkey.backends.docker import network
from chaosmonkey.backends.docker.containers import (
    BACKEND,
    available_from_inspect,
    own_container_id,
    target_from_summary,
)
from chaosmonkey.backends.docker.errors import DEFAULT_URL, SDK_ERRORS, translate, unreachable
from chaosmonkey.backends.docker.events import DockerRecoveryWatch
from chaosmonkey.errors import BackendError, PermissionDenied, TargetGone
from chaosmonkey.faults.network import NetworkPlan, Placement
from chaosmonkey.model import COMPOSE_SERVICE_LABEL, GROUP_LABEL, RevertResult, Target
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.policy.models import Targets


class DockerBackend:
    """Containers on one Docker engine."""

    name = BACKEND

    def __init__(self, client: docker.DockerClient, url: str = DEFAULT_URL) -> None:
        self._client = client
        self._api = client.api
        self._url = url
        self._own_id = own_container_id(_read("/proc/self/mountinfo"), _read("/proc/self/cgroup"))

    @classmethod
    def connect(cls, base_url: str | None = None) -> DockerBackend:
        """Connect to `base_url`, else to the engine the environment (DOCKER_HOST) names."""
        url = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_URL
        try:
            client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
            client.ping()
        except SDK_ERRORS as error:
            raise unreachable(url, error) from error
        return cls(client, url)

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except SDK_ERRORS as error:
            raise translate(error, self._url, what) from error

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return self._list({})

    def _list(self, filters: dict[str, Any]) -> list[Target]:
        with self._calling("listing containers"):
            summaries = self._api.containers(all=True, filters=filters)
        targets = [target_from_summary(summary) for summary in summaries]
        return [target for target in targets if target.id != self._own_id]

    # --- container operations (ContainerOps) ---

    def crash(self, target: Target, signal_name: str) -> float:
        """A crash: signal the main process from the host, the engine did not ask for it."""
        what = f"crash container {target.name}"
        with self._calling(what):
            state = self._api.inspect_container(target.id)["State"]
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or pid <= 0:
            raise BackendError(f"{what}: it is not running, there is no process to signal")
        if target.id not in _read(f"/proc/{pid}/cgroup"):
            raise BackendError(
                f"{what}: kill method crash needs the host's process namespace (pid {pid} is not "
                "the container's here): run on the host or with --pid=host, or use `method: api`"
            )
        started = time.time()
        try:
            os.kill(pid, signal.Signals[signal_name])
        except ProcessLookupError as error:
            raise TargetGone(f"{what}: its process {pid} is gone") from error
        except PermissionError as error:
            message = f"{what}: no permission to signal pid {pid}: run as root"
            raise PermissionDenied(message) from error
        return started

    def kill(self, target: Target, signal_name: str) -> float:
        return self._call(f"kill container {target.name}", self._api.kill, target.id, signal_name)

    def stop(self, target: Target, timeout_s: float) -> float:
        what = f"stop container {target.name}"
        return self._call(what, self._api.stop, target.id, timeout=_whole(timeout_s))

    def restart(self, target: Target, timeout_s: float) -> float:
        what = f"restart container {target.name}"
        return self._call(what, self._api.restart, target.id, timeout=_whole(timeout_s))

    def pause(self, target: Target) -> float:
        return self._call(f"pause container {target.name}", self._api.pause, target.id)

    def start(self, target: Target) -> RevertResult:
        return self._undo(target, "start", lambda state: not state.get("Running"))

    def unpause(self, target: Target) -> RevertResult:
        return self._undo(target, "unpause", lambda state: bool(state.get("Paused")))

    def _call(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
        with self._calling(what):
            started = time.time()
            call(*args, **kwargs)
        return started

    def _undo(
        self, target: Target, action: str, needed: Callable[[dict[str, Any]], bool]
    ) -> RevertResult:
        """`action` (start, unpause) on the container, when its state says it is `needed`."""
        with self._calling(f"{action} container {target.name}"):
            if not needed(self._api.inspect_container(target.id)["State"]):
                return RevertResult.ALREADY_CLEAN
            getattr(self._api, action)(target.id)
        return RevertResult.REVERTED

    # --- a container's network (NetworkOps) ---

    def place(self, target: Target, allow_host_network: bool) -> Placement | None:
        with self._calling(f"inspect container {target.name}"):
            network.place(self._api, target, allow_host_network)
        return None

    def resolve(self, destinations: list[str]) -> list[Destination]:
        with self._calling("resolving the fault's destinations"):
            return network.resolve(self._api, destinations)

    def hold(self, target: Target, plan: NetworkPlan) -> float:
        with self._calling(f"network fault on container {target.name}"):
            return network.hold(self._api, target, plan, self._own_id)

    def release(
        self, target: Target, tag: str, placement: Placement | None, fault: str
    ) -> RevertResult:
        with self._calling(f"restore the network of container {target.name}"):
            return network.release(self._api, target, tag, self._own_id)

    # --- recovery ---

    def watch(self, target: Target) -> DockerRecoveryWatch:
        filters = _group_filters(target)
        members = {"name": [f"^/?{re.escape(target.name)}$"]} if "container" in filters else filters

        def count_available(actor_id: str | None) -> int:
            listed = [m for m in self._list(members) if m.group == target.group]
            return sum(self._available(m, actor_id) for m in listed)

        def open_events(since: int, filters: dict[str, Any]) -> CancellableStream[dict[str, Any]]:
            with self._calling("reading the engine's events"):
                return self._api.events(since=since, filters=filters, decode=True)

        return DockerRecoveryWatch(open_events, target, filters, count_available)

    def _available(self, member: Target, actor_id: str | None) -> bool:
        """The listing lags events by a moment: the event's own container is inspected live."""
        if member.id != actor_id:
            return member.available
        try:
            with self._calling(f"inspect container {member.name}"):
                return available_from_inspect(self._api.inspect_container(member.id))
        except TargetGone:
            return False

    def close(self) -> None:
        with self._calling("closing the client"):
            self._client.close()


def _group_filters(target: Target) -> dict[str, Any]:
    """Engine filters matching a group: its label, or the container itself for a name group."""
    for label in (COMPOSE_SERVICE_LABEL, GROUP_LABEL):
        if target.labels.get(label) == target.group:
            return {"label": [f"{label}={target.group}"]}
    return {"container": [target.id]}


def _whole(seconds: float) -> int:
    """The engine takes whole seconds; round up so the container gets at least its grace time."""
    return math.ceil(seconds)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
