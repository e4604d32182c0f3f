"""What the monkey records against what a client of the service saw, through a real balancer.

Replicas behind haproxy (tests/integration/balanced.py), a client sending requests through it
the whole time, and `chaosmonkey attack` with a recovery probe on the balancer's URL. The
service's recovery the monkey records lies within 100 ms plus the probe's interval of the
client's, its degraded seconds within 10 % of the client's; the target's own recovery is kept
apart from the service's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.balanced import (
    MAX_LATENCY_S,
    PROBE_INTERVAL_S,
    assert_seen_as_the_client_saw_it,
    attack,
    balancer,
    client_back_at,
    replicas,
    sending,
    service_times,
)
from tests.integration.conftest import RunTarget, free_port

pytestmark = [pytest.mark.docker, pytest.mark.timing]

def test_an_outage_of_every_replica_is_measured_as_the_client_saw_it(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """All three replicas crashed at once (back after START_DELAY 1 s): the client's requests
    fail; the monkey records the service down, back when the client saw it back, down as long,
    and the replicas' own recovery (healthy again) apart."""
    group = replicas(run_target, 3, start_delay_s=1)
    with balancer(tmp_path, free_port(), group) as url, sending(url) as client:
        done = attack(
            tmp_path, group, url, {"type": "kill"}, limits={"maxTargets": 3, "maxUnavailable": 3}
        )
    assert {record["status"] for record in done} == {"recovered"}
    assert any(not request.ok for request in client.requests)
    for record in done:
        assert record["service_recovery"]["impact"] == "down"
        assert_seen_as_the_client_saw_it(record, client)
        assert record["target_recovery"]["recovery_seconds"] >= 1.0


def test_a_frozen_replica_is_a_degraded_service_for_as_long_as_it_lasts(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """The replica that takes every request (haproxy `balance first`) paused for 2 s: requests
    in flight wait for it, slow but answered. The monkey records the service degraded, as long
    as the client saw it so, back when the client saw it back."""
    group = replicas(run_target, 2)
    with balancer(tmp_path, free_port(), group, balance="first") as url, sending(url) as client:
        [record] = attack(
            tmp_path,
            group,
            url,
            {"type": "pause", "duration": "2s"},
            targets={"labels": {"app": group[0].labels["app"]}, "names": [f"^{group[0].name}$"]},
        )
    assert record["status"] == "recovered", record["reason"]
    assert all(request.ok for request in client.requests)
    service = record["service_recovery"]
    assert service["impact"] == "degraded"
    assert service["worst_latency_seconds"] == pytest.approx(2.0, abs=0.3)
    back_at, degraded_s = service_times(record)
    assert abs(back_at - client_back_at(client)) <= 0.1 + PROBE_INTERVAL_S
    assert degraded_s == pytest.approx(client.degraded_seconds(MAX_LATENCY_S), rel=0.1)


def test_one_replica_down_keeps_the_targets_recovery_apart_from_the_services(
    tmp_path: Path, run_target: RunTarget
) -> None:
    """One replica of three crashed, back after START_DELAY 2 s: the balancer hides it from the
    clients (their requests are retried on another replica), so the service is back long before
    the target, and the record says both."""
    group = replicas(run_target, 3, start_delay_s=2)
    with balancer(tmp_path, free_port(), group) as url, sending(url) as client:
        [record] = attack(tmp_path, group, url, {"type": "kill"})
    assert record["status"] == "recovered", record["reason"]
    assert all(request.ok for request in client.requests)
    target = record["target_recovery"]
    assert target["time_to_detect_seconds"] < 0.5
    service = record["service_recovery"]
    if service["impact"] == "none":
        assert (service["time_to_detect_seconds"], service["recovery_seconds"]) == (None, None)
        assert record["recovery_seconds"] is None
    else:
        assert service["recovery_seconds"] < target["recovery_seconds"]
    assert target["recovery_seconds"] >= 2.0
