"""Each network fault against a real service, as its clients see it.

One replica behind Debian's haproxy (tests/integration/balanced.py), health-checked on a port of
its own (8081), so that a fault on the served port (8080) is what clients meet for as long as it
lasts; a client sends requests through the balancer the whole time, and `chaosmonkey attack`
probes the same URL. What the monkey records of the service is held to what the client saw: back
within 100 ms plus the probe's interval, degraded for as long within 10 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from docker.models.containers import Container

from tests.integration.balanced import (
    MAX_LATENCY_S,
    Client,
    address,
    assert_seen_as_the_client_saw_it,
    attack,
    balancer,
    replicas,
    sending,
)
from tests.integration.conftest import RunTarget, free_port

pytestmark = [pytest.mark.docker, pytest.mark.timing]

HEALTH_PORT = 8081
FAULT_S = 2


def attacked(
    tmp_path: Path, group: list[Container], fault: dict[str, Any], path: str = "/"
) -> tuple[dict[str, Any], Client]:
    """The record of one attack on the group's one replica, and what the client saw meanwhile."""
    fault = {**fault, "duration": f"{FAULT_S}s"}
    port = free_port()
    with balancer(tmp_path, port, group, "first", HEALTH_PORT, path) as url, sending(url) as client:
        [record] = attack(tmp_path, group, url, fault)
    return record, client


@pytest.mark.parametrize(
    ("fault", "path"),
    [
        ({"type": "latency", "delay": "300ms", "ports": [8080]}, "/"),
        ({"type": "bandwidth", "rate": "1mbit", "ports": [8080]}, "/big"),
        ({"type": "http_error", "status": 503, "ports": [8080]}, "/"),
        ({"type": "packet_loss", "percent": 100}, "/"),
        ({"type": "partition", "direction": "ingress"}, "/"),
    ],
    ids=["latency-ingress", "bandwidth-ingress", "http_error", "packet_loss", "partition"],
)
def test_a_fault_on_what_a_replica_serves_is_measured_as_its_clients_saw_it(
    tmp_path: Path, run_target: RunTarget, fault: dict[str, Any], path: str
) -> None:
    """Slower answers (latency, a 64 KiB page at 1 mbit), errors, lost and refused connections:
    the client feels each while it lasts, and the monkey records it as the client saw it."""
    record, client = attacked(tmp_path, replicas(run_target, 1), fault, path)
    assert_seen_as_the_client_saw_it(record, client)
    assert client.degraded_seconds(MAX_LATENCY_S) >= FAULT_S * 0.8


def test_latency_on_what_a_replica_asks_of_its_dependency_slows_its_answers(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """The replica answers with what its dependency answers (/cgi-bin/upstream): latency on its
    own connections to the dependency (egress) makes every answer 300 ms slower."""
    dependency = run_target()
    upstream = f"{address(dependency)}:8080"
    group = replicas(run_target, 1, env={"UPSTREAM": upstream})
    fault = {"type": "latency", "delay": "300ms", "destinations": [upstream]}
    record, client = attacked(tmp_path, group, fault, "/cgi-bin/upstream")
    assert_seen_as_the_client_saw_it(record, client)
    slow = client.bad(MAX_LATENCY_S)
    assert all(request.ok for request in client.requests)
    assert min(request.latency_s for request in slow) >= 0.3
