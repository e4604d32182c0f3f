"""Applying and reverting a network fault leaves the connections that were open working.

A keep-alive HTTP server runs in the target's network namespace; clients hold keep-alive
connections to it, some opened before the fault (they keep their way: the fault's rules catch
only new connections, or drop a share of packets TCP sends again) and some opened while it
holds (through the fault proxy, or shaped): every request on every one of them, before, during
and after the fault, is answered.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from tests.integration.balanced import address
from tests.integration.cli import records, run_cli, unique_app, write_policy
from tests.integration.conftest import RunTarget, WaitFor

pytestmark = [pytest.mark.docker]

PORT = 9000
SERVER = f"""
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"x" * 2048
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", {PORT}), Handler).serve_forever()
"""
MAX_REQUESTS = 2000  # per connection: the clients' loops are bounded


@contextmanager
def keep_alive_server(container: Container, wait_for: WaitFor) -> Iterator[str]:
    """The server in the container's network namespace (run by the host's Python)."""
    pid = str(container.attrs["State"]["Pid"])
    server = subprocess.Popen(["nsenter", "-t", pid, "-n", sys.executable, "-c", SERVER])
    host = address(container)
    try:
        wait_for(lambda: answers(host), "the keep-alive server", 10)
        yield host
    finally:
        server.kill()
        server.wait(timeout=10)


def answers(host: str) -> bool:
    connection = http.client.HTTPConnection(host, PORT, timeout=1)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read() != b""
    except OSError:
        return False
    finally:
        connection.close()


@dataclass
class Held:
    """One keep-alive connection used over and over until stopped: each request's moment,
    latency and error, if any."""

    host: str
    requests: list[tuple[float, float, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        connection = http.client.HTTPConnection(self.host, PORT, timeout=15)
        try:
            while not self.stop.is_set() and len(self.requests) < MAX_REQUESTS:
                sent_at = time.time()
                try:
                    connection.request("GET", "/")
                    response = connection.getresponse()
                    error = None if len(response.read()) == 2048 else "short body"
                except (OSError, http.client.HTTPException) as failure:
                    error = repr(failure)
                self.requests.append((sent_at, time.time() - sent_at, error))
                if error:
                    return
                self.stop.wait(0.02)
        finally:
            connection.close()

    def sent_after(self, moment: float) -> int:
        return sum(at > moment for at, _, _ in self.requests)

    def errors(self) -> list[str]:
        return [error for _, _, error in self.requests if error]


def holding(host: str, count: int) -> tuple[list[Held], list[threading.Thread]]:
    held = [Held(host) for _ in range(count)]
    threads = [threading.Thread(target=one.run, daemon=True) for one in held]
    for thread in threads:
        thread.start()
    return held, threads


def tagged(container: Container) -> bool:
    """Whether the container's namespace holds rules of ours (the fault is applied)."""
    pid = str(container.attrs["State"]["Pid"])
    saved = subprocess.run(
        ["nsenter", "-t", pid, "-n", "iptables-save"], capture_output=True, text=True, check=True
    )
    return "chaosmonkey:" in saved.stdout


@pytest.mark.parametrize(
    "fault",
    [
        {"type": "latency", "delay": "100ms", "ports": [PORT]},
        {"type": "bandwidth", "rate": "2mbit", "ports": [PORT]},
        {"type": "packet_loss", "percent": 20},
    ],
    ids=["latency", "bandwidth", "packet_loss"],
)
def test_connections_open_across_a_faults_apply_and_revert_keep_working(
    tmp_path: Path, run_target: RunTarget, wait_for: WaitFor, fault: dict[str, Any]
) -> None:
    """Four connections opened before the fault and four while it holds: not one request on
    any of them fails, before, during or after; those opened meanwhile felt it."""
    app = unique_app()
    container = run_target(labels={"app": app})
    container.reload()
    policy = write_policy(tmp_path, app, {**fault, "duration": "2s"})
    with keep_alive_server(container, wait_for) as host:
        early, threads = holding(host, 4)
        attack: list[subprocess.CompletedProcess[str]] = []
        attacking = threading.Thread(
            target=lambda: attack.append(run_cli("attack", "--policy", str(policy),
                                                 "--output", "json", db=tmp_path / "j.db"))
        )
        attacking.start()
        wait_for(lambda: tagged(container), "the fault applied", 15)
        applied_at = time.time()
        late, late_threads = holding(host, 4)
        held = [*early, *late]
        attacking.join(60)
        reverted_at = time.time()
        wait_for(lambda: all(one.errors() or one.sent_after(reverted_at) >= 5 for one in held),
                 "five requests on each connection after the fault", 15)
        for one in [*early, *late]:
            one.stop.set()
        for thread in [*threads, *late_threads]:
            thread.join(20)
    [record] = records(attack[0])
    assert record["revert"] == "reverted", record
    assert [one.errors() for one in [*early, *late]] == [[]] * 8
    for one in [*early, *late]:
        assert any(at < reverted_at for at, _, _ in one.requests)
        assert any(at > reverted_at for at, _, _ in one.requests)
    during = [latency for one in late for at, latency, _ in one.requests if at < reverted_at - 0.5]
    assert during, "no request was sent while the fault held"
    if fault["type"] in ("latency", "bandwidth"):
        assert max(during) >= 0.05
    assert applied_at < reverted_at
