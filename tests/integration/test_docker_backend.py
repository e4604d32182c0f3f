"""The Docker backend against the real engine, with real containers of `chaosmonkey-target:test`."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from chaosmonkey.backends.docker import DockerBackend
from chaosmonkey.errors import BackendUnavailable, PolicyError, TargetGone
from chaosmonkey.faults.kill import ContainerKill, KillFault
from chaosmonkey.faults.partition import PartitionFault
from chaosmonkey.faults.pause import ContainerPause, PauseFault
from chaosmonkey.faults.restart import RestartFault
from chaosmonkey.faults.stop import ContainerStop, StopFault
from chaosmonkey.journal import Journal
from chaosmonkey.model import (
    COMPOSE_SERVICE_LABEL,
    GROUP_LABEL,
    AttackRecord,
    RevertResult,
    Target,
)
from tests.integration.conftest import SESSION_ID, TEST_LABEL, RunTarget, WaitFor, WaitReady

pytestmark = pytest.mark.docker

State = Callable[[Container], dict[str, Any]]
HealthCheck = Callable[..., dict[str, Any]]

# A crashed container with START_DELAY=2 is back 2 s plus: the restart policy's first back-off
# (100 ms), the container's start (~0.35 s on the vfs driver), up to one health-check interval
# (100 ms) and the probe itself (~50 ms): ~0.6 s at most when idle (seen 2.36-2.62 s in all).
# One second leaves 0.4 s for a loaded machine; a later crash would double the back-off.
START_DELAY_S = 2.0
RECOVERY_BOUND_S = 1.0


@pytest.fixture
def backend(docker_client: object) -> Iterator[DockerBackend]:
    """A backend connected to the engine the environment names (skipped without one)."""
    connected = DockerBackend.connect()
    yield connected
    connected.close()


def target_of(backend: DockerBackend, container: Container) -> Target:
    """The backend's view of one container this test started."""
    (target,) = [t for t in backend.list_targets() if t.id == container.id]
    return target


def restart_count(container: Container) -> int:
    """How often the restart policy restarted it, as of the last reload."""
    return int(container.attrs["RestartCount"])


def test_list_targets_resolves_groups(backend: DockerBackend, run_target: RunTarget) -> None:
    """Groups come from the compose service label, else the group label, else the name."""
    service, group = f"web-{uuid.uuid4().hex[:8]}", f"grp-{uuid.uuid4().hex[:8]}"
    compose = run_target(labels={COMPOSE_SERVICE_LABEL: service, GROUP_LABEL: "ignored"})
    labelled = run_target(labels={GROUP_LABEL: group})
    plain = run_target()

    assert target_of(backend, compose).group == service
    assert target_of(backend, labelled).group == group
    seen = target_of(backend, plain)
    assert (seen.group, seen.name, seen.backend) == (plain.name, plain.name, "docker")
    assert seen.labels["chaosmonkey.test"]
    assert seen.created_at is not None
    assert abs(seen.created_at - time.time()) < 60


def test_list_targets_reads_health_and_running(
    backend: DockerBackend, run_target: RunTarget, health_check: HealthCheck, wait_for: WaitFor
) -> None:
    """Health is True, False (unhealthy or starting) or None without a check; paused is down."""
    healthy = run_target(healthcheck=True)
    unhealthy = run_target(healthcheck=health_check(["CMD", "false"], start_period_s=0), wait=False)
    starting = run_target(healthcheck=True, env={"START_DELAY": "30"}, wait=False)
    paused = run_target()
    paused.pause()
    wait_for(lambda: target_of(backend, unhealthy).healthy is False, "unhealthy status", 5.0)

    assert (target_of(backend, healthy).healthy, target_of(backend, healthy).available) == (
        True,
        True,
    )
    assert target_of(backend, unhealthy).running
    assert not target_of(backend, unhealthy).available
    assert target_of(backend, starting).healthy is False
    assert (target_of(backend, paused).running, target_of(backend, paused).healthy) == (False, None)


def test_crash_kill_is_restarted_by_the_restart_policy(
    backend: DockerBackend, run_target: RunTarget, container_state: State, wait_for: WaitFor
) -> None:
    """A crash (SIGKILL from the host) is an unexpected exit: `always` brings the container back."""
    container = run_target(restart="always")
    injection = KillFault(type="kill").injection("a-crash", target_of(backend, container), backend)
    old_pid = container_state(container)["Pid"]

    assert injection.plan == ContainerKill(signal="SIGKILL", method="crash")
    assert (injection.action, injection.reversible) == ("signal_process", False)
    injection.apply(backend)

    def restarted() -> bool:
        return container_state(container).get("Running") is True and restart_count(container) > 0

    wait_for(restarted, "a restart by the policy", 5.0)
    assert restart_count(container) == 1
    assert container_state(container)["Pid"] != old_pid
    assert injection.revert(backend) is RevertResult.NOTHING_TO_REVERT


