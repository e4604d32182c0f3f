"""The Kubernetes API simulator, driven through the real `kubernetes` client over HTTP.

Every test runs against a fresh simulator, or against the cluster KUBECONFIG names (tests that
need the simulator's own knobs, tokens or timing, are skipped there with the reason).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import WaitFor
from tests.kubesim import KubeSim
from tests.kubesim.fixtures import Kube
from tests.kubesim.rbac import ADMIN_TOKEN

Obj = dict[str, Any]
WATCH_LIMIT_S = 60  # a watch that sees nothing more ends here, so a broken test cannot hang


def unique(prefix: str) -> str:
    """A name no other test (or earlier run on a real cluster) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def status_body(error: ApiException) -> Obj:
    body: Obj = json.loads(error.body)
    return body


def raw(response: Any) -> Obj:
    document: Obj = json.loads(response.data)
    return document


def is_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(entry["type"] == "Ready" and entry["status"] == "True" for entry in conditions)


@pytest.fixture
def core(kube_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_client)


@pytest.fixture
def apps(kube_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube_client)


@pytest.fixture
def shop(kube: Kube) -> str:
    """A namespace opted in to chaos."""
    name = unique("shop")
    kube.create_namespace(name, annotations={"chaosmonkey.io/enabled": "true"})
    return name


@pytest.fixture
def mixed_shop(kube: Kube, shop: str) -> str:
    """web (Deployment, 3), db (StatefulSet, 2) and a bare pod, `lonely`."""
    kube.create_deployment(shop, "web", replicas=3, labels={"app": "web", "tier": "front"})
    kube.create_statefulset(shop, "db", replicas=2, labels={"app": "db", "tier": "back"})
    kube.create_pod(shop, "lonely", labels={"app": "lonely"})
    return shop


def names(pods: client.V1PodList) -> list[str]:
    return sorted(pod.metadata.name for pod in pods.items)


def groups_of(pod_names: list[str]) -> list[str]:
    """web-<hash>-<suffix> -> web, db-0 -> db: which workload each pod belongs to."""
    return sorted(name.split("-")[0] for name in pod_names)


# Lists and selectors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web"] * 3),
        ("app==web", ["web"] * 3),
        ("app!=web", ["db", "db", "lonely"]),
        ("app in (web, db)", ["db", "db", "web", "web", "web"]),
        ("app notin (web,db)", ["lonely"]),
        ("tier", ["db", "db", "web", "web", "web"]),
        ("!tier", ["lonely"]),
        ("tier=back,app=db", ["db", "db"]),
        ("app=nothing", []),
    ],
)
def test_list_filters_by_label_selector(
    core: client.CoreV1Api, mixed_shop: str, selector: str, expected: list[str]
) -> None:
    """Equality, set-based and existence selectors pick the pods the API server would."""
    listed = core.list_namespaced_pod(mixed_shop, label_selector=selector)
    assert groups_of(names(listed)) == expected


def test_list_filters_by_field_selector(core: client.CoreV1Api, mixed_shop: str) -> None:
    """metadata.name, metadata.namespace and status.phase select; across namespaces too."""
    by_name = core.list_namespaced_pod(mixed_shop, field_selector="metadata.name=db-0")
    assert names(by_name) == ["db-0"]
    running = core.list_namespaced_pod(mixed_shop, field_selector="status.phase=Running")
    assert len(running.items) == 6
    assert core.list_namespaced_pod(mixed_shop, field_selector="status.phase=Pending").items == []
    everywhere = core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={mixed_shop},metadata.name!=lonely"
    )
    assert groups_of(names(everywhere)) == ["db", "db", "web", "web", "web"]


@pytest.mark.parametrize(
    ("labels", "fields", "message"),
    [
        ("app in (web", None, "unable to parse requirement: found '', expected: ',' or ')'"),
        ("=web", None, "found '=', expected: !, identifier, or 'end of string'"),
        ("app=we b", None, "found 'b', expected: ',' or 'end of string'"),
        (None, "spec.colour=red", "field label not supported: spec.colour"),
    ],
)
def test_invalid_selector_is_a_bad_request(
    core: client.CoreV1Api, shop: str, labels: str | None, fields: str | None, message: str
) -> None:
    """A selector the API server cannot parse: 400 BadRequest, saying what is wrong."""
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod(shop, label_selector=labels, field_selector=fields)
    assert caught.value.status == 400
    body = status_body(caught.value)
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "BadRequest", 400)
    assert message in body["message"]


