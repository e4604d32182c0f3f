"""Shared helpers for the Docker benchmarks: the target image, labelled containers, policies.

Every container carries `chaosmonkey.bench=1` and this process's run id; `bench_session()`
removes them all when the block ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import yaml
from docker.errors import APIError
from docker.models.containers import Container

ROOT = Path(__file__).resolve().parent.parent
IMAGE_DIR = ROOT / "tests" / "integration" / "images" / "target"
TARGET_IMAGE = "chaosmonkey-target:test"
HTTP_PORT = "8080/tcp"
DOCKER_URL = "unix:///var/run/docker.sock"
BENCH_LABEL = "chaosmonkey.bench"
RUN_LABEL = "chaosmonkey.bench.run"
RUN_ID = uuid.uuid4().hex[:12]
_MS = 1_000_000  # the engine counts health check durations in nanoseconds


def build_target_image(client: docker.DockerClient) -> str:
    """Builds `chaosmonkey-target:test` as the integration fixture does (classic builder)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).is_file():
        raise SystemExit("busybox is not installed (apt-get install busybox-static)")
    with tempfile.TemporaryDirectory(prefix="bench-image-") as context:
        shutil.copy(IMAGE_DIR / "Dockerfile", Path(context) / "Dockerfile")
        shutil.copy(busybox, Path(context) / "busybox")
        client.images.build(path=context, tag=TARGET_IMAGE, rm=True, forcerm=True)
    return TARGET_IMAGE


@contextlib.contextmanager
def bench_session() -> Iterator[docker.DockerClient]:
    """A client with the target image built; every container of this run is removed at the end."""
    client = docker.from_env()
    client.ping()
    try:
        build_target_image(client)
        yield client
    finally:
        remove_all(client)
        client.close()


def remove_all(client: docker.DockerClient) -> None:
    """Force-removes the containers this run created (by its run id), and only those."""
    filters: dict[str, str | list[str] | bool] = {
        "label": [f"{BENCH_LABEL}=1", f"{RUN_LABEL}={RUN_ID}"]
    }
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(APIError):
            container.remove(force=True)


def health_check(interval_s: float, start_period_s: float = 30.0) -> dict[str, Any]:
    """An engine health check asking the HTTP server (busybox `wget -T` crashes: use timeout)."""
    probe = "timeout 1 wget -q -O - http://127.0.0.1:8080/ >/dev/null"
    return {
        "test": ["CMD-SHELL", probe],
        "interval": int(interval_s * 1000) * _MS,
        "timeout": 1000 * _MS,
        "retries": 1,
        "start_period": int(start_period_s * 1000) * _MS,
    }


def run_target(
    client: docker.DockerClient,
    app: str,
    *,
    restart: str | None = None,
    env: Mapping[str, str] | None = None,
    healthcheck: Mapping[str, Any] | None = None,
    publish: bool = True,
    port: int | None = None,
) -> Container:
    """A target container labelled app=`app`, HTTP published on 127.0.0.1 when `publish`.

    Without `port` the engine picks a host port, and picks a NEW one each time the restart policy
    restarts the container; a probe of a fixed address needs a fixed `port` (see `free_port`).
    """
    options: dict[str, Any] = {
        "name": f"cm-bench-{uuid.uuid4().hex[:10]}",
        "labels": {"app": app, BENCH_LABEL: "1", RUN_LABEL: RUN_ID},
        "restart_policy": {"Name": restart} if restart else None,
        "healthcheck": dict(healthcheck) if healthcheck else None,
        "environment": dict(env or {}),
        "ports": {HTTP_PORT: ("127.0.0.1", port)} if publish else {},
    }
    container: Container = client.containers.run(TARGET_IMAGE, detach=True, **options)
    return container


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the engine then binds it for the container)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    """Polls every 20 ms until `condition()`; raises naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def state(container: Container) -> dict[str, Any]:
    container.reload()
    return dict(container.attrs["State"])


def wait_running(container: Container, timeout_s: float = 15.0) -> None:
    wait_for(lambda: bool(state(container).get("Running")), f"{container.name} running", timeout_s)


def wait_healthy(container: Container, timeout_s: float = 15.0) -> None:
    def healthy() -> bool:
        current = state(container)
        return bool(current.get("Running")) and current["Health"]["Status"] == "healthy"

    wait_for(healthy, f"{container.name} healthy", timeout_s)


def host_port(container: Container) -> int | None:
    """The host port the target's HTTP port is published on now; None while it has none (the
    engine drops the binding while the container is down or restarting)."""
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(HTTP_PORT)
    return int(bindings[0]["HostPort"]) if bindings else None


def write_policy(directory: Path, app: str, fault: dict[str, Any], **spec: Any) -> Path:
    """An armed policy file selecting the containers labelled app=`app`. A benchmark's container
    runs alone, a group of one: its policy attacks the group's last member on purpose."""
    body: dict[str, Any] = {"dryRun": False, "targets": {"labels": {"app": app}}, "fault": fault}
    body.update(spec)
    body["limits"] = {"allowLastMember": True, **spec.get("limits", {})}
    document = {
        "apiVersion": "chaosmonkey/v1",
        "kind": "Policy",
        "metadata": {"name": f"bench-{app}"},
        "spec": body,
    }
    path = directory / f"{app}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def unique_app() -> str:
    return f"bench-{uuid.uuid4().hex[:8]}"


def ms(seconds: float) -> float:
    return seconds * 1000.0


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def venv_bin(name: str) -> str:
    """A command of the project's virtualenv, /work/main/.venv/bin/NAME."""
    return str(ROOT / ".venv" / "bin" / name)