def test_api_kill_stays_down_despite_the_restart_policy(
    backend: DockerBackend, run_target: RunTarget, container_state: State
) -> None:
    """A kill through the engine's API is a manual stop: the restart policy does not apply."""
    container = run_target(restart="always")
    fault = KillFault(type="kill", method="api")
    injection = fault.injection("a-kill", target_of(backend, container), backend)

    assert (injection.action, injection.reversible) == ("kill", False)
    injection.apply(backend)
    time.sleep(1.0)  # ten times the restart policy's first back-off
    state = container_state(container)
    assert (state["Running"], state["ExitCode"], restart_count(container)) == (
        False,
        137,
        0,
    )


def test_stop_then_revert_starts_it_again(
    backend: DockerBackend, run_target: RunTarget, container_state: State
) -> None:
    """Stop leaves the container exited; revert starts it, and a second revert finds it clean."""
    container = run_target()
    fault = StopFault(type="stop", timeout=timedelta(seconds=1))
    injection = fault.injection("a-stop", target_of(backend, container), backend)

    assert (injection.plan, injection.reversible) == (ContainerStop(timeout_s=1.0), True)
    injection.apply(backend)
    assert container_state(container)["Status"] == "exited"
    assert injection.revert(backend) is RevertResult.REVERTED
    assert container_state(container)["Running"] is True
    assert injection.revert(backend) is RevertResult.ALREADY_CLEAN


def test_pause_then_revert_thaws_it(
    backend: DockerBackend, run_target: RunTarget, container_state: State
) -> None:
    """Pause freezes the container; revert unpauses it, and a second revert finds it clean."""
    container = run_target()
    fault = PauseFault(type="pause", duration=timedelta(seconds=5))
    injection = fault.injection("a-pause", target_of(backend, container), backend)

    assert (injection.plan, injection.reversible) == (ContainerPause(duration_s=5.0), True)
    injection.apply(backend)
    assert container_state(container)["Paused"] is True
    assert not target_of(backend, container).running
    assert injection.revert(backend) is RevertResult.REVERTED
    assert container_state(container)["Status"] == "running"
    assert injection.revert(backend) is RevertResult.ALREADY_CLEAN


def test_restart_runs_a_new_process(
    backend: DockerBackend, run_target: RunTarget, container_state: State
) -> None:
    """Restart stops and starts the container: a new main process, started after the call."""
    container = run_target()
    before = container_state(container)
    fault = RestartFault(type="restart", timeout=timedelta(seconds=1))
    injection = fault.injection("a-restart", target_of(backend, container), backend)

    assert (injection.action, injection.reversible) == ("restart", False)
    injection.apply(backend)
    after = container_state(container)
    assert after["Running"] is True
    assert after["Pid"] != before["Pid"]
    assert after["StartedAt"] > before["StartedAt"]