def test_paging_with_limit_and_continue(kube: Kube, core: client.CoreV1Api, shop: str) -> None:
    """limit/continue walks the whole list once, in pages, with remainingItemCount."""
    kube.create_deployment(shop, "web", replicas=12)
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        page = core.list_namespaced_pod(shop, limit=5, _continue=token)
        pages.append(names(page))
        if len(pages) == 1:
            assert page.metadata.remaining_item_count == 7
        token = page.metadata._continue
        if not token:
            break
    assert [len(page) for page in pages] == [5, 5, 2]
    seen = [name for page in pages for name in page]
    assert sorted(seen) == names(core.list_namespaced_pod(shop))
    assert len(set(seen)) == 12


def test_missing_namespace(core: client.CoreV1Api) -> None:
    """Reads and creates in a namespace that does not exist are 404; a list there is empty."""
    missing = unique("nowhere")
    with pytest.raises(ApiException) as caught:
        core.read_namespace(missing)
    assert caught.value.status == 404
    assert status_body(caught.value)["message"] == f'namespaces "{missing}" not found'
    pod = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(missing, pod)
    assert (caught.value.status, status_body(caught.value)["reason"]) == (404, "NotFound")
    assert status_body(caught.value)["message"] == f'namespaces "{missing}" not found'
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("x", missing)
    assert status_body(caught.value)["message"] == 'pods "x" not found'
    assert core.list_namespaced_pod(missing).items == []


# Objects as the API server shapes them ------------------------------------------------------------


def test_workload_pods_carry_owners_and_status(
    core: client.CoreV1Api, apps: client.AppsV1Api, mixed_shop: str
) -> None:
    """Deployment -> ReplicaSet -> pods by controller ownerReferences with uids; Ready pods
    have the conditions and container statuses clients read; statuses count them."""
    deployment = apps.read_namespaced_deployment("web", mixed_shop)
    (replicaset,) = apps.list_namespaced_replica_set(mixed_shop).items
    owner = replicaset.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        "web",
        deployment.metadata.uid,
        True,
    )
    pods = core.list_namespaced_pod(mixed_shop, label_selector="app=web").items
    for pod in pods:
        (pod_owner,) = pod.metadata.owner_references
        assert (pod_owner.kind, pod_owner.uid, pod_owner.controller) == (
            "ReplicaSet",
            replicaset.metadata.uid,
            True,
        )
        assert pod.metadata.name.startswith(f"{replicaset.metadata.name}-")
        ready = next(c for c in pod.status.conditions if c.type == "Ready")
        assert ready.status == "True"
        assert isinstance(ready.last_transition_time, datetime)
        (container,) = pod.status.container_statuses
        assert (container.ready, container.restart_count) == (True, 0)
        assert isinstance(pod.metadata.resource_version, str)
        assert pod.metadata.creation_timestamp.tzinfo is not None
    assert deployment.status.ready_replicas == 3
    assert deployment.status.available_replicas == 3
    statefulset = apps.read_namespaced_stateful_set("db", mixed_shop)
    assert statefulset.status.ready_replicas == 2
    lonely = core.read_namespaced_pod("lonely", mixed_shop)
    assert lonely.metadata.owner_references is None


def test_pod_created_through_the_api_starts_then_turns_ready(
    core: client.CoreV1Api, shop: str, wait_for: WaitFor
) -> None:
    """A pod POSTed by a client is Pending, then Running and Ready, with an IP and a node."""
    body = {
        "metadata": {"name": "posted", "labels": {"app": "posted"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": os.environ.get("CHAOSMONKEY_KUBE_IMAGE", "registry.k8s.io/pause:3.9"),
                }
            ]
        },
    }
    created = core.create_namespaced_pod(shop, body)
    assert created.status.phase == "Pending"
    assert created.metadata.uid

    def ready() -> bool:
        return is_ready(raw(core.read_namespaced_pod("posted", shop, _preload_content=False)))

    wait_for(ready, "the posted pod to turn Ready", timeout_s=120)
    pod = core.read_namespaced_pod("posted", shop)
    assert pod.status.phase == "Running"
    assert pod.spec.node_name
    assert pod.status.pod_ip


