"""The Kubernetes backend through the real `kubernetes` client: pods listed and grouped, every
exclusion, kill and evict with recovery watched, and the API's refusals as clear errors.

Runs against the API simulator; against the cluster of KUBECONFIG when that is set (tests that
need the simulator's tokens or timing are then skipped with the reason).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, CoreV1Api
from structlog.testing import capture_logs

from chaosmonkey.backends.kubernetes import KubernetesBackend
from chaosmonkey.engine import Engine
from chaosmonkey.errors import (
    BackendError,
    BackendUnavailable,
    FaultRefused,
    PermissionDenied,
)
from chaosmonkey.faults.evict import EvictFault
from chaosmonkey.faults.kill import KillFault
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Outcome, Target
from chaosmonkey.policy.models import Policy, Targets
from chaosmonkey.selection import eligible
from tests.integration.conftest import free_port
from tests.kubesim import KubeSim
from tests.kubesim.fixtures import Kube
from tests.kubesim.rbac import ADMIN_TOKEN
from tests.waiting import wait_until

READY_AFTER_S = 0.7  # the simulator's delay from a replacement pod running to Ready
RECOVERY_BOUND_S = 10.0  # far above what the simulator takes; a real cluster pulls no image


def unique(prefix: str) -> str:
    """A namespace name no other test (or real cluster's user) has."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def web_shop(kube: Kube, replicas: int) -> str:
    """A new namespace with a Deployment `web` (app=web) of `replicas` pods; its name."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_deployment(shop, "web", replicas=replicas, labels={"app": "web"})
    return shop


def connect(kube: Kube, tmp_path: Path, token: str = ADMIN_TOKEN, **env: str) -> KubernetesBackend:
    kubeconfig = kube.write_kubeconfig(tmp_path / f"kubeconfig-{token}", token=token)
    return KubernetesBackend.connect({"KUBECONFIG": str(kubeconfig), **env})


@pytest.fixture
def backend(kube: Kube, tmp_path: Path) -> Iterator[KubernetesBackend]:
    connected = connect(kube, tmp_path)
    yield connected
    connected.close()


def run_attack(
    backend: KubernetesBackend,
    tmp_path: Path,
    targets: dict[str, Any],
    fault: dict[str, Any],
    **spec: Any,
) -> AttackRecord:
    """One armed run of a kubernetes policy through the engine; its one record."""
    body = {"backend": "kubernetes", "dryRun": False, "recovery": {"timeout": "20s"}, **spec}
    policy = Policy.model_validate(
        {
            "apiVersion": "chaosmonkey/v1",
            "kind": "Policy",
            "metadata": {"name": "kube-test"},
            "spec": {**body, "targets": targets, "fault": fault},
        }
    )
    engine = Engine(backend_for=lambda name: backend, journal=Journal(tmp_path / "journal.db"))
    [record] = engine.run_policy(policy, in_window_only=False)
    return record


def uids(kube: Kube, namespace: str) -> set[str]:
    return {pod["metadata"]["uid"] for pod in kube.pods(namespace)}


def groups(targets: list[Target]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for target in targets:
        counted[target.group] = counted.get(target.group, 0) + 1
    return counted


# --- listing and choosing ------------------------------------------------------------------


def test_pods_of_the_allowed_namespaces_are_grouped_by_workload(
    kube: Kube, backend: KubernetesBackend
) -> None:
    """Deployment (through its ReplicaSet), StatefulSet, DaemonSet and bare pod are the groups;
    a namespace not on the allow-list is not even listed."""
    shop, other = unique("shop"), unique("other")
    for namespace in (shop, other):
        kube.create_namespace(namespace)
        kube.create_deployment(namespace, "web", replicas=3, labels={"app": "web"})
    kube.create_statefulset(shop, "db", replicas=2, labels={"app": "db"})
    kube.create_daemonset(shop, "agent", pods=2, labels={"app": "agent"})
    kube.create_pod(shop, "lonely", labels={"app": "lonely"})
    targets = backend.list_targets(Targets(namespaces=[shop]))
    found = groups(targets)
    assert found[f"{shop}/deployment/web"] == 3
    assert found[f"{shop}/statefulset/db"] == 2
    assert found[f"{shop}/daemonset/agent"] >= 1  # one per node: the simulator has 2
    assert found[f"{shop}/pod/lonely"] == 1
    assert all(t.namespace == shop and t.running and t.healthy for t in targets)
    assert {t.id for t in targets} == uids(kube, shop)


def test_the_label_selector_is_applied_by_the_api(kube: Kube, backend: KubernetesBackend) -> None:
    """`targets.selector` narrows the listing on the server, equality and set-based alike."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_deployment(shop, "web", replicas=2, labels={"app": "web", "tier": "front"})
    kube.create_deployment(shop, "api", replicas=1, labels={"app": "api", "tier": "back"})
    kube.create_statefulset(shop, "db", replicas=1, labels={"app": "db", "tier": "data"})
    listed = backend.list_targets(Targets(namespaces=[shop], selector="app in (web,db),tier!=data"))
    assert groups(listed) == {f"{shop}/deployment/web": 2}


def test_never_attacked_namespaces_are_not_listed(kube: Kube, tmp_path: Path) -> None:
    """kube-system and the monkey's own namespace (its own pod with it) stay out, even when a
    scope built in code names them."""
    shop, own = unique("shop"), unique("chaos")
    for namespace in (shop, own):
        kube.create_namespace(namespace)
        kube.create_deployment(namespace, "web", replicas=1, labels={"app": "web"})
    kube.create_pod(own, "monkey-0", labels={"app": "chaosmonkey"})
    if isinstance(kube, KubeSim):
        kube.create_namespace("kube-system")
        kube.create_pod("kube-system", "coredns-1", labels={"k8s-app": "kube-dns"})
    monkey = connect(kube, tmp_path, POD_NAMESPACE=own)
    listed = monkey.list_targets(Targets(namespaces=["kube-system", own, shop]))
    monkey.close()
    assert {t.namespace for t in listed} == {shop}


def test_without_a_scope_every_namespace_but_the_never_attacked(kube: Kube, tmp_path: Path) -> None:
    """No scope (not a policy's: those must name namespaces): every namespace the monkey may
    list, with the same groups, kube-system and its own namespace left out."""
    shop, own = unique("shop"), unique("chaos")
    for namespace in (shop, own):
        kube.create_namespace(namespace)
        kube.create_deployment(namespace, "web", replicas=2, labels={"app": "web"})
    if isinstance(kube, KubeSim):
        kube.create_namespace("kube-system")
        kube.create_pod("kube-system", "coredns-1", labels={"k8s-app": "kube-dns"})
    monkey = connect(kube, tmp_path, POD_NAMESPACE=own)
    listed = monkey.list_targets(None)
    monkey.close()
    assert groups([t for t in listed if t.namespace == shop]) == {f"{shop}/deployment/web": 2}
    assert not {t.namespace for t in listed} & {own, "kube-system"}


def test_exclusions_leave_pods_listed_but_never_eligible(
    kube: Kube, backend: KubernetesBackend
) -> None:
    """Protected pods and hostNetwork pods count in their groups but are not candidates;
    allowHostNetwork lets the hostNetwork ones in."""
    shop = web_shop(kube, replicas=2)
    kube.create_daemonset(shop, "agent", pods=2, labels={"app": "agent"}, host_network=True)
    kube.create_pod(shop, "keep", labels={"app": "keep", "chaosmonkey.io/protected": "true"})
    scope = Targets(namespaces=[shop])
    listed = backend.list_targets(scope)
    assert {t.group for t in listed} == {
        f"{shop}/deployment/web",
        f"{shop}/daemonset/agent",
        f"{shop}/pod/keep",
    }
    assert {t.group for t in eligible(listed, scope)} == {f"{shop}/deployment/web"}
    allowed = Targets(namespaces=[shop], allow_host_network=True)
    assert {t.group for t in eligible(backend.list_targets(allowed), allowed)} == {
        f"{shop}/deployment/web",
        f"{shop}/daemonset/agent",
    }


def test_opt_in_by_namespace_annotation(kube: Kube, backend: KubernetesBackend) -> None:
    """With optIn, only pods of namespaces annotated chaosmonkey.io/enabled=true (or pods that
    carry the label themselves) are candidates."""
    enabled, plain = unique("enabled"), unique("plain")
    kube.create_namespace(enabled, annotations={"chaosmonkey.io/enabled": "true"})
    kube.create_namespace(plain)
    for namespace in (enabled, plain):
        kube.create_deployment(namespace, "web", replicas=1, labels={"app": "web"})
    kube.create_pod(plain, "volunteer", labels={"chaosmonkey.io/enabled": "true"})
    scope = Targets(namespaces=[enabled, plain], opt_in=True)
    chosen = eligible(backend.list_targets(scope), scope)
    assert {t.group for t in chosen} == {f"{enabled}/deployment/web", f"{plain}/pod/volunteer"}


def test_min_age_leaves_young_pods_alone(kube: Kube, backend: KubernetesBackend) -> None:
    """minAge compares the pod's creationTimestamp with now."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_pod(shop, "old", labels={"app": "x"}, age_s=3600.0)
    kube.create_pod(shop, "young", labels={"app": "x"}, age_s=60.0)
    scope = Targets.model_validate({"namespaces": [shop], "minAge": "10m"})
    chosen = eligible(backend.list_targets(scope), scope, time.time())
    assert [t.name for t in chosen] == ["old"]


def test_finished_pods_are_no_members(kube: Kube, backend: KubernetesBackend) -> None:
    """Succeeded and Failed pods (an evicted one lingers as Failed) are not listed; a Pending one
    is, as an unavailable member."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_pod(shop, "done", phase="Succeeded", ready=False)
    kube.create_pod(shop, "crashed", phase="Failed", ready=False)
    kube.create_pod(shop, "waiting", phase="Pending", ready=False)
    listed = backend.list_targets(Targets(namespaces=[shop]))
    assert [(t.name, t.available) for t in listed] == [("waiting", False)]


# --- faults and recovery -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [{"type": "kill"}, {"type": "kill", "gracePeriod": "2s"}, {"type": "evict"}],
    ids=["kill-grace-0", "kill-grace-2s", "evict"],
)
@pytest.mark.timing
def test_a_fault_is_detected_and_recovery_measured(
    kube: Kube, backend: KubernetesBackend, tmp_path: Path, fault: dict[str, Any]
) -> None:
    """The pod goes, its Deployment replaces it, and the attack is recovered once the group has
    as many Ready pods as before: never sooner than the replacement's readiness delay."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_deployment(
        shop, "web", replicas=3, labels={"app": "web"}, ready_after_s=READY_AFTER_S
    )
    before = uids(kube, shop)
    record = run_attack(backend, tmp_path, {"namespaces": [shop], "selector": "app=web"}, fault)
    assert record.outcome is Outcome.RECOVERED, record.reason
    assert record.target.id in before
    # A graceful deletion may outlast the recovery: the old pod goes within its grace period.
    wait_until(lambda: record.target.id not in uids(kube, shop), "the attacked pod to be gone")
    assert record.time_to_detect_seconds is not None
    assert record.time_to_detect_seconds < RECOVERY_BOUND_S
    assert record.recovery_seconds is not None
    assert record.recovery_seconds < RECOVERY_BOUND_S
    if isinstance(kube, KubeSim):
        assert record.recovery_seconds >= READY_AFTER_S
    ready = [pod for pod in kube.pods(shop) if _ready(pod)]
    assert len(ready) == 3


def test_a_stateful_pod_comes_back_under_its_name(
    kube: Kube, backend: KubernetesBackend, tmp_path: Path
) -> None:
    """A StatefulSet recreates the pod with the same name once the old one is gone: a new uid,
    and the recovery is its readiness."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_statefulset(
        shop, "db", replicas=2, labels={"app": "db"}, ready_after_s=READY_AFTER_S
    )
    before = {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in kube.pods(shop)}
    fault = {"type": "kill", "gracePeriod": "1s"}
    record = run_attack(backend, tmp_path, {"namespaces": [shop]}, fault)
    assert record.outcome is Outcome.RECOVERED, record.reason
    after = {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in kube.pods(shop)}
    assert after.keys() == before.keys()
    assert after[record.target.name] != record.target.id
    assert record.recovery_seconds is not None
    if isinstance(kube, KubeSim):
        assert record.recovery_seconds >= READY_AFTER_S


