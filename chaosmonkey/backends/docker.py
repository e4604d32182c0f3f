"""The Docker engine backend: the only module, with `_docker_events`, that imports `docker`.

Targets are containers. A `kill` fault with method `crash` signals the container's main process from
the host, so the engine sees an unexpected exit and the restart policy applies; method `api` kills
it through the engine, which counts as a manual stop: restart policies do not bring it back.
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.types.daemon import CancellableStream

from chaosmonkey.backends._docker_events import DockerRecoveryWatch
from chaosmonkey.backends._docker_network import ACTION as NETWORK_ACTION
from chaosmonkey.backends._docker_network import REVERT_ACTION as NETWORK_REVERT
from chaosmonkey.backends._docker_network import apply_network, plan_network, revert_network
from chaosmonkey.errors import (
    BackendError,
    BackendUnavailable,
    ChaosMonkeyError,
    PermissionDenied,
    PolicyError,
    RevertFailedError,
    TargetGone,
    root_os_error,
)
from chaosmonkey.model import (
    COMPOSE_SERVICE_LABEL,
    GROUP_LABEL,
    Injection,
    RevertResult,
    Target,
)
from chaosmonkey.policy.models import Fault, KillFault, PauseFault, RestartFault, StopFault, Targets
from chaosmonkey.policy.network import NetworkFaultBase

BACKEND = "docker"
DEFAULT_URL = "unix:///var/run/docker.sock"
_SDK_ERRORS = (DockerException, requests.RequestException)
_ID = re.compile(r"[0-9a-f]{64}")
_HOSTNAME_MOUNTS = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


# --- pure helpers: summaries, groups, plans ------------------------------------------------


def resolve_group(name: str, labels: Mapping[str, str]) -> str:
    """The compose service, else the `chaosmonkey.io/group` label, else the container's name."""
    return labels.get(COMPOSE_SERVICE_LABEL) or labels.get(GROUP_LABEL) or name


def health_from_status(status: str) -> bool | None:
    """`(healthy)` -> True; `(unhealthy)`, `(health: starting)` -> False; no check -> None."""
    if "(healthy)" in status:
        return True
    if "(unhealthy)" in status or "(health: starting)" in status:
        return False
    return None


def container_name(names: list[str]) -> str:
    """The canonical name among a summary's `Names` (links add `/other/alias` entries)."""
    plain = [name for name in names if "/" not in name.lstrip("/")]
    return (plain or names or [""])[0].lstrip("/")


def target_from_summary(summary: Mapping[str, Any]) -> Target:
    """A `Target` from one entry of `GET /containers/json`; a paused container is not running."""
    labels = dict(summary.get("Labels") or {})
    name = container_name(list(summary.get("Names") or []))
    return Target(
        backend=BACKEND,
        id=summary["Id"],
        name=name,
        group=resolve_group(name, labels),
        labels=labels,
        running=summary.get("State") == "running",
        healthy=health_from_status(summary.get("Status") or ""),
        created_at=float(summary["Created"]) if summary.get("Created") else None,
    )


def available_from_inspect(attrs: Mapping[str, Any]) -> bool:
    """Live state from `inspect`: running, not paused, and healthy when it has a health check."""
    state = attrs.get("State") or {}
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        return False
    health = state.get("Health")
    return health is None or health.get("Status") == "healthy"


def own_container_id(mountinfo: str, cgroup: str) -> str | None:
    """The id of the container this process runs in, or None on a host.

    The engine bind-mounts /etc/hostname from `.../containers/<id>/hostname` (any cgroup version);
    cgroup v1 paths also name the id. The host's own mountinfo is not read for container paths.
    """
    for line in mountinfo.splitlines():
        fields = line.split()
        mounted = len(fields) > 4 and fields[4] in _HOSTNAME_MOUNTS and "/containers/" in fields[3]
        if mounted and (match := _ID.search(fields[3])):
            return match.group(0)
    for line in cgroup.splitlines():
        if "docker" in line and (match := _ID.search(line)):
            return match.group(0)
    return None


def plan_injection(attack_id: str, target: Target, fault: Fault) -> Injection:
    """What a fault does to a container: the engine call and the call that undoes it."""
    action, params, revert = _action_of(fault)
    return Injection(attack_id, BACKEND, target, action, params, revert)


def _action_of(fault: Fault) -> tuple[str, dict[str, Any], str | None]:
    if isinstance(fault, KillFault):
        if fault.grace_period is not None:
            raise PolicyError(
                "spec.fault.gracePeriod",
                "a kubernetes setting; on docker a kill takes signal and method",
            )
        action = "signal_process" if fault.method == "crash" else "kill"
        return action, {"signal": fault.signal}, None
    if isinstance(fault, StopFault):
        return "stop", {"timeout_s": fault.timeout.total_seconds()}, "start"
    if isinstance(fault, RestartFault):
        return "restart", {"timeout_s": fault.timeout.total_seconds()}, None
    if isinstance(fault, PauseFault):
        return "pause", {"duration_s": fault.duration.total_seconds()}, "unpause"
    raise PolicyError("fault", f"the docker backend cannot apply a {fault.type!r} fault")


