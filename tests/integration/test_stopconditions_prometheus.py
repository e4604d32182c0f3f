"""Stop conditions end to end: a real Prometheus scrapes a flag the test sets, and
`chaosmonkey attack` against real containers skips, aborts or refuses to start accordingly."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import RunTarget, WaitFor
from tests.prometheus import PrometheusHandle, StartPrometheus

pytestmark = [pytest.mark.docker, pytest.mark.prometheus]

ContainerState = Callable[[Container], dict[str, Any]]
HOUR_PAUSE = {"type": "pause", "duration": "1h"}


@dataclass
class Flags:
    """`test_flag{test=...}`, served on 127.0.0.1 and scraped by a real Prometheus every second."""

    gauge: Gauge
    prometheus: PrometheusHandle

    def set(self, test: str, value: float) -> None:
        """Sets the flag, and returns once Prometheus has scraped the new value."""
        self.gauge.labels(test=test).set(value)
        self.prometheus.wait_for(
            f'test_flag{{test="{test}"}} == {value}', lambda result: len(result) == 1
        )

    def condition(self, test: str) -> dict[str, Any]:
        """A stop condition breached while the flag of `test` is above 0."""
        query = f'test_flag{{test="{test}"}} > 0'
        promql = {"url": self.prometheus.url, "query": query}
        return {"name": "test-flag", "promql": promql}


@pytest.fixture(scope="module")
def flags(prometheus: StartPrometheus) -> Iterator[Flags]:
    """A tiny exporter with the flags, and a Prometheus scraping it."""
    registry = CollectorRegistry()
    gauge = Gauge("test_flag", "Set by the test: above 0 is a breach.", ["test"], registry=registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield Flags(gauge, prometheus([f"127.0.0.1:{server.server_port}"]))
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port() -> int:
    """A loopback port nobody listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def attack(policy: Path, db: Path) -> list[dict[str, Any]]:
    """The records of `chaosmonkey attack` on `policy`, which must exit 0."""
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=db, timeout=60)
    assert result.returncode == 0, result.stderr
    return records(result)


def untouched(container_state: ContainerState, container: Container, started: str) -> bool:
    state = container_state(container)
    return bool(state["Running"]) and not state["Paused"] and state["StartedAt"] == started