def test_a_bare_pod_killed_does_not_recover(
    kube: Kube, backend: KubernetesBackend, tmp_path: Path
) -> None:
    """Nothing recreates a pod without an owner: the attack ends not recovered."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_pod(shop, "lonely", labels={"app": "lonely"})
    record = run_attack(
        backend,
        tmp_path,
        {"namespaces": [shop]},
        {"type": "kill"},
        limits={"allowLastMember": True},
        recovery={"timeout": "1s"},
    )
    assert record.outcome is Outcome.NOT_RECOVERED, record.reason
    assert record.detected_at is not None
    assert kube.pods(shop) == []


def test_grace_periods_reach_the_api(kubesim: KubeSim, backend: KubernetesBackend) -> None:
    """gracePeriod 0 removes the pod at once; a longer one leaves it terminating with that
    grace period, as `kubectl delete --grace-period` does."""
    kubesim.termination_s = 1.0
    shop = web_shop(kubesim, replicas=2)
    first, second = backend.list_targets(Targets(namespaces=[shop]))
    graceful = KillFault(type="kill", grace_period=timedelta(seconds=3))
    graceful.injection("a1", first, backend).apply(backend)
    KillFault(type="kill").injection("a2", second, backend).apply(backend)
    pods = {pod["metadata"]["uid"]: pod for pod in kubesim.pods(shop)}
    assert second.id not in pods
    assert pods[first.id]["metadata"]["deletionGracePeriodSeconds"] == 3
    assert pods[first.id]["metadata"]["deletionTimestamp"]


def test_an_eviction_a_budget_forbids_changes_nothing(
    kube: Kube, backend: KubernetesBackend
) -> None:
    """429 from the Eviction API: FaultRefused naming the budget; the pod is still there."""
    shop = web_shop(kube, replicas=2)
    kube.create_pdb(shop, "web-pdb", match_labels={"app": "web"}, min_available=2)
    target = backend.list_targets(Targets(namespaces=[shop]))[0]
    before = uids(kube, shop)
    with pytest.raises(FaultRefused, match="disruption budget") as refused:
        EvictFault(type="evict").injection("a1", target, backend).apply(backend)
    assert str(refused.value).startswith(f"eviction of pod {shop}/{target.name} refused: ")
    assert uids(kube, shop) == before


def test_a_refused_eviction_is_recorded_as_skipped(
    kube: Kube, backend: KubernetesBackend, tmp_path: Path
) -> None:
    """Through the engine, the budget's refusal is a skipped attack, not a failed one."""
    shop = web_shop(kube, replicas=2)
    kube.create_pdb(shop, "web-pdb", match_labels={"app": "web"}, max_unavailable=0)
    before = uids(kube, shop)
    record = run_attack(backend, tmp_path, {"namespaces": [shop]}, {"type": "evict"})
    assert record.outcome is Outcome.SKIPPED, record.reason
    assert "disruption budget" in (record.reason or "")
    assert uids(kube, shop) == before


