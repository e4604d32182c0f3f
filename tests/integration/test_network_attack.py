"""Network faults through `chaosmonkey attack` on real containers: applied, measured, and never
left behind (revert, crash of the monkey, a monkey that never comes back, a target that goes)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker.models.containers import Container

from chaosmonkey.journal import Journal
from chaosmonkey.netfaults.keeper import find_keepers
from tests.integration.cli import records, run_cli, start_cli, unique_app, write_policy
from tests.integration.conftest import Monkey, RunTarget, WaitFor, free_port

pytestmark = pytest.mark.docker


def address(container: Container) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["IPAddress"])


def fetch(client: Container, server: Container, timeout_s: int = 3) -> tuple[int, float]:
    """Exit code and seconds of an HTTP request from `client` to `server`'s 8080."""
    started = time.monotonic()
    code, _ = client.exec_run(
        ["timeout", str(timeout_s), "wget", "-q", "-O", "-", f"http://{address(server)}:8080/"]
    )
    return int(code), time.monotonic() - started


def our_rules(container: Container) -> list[str]:
    """The iptables lines of the container's namespace that carry a chaosmonkey tag."""
    container.reload()
    pid = str(container.attrs["State"]["Pid"])
    saved = subprocess.run(
        ["nsenter", "-t", pid, "-n", "iptables-save"], capture_output=True, text=True, check=True
    )
    return [line for line in saved.stdout.splitlines() if "chaosmonkey:" in line]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """The journal of the test; no fault may be left active in it at the end."""
    path = tmp_path / "j.db"
    yield path
    if path.exists():
        assert Journal(path).active_fault_counts() == {}


def start_attack(policy: Path, db: Path) -> subprocess.Popen[str]:
    return start_cli("attack", "--policy", str(policy), "--output", "json", db=db)


