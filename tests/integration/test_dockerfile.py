"""The root Dockerfile, built for real: on a Debian base made here by debootstrap (no registry is
reachable), installing offline from wheels built on the host, as `pip wheel . -w dist/` documents.

The base image is kept in the engine once made (~55 s here); wheels and build take ~50 s more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import docker
import pytest
from docker.models.containers import Container

from chaosmonkey import __version__
from chaosmonkey.policy import load_paths
from tests.integration.conftest import SESSION_ID, TEST_LABEL, RunTarget

# building the image on the vfs storage driver takes minutes: the first test waits for it
pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "local/debian-python-net:bookworm"  # Debian 12 minbase: python3-venv, iptables, tc
IMAGE = f"chaosmonkey:test-{SESSION_ID}"
# Never sent to the engine in any case; left out of the copy to keep it small and quick.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "*_cache", "__pycache__", "build", "dist", "*.egg-info", "*.db*"
)


def _run(
    command: list[str], timeout_s: float, stdin: IO[bytes] | None = None, buildkit: bool = True
) -> None:
    """Runs a command, failing the test with its output when it fails."""
    env = os.environ if buildkit else {**os.environ, "DOCKER_BUILDKIT": "0"}
    done = subprocess.run(
        command, stdin=stdin, env=env, capture_output=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(command[:3])}... exited {done.returncode}:\n{done.stderr[-3000:].decode()}"
        )


@pytest.fixture(scope="module")
def base_image(docker_client: docker.DockerClient) -> str:
    """`local/debian-python:bookworm`, made once with debootstrap and `docker import`."""
    if docker_client.images.list(name=BASE_IMAGE):
        return BASE_IMAGE
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        reason = "debootstrap is not installed (deploy/setup-host.sh installs it)"
        if os.environ.get("CHAOSMONKEY_REQUIRE_DOCKER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="rootfs-") as rootfs:
        packages = "--include=python3-venv,iptables,iproute2"
        minbase = ["--variant=minbase", packages, "bookworm", rootfs]
        _run([debootstrap, *minbase], timeout_s=600)
        shutil.rmtree(Path(rootfs, "var/cache/apt/archives"), ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        _run(["docker", "import", "-", BASE_IMAGE], timeout_s=300, stdin=tar.stdout)
        assert tar.wait() == 0
    return BASE_IMAGE


@pytest.fixture(scope="module")
def image(
    base_image: str, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The repository's image, built by the docker CLI from a copy of the work tree plus dist/."""
    context = tmp_path_factory.mktemp("dockerfile") / "context"
    shutil.copytree(ROOT, context, ignore=NOT_COPIED)
    wheels = tmp_path_factory.mktemp("wheels")
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", str(context), "-w", str(wheels)], timeout_s=600
    )
    shutil.rmtree(context / "build", ignore_errors=True)
    shutil.copytree(wheels, context / "dist")
    build = ["docker", "build", "--force-rm", "--build-arg", f"BASE_IMAGE={base_image}"]
    _run([*build, "-t", IMAGE, str(context)], timeout_s=900, buildkit=False)
    yield IMAGE
    docker_client.images.remove(IMAGE, force=True)


def _in_image(client: docker.DockerClient, image: str, *args: str) -> str:
    output = client.containers.run(
        image, list(args), remove=True, labels={TEST_LABEL: SESSION_ID}, stderr=True
    )
    return bytes(output).decode()


def test_image_runs_the_installed_command(docker_client: docker.DockerClient, image: str) -> None:
    assert _in_image(docker_client, image, "--version").strip() == (
        f"chaosmonkey, version {__version__}"
    )


def test_image_validates_the_policies_copied_in(
    docker_client: docker.DockerClient, image: str
) -> None:
    count = len(load_paths([ROOT / "policies"]))
    output = _in_image(docker_client, image, "validate", "/etc/chaosmonkey/policies")
    assert f"{count} valid polic" in output


def test_image_defaults(docker_client: docker.DockerClient, image: str) -> None:
    config = docker_client.images.get(image).attrs["Config"]
    assert config["Entrypoint"] == ["chaosmonkey"]
    assert config["Cmd"] == [
        "run",
        "--policies",
        "/etc/chaosmonkey/policies",
        "--metrics-address",
        "0.0.0.0",  # Prometheus scrapes from outside the container
    ]
    assert "9797/tcp" in config["ExposedPorts"]
    assert "CHAOSMONKEY_DB=/var/lib/chaosmonkey/chaosmonkey.db" in config["Env"]
    # the package lives in the image's venv; the source and wheels copied in are gone
    found = docker_client.containers.run(
        image,
        ["-c", "import chaosmonkey, os; print(chaosmonkey.__file__, os.path.exists('/src'))"],
        entrypoint="python3",
        remove=True,
        labels={TEST_LABEL: SESSION_ID},
    )
    assert bytes(found).decode().split() == [
        "/opt/chaosmonkey/lib/python3.11/site-packages/chaosmonkey/__init__.py",
        "False",
    ]