def test_a_pod_replaced_since_it_was_chosen_is_not_attacked(
    kube: Kube, backend: KubernetesBackend
) -> None:
    """The uid precondition: a StatefulSet pod recreated under the same name is a new pod."""
    shop = unique("shop")
    kube.create_namespace(shop)
    kube.create_statefulset(shop, "db", replicas=1, labels={"app": "db"})
    [chosen] = backend.list_targets(Targets(namespaces=[shop]))
    stale = Target(**{**chosen.__dict__, "id": str(uuid.uuid4())})
    with pytest.raises(BackendError, match=f"pod {shop}/db-0 is gone, or was replaced"):
        KillFault(type="kill").injection("a1", stale, backend).apply(backend)
    assert chosen.id in uids(kube, shop)


# --- events on attacked pods --------------------------------------------------------------


def events_on(api_client: ApiClient, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The Events the API holds about pod `pod`, as JSON."""
    response = CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={pod}", _preload_content=False
    )
    items: list[dict[str, Any]] = json.loads(response.data)["items"]
    return items


@pytest.mark.parametrize(
    ("fault", "reason", "done"),
    [
        ({"type": "kill"}, "ChaosMonkeyKill", "deleted the pod, grace period 0s"),
        (
            {"type": "evict", "gracePeriod": "1s"},
            "ChaosMonkeyEvict",
            "evicted the pod (Eviction API), grace period 1s",
        ),
    ],
    ids=["kill", "evict"],
)
def test_an_attack_leaves_an_event_on_its_pod(
    kube: Kube,
    backend: KubernetesBackend,
    kube_client: ApiClient,
    tmp_path: Path,
    fault: dict[str, Any],
    reason: str,
    done: str,
) -> None:
    """A Warning Event in the pod's namespace, about that very pod (its uid), from chaosmonkey,
    naming the policy, the attack and what was done; the API accepts its times as given."""
    shop = web_shop(kube, replicas=2)
    record = run_attack(backend, tmp_path, {"namespaces": [shop]}, fault)
    assert record.outcome is Outcome.RECOVERED, record.reason
    [event] = events_on(kube_client, shop, record.target.name)
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": record.target.name,
        "namespace": shop,
        "uid": record.target.id,
    }
    assert (event["type"], event["reason"], event["action"]) == (
        "Warning",
        reason,
        fault["type"].title(),
    )
    assert event["message"] == f"chaosmonkey policy kube-test (attack {record.id}) {done}"
    assert event["source"] == {"component": "chaosmonkey"}
    assert event["reportingComponent"] == "chaosmonkey"
    assert event["reportingInstance"]
    assert event["count"] == 1
    assert event["eventTime"]
    assert event["firstTimestamp"] == event["lastTimestamp"]
    assert record.injected_at is not None
    assert datetime.fromisoformat(event["eventTime"]).timestamp() >= record.injected_at


def test_a_refused_eviction_leaves_a_normal_event(
    kube: Kube, backend: KubernetesBackend, kube_client: ApiClient, tmp_path: Path
) -> None:
    """The budget held and nothing changed: a Normal event says so, with the API's reason."""
    shop = web_shop(kube, replicas=2)
    kube.create_pdb(shop, "web-pdb", match_labels={"app": "web"}, max_unavailable=0)
    record = run_attack(backend, tmp_path, {"namespaces": [shop]}, {"type": "evict"})
    assert record.outcome is Outcome.SKIPPED, record.reason
    [event] = events_on(kube_client, shop, record.target.name)
    assert (event["type"], event["reason"]) == ("Normal", "ChaosMonkeyEvictionRefused")
    assert event["message"].startswith(
        f"chaosmonkey policy kube-test (attack {record.id}) asked to evict the pod; "
        "the API refused, the pod is untouched: "
    )
    assert "disruption budget" in event["message"]


def test_events_forbidden_never_stop_an_attack(
    kubesim: KubeSim, kube_client: ApiClient, tmp_path: Path
) -> None:
    """Without the right to create events, kill and evict still happen and recover; one
    warning names the namespace and the missing rule, however many attacks follow."""
    shop = web_shop(kubesim, replicas=3)
    kubesim.add_token("quiet", forbidden=[("create", "events", shop)])
    quiet = connect(kubesim, tmp_path, "quiet")
    with capture_logs() as logs:
        records = [
            run_attack(quiet, tmp_path, {"namespaces": [shop]}, {"type": fault})
            for fault in ("kill", "evict")
        ]
    quiet.close()
    assert [r.outcome for r in records] == [Outcome.RECOVERED] * 2, [r.reason for r in records]
    staying = {
        pod["metadata"]["uid"]
        for pod in kubesim.pods(shop)
        if not pod["metadata"].get("deletionTimestamp")
    }
    assert not {r.target.id for r in records} & staying
    warnings = [
        entry
        for entry in logs
        if entry["event"] == "event_not_created" and entry["log_level"] == "warning"
    ]
    assert len(warnings) == 1
    assert warnings[0]["namespace"] == shop
    assert warnings[0]["reason"] == "ChaosMonkeyKill"
    assert warnings[0]["error"].endswith(
        f'the monkey needs a Role in namespace "{shop}" with apiGroups: [""], '
        'resources: ["events"], verbs: ["create"]'
    )
    assert events_on(kube_client, shop, records[0].target.name) == []


# --- refusals and failures -----------------------------------------------------------------


def test_a_missing_namespace_is_named(kube: Kube, backend: KubernetesBackend) -> None:
    """The API lists nothing for a namespace that does not exist; the backend says which."""
    missing = unique("nowhere")
    expected = f'namespace "{missing}" does not exist (targets.namespaces)'
    with pytest.raises(BackendError) as caught:
        backend.list_targets(Targets(namespaces=[missing]))
    assert str(caught.value) == expected
    with pytest.raises(BackendError, match=re.escape(expected)):
        backend.list_targets(Targets(namespaces=[missing], opt_in=True))


def test_forbidden_calls_name_the_missing_rule(kubesim: KubeSim, tmp_path: Path) -> None:
    """403 on listing pods, and on evicting, each with the API's message and the Role rule."""
    shop = web_shop(kubesim, replicas=2)
    kubesim.add_token("blind", forbidden=[("list", "pods", shop)])
    kubesim.add_token("gentle", forbidden=[("create", "pods/eviction", shop)])
    blind = connect(kubesim, tmp_path, "blind")
    with pytest.raises(PermissionDenied) as caught:
        blind.list_targets(Targets(namespaces=[shop]))
    message = str(caught.value)
    assert message.startswith("no permission: pods is forbidden: ")
    assert message.endswith(
        f'the monkey needs a Role in namespace "{shop}" with apiGroups: [""], '
        'resources: ["pods"], verbs: ["list"]'
    )
    gentle = connect(kubesim, tmp_path, "gentle")
    target = gentle.list_targets(Targets(namespaces=[shop]))[0]
    with pytest.raises(
        PermissionDenied, match=r'resources: \["pods/eviction"\], verbs: \["create"\]'
    ):
        EvictFault(type="evict").injection("a1", target, gentle).apply(gentle)
    assert len(kubesim.pods(shop)) == 2


def test_unknown_credentials_are_refused_at_connect(kubesim: KubeSim, tmp_path: Path) -> None:
    """401: the credentials are named as the problem."""
    with pytest.raises(PermissionDenied, match="does not accept our credentials"):
        connect(kubesim, tmp_path, "nobody")


def test_an_unreachable_api_is_named_with_its_address(tmp_path: Path) -> None:
    """Nothing listens at the kubeconfig's server: one line with the address and the reason."""
    url = f"http://127.0.0.1:{free_port()}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(_kubeconfig(url)))
    with pytest.raises(BackendUnavailable) as caught:
        KubernetesBackend.connect({"KUBECONFIG": str(kubeconfig)})
    assert str(caught.value).startswith(f"cannot reach the Kubernetes API at {url}: ")
    assert "Connection refused" in str(caught.value)


def _kubeconfig(url: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