@pytest.mark.timing
def test_watch_measures_recovery_against_the_known_start_delay(
    backend: DockerBackend, run_target: RunTarget, wait_ready: WaitReady
) -> None:
    """A crashed member of a 2-member group is back once healthy, START_DELAY after its death."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    members = [
        run_target(
            labels={COMPOSE_SERVICE_LABEL: service},
            restart="always",
            healthcheck=True,
            env={"START_DELAY": str(int(START_DELAY_S))},
            wait=False,
        )
        for _ in range(2)
    ]
    for member in members:
        wait_ready(member)
    target = target_of(backend, members[0])
    injection = KillFault(type="kill").injection("a-watch", target, backend)

    with backend.watch(target) as watch:
        assert watch.baseline == 2
        applied_at = injection.apply(backend)
        impact_at = watch.wait_impact(time.time() + 5)
        observed = watch.wait_recovered(time.time() + START_DELAY_S + 5)

    assert impact_at is not None
    assert observed.recovered_at is not None
    assert 0 <= impact_at - applied_at < 0.1
    recovery_s = observed.recovered_at - impact_at
    assert START_DELAY_S <= recovery_s <= START_DELAY_S + RECOVERY_BOUND_S


@pytest.mark.timing
def test_watch_of_a_name_group_sees_the_revert(
    backend: DockerBackend, run_target: RunTarget
) -> None:
    """A container without group labels is its own group: down when stopped, back on revert."""
    container = run_target()
    target = target_of(backend, container)
    injection = StopFault(type="stop", timeout=timedelta(0)).injection("a-named", target, backend)

    with backend.watch(target) as watch:
        applied_at = injection.apply(backend)
        impact_at = watch.wait_impact(time.time() + 5)
        assert watch.wait_recovered(time.time() + 0.3).recovered_at is None
        reverted_at = time.time()
        injection.revert(backend)
        observed = watch.wait_recovered(time.time() + 5)

    assert impact_at is not None
    assert observed.recovered_at is not None
    assert 0 <= impact_at - applied_at < 0.1
    assert 0 <= observed.recovered_at - reverted_at < 1.0


def test_revert_on_a_removed_container_is_target_gone(
    backend: DockerBackend, run_target: RunTarget
) -> None:
    """Revert never fails on a gone container; applying to one raises TargetGone."""
    container = run_target()
    target = target_of(backend, container)
    stop = StopFault(type="stop", timeout=timedelta(0)).injection("a-gone", target, backend)
    pause = PauseFault(type="pause").injection("a-gone", target, backend)
    stop.apply(backend)
    container.remove(force=True)

    assert stop.revert(backend) is RevertResult.TARGET_GONE
    assert pause.revert(backend) is RevertResult.TARGET_GONE
    with pytest.raises(TargetGone, match=r"^pause container cm-test-"):
        pause.apply(backend)


def test_revert_in_a_fresh_backend_from_the_journals_record(
    backend: DockerBackend, run_target: RunTarget, container_state: State, tmp_path: Path
) -> None:
    """The injection as a journal keeps it, read back in a new journal, is enough for a new
    backend to revert the fault."""
    container = run_target()
    target = target_of(backend, container)
    injection = PauseFault(type="pause").injection("a-copy", target, backend)
    record = AttackRecord("a-copy", "p", "docker", "pause", target, False, created_at=1.0)
    Journal(tmp_path / "j.db").record_attack(record, injection)
    injection.apply(backend)
    backend.close()

    [copied] = Journal(tmp_path / "j.db").open_faults()
    assert copied == injection
    fresh = DockerBackend.connect()
    try:
        assert copied.revert(fresh) is RevertResult.REVERTED
    finally:
        fresh.close()
    assert container_state(container)["Status"] == "running"


@pytest.fixture
def on_host_network(
    docker_client: docker.DockerClient, target_image: str
) -> Iterator[tuple[Container, Container]]:
    """A container on the host's network, and one that joins its network by id (both sleep: no
    server on the host's ports)."""
    started: list[Container] = []

    def run(network_mode: str) -> Container:
        container = docker_client.containers.run(
            target_image,
            ["/bin/busybox", "sleep", "3600"],
            name=f"cm-test-{uuid.uuid4().hex[:10]}",
            labels={TEST_LABEL: SESSION_ID},
            network_mode=network_mode,
            detach=True,
        )
        started.append(container)
        return container

    try:
        first = run("host")
        yield first, run(f"container:{first.id}")
    finally:
        for container in started:
            container.remove(force=True)


def test_network_fault_on_a_container_joined_to_the_host_network_is_refused(
    backend: DockerBackend, on_host_network: tuple[Container, Container]
) -> None:
    """`network_mode: container:<id>` of a host-network container is the host's network: the
    fault is refused before anything is applied, unless allowHostNetwork says so."""
    first, second = on_host_network
    partition = PartitionFault(type="partition", direction="ingress")
    with pytest.raises(PolicyError) as refused:
        partition.plan("a-joined-host", target_of(backend, second), backend)
    assert str(refused.value) == (
        f"spec.fault.allowHostNetwork: container {second.name} uses the host's network (it "
        f"joins the network of container {first.name}): a network fault would degrade the host "
        "itself; set allowHostNetwork: true to allow it"
    )
    allowed = PartitionFault(type="partition", direction="ingress", allowHostNetwork=True)
    assert allowed.plan("a-joined-host", target_of(backend, second), backend).placement is None


def test_connect_to_a_missing_socket_is_backend_unavailable(tmp_path: Path) -> None:
    """No engine behind the address: one line naming it, the reason and what to check."""
    url = f"unix://{tmp_path}/missing.sock"
    with pytest.raises(BackendUnavailable) as raised:
        DockerBackend.connect(url)

    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        f"cannot reach the Docker engine at {url}: No such file or directory; "
        "is dockerd running? DOCKER_HOST selects another engine"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to turn a child into user nobody")
def test_connect_without_socket_permission_is_permission_denied(docker_client: object) -> None:
    """A user outside the docker group gets PermissionDenied naming the socket, in one line."""
    socket_path = "/var/run/docker.sock"
    if os.stat(socket_path).st_mode & 0o006:
        pytest.skip("the socket is open to every user here")
    read_end, write_end = os.pipe()
    if (pid := os.fork()) == 0:  # the child drops to nobody; modules are already imported
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            DockerBackend.connect(f"unix://{socket_path}")
        except BaseException as error:
            os.write(write_end, f"{type(error).__name__}: {error}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == (
            f"PermissionDenied: no permission on the Docker engine socket {socket_path}: "
            "run as root or as a member of the docker group"
        )