def test_invalid_pod_is_unprocessable(core: client.CoreV1Api, shop: str) -> None:
    """A pod named against the rules: 422 Invalid, naming the field."""
    body = {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(shop, body)
    status = status_body(caught.value)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith('Pod "Bad_Name" is invalid: metadata.name: Invalid value')


def test_discovery(kube_client: client.ApiClient) -> None:
    """/version, /api and /apis answer as the client expects."""
    version = client.VersionApi(kube_client).get_code()
    assert version.major == "1"
    assert version.git_version.startswith("v1.")
    assert "v1" in client.CoreApi(kube_client).get_api_versions().versions
    served = {group.name for group in client.ApisApi(kube_client).get_api_versions().groups}
    assert {"apps", "policy", "coordination.k8s.io"} <= served


# Deletion, replacement, watches -------------------------------------------------------------------


def test_delete_at_once_and_with_grace(
    kube: Kube, core: client.CoreV1Api, shop: str, wait_for: WaitFor
) -> None:
    """Grace 0: gone at once. Grace 30: marked (deletionTimestamp, not Ready), then gone."""
    kube.create_pod(shop, "quick")
    kube.create_pod(shop, "slow")
    core.delete_namespaced_pod("quick", shop, grace_period_seconds=0)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("quick", shop)
    assert caught.value.status == 404
    marked = core.delete_namespaced_pod(
        "slow", shop, body=client.V1DeleteOptions(grace_period_seconds=30)
    )
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.deletion_grace_period_seconds == 30

    def gone_or_unready() -> bool:
        pods = raw(core.list_namespaced_pod(shop, _preload_content=False))["items"]
        return all(not is_ready(pod) for pod in pods)

    wait_for(gone_or_unready, "the terminating pod to stop being Ready", timeout_s=60)
    wait_for(lambda: core.list_namespaced_pod(shop).items == [], "the pod to go", timeout_s=60)


def test_watch_sees_a_replacement_pod_turn_ready(
    kube: Kube, core: client.CoreV1Api, shop: str
) -> None:
    """Deleting a Deployment's pod: DELETED for it, ADDED for a replacement not yet Ready,
    then MODIFIED with Ready=True, all on one watch from the list's resourceVersion."""
    kube.create_deployment(shop, "web", replicas=2, ready_after_s=0.3)
    listed = core.list_namespaced_pod(shop)
    before = set(names(listed))
    victim = sorted(before)[0]
    core.delete_namespaced_pod(victim, shop)
    seen: list[tuple[str, str, bool]] = []
    watcher = watch.Watch()
    for event in watcher.stream(
        core.list_namespaced_pod,
        shop,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=WATCH_LIMIT_S,
        _request_timeout=WATCH_LIMIT_S + 10,
    ):
        pod = event["raw_object"]
        seen.append((event["type"], pod["metadata"]["name"], is_ready(pod)))
        replaced = any(kind == "DELETED" and name == victim for kind, name, _ in seen)
        new_ready = any(name not in before and ready for _, name, ready in seen)
        if replaced and new_ready:
            watcher.stop()
    newcomers = [entry for entry in seen if entry[1] not in before]
    assert newcomers, f"no replacement pod seen: {seen}"
    assert newcomers[0][0] == "ADDED"
    assert newcomers[0][2] is False
    assert newcomers[-1][2] is True
    assert ("DELETED", victim, False) in seen
    assert len(core.list_namespaced_pod(shop).items) == 2


def test_watch_across_namespaces_and_on_workloads(
    kube: Kube, core: client.CoreV1Api, apps: client.AppsV1Api, shop: str
) -> None:
    """Watches of /api/v1/pods and of deployments see their objects' events."""
    kube.create_deployment(shop, "web", replicas=1)
    for_pods = watch.Watch().stream(
        core.list_pod_for_all_namespaces,
        field_selector=f"metadata.namespace={shop}",
        timeout_seconds=1,
        _request_timeout=WATCH_LIMIT_S,
    )
    assert [(event["type"], event["object"].metadata.namespace) for event in for_pods] == [
        ("ADDED", shop)
    ]
    for_deployments = watch.Watch().stream(
        apps.list_namespaced_deployment, shop, timeout_seconds=1, _request_timeout=WATCH_LIMIT_S
    )
    deployments = [event["object"] for event in for_deployments]
    assert [d.metadata.name for d in deployments] == ["web"]
    assert isinstance(deployments[0], client.V1Deployment)


def test_watch_ends_after_timeout_seconds(core: client.CoreV1Api, shop: str) -> None:
    """A quiet watch with timeoutSeconds returns, having seen nothing."""
    resource_version = core.list_namespaced_pod(shop).metadata.resource_version
    events = list(
        watch.Watch().stream(
            core.list_namespaced_pod,
            shop,
            resource_version=resource_version,
            timeout_seconds=1,
            _request_timeout=WATCH_LIMIT_S,
        )
    )
    assert events == []


def test_statefulset_pod_comes_back_under_its_name(
    kube: Kube, core: client.CoreV1Api, shop: str, wait_for: WaitFor
) -> None:
    """A deleted StatefulSet pod is recreated with the same name (a new uid) once it is gone."""
    kube.create_statefulset(shop, "db", replicas=2)
    old_uid = core.read_namespaced_pod("db-0", shop).metadata.uid

    def back() -> bool:
        try:
            pod = raw(core.read_namespaced_pod("db-0", shop, _preload_content=False))
        except ApiException:
            return False
        return pod["metadata"]["uid"] != old_uid and is_ready(pod)

    core.delete_namespaced_pod("db-0", shop)
    wait_for(back, "db-0 back, a new pod, Ready", timeout_s=120)
    assert names(core.list_namespaced_pod(shop)) == ["db-0", "db-1"]


def test_deployment_status_follows_its_pods(
    kubesim: KubeSim, apps: client.AppsV1Api, core: client.CoreV1Api, wait_for: WaitFor
) -> None:
    """readyReplicas drops when a pod goes and comes back when its replacement turns Ready."""
    kubesim.create_namespace("shop")
    kubesim.create_deployment("shop", "web", replicas=3, ready_after_s=0.5)
    victim = kubesim.pods("shop")[0]["metadata"]["name"]
    core.delete_namespaced_pod(victim, "shop", grace_period_seconds=0)

    def ready_replicas() -> int:
        status = apps.read_namespaced_deployment("web", "shop").status
        return int(status.ready_replicas or 0)

    assert ready_replicas() == 2
    assert apps.read_namespaced_deployment("web", "shop").status.unavailable_replicas == 1
    wait_for(lambda: ready_replicas() == 3, "the Deployment to be fully ready again")
    (replicaset,) = apps.list_namespaced_replica_set("shop").items
    assert replicaset.status.ready_replicas == 3


def test_daemonset_replaces_a_pod_on_its_node(
    kubesim: KubeSim, core: client.CoreV1Api, wait_for: WaitFor
) -> None:
    """One pod per simulated node; a deleted one is replaced on the same node."""
    kubesim.create_namespace("ops")
    kubesim.create_daemonset("ops", "agent", pods=2, labels={"app": "agent"})
    pods = core.list_namespaced_pod("ops").items
    nodes = sorted(pod.spec.node_name for pod in pods)
    assert len(set(nodes)) == 2
    core.delete_namespaced_pod(pods[0].metadata.name, "ops", grace_period_seconds=0)

    def nodes_now() -> list[str]:
        return sorted(pod.spec.node_name for pod in core.list_namespaced_pod("ops").items)

    wait_for(lambda: nodes_now() == nodes, "a replacement on the emptied node")


def test_a_watch_from_a_compacted_version_is_gone() -> None:
    """Too old a resourceVersion: the watch ends with 410 Expired, as the client raises it."""
    if os.environ.get("KUBECONFIG"):
        pytest.skip("simulator only: a real cluster's watch history cannot be made short")
    with KubeSim(history_size=5) as sim, _client(sim) as api_client:
        sim.create_namespace("shop")
        sim.create_deployment("shop", "web", replicas=5)
        core = client.CoreV1Api(api_client)
        stream = watch.Watch().stream(
            core.list_namespaced_pod, "shop", resource_version="1", timeout_seconds=5
        )
        with pytest.raises(ApiException) as caught:
            list(stream)
    assert caught.value.status == 410
    assert "too old resource version: 1" in str(caught.value.reason)


# Evictions and budgets ----------------------------------------------------------------------------


def test_eviction_allowed_then_refused_by_a_budget(
    kube: Kube, core: client.CoreV1Api, shop: str, wait_for: WaitFor
) -> None:
    """minAvailable 2 of 3 Ready pods: one eviction goes through, the next one gets 429 with the
    API server's message and a DisruptionBudget cause."""
    kube.create_deployment(shop, "web", replicas=3, labels={"app": "web"}, ready_after_s=60)
    kube.create_pdb(shop, "web-pdb", match_labels={"app": "web"}, min_available=2)
    policy = client.PolicyV1Api(core.api_client)

    def one_disruption_allowed() -> bool:
        budget = policy.read_namespaced_pod_disruption_budget("web-pdb", shop)
        return budget.status is not None and budget.status.disruptions_allowed == 1

    wait_for(one_disruption_allowed, "the budget to allow one disruption", timeout_s=60)
    first, second = names(core.list_namespaced_pod(shop))[:2]
    core.create_namespaced_pod_eviction(first, shop, _eviction(first, shop))
    assert core.read_namespaced_pod(first, shop).metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod_eviction(second, shop, _eviction(second, shop))
    body = status_body(caught.value)
    assert (caught.value.status, body["reason"]) == (429, "TooManyRequests")
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert core.read_namespaced_pod(second, shop).metadata.deletion_timestamp is None


def test_eviction_of_a_missing_pod_is_not_found(core: client.CoreV1Api, shop: str) -> None:
    """Evicting a pod that is not there: 404 for the pod."""
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod_eviction("ghost", shop, _eviction("ghost", shop))
    assert caught.value.status == 404
    assert status_body(caught.value)["message"] == 'pods "ghost" not found'


def _eviction(name: str, namespace: str) -> client.V1Eviction:
    return client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))


