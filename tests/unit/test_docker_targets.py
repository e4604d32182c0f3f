"""The Docker backend's pure logic: container summaries, own container, event tracking."""

from __future__ import annotations

from typing import Any

import pytest

from chaosmonkey.backends.docker import (
    available_from_inspect,
    own_container_id,
    target_from_summary,
)
from chaosmonkey.backends.docker.events import RecoveryTracker
from chaosmonkey.model import COMPOSE_SERVICE_LABEL, GROUP_LABEL, Target

CID = "4ee5e5c2ae03e97aada832b4f7554c7a08e2d78b41b18100baf391cb866ff2e6"
OTHER = "48095e901b2a1172b927d7687e3006ddd4f77079570c731e7ef020b5fc571d37"


def summary(status: str = "Up 2 seconds", state: str = "running", **labels: str) -> dict[str, Any]:
    return {
        "Id": CID,
        "Names": ["/web-1"],
        "Labels": labels,
        "State": state,
        "Status": status,
        "Created": 1700000000,
    }


def test_summary_becomes_a_target() -> None:
    """Id, name without its slash, labels, running and the creation time come from the summary."""
    target = target_from_summary(summary(app="shop"))
    assert target == Target(
        "docker", CID, "web-1", "web-1", {"app": "shop"}, True, None, None, 1700000000.0
    )


@pytest.mark.parametrize(
    ("labels", "group"),
    [
        ({COMPOSE_SERVICE_LABEL: "api", GROUP_LABEL: "mine"}, "api"),
        ({GROUP_LABEL: "mine"}, "mine"),
        ({}, "web-1"),
    ],
)
def test_group_is_compose_service_then_group_label_then_name(
    labels: dict[str, str], group: str
) -> None:
    """The compose service wins over the group label, which wins over the container's name."""
    assert target_from_summary(summary(**labels)).group == group


@pytest.mark.parametrize(
    ("status", "healthy"),
    [
        ("Up 3 minutes (healthy)", True),
        ("Up 3 minutes (unhealthy)", False),
        ("Up Less than a second (health: starting)", False),
        ("Up 3 minutes", None),
        ("Exited (137) 2 seconds ago", None),
    ],
)
def test_health_comes_from_the_status_text(status: str, healthy: bool | None) -> None:
    """Healthy, unhealthy or starting per the status text; None without a health check."""
    assert target_from_summary(summary(status)).healthy is healthy


def test_paused_and_restarting_containers_are_not_running() -> None:
    """Only the `running` state counts as running: paused is down for the monkey."""
    assert not target_from_summary(summary("Up 1 second (Paused)", "paused")).running
    assert not target_from_summary(summary("Restarting (1) 1 second ago", "restarting")).running


def test_link_aliases_do_not_hide_the_name() -> None:
    """Links add `/other/alias` names; the container's own name is the one with one slash."""
    linked = {**summary(), "Names": ["/shop/db", "/db-1"]}
    assert target_from_summary(linked).name == "db-1"


def test_inspect_availability_needs_running_unpaused_and_healthy() -> None:
    """Live availability: running, not paused, and healthy when there is a health check."""
    assert available_from_inspect({"State": {"Running": True, "Paused": False}})
    assert not available_from_inspect({"State": {"Running": True, "Paused": True}})
    starting = {"Running": True, "Health": {"Status": "starting"}}
    assert not available_from_inspect({"State": starting})
    assert available_from_inspect({"State": {"Running": True, "Health": {"Status": "healthy"}}})


def test_own_container_is_found_from_the_hostname_mount() -> None:
    """In a container, /etc/hostname is mounted from the engine's directory for that container."""
    mountinfo = (
        f"85 67 254:0 /var/lib/docker/containers/{CID}/hostname /etc/hostname rw - ext4 /dev/vda\n"
    )
    assert own_container_id(mountinfo, "0::/\n") == CID


def test_own_container_is_found_from_cgroup_v1() -> None:
    """With cgroup v1 the process's cgroup path names the container."""
    assert own_container_id("", f"8:pids:/docker/{CID}\n") == CID


def test_host_is_no_container_even_with_container_mounts_in_sight() -> None:
    """On a host, mounts of other containers (shm) are not the process's own container."""
    shm = f"/var/lib/docker/containers/{OTHER}/mounts/shm"
    mountinfo = f"301 28 0:51 / {shm} rw - tmpfs shm rw\n"
    assert own_container_id(mountinfo, "8:pids:/\n0::/\n") is None


def event(action: str, actor: str = CID, at: float = 100.0) -> dict[str, Any]:
    return {"Action": action, "Actor": {"ID": actor}, "timeNano": int(at * 1e9)}


def test_impact_is_the_first_impact_event_on_the_target() -> None:
    """Other members' deaths, earlier events and non-impact actions are not the impact."""
    tracker = RecoveryTracker(CID, baseline=2, not_before=100.0)
    for seen in (event("die", at=99.0), event("die", OTHER, 100.5), event("start", at=100.6)):
        tracker.feed(seen, lambda actor: 0)
    tracker.feed(event("die", at=101.25), lambda actor: 0)
    tracker.feed(event("stop", at=101.5), lambda actor: 0)
    assert tracker.impact_at == 101.25


def test_recovery_is_the_event_at_which_the_group_is_back_to_its_baseline() -> None:
    """After the impact, each start or health event recounts; the first count at baseline wins."""
    tracker = RecoveryTracker(CID, baseline=2, not_before=100.0)
    counts = iter([1, 2])
    tracker.feed(event("health_status: healthy", at=100.1), lambda actor: 2)  # before any impact
    tracker.feed(event("die", at=101.0), lambda actor: 1)
    tracker.feed(event("start", at=101.5), lambda actor: next(counts))
    tracker.feed(event("health_status: healthy", at=103.5), lambda actor: next(counts))
    tracker.feed(event("health_status: healthy", OTHER, at=104.0), lambda actor: 2)
    assert (tracker.impact_at, tracker.recovered_at) == (101.0, 103.5)
