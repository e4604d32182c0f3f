"""A small real system for measuring what clients see: replicas (busybox httpd containers)
behind Debian's haproxy (health checks, a connect timeout, a retry on another replica), and a
client in the test sending requests through it, one after another, timing each."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from tests.integration.cli import records, run_cli, write_policy
from tests.integration.conftest import RunTarget
from tests.waiting import wait_until

HAPROXY = "/usr/sbin/haproxy"
CONNECT_TIMEOUT_S = 1.0  # a request first sent to a dead replica takes this long, then is retried


def haproxy_config(port: int, replicas: list[Container], balance: str, check_port: int) -> str:
    """HTTP on 127.0.0.1:`port` to the replicas' 8080, checked on `check_port` every 200 ms
    (down after 2 failures, up after 2 successes); a request whose connection fails is retried
    once, on another replica."""
    servers = "\n".join(
        f"    server {replica.name} {address(replica)}:8080 check port {check_port} maxconn 64"
        for replica in replicas
    )
    return f"""global
    maxconn 512
defaults
    mode http
    timeout connect {int(CONNECT_TIMEOUT_S * 1000)}ms
    timeout client 10s
    timeout server 10s
    timeout check 500ms
    retries 1
    option redispatch 1
frontend web
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance {balance}
    option httpchk GET /
    default-server inter 200ms fall 2 rise 2
{servers}
"""


def address(container: Container) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["IPAddress"])


@contextmanager
def balancer(
    tmp_path: Path,
    port: int,
    replicas: list[Container],
    balance: str = "roundrobin",
    check_port: int = 8080,
    path: str = "/",
) -> Iterator[str]:
    """haproxy in the foreground in front of `replicas`; yields its URL (to `path`) once it
    answers."""
    if not Path(HAPROXY).exists():
        pytest.fail(f"{HAPROXY} not found (apt-get install haproxy; deploy/setup-host.sh does)")
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(port, replicas, balance, check_port))
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}{path}"
    try:
        wait_until(lambda: answers(url), "haproxy to answer", 10)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False


@dataclass(frozen=True)
class Request:
    sent_at: float
    answered_at: float
    ok: bool

    @property
    def latency_s(self) -> float:
        return self.answered_at - self.sent_at


@dataclass
class Client:
    """Sends requests one after another (the next `interval_s` after the last was sent, or at
    once when it took longer), each with its own connection, until stopped; at most
    `max_requests`."""

    url: str
    interval_s: float = 0.02
    timeout_s: float = 5.0
    max_requests: int = 3000
    requests: list[Request] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set() and len(self.requests) < self.max_requests:
            sent_at = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:  # noqa: S310
                    response.read()
                    ok = int(response.status) == 200
            except (OSError, urllib.error.URLError):
                ok = False
            self.requests.append(Request(sent_at, time.time(), ok))
            self._stop.wait(max(0.0, sent_at + self.interval_s - time.time()))

    def stop(self) -> None:
        self._stop.set()

    def bad(self, max_latency_s: float) -> list[Request]:
        """The requests that failed, or answered slower than `max_latency_s`."""
        return [r for r in self.requests if not r.ok or r.latency_s > max_latency_s]

    def degraded_seconds(self, max_latency_s: float) -> float:
        """How long requests were bad: each run of bad requests from its first one's sending to
        the answer of the good request after it."""
        total, run_start = 0.0, None
        for request in self.requests:
            bad = not request.ok or request.latency_s > max_latency_s
            if bad and run_start is None:
                run_start = request.sent_at
            elif not bad and run_start is not None:
                total += request.answered_at - run_start
                run_start = None
        return total


@contextmanager
def sending(url: str) -> Iterator[Client]:
    """A client sending requests to `url` from a thread for as long as the block lasts."""
    client = Client(url)
    thread = threading.Thread(target=client.run, name="client", daemon=True)
    thread.start()
    try:
        yield client
    finally:
        client.stop()
        thread.join(timeout=client.timeout_s + 5)


# --- the monkey against the client -------------------------------------------------------------

MAX_LATENCY_S = 0.2  # a request (or probe) slower than this is a degraded one
PROBE_INTERVAL_S = 0.1


def replicas(
    run_target: RunTarget,
    count: int,
    start_delay_s: float = 0,
    env: dict[str, str] | None = None,
) -> list[Container]:
    """`count` replicas of one group, with a health check on their HTTP server, restarted by
    the engine when they crash."""
    app = f"svc-{uuid.uuid4().hex[:8]}"
    labels = {"app": app, "chaosmonkey.io/group": app}
    env = {"START_DELAY": str(start_delay_s), **(env or {})}
    return [
        run_target(labels=labels, restart="always", env=env, healthcheck=True)
        for _ in range(count)
    ]


def attack(
    tmp_path: Path, group: list[Container], url: str, fault: dict[str, Any], **spec: Any
) -> list[dict[str, Any]]:
    """`chaosmonkey attack` on the group, its recovery probed through the balancer."""
    probe = {
        "http": {"url": url},
        "interval": f"{int(PROBE_INTERVAL_S * 1000)}ms",
        "timeout": "3s",
        "maxLatency": f"{int(MAX_LATENCY_S * 1000)}ms",
    }
    policy = write_policy(
        tmp_path,
        group[0].labels["app"],
        fault,
        recovery={"timeout": "20s", "probe": probe},
        **spec,
    )
    result = run_cli("attack", "--policy", str(policy), "--output", "json", db=tmp_path / "j.db")
    assert result.returncode == 0, result.stderr
    return records(result)


def service_times(record: dict[str, Any]) -> tuple[float, float]:
    """When the monkey saw the service back (epoch seconds), and for how long it was bad."""
    service = record["service_recovery"]
    return record["injected_at"] + service["recovery_seconds"], service["degraded_seconds"]


def client_back_at(client: Client) -> float:
    """When the client's first good request after its last bad one was answered."""
    bad = client.bad(MAX_LATENCY_S)
    assert bad, "the client saw nothing of the fault"
    return min(r.answered_at for r in client.requests if r.sent_at > bad[-1].sent_at)


def assert_seen_as_the_client_saw_it(record: dict[str, Any], client: Client) -> None:
    """The service's recovery the monkey recorded lies within 100 ms plus the probe's interval
    of the client's, its degraded seconds within 10 % of the client's."""
    assert record["status"] == "recovered", record["reason"]
    assert record["service_recovery"]["impact"] in ("down", "degraded")
    back_at, degraded_s = service_times(record)
    client_s = client.degraded_seconds(MAX_LATENCY_S)
    shown = f"monkey: back at {back_at:.3f}, {degraded_s:.3f} s; client: back at " \
            f"{client_back_at(client):.3f}, {client_s:.3f} s"
    assert abs(back_at - client_back_at(client)) <= 0.1 + PROBE_INTERVAL_S, shown
    assert degraded_s == pytest.approx(client_s, rel=0.1), shown