# Leases -------------------------------------------------------------------------------------------


def test_lease_create_replace_and_conflicts(kube_client: client.ApiClient, shop: str) -> None:
    """Create once (again: 409 AlreadyExists); replace with the current resourceVersion works,
    with a stale one is 409 Conflict; delete, then 404."""
    leases = client.CoordinationV1Api(kube_client)
    now = datetime.now(UTC).replace(microsecond=250_000)  # MicroTime: six digits always sent
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="chaosmonkey-leader"),
        spec=client.V1LeaseSpec(
            holder_identity="monkey-a", lease_duration_seconds=10, acquire_time=now, renew_time=now
        ),
    )
    created = leases.create_namespaced_lease(shop, body)
    with pytest.raises(ApiException) as caught:
        leases.create_namespaced_lease(shop, body)
    assert (caught.value.status, status_body(caught.value)["reason"]) == (409, "AlreadyExists")
    stale = created.metadata.resource_version
    created.spec.holder_identity = "monkey-b"
    replaced = leases.replace_namespaced_lease("chaosmonkey-leader", shop, created)
    assert replaced.spec.holder_identity == "monkey-b"
    assert replaced.metadata.resource_version != stale
    created.spec.holder_identity = "monkey-c"
    created.metadata.resource_version = stale
    with pytest.raises(ApiException) as caught:
        leases.replace_namespaced_lease("chaosmonkey-leader", shop, created)
    body_of_conflict = status_body(caught.value)
    assert (caught.value.status, body_of_conflict["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body_of_conflict["message"]
    read = leases.read_namespaced_lease("chaosmonkey-leader", shop)
    assert read.spec.holder_identity == "monkey-b"
    assert read.spec.renew_time == now
    leases.delete_namespaced_lease("chaosmonkey-leader", shop)
    with pytest.raises(ApiException) as caught:
        leases.read_namespaced_lease("chaosmonkey-leader", shop)
    assert caught.value.status == 404


def test_lease_time_must_carry_microseconds(kube_client: client.ApiClient, shop: str) -> None:
    """MicroTime is RFC 3339 with six fractional digits: a whole-second renewTime is a 400."""
    leases = client.CoordinationV1Api(kube_client)
    body = {
        "metadata": {"name": "whole-seconds"},
        "spec": {"holderIdentity": "monkey-a", "renewTime": "2024-05-01T12:00:00Z"},
    }
    with pytest.raises(ApiException) as caught:
        leases.create_namespaced_lease(shop, body)
    assert caught.value.status == 400
    assert 'parsing time "2024-05-01T12:00:00' in status_body(caught.value)["message"]


# Tokens -------------------------------------------------------------------------------------------


def test_forbidden_token_gets_403_with_the_message(kubesim: KubeSim, tmp_path: Any) -> None:
    """A token whose user may not delete pods in one namespace nor evict anywhere: 403 with
    the API server's message; what it may do still works."""
    kubesim.create_namespace("shop")
    kubesim.create_pod("shop", "web-1")
    kubesim.add_token(
        "chaos", forbidden=[("delete", "pods", "shop"), ("create", "pods/eviction", None)]
    )
    with _client(kubesim, "chaos") as api_client:
        core = client.CoreV1Api(api_client)
        assert names(core.list_namespaced_pod("shop")) == ["web-1"]
        with pytest.raises(ApiException) as caught:
            core.delete_namespaced_pod("web-1", "shop")
        assert caught.value.status == 403
        assert status_body(caught.value)["message"] == (
            'pods "web-1" is forbidden: User "system:serviceaccount:chaosmonkey:chaos" cannot '
            'delete resource "pods" in API group "" in the namespace "shop"'
        )
        with pytest.raises(ApiException) as caught:
            core.create_namespaced_pod_eviction("web-1", "shop", _eviction("web-1", "shop"))
        assert caught.value.status == 403
        assert 'cannot create resource "pods/eviction"' in status_body(caught.value)["message"]
    assert [pod["metadata"]["name"] for pod in kubesim.pods("shop")] == ["web-1"]


def test_unknown_token_is_unauthorized(kubesim: KubeSim) -> None:
    """A token nobody has: 401 Unauthorized."""
    with _client(kubesim, "nobody") as api_client, pytest.raises(ApiException) as caught:
        client.CoreV1Api(api_client).list_namespace()
    assert caught.value.status == 401
    assert status_body(caught.value)["reason"] == "Unauthorized"


# Scale --------------------------------------------------------------------------------------------


def test_ten_thousand_pods_in_a_hundred_namespaces(kubesim: KubeSim) -> None:
    """10,000 pods list in one response, and in pages of 500 across namespaces."""
    for index in range(100):
        kubesim.create_namespace(f"team-{index:02d}")
        kubesim.create_deployment(f"team-{index:02d}", "web", replicas=100)
    with _client(kubesim) as api_client:
        core = client.CoreV1Api(api_client)
        everything = raw(core.list_pod_for_all_namespaces(_preload_content=False))
        assert len(everything["items"]) == 10_000
        assert all(is_ready(pod) for pod in everything["items"])
        one_team = raw(core.list_namespaced_pod("team-42", _preload_content=False))
        assert len(one_team["items"]) == 100
        paged, token = 0, None
        while True:
            page = raw(
                core.list_pod_for_all_namespaces(limit=500, _continue=token, _preload_content=False)
            )
            paged += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
    assert paged == 10_000


# Events -------------------------------------------------------------------------------------------


def test_events_are_created_and_listed(core: client.CoreV1Api, shop: str) -> None:
    """A core v1 Event about a pod, found again by its involved object's name."""
    event = {
        "metadata": {"name": unique("chaos")},
        "involvedObject": {"kind": "Pod", "namespace": shop, "name": "web-1"},
        "reason": "ChaosInjected",
        "message": "pod deleted by chaosmonkey",
        "type": "Warning",
        "source": {"component": "chaosmonkey"},
    }
    core.create_namespaced_event(shop, event)
    found = core.list_namespaced_event(shop, field_selector="involvedObject.name=web-1")
    assert [item.reason for item in found.items] == ["ChaosInjected"]


@contextlib.contextmanager
def _client(sim: KubeSim, token: str = ADMIN_TOKEN) -> Iterator[client.ApiClient]:
    """A client of `sim` presenting `token`, closed at the end."""
    configuration = client.Configuration(host=sim.url)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    api_client = client.ApiClient(configuration)
    try:
        yield api_client
    finally:
        api_client.close()
