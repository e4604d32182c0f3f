"""The Kubernetes backend's pure logic: pods to targets, groups, selectors, recovery."""

from __future__ import annotations

from typing import Any

import pytest

from chaosmonkey.backends.kubernetes.pods import (
    HOST_NETWORK_EXCLUDED,
    GroupRef,
    desired_replicas,
    group_of,
    namespace_opted_in,
    needs_replicasets,
    precise_time,
    replicaset_owners,
    selector_string,
    target_from_pod,
)
from chaosmonkey.backends.kubernetes.watch import PodRecoveryTracker
from chaosmonkey.model import Target

CREATED = "2026-01-02T03:04:05Z"


def owner(kind: str, name: str, controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": kind, "name": name, "controller": controller}


def pod(
    name: str = "web-1",
    *,
    uid: str | None = None,
    owners: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    is_ready: bool | None = True,
    deleting: bool = False,
    host_network: bool = False,
    ready_at: str = "2026-01-02T03:04:06Z",
    **labels: str,
) -> dict[str, Any]:
    conditions = (
        []
        if is_ready is None
        else [{"type": "Ready", "status": str(is_ready), "lastTransitionTime": ready_at}]
    )
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "shop",
        "uid": uid or f"uid-{name}",
        "labels": labels,
        "creationTimestamp": CREATED,
        "ownerReferences": owners or [],
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-02T03:05:00Z"
    return {
        "metadata": metadata,
        "spec": {"hostNetwork": host_network},
        "status": {"phase": phase, "conditions": conditions},
    }


def test_a_pod_becomes_a_target() -> None:
    """uid, name, labels, namespace, creation time, Running and Ready come from the pod."""
    target = target_from_pod(pod(app="web"), GroupRef("shop", "pod", "web-1"), opted_in=True)
    assert target == Target(
        backend="kubernetes",
        id="uid-web-1",
        name="web-1",
        group="shop/pod/web-1",
        labels={"app": "web"},
        running=True,
        healthy=True,
        namespace="shop",
        created_at=1767323045.0,
        opted_in_by_scope=True,
    )


@pytest.mark.parametrize(
    ("kwargs", "running", "healthy", "available"),
    [
        ({"is_ready": False}, True, False, False),
        ({"is_ready": None}, True, None, True),
        ({"phase": "Pending", "is_ready": False}, False, False, False),
        ({"deleting": True}, False, True, False),
    ],
)
def test_running_and_ready_decide_availability(
    kwargs: dict[str, Any], running: bool, healthy: bool | None, available: bool
) -> None:
    """Not Ready, not Running yet, or being deleted: the member does not count as available."""
    target = target_from_pod(pod(**kwargs), GroupRef("shop", "pod", "web-1"))
    assert (target.running, target.healthy, target.available) == (running, healthy, available)


def test_host_network_pods_are_excluded_unless_allowed() -> None:
    """A hostNetwork pod is listed but excluded; allowHostNetwork lifts the exclusion."""
    ref = GroupRef("shop", "daemonset", "agent")
    assert target_from_pod(pod(host_network=True), ref).excluded == HOST_NETWORK_EXCLUDED
    assert target_from_pod(pod(host_network=True), ref, allow_host_network=True).excluded is None


def test_groups_follow_the_controlling_owner() -> None:
    """Deployment through its ReplicaSet, StatefulSet, DaemonSet; a bare pod is its own group."""
    replicasets = [
        {"metadata": {"name": "web-5d8f", "ownerReferences": [owner("Deployment", "web")]}},
        {"metadata": {"name": "lone-77aa"}},
    ]
    owners = replicaset_owners(replicasets)
    cases = {
        "shop/deployment/web": pod(owners=[owner("ReplicaSet", "web-5d8f")]),
        "shop/replicaset/lone-77aa": pod(owners=[owner("ReplicaSet", "lone-77aa")]),
        "shop/statefulset/db": pod("db-0", owners=[owner("StatefulSet", "db")]),
        "shop/daemonset/agent": pod(owners=[owner("DaemonSet", "agent")]),
        "shop/pod/lonely": pod("lonely", owners=[owner("Node", "n1", controller=False)]),
    }
    for expected, member in cases.items():
        assert str(group_of(member, owners)) == expected
    assert GroupRef.parse("shop/deployment/web") == GroupRef("shop", "deployment", "web")
    assert needs_replicasets([cases["shop/deployment/web"]])
    assert not needs_replicasets([cases["shop/statefulset/db"]])


def test_workload_selectors_and_replicas() -> None:
    """matchLabels and every matchExpressions operator become a label selector string."""
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "canary", "operator": "Exists"},
            {"key": "old", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "app=web,tier in (a,b),env notin (dev),canary,!old"
    assert desired_replicas("deployment", {"spec": {"replicas": 3}}) == 3
    assert desired_replicas("daemonset", {"status": {"desiredNumberScheduled": 2}}) == 2
    assert desired_replicas("job", {"spec": {}}) is None


def test_opt_in_annotation_and_precise_times() -> None:
    """Only enabled=true opts a namespace in; whole-second API times are not precise."""
    annotated = {"metadata": {"annotations": {"chaosmonkey.io/enabled": "True"}}}
    assert namespace_opted_in(annotated)
    assert not namespace_opted_in({"metadata": {"annotations": {"chaosmonkey.io/enabled": "no"}}})
    assert not namespace_opted_in({"metadata": {}})
    assert precise_time("2026-01-02T03:04:05Z") is None
    assert precise_time("2026-01-02T03:04:05.250000Z") == 1767323045.25


def members(count: int) -> list[dict[str, Any]]:
    return [pod(f"web-{n}", owners=[owner("ReplicaSet", "web-5d8f")]) for n in range(count)]


def test_recovery_is_as_many_ready_pods_as_before() -> None:
    """Impact when the target terminates; recovered when a replacement is Ready again, at the
    API's precise Ready time."""
    tracker = PodRecoveryTracker("uid-web-0", members(3), desired=3)
    assert tracker.baseline == 3
    tracker.feed("MODIFIED", pod("web-0", deleting=True), received=10.0)
    assert tracker.impact_at == 10.0
    tracker.feed("DELETED", pod("web-0", deleting=True), received=10.2)
    tracker.feed("ADDED", pod("web-9", phase="Pending", is_ready=False), received=10.3)
    tracker.feed("MODIFIED", pod("web-9", is_ready=False), received=10.4)
    assert tracker.recovered_at is None
    ready_at = "2026-01-02T03:04:05.5Z"
    tracker.feed("MODIFIED", pod("web-9", ready_at=ready_at), received=1767323045.6)
    assert tracker.recovered_at == 1767323045.5


def test_recovery_needs_an_impact_first() -> None:
    """Events of other members before the target is hit do not count as recovery."""
    tracker = PodRecoveryTracker("uid-web-0", members(2), desired=2)
    tracker.feed("MODIFIED", pod("web-1"), received=5.0)
    assert (tracker.impact_at, tracker.recovered_at) == (None, None)
    tracker.feed("MODIFIED", pod("web-0", is_ready=False), received=6.0)
    tracker.feed("MODIFIED", pod("web-0"), received=7.0)
    assert (tracker.impact_at, tracker.recovered_at) == (6.0, 7.0)


def test_baseline_never_exceeds_what_the_workload_wants() -> None:
    """A surplus pod during a scale-down is not waited for; a shortfall before is not asked of
    the recovery either."""
    assert PodRecoveryTracker("uid-web-0", members(4), desired=3).baseline == 3
    short = members(3)
    short[2] = pod("web-2", is_ready=False)
    assert PodRecoveryTracker("uid-web-0", short, desired=3).baseline == 2


def test_a_stateful_pod_recreated_under_its_name_is_told_apart_by_uid() -> None:
    """The replacement `db-0` has a new uid: it is not the impact, but it is the recovery."""
    tracker = PodRecoveryTracker("uid-old", [pod("db-0", uid="uid-old")], desired=1)
    tracker.feed("DELETED", pod("db-0", uid="uid-old"), received=1.0)
    tracker.feed("ADDED", pod("db-0", uid="uid-new", is_ready=False), received=1.1)
    assert (tracker.impact_at, tracker.recovered_at) == (1.0, None)
    tracker.feed("MODIFIED", pod("db-0", uid="uid-new"), received=1.8)
    assert tracker.recovered_at == 1.8


def test_a_resync_after_a_lost_watch_sees_the_target_gone() -> None:
    """After 410 Gone the fresh listing decides: target missing is the impact; back is recovery."""
    tracker = PodRecoveryTracker("uid-web-0", members(2), desired=2)
    tracker.sync(members(2)[1:], received=3.0)
    assert (tracker.impact_at, tracker.recovered_at) == (3.0, None)
    tracker.sync([*members(2)[1:], pod("web-7")], received=4.0)
    assert tracker.recovered_at == 4.0