# --- SDK errors -> chaosmonkey errors ------------------------------------------------------


def _reason(error: BaseException) -> str:
    """A short, one-line reason for an SDK error."""
    if isinstance(error, APIError) and error.explanation:
        text = str(error.explanation)
    elif (os_error := root_os_error(error)) is not None:
        text = str(os_error.strerror)
    else:
        text = str(error) or type(error).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(error).__name__


def _unreachable(url: str, error: BaseException) -> BackendError:
    if isinstance(root_os_error(error), PermissionError):
        path = url.removeprefix("unix://")
        return PermissionDenied(
            f"no permission on the Docker engine socket {path}: "
            "run as root or as a member of the docker group"
        )
    return BackendUnavailable(
        f"cannot reach the Docker engine at {url}: {_reason(error)}; "
        "is dockerd running? DOCKER_HOST selects another engine"
    )


def _translate(error: BaseException, url: str, what: str) -> BackendError:
    if isinstance(error, NotFound):
        return TargetGone(f"{what}: the container is gone ({_reason(error)})")
    if isinstance(error, APIError) and error.status_code == 403:
        return PermissionDenied(f"{what}: the Docker engine refused: {_reason(error)}")
    if isinstance(error, APIError):
        return BackendError(f"{what}: the Docker engine answered: {_reason(error)}")
    return _unreachable(url, error)


# --- the backend ---------------------------------------------------------------------------


class DockerBackend:
    """Containers on one Docker engine, through its API (and host signals for crashes)."""

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
        except _SDK_ERRORS as error:
            raise _unreachable(url, error) from error
        return cls(client, url)

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except _SDK_ERRORS as error:
            raise _translate(error, self._url, what) from error

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return self._list({})

    def _list(self, filters: dict[str, Any]) -> list[Target]:
        with self._calling("listing containers"):
            summaries = self._api.containers(all=True, filters=filters)
        targets = [target_from_summary(summary) for summary in summaries]
        return [target for target in targets if target.id != self._own_id]

    def plan(self, attack_id: str, target: Target, fault: Fault) -> Injection:
        if isinstance(fault, NetworkFaultBase):
            with self._calling(f"plan {fault.type} on container {target.name}"):
                return plan_network(self._api, attack_id, target, fault)
        return plan_injection(attack_id, target, fault)

    def apply(self, injection: Injection) -> float:
        target, params = injection.target, injection.params
        what = f"{injection.action} container {target.name}"
        if injection.action == "signal_process":
            return self._signal_process(target, str(params["signal"]))
        if injection.action == NETWORK_ACTION:
            with self._calling(what):
                return apply_network(self._api, injection, self._own_id)
        calls: dict[str, Callable[[], None]] = {
            "kill": lambda: self._api.kill(target.id, signal=str(params["signal"])),
            "stop": lambda: self._api.stop(target.id, timeout=_seconds(params)),
            "restart": lambda: self._api.restart(target.id, timeout=_seconds(params)),
            "pause": lambda: self._api.pause(target.id),
        }
        if injection.action not in calls:
            raise BackendError(f"{what}: unknown docker action {injection.action!r}")
        with self._calling(what):
            started = time.time()
            calls[injection.action]()
        return started

    def _signal_process(self, target: Target, signal_name: str) -> float:
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

    def revert(self, injection: Injection) -> RevertResult:
        if injection.revert_action is None:
            return RevertResult.NOTHING_TO_REVERT
        target = injection.target
        try:
            with self._calling(f"{injection.revert_action} container {target.name}"):
                return self._revert(target.id, injection.revert_action, injection)
        except TargetGone:
            return RevertResult.TARGET_GONE
        except ChaosMonkeyError as error:
            message = f"cannot revert attack {injection.attack_id}: {error}"
            raise RevertFailedError(message) from error

    def _revert(self, container_id: str, action: str, injection: Injection) -> RevertResult:
        if action == NETWORK_REVERT:
            return revert_network(self._api, injection, self._own_id)
        state = self._api.inspect_container(container_id)["State"]
        if action == "start":
            if state.get("Running"):
                return RevertResult.ALREADY_CLEAN
            self._api.start(container_id)
            return RevertResult.REVERTED
        if action == "unpause":
            if not state.get("Paused"):
                return RevertResult.ALREADY_CLEAN
            self._api.unpause(container_id)
            return RevertResult.REVERTED
        raise BackendError(f"unknown docker revert action {action!r}")

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


def _seconds(params: Mapping[str, Any]) -> int:
    """The engine takes whole seconds; round up so the container gets at least its grace time."""
    return math.ceil(float(params["timeout_s"]))


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
