"""Fixtures for integration tests against the real Docker engine.

Every container a test runs carries `chaosmonkey.test=<session id>` and is removed at teardown.
The engine may be shared: tests only ever look at containers they started themselves.
Without an engine the tests are skipped with the reason, unless CHAOSMONKEY_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import docker
import pytest
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container

from tests.integration.cli import MonkeyProcess, start_cli
from tests.waiting import wait_until

SESSION_ID = uuid.uuid4().hex[:12]
TEST_LABEL = "chaosmonkey.test"
TARGET_IMAGE = "chaosmonkey-target:test"
IMAGE_DIR = Path(__file__).parent / "images" / "target"
HTTP_PORT = "8080/tcp"
_MS = 1_000_000  # the engine counts health check durations in nanoseconds


def _health_check(
    test: list[str] | None = None,
    interval_s: float = 0.1,
    retries: int = 1,
    start_period_s: float = 30.0,
) -> dict[str, Any]:
    """A health check for the engine; the default asks the target's HTTP server.

    Failures within `start_period_s` of a start do not count: the container stays `starting`
    until its first success, then turns healthy (so START_DELAY shows as `starting`, not unhealthy).
    """
    probe = "timeout 1 wget -q -O - http://127.0.0.1:8080/ >/dev/null"
    return {
        "test": test or ["CMD-SHELL", probe],
        "interval": int(interval_s * 1000) * _MS,
        "timeout": 1000 * _MS,
        "retries": retries,
        "start_period": int(start_period_s * 1000) * _MS,
    }


class RunTarget(Protocol):
    def __call__(
        self,
        *,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        restart: str | None = None,
        healthcheck: bool | Mapping[str, Any] = False,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Container: ...


class WaitFor(Protocol):
    def __call__(
        self, condition: Callable[[], bool], what: str, timeout_s: float = 10.0
    ) -> None: ...


class WaitReady(Protocol):
    def __call__(self, container: Container, timeout_s: float = 10.0) -> None: ...


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client of the engine the environment names; skips (or fails, when required) without one."""
    try:
        client = docker.from_env()
        client.ping()
    except (DockerException, requests.RequestException) as error:
        reason = f"no Docker engine answers ({type(error).__name__}: {error})"
        if os.environ.get("CHAOSMONKEY_REQUIRE_DOCKER") == "1":
            pytest.fail(f"CHAOSMONKEY_REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(reason)
    yield client
    for leftover in client.containers.list(all=True, filters=_session_filter()):
        leftover.remove(force=True)
    client.close()


@pytest.fixture(scope="session")
def target_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Builds `chaosmonkey-target:test` (busybox httpd, FROM scratch) with the classic builder."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).is_file():
        pytest.fail("busybox is not installed (apt-get install busybox-static)")
    context = tmp_path_factory.mktemp("target-image")
    shutil.copy(IMAGE_DIR / "Dockerfile", context / "Dockerfile")
    shutil.copy(busybox, context / "busybox")
    docker_client.images.build(path=str(context), tag=TARGET_IMAGE, rm=True, forcerm=True)
    return TARGET_IMAGE


@pytest.fixture
def wait_for() -> WaitFor:
    """`wait_for(condition, what, timeout_s)`: polls every 20 ms, fails the test naming `what`."""
    return wait_until


@pytest.fixture
def health_check() -> Callable[..., dict[str, Any]]:
    """`health_check(test=None, interval_s=0.1, retries=1, start_period_s=30.0)`: a mapping
    for `run_target(healthcheck=...)`."""
    return _health_check


@pytest.fixture
def container_state() -> Callable[[Container], dict[str, Any]]:
    """`container_state(container)`: its live `State`, {} once it is gone."""
    return _container_state


@pytest.fixture
def published_url() -> Callable[[Container], str]:
    """`published_url(container)`: the target's HTTP address on 127.0.0.1."""
    return _published_url


@pytest.fixture
def wait_ready(wait_for: WaitFor) -> WaitReady:
    """`wait_ready(container, timeout_s)`: running, and healthy when it has a health check."""

    def wait(container: Container, timeout_s: float = 10.0) -> None:
        wait_for(lambda: _is_ready(container), f"container {container.name} ready", timeout_s)

    return wait


@pytest.fixture
def run_target(
    docker_client: docker.DockerClient,
    target_image: str,
    wait_ready: WaitReady,
) -> Iterator[RunTarget]:
    """A factory running target containers (HTTP on 127.0.0.1::8080), force-removed at teardown.

    `restart` is a restart policy name ("always", "on-failure"...); `healthcheck` True asks the
    HTTP server every 100 ms, a mapping is passed to the engine as is (see `health_check`);
    env START_DELAY=<s> delays the server's start. With `wait`, returns once it is ready.
    """
    started: list[Container] = []

    def run(
        *,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        restart: str | None = None,
        healthcheck: bool | Mapping[str, Any] = False,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Container:
        check = _health_check() if healthcheck is True else dict(healthcheck or {}) or None
        options: dict[str, Any] = {
            "name": name or f"cm-test-{uuid.uuid4().hex[:10]}",
            "labels": {**(labels or {}), TEST_LABEL: SESSION_ID},
            "restart_policy": {"Name": restart} if restart else None,
            "healthcheck": check,
            "environment": dict(env or {}),
            "ports": {HTTP_PORT: ("127.0.0.1", None)},  # None: the engine picks a free port
        }
        container = docker_client.containers.run(target_image, detach=True, **options)
        started.append(container)
        if wait:
            wait_ready(container)
        return container

    yield run
    for container in started:
        with contextlib.suppress(APIError):  # gone, or being removed: else swept at session end
            container.remove(force=True)


def _container_state(container: Container) -> dict[str, Any]:
    """The container's live `State` from the engine; {} once it is gone."""
    try:
        container.reload()
    except NotFound:
        return {}
    return dict(container.attrs["State"])


def started_at(container: Container) -> str:
    """When the container's current process started: changes with every restart or kill."""
    container.reload()
    return str(container.attrs["State"]["StartedAt"])


def state(container: Container) -> str:
    """The container's status now: running, paused, exited..."""
    container.reload()
    return str(container.status)


def _is_ready(container: Container) -> bool:
    state = _container_state(container)
    health = state.get("Health")
    return bool(state.get("Running")) and (health is None or health["Status"] == "healthy")


def _published_url(container: Container) -> str:
    """The target's HTTP address, published on 127.0.0.1."""
    container.reload()
    binding = container.attrs["NetworkSettings"]["Ports"][HTTP_PORT][0]
    return f"http://127.0.0.1:{binding['HostPort']}/"


def _session_filter() -> dict[str, str | list[str] | bool]:
    return {"label": f"{TEST_LABEL}={SESSION_ID}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Monkey(MonkeyProcess):
    """A `chaosmonkey run` process over a policy directory."""

    def __init__(self, policies: Path, db: Path, port: int, *options: str) -> None:
        self.port = port
        self.process = start_cli(
            *("run", "--policies", str(policies), "--metrics-port", str(port)),
            *("--metrics-address", "127.0.0.1", *options),
            db=db,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture
def monkeys() -> Iterator[list[MonkeyProcess]]:
    """`chaosmonkey run` processes a test starts; any still running at the end is killed."""
    started: list[MonkeyProcess] = []
    yield started
    for monkey in started:
        if monkey.process.poll() is None:
            monkey.process.kill()
            monkey.process.wait()