@pytest.mark.timing
def test_breach_during_an_attack_reverts_it_at_once(
    tmp_path: Path,
    flags: Flags,
    run_target: RunTarget,
    wait_for: WaitFor,
    container_state: ContainerState,
) -> None:
    """A 1-hour pause ends within a few scrape intervals of the flag going up: the container is
    unpaused, and the attack is aborted with the condition named."""
    flags.set("abort", 0)
    app = unique_app()
    container = run_target(labels={"app": app})
    policy = write_policy(tmp_path, app, HOUR_PAUSE, stopConditions=[flags.condition("abort")])
    command = [sys.executable, "-m", "chaosmonkey", "attack", "--policy", str(policy)]
    db = ["--output", "json", "--db", str(tmp_path / "j.db")]
    with subprocess.Popen([*command, *db], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as cli:
        try:
            wait_for(lambda: container_state(container)["Paused"], "the pause", timeout_s=20)
            flags.gauge.labels(test="abort").set(1)
            flipped = time.monotonic()
            out, err = cli.communicate(timeout=15)
        finally:
            cli.kill()
    assert time.monotonic() - flipped < 6, "the breach was seen late"
    [record] = records(subprocess.CompletedProcess(command, cli.returncode, out, err))
    assert record["status"] == "aborted", err
    assert record["reason"].startswith("stop condition test-flag breached: test_flag")
    assert record["revert"] is not None
    state = container_state(container)
    assert state["Running"]
    assert not state["Paused"]


def test_breached_before_the_attack_skips_it(
    tmp_path: Path, flags: Flags, run_target: RunTarget, container_state: ContainerState
) -> None:
    """With the flag already up, nothing is attacked and the record says which condition."""
    flags.set("skip", 1)
    app = unique_app()
    container = run_target(labels={"app": app})
    started = container_state(container)["StartedAt"]
    policy = write_policy(tmp_path, app, HOUR_PAUSE, stopConditions=[flags.condition("skip")])
    [record] = attack(policy, tmp_path / "j.db")
    assert record["status"] == "skipped"
    assert record["reason"] == (
        'stop condition test-flag breached: test_flag{test="skip"} > 0 returned 1 sample(s)'
        " (value 1)"
    )
    assert untouched(container_state, container, started)


@pytest.mark.parametrize("command", ["attack", "run"])
def test_a_query_prometheus_rejects_is_invalid_input(
    tmp_path: Path,
    flags: Flags,
    run_target: RunTarget,
    container_state: ContainerState,
    command: str,
) -> None:
    """A malformed query stops `attack` and `run` at start with exit 2 and one line naming the
    field; nothing is attacked."""
    app = unique_app()
    container = run_target(labels={"app": app})
    started = container_state(container)["StartedAt"]
    condition = flags.condition("bad")
    condition["promql"]["query"] = "sum(rate(test_flag[1m]) >"
    policy = write_policy(
        tmp_path, app, HOUR_PAUSE, schedule={"interval": "1s"}, stopConditions=[condition]
    )
    where = ["--policy", str(policy)] if command == "attack" else ["--policies", str(tmp_path)]
    result = run_cli(command, *where, db=tmp_path / "j.db", timeout=30)
    assert result.returncode == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert line.startswith(
        f"{policy}:1: spec.stopConditions[0].promql.query: Prometheus rejected it: bad_data: "
    )
    assert untouched(container_state, container, started)
    assert records(run_cli("history", "--output", "json", db=tmp_path / "j.db")) == []


def test_an_unreachable_prometheus_is_a_breach_unless_ignored(
    tmp_path: Path, run_target: RunTarget, container_state: ContainerState
) -> None:
    """No Prometheus on the port: skipped as a breach; with onError: ignore, attacked anyway."""
    app = unique_app()
    container = run_target(labels={"app": app})
    started = container_state(container)["StartedAt"]
    url = f"http://127.0.0.1:{closed_port()}"
    condition = {"name": "gone", "promql": {"url": url, "query": "up == 0"}}
    fault = {"type": "pause", "duration": "500ms"}
    policy = write_policy(tmp_path, app, fault, stopConditions=[condition])
    [record] = attack(policy, tmp_path / "j.db")
    assert record["status"] == "skipped"
    assert record["reason"] == (
        f"stop condition gone: Prometheus at {url} unreachable (connection refused):"
        " treated as a breach (onError: breach)"
    )
    assert untouched(container_state, container, started)

    policy = write_policy(tmp_path, app, fault, stopConditions=[{**condition, "onError": "ignore"}])
    [record] = attack(policy, tmp_path / "j.db")
    assert record["status"] == "recovered", record["reason"]
    assert record["revert"] is not None


def test_an_http_condition_nobody_answers_skips_the_attack(
    tmp_path: Path, run_target: RunTarget, container_state: ContainerState
) -> None:
    """An HTTP stop condition on a port nobody serves is breached: the attack is skipped."""
    app = unique_app()
    container = run_target(labels={"app": app})
    started = container_state(container)["StartedAt"]
    url = f"http://127.0.0.1:{closed_port()}/healthz"
    condition = {"name": "shop-up", "http": {"url": url, "timeout": "500ms"}}
    policy = write_policy(tmp_path, app, HOUR_PAUSE, stopConditions=[condition])
    [record] = attack(policy, tmp_path / "j.db")
    assert record["status"] == "skipped"
    assert record["reason"] == (
        f"stop condition shop-up breached: {url} did not answer 200 within 500ms"
    )
    assert untouched(container_state, container, started)