def engine_and_policies(policies: Path) -> dict[str, dict[str, str]]:
    """The mounts of the monkey's container: the engine's socket, and policies at /policies."""
    return {
        "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
        str(policies): {"bind": "/policies", "mode": "ro"},
    }


CRASH_POLICY = """\
apiVersion: chaosmonkey/v1
kind: Policy
metadata: {name: dockerfile-crash}
spec:
  dryRun: false
  targets: {labels: {chaosmonkey.test.dockerfile: "%s"}}
  fault: {type: kill, method: crash}
  limits: {allowLastMember: true}  # the target runs alone
  recovery: {timeout: 30s}
"""


def test_image_crashes_a_container_when_run_as_documented(
    docker_client: docker.DockerClient,
    image: str,
    run_target: RunTarget,
    tmp_path: Path,
) -> None:
    """With --pid=host and the engine's socket, a crash kill from inside the image is recovered
    by the target's restart policy."""
    target = run_target(
        labels={"chaosmonkey.test.dockerfile": SESSION_ID}, restart="always", healthcheck=True
    )
    (tmp_path / "crash.yaml").write_text(CRASH_POLICY % SESSION_ID)
    output = docker_client.containers.run(
        image,
        ["attack", "--policy", "/policies/crash.yaml", "--output", "json"],
        pid_mode="host",
        volumes=engine_and_policies(tmp_path),
        labels={TEST_LABEL: SESSION_ID},
        remove=True,
    )
    [record] = json.loads(bytes(output))
    assert (record["target"]["name"], record["status"]) == (target.name, "recovered")
    target.reload()
    assert target.attrs["RestartCount"] == 1


def test_the_monkey_never_targets_its_own_container(
    docker_client: docker.DockerClient, image: str, tmp_path: Path
) -> None:
    """Run from the image with the very label its policy selects, the monkey finds no target:
    its own container is left out (exit 4), though it is running and matches."""
    label = f"{SESSION_ID}-self"
    (tmp_path / "self.yaml").write_text(CRASH_POLICY % label)
    monkey = docker_client.containers.run(
        image,
        ["targets", "--policy", "/policies/self.yaml", "--output", "json"],
        detach=True,
        pid_mode="host",
        volumes=engine_and_policies(tmp_path),
        labels={TEST_LABEL: SESSION_ID, "chaosmonkey.test.dockerfile": label},
    )
    try:
        status = monkey.wait(timeout=60)
        stderr = bytes(monkey.logs(stdout=False, stderr=True)).decode()
    finally:
        monkey.remove(force=True)
    assert status["StatusCode"] == 4, stderr
    assert stderr.strip().endswith("spec.targets matches no running docker target")


PARTITION_POLICY = """\
apiVersion: chaosmonkey/v1
kind: Policy
metadata: {name: dockerfile-partition}
spec:
  dryRun: false
  targets: {labels: {chaosmonkey.test.dockerfile: "%s"}}
  fault: {type: partition, destinations: ["%s:8080"], duration: 4s}
  limits: {allowLastMember: true}  # the client runs alone
  recovery: {timeout: 10s}
"""


def test_network_faults_from_the_image_run_in_helper_containers(
    docker_client: docker.DockerClient,
    image: str,
    run_target: RunTarget,
    container_state: Callable[[Container], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Run in a container (socket only, no --pid=host), the monkey partitions a target through a
    helper container sharing its network: requests fail during the fault, work after it, and no
    helper container is left."""
    label = f"{SESSION_ID}-net"
    server = run_target()
    client = run_target(labels={"chaosmonkey.test.dockerfile": label})
    (tmp_path / "partition.yaml").write_text(PARTITION_POLICY % (label, server.name))
    monkey = docker_client.containers.run(
        image,
        ["attack", "--policy", "/policies/partition.yaml", "--output", "json"],
        detach=True,
        volumes=engine_and_policies(tmp_path),
        labels={TEST_LABEL: SESSION_ID},
    )
    try:
        server.reload()
        url = f"http://{server.attrs['NetworkSettings']['IPAddress']}:8080/"
        fetch = ["timeout", "2", "wget", "-q", "-O", "-", url]
        # Until the monkey exits (60 s at most): did a request fail while the fault held?
        deadline, cut = time.monotonic() + 60, False
        while not cut and _alive(container_state(monkey)) and time.monotonic() < deadline:
            cut = client.exec_run(fetch).exit_code != 0
            time.sleep(0.1)
        status = monkey.wait(timeout=60)
        output = bytes(monkey.logs(stdout=True, stderr=False)).decode()
        assert cut, f"the partition never took effect: {bytes(monkey.logs()).decode()}"
    finally:
        monkey.remove(force=True)
    assert status["StatusCode"] == 0, output
    [record] = json.loads(output)
    assert (record["status"], record["revert"]) == ("recovered", "reverted")
    assert client.exec_run(fetch).exit_code == 0
    helpers = docker_client.containers.list(all=True, filters={"label": "chaosmonkey.io/keeper"})
    assert helpers == []


def _alive(state: dict[str, Any]) -> bool:
    return state.get("Status") in ("created", "running")