def test_partition_reject_refuses_at_once_then_is_reverted(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """While the partition holds, the target's requests to the destination fail at once; after
    its duration they work again, the rules are gone and the journal says reverted."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    fault = {"type": "partition", "destinations": [f"{server.name}:8080"], "duration": "3s"}
    attack = start_attack(write_policy(tmp_path, app, fault), db)
    wait_for(lambda: bool(our_rules(client)), "the partition's rules", 10)
    code, seconds = fetch(client, server)
    assert code != 0
    assert seconds < 1.0
    out, err = attack.communicate(timeout=30)
    assert attack.returncode == 0, err
    [record] = json_records(out)
    assert record["status"] == "recovered"
    assert record["revert"] == "reverted"
    assert our_rules(client) == []
    assert fetch(client, server)[0] == 0


def test_partition_drop_makes_callers_time_out(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """A drop partition blackholes: the caller waits for its own timeout."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    fault = {"type": "partition", "mode": "drop", "destinations": [server.name], "duration": "4s"}
    attack = start_attack(write_policy(tmp_path, app, fault), db)
    wait_for(lambda: bool(our_rules(client)), "the partition's rules", 10)
    code, seconds = fetch(client, server, timeout_s=2)
    assert code != 0
    assert seconds >= 1.9
    attack.communicate(timeout=30)
    assert fetch(client, server)[0] == 0


@pytest.mark.parametrize("how", ["revert --all", "next start"])
def test_a_killed_monkey_leaves_a_fault_that_is_removed_later(
    how: str, tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """SIGKILL in the middle of a one-hour partition, whose rules the journal recorded before they
    were applied: `revert --all` removes it within 5 s, the daemon's next start within 10 s."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    fault = {"type": "partition", "destinations": [server.name], "duration": "1h"}
    policies = tmp_path / "policies"
    policies.mkdir()
    attack = start_attack(write_policy(policies, app, fault, schedule={"interval": "1h"}), db)
    wait_for(lambda: bool(our_rules(client)), "the partition's rules", 10)
    [recorded] = Journal(db).open_faults()
    assert any(f"{address(server)}/32" in rule.spec for rule in recorded.plan.keeper.changes)
    attack.send_signal(signal.SIGKILL)
    attack.wait()
    assert fetch(client, server)[0] != 0
    started = time.monotonic()
    if how == "revert --all":
        result = run_cli("revert", "--all", "--output", "json", db=db)
        assert result.returncode == 0, result.stderr
        assert [r["result"] for r in records(result)] == ["reverted"]
        assert time.monotonic() - started < 5
    else:
        daemon = Monkey(policies, db, free_port())
        try:
            wait_for(lambda: not our_rules(client), "the revert at start", 10)
        finally:
            assert daemon.stop() == 0
    assert our_rules(client) == []
    assert fetch(client, server)[0] == 0


def test_a_monkey_that_never_returns_still_ends_the_fault(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """Killed and never restarted, the monkey leaves a keeper that ends the fault at its deadline
    (the duration plus one second of grace)."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    fault = {"type": "partition", "destinations": [server.name], "duration": "2s"}
    attack = start_attack(write_policy(tmp_path, app, fault), db)
    wait_for(lambda: bool(our_rules(client)), "the partition's rules", 10)
    applied = time.monotonic()
    attack.send_signal(signal.SIGKILL)
    attack.wait()
    wait_for(lambda: not our_rules(client), "the keeper to end the fault", 10)
    assert time.monotonic() - applied < 4.5
    assert fetch(client, server)[0] == 0
    run_cli("revert", "--all", db=db)  # closes the journal's record of the interrupted attack


@pytest.mark.parametrize("what", ["restarted", "removed"])
def test_revert_survives_a_target_restarted_or_removed(
    what: str, tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """A target restarted or removed during the fault: revert does not fail and records what it
    found (nothing of ours in the new namespace, or the target gone)."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    fault = {"type": "partition", "destinations": [server.name], "duration": "3s"}
    attack = start_attack(write_policy(tmp_path, app, fault), db)
    wait_for(lambda: bool(our_rules(client)), "the partition's rules", 10)
    if what == "restarted":
        client.restart(timeout=0)
    else:
        client.remove(force=True)
    out, err = attack.communicate(timeout=30)
    [record] = json_records(out)
    assert record["revert"] == ("already_clean" if what == "restarted" else "target_gone"), err
    assert not find_keepers(f"chaosmonkey:{record['id']}")


def test_an_unknown_destination_injects_nothing(
    tmp_path: Path, run_target: RunTarget, db: Path
) -> None:
    """A destination that names no container: one line naming the field, exit 2, no rule."""
    app = unique_app()
    client = run_target(labels={"app": app})
    fault = {"type": "partition", "destinations": ["no-such-service:80"], "duration": "3s"}
    result = run_cli("attack", "--policy", str(write_policy(tmp_path, app, fault)), db=db)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "spec.fault.destinations: unknown destination 'no-such-service:80': no running "
        "container or compose service named 'no-such-service'"
    )
    assert our_rules(client) == []


def test_a_host_network_target_is_refused(
    tmp_path: Path, docker_client: object, target_image: str, db: Path
) -> None:
    """A container on the host's network is not degraded unless allowHostNetwork says so."""
    import docker

    assert isinstance(docker_client, docker.DockerClient)
    app = unique_app()
    container = docker_client.containers.run(
        target_image,
        ["sleep", "60"],
        detach=True,
        network_mode="host",
        labels={"app": app, "chaosmonkey.test": "host-network"},
    )
    try:
        fault = {"type": "partition", "duration": "3s"}
        result = run_cli("attack", "--policy", str(write_policy(tmp_path, app, fault)), db=db)
    finally:
        container.remove(force=True)
    assert result.returncode == 2
    assert result.stderr.startswith("spec.fault.allowHostNetwork: container ")
    assert "set allowHostNetwork: true to allow it" in result.stderr


def json_records(out: str) -> list[dict[str, object]]:
    import json

    data: list[dict[str, object]] = json.loads(out)
    return data


def timed_fetches(client: Container, server: Container, count: int) -> tuple[float, bytes]:
    """Seconds for `count` sequential HTTP requests from `client` to `server`, in one exec."""
    url = f"http://{address(server)}:8080/"
    loop = f"for i in $(seq {count}); do timeout 5 wget -q -O /dev/null {url} || echo fail; done"
    started = time.monotonic()
    _, output = client.exec_run(["sh", "-c", loop])
    return time.monotonic() - started, output


@pytest.mark.timing
def test_latency_adds_its_delay_to_each_request(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """With 200 ms of latency to the server, each request takes 200 ms more (within 10 %),
    measured over 10 requests against the same loop without the fault."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    baseline, _ = timed_fetches(client, server, 10)
    fault = {"type": "latency", "delay": "200ms", "destinations": [server.name], "duration": "20s"}
    attack = start_attack(write_policy(tmp_path, app, fault), db)
    wait_for(lambda: bool(our_rules(client)), "the latency's redirect", 10)
    slowed, output = timed_fetches(client, server, 10)
    attack.send_signal(signal.SIGTERM)  # ends the attack early: it reverts the fault first
    assert attack.wait(timeout=30) == 1  # interrupted: recorded as failed
    assert b"fail" not in output
    added_ms = (slowed - baseline) / 10 * 1000
    assert added_ms == pytest.approx(200, rel=0.1)
    assert our_rules(client) == []
    after, _ = timed_fetches(client, server, 10)
    assert after < baseline + 0.5


def test_http_error_answers_half_the_requests_with_503(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, db: Path
) -> None:
    """percent 50: of 100 requests, the number answered 503 lies within 4 sigma of 50; the
    others reach the server."""
    app = unique_app()
    server, client = run_target(), run_target(labels={"app": app})
    fault = {
        "type": "http_error",
        "status": 503,
        "percent": 50,
        "destinations": [server.name],
        "duration": "60s",
    }
    attack = start_attack(write_policy(tmp_path, app, fault), db)
    wait_for(lambda: bool(our_rules(client)), "the http_error's redirect", 10)
    url = f"http://{address(server)}:8080/"
    loop = f"for i in $(seq 100); do timeout 5 wget -q -O /dev/null {url} 2>&1 | head -1; done"
    _, output = client.exec_run(["sh", "-c", loop])
    attack.send_signal(signal.SIGTERM)
    assert attack.wait(timeout=30) == 1
    errors = output.count(b"503")
    assert abs(errors - 50) <= 4 * 5, output[:500]
    assert fetch(client, server)[0] == 0
