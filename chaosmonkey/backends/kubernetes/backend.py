"""Pods of the namespaces a policy allows, through the Kubernetes API.

Targets are pods of the policy's namespaces (an allow-list: the monkey may hold only namespaced
Roles), grouped by the workload that owns them. Never listed: kube-system and the monkey's own
namespace, its own pods with it (a group lives in one namespace). hostNetwork pods are listed
(they count in their group) but excluded unless `targets.allowHostNetwork`; finished pods
(Succeeded, Failed) are no longer members.

The backend offers faults the pod operations (`PodOps`): delete with a grace period (0: at once),
and evict through the Eviction API, so PodDisruptionBudgets apply and a refused eviction changes
nothing (FaultRefused). Both act only on the very pod chosen (a uid precondition). A pod's network
(`NetworkOps`) is reached through the node agent on the pod's node (`network`), and a network
fault is reverted by its tag. Each change made to a pod (and a refused eviction) is told on the
pod as a Kubernetes Event (`events`).

RBAC, in each target namespace: pods get, list, watch, delete; pods/eviction create; replicasets
get, list; deployments, statefulsets, daemonsets get; and get on that namespace itself (a Role's
rule on namespaces with resourceNames: [it]), to read the chaosmonkey.io/enabled annotation
(targets.optIn, required then) and to tell a missing namespace from an empty one (optional);
events create (optional: without it, attacks go on, unannounced). For network faults, pods list in
the node agents' namespace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes.client import ApiClient, VersionApi

from chaosmonkey.agent.client import AgentClient
from chaosmonkey.backends.kubernetes import config as kube_config
from chaosmonkey.backends.kubernetes import events, network
from chaosmonkey.backends.kubernetes.api import TIMEOUT_S, KubeApi
from chaosmonkey.backends.kubernetes.disrupt import (
    EvictionRefused,
    delete_options,
    eviction,
    gone,
    refused,
)
from chaosmonkey.backends.kubernetes.errors import ByStatus, Rule
from chaosmonkey.backends.kubernetes.events import EventRecorder
from chaosmonkey.backends.kubernetes.network import (
    AGENT_SELECTOR,
    NAMESPACE_ENV,
    agent_address,
    agent_token,
)
from chaosmonkey.backends.kubernetes.pods import (
    BACKEND,
    GroupRef,
    LazyOwners,
    Pod,
    desired_replicas,
    group_of,
    replicaset_owners,
    selector_string,
)
from chaosmonkey.backends.kubernetes.targets import TargetLister
from chaosmonkey.backends.kubernetes.watch import GroupScope, KubeRecoveryWatch
from chaosmonkey.errors import BackendError, TargetGone
from chaosmonkey.faults.network import NetworkPlan, Placement
from chaosmonkey.model import RevertResult, Target
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.policy.models import NEVER_ATTACKED_NAMESPACES, Targets

WATCH_TIMEOUT_S = 60  # the server ends each watch request after this; it is reopened
# a workload kind -> the name it has in the client's read_namespaced_* calls
WORKLOADS = {
    "deployment": "deployment",
    "statefulset": "stateful_set",
    "daemonset": "daemon_set",
    "replicaset": "replica_set",
}


class KubernetesBackend:
    """Pods in the namespaces a policy allows, through the Kubernetes API."""

    name = BACKEND

    def __init__(
        self,
        client: ApiClient,
        identity: kube_config.Identity,
        agent_token: str | None = None,
        agent_namespace: str | None = None,
    ) -> None:
        self._api = KubeApi(client)
        self._agent_namespace = agent_namespace or identity.namespace
        self._agent_token = agent_token
        own = {identity.namespace} if identity.namespace else set()
        self._targets = TargetLister(self._api, set(NEVER_ATTACKED_NAMESPACES) | own)
        self._events = EventRecorder(self._api)

    @classmethod
    def connect(cls, env: Mapping[str, str] | None = None) -> KubernetesBackend:
        """In-cluster or kubeconfig configuration, whichever the environment makes unambiguous;
        raises BackendError when the API does not answer."""
        env = os.environ if env is None else env
        choice = kube_config.choose(
            env,
            kube_config.SERVICE_ACCOUNT_DIR / "token",
            kube_config.DEFAULT_KUBECONFIG.expanduser(),
        )
        backend = cls(
            ApiClient(kube_config.load(choice)),
            kube_config.identity(env, choice),
            agent_token(env),
            env.get(NAMESPACE_ENV),
        )
        api = backend._api
        with api.calling("asking the API server's version"):
            api.json(VersionApi(api.client).get_code)
        return backend

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return self._targets.list_targets(scope or Targets())

    # --- pod operations (PodOps) ---

    def delete(self, target: Target, grace_period_s: int) -> float:
        """Deletes the very pod chosen, then tells it on the pod as an Event."""
        namespace, name, api = str(target.namespace), target.name, self._api
        options = delete_options(target, grace_period_s)
        rule = Rule("delete", "pods", "", namespace)
        with api.calling(f"delete pod {namespace}/{name}", rule, _replaced(target)):
            started = time.time()
            api.json(api.core.delete_namespaced_pod, name, namespace, body=options)
        self._events.record(target, events.killed(grace_period_s))
        return started

    def evict(self, target: Target, grace_period_s: int | None) -> float:
        """Evicts the very pod chosen; a disruption budget's refusal is told on the pod too."""
        namespace, name, api = str(target.namespace), target.name, self._api
        rule = Rule("create", "pods/eviction", "", namespace)
        budget: ByStatus = {**_replaced(target), 429: lambda message: refused(target, message)}
        try:
            with api.calling(f"evict pod {namespace}/{name}", rule, budget):
                started = time.time()
                body = eviction(target, delete_options(target, grace_period_s))
                api.json(api.core.create_namespaced_pod_eviction, name, namespace, body)
        except EvictionRefused as refusal:
            event = events.eviction_refused(refusal.api_message)
            self._events.record(target, event)
            raise
        self._events.record(target, events.evicted(grace_period_s))
        return started

    # --- a pod's network, through its node's agent (NetworkOps) ---

    def place(self, target: Target, allow_host_network: bool) -> Placement:
        self._agent_client("")  # no token: refused before anything is recorded
        return network.place(self._pod(target), target, self._agents(), allow_host_network)

    def resolve(self, destinations: list[str]) -> list[Destination]:
        return network.resolve(destinations)

    def hold(self, target: Target, plan: NetworkPlan) -> float:
        started = network.hold(target, plan, self._agent_client)
        node = plan.placement.node if plan.placement else "?"
        event = events.network_fault(plan.fault.type, plan.duration_s, node)
        self._events.record(target, event)
        return started

    def release(
        self, target: Target, tag: str, placement: Placement | None, fault: str
    ) -> RevertResult:
        result = network.release(
            target,
            tag,
            placement,
            self._agent_client,
            self._agent_on,
            lambda: self._pod_gone(target),
        )
        if result is RevertResult.REVERTED:
            self._events.record(target, events.network_reverted(fault))
        return result

    # --- the node agents, for network faults ---

    def _agent_client(self, address: str) -> AgentClient:
        if not self._agent_token:
            raise BackendError(
                "network faults on kubernetes need the node agents' token: set "
                "CHAOSMONKEY_AGENT_TOKEN or CHAOSMONKEY_AGENT_TOKEN_FILE"
            )
        return AgentClient(address, self._agent_token)

    def _agents(self) -> list[Pod]:
        """The agent pods, in their namespace."""
        namespace = self._agent_namespace
        if not namespace:
            raise BackendError(
                "network faults on kubernetes need the node agents' namespace: set "
                f"{NAMESPACE_ENV} (or POD_NAMESPACE, when they run in the monkey's)"
            )
        api, rule = self._api, Rule("list", "pods", "", namespace)
        with api.calling(f"listing the node agents in namespace {namespace}", rule):
            pods, _ = api.list_all(
                api.core.list_namespaced_pod, namespace, label_selector=AGENT_SELECTOR
            )
        return pods

    def _agent_on(self, node: str) -> str | None:
        try:
            return agent_address(self._agents(), node)
        except BackendError:
            return None

    def _pod(self, target: Target) -> Pod:
        """The target pod as it is now; TargetGone when it was deleted or replaced."""
        namespace, api = str(target.namespace), self._api
        rule, missing = Rule("get", "pods", "", namespace), {404: lambda _: gone(target)}
        with api.calling(f"reading pod {namespace}/{target.name}", rule, missing):
            pod = api.json(api.core.read_namespaced_pod, target.name, namespace)
        if pod.get("metadata", {}).get("uid") != target.id:
            raise gone(target)
        return pod

    def _pod_gone(self, target: Target) -> bool:
        try:
            self._pod(target)
        except TargetGone:
            return True
        return False

    # --- recovery ---

    def watch(self, target: Target) -> KubeRecoveryWatch:
        ref, api = GroupRef.parse(target.group), self._api
        owners = LazyOwners(lambda name: self.replicaset_owner(ref.namespace, name))

        def list_pods(scope: GroupScope) -> tuple[list[Pod], str]:
            with api.calling(f"listing the pods of {ref}", Rule("list", "pods", "", ref.namespace)):
                return api.list_all(
                    api.core.list_namespaced_pod,
                    scope.namespace,
                    label_selector=scope.label_selector,
                    field_selector=scope.field_selector,
                )

        def open_stream(scope: GroupScope, version: str) -> urllib3.BaseHTTPResponse:
            return api.raw(
                api.core.list_namespaced_pod,
                scope.namespace,
                label_selector=scope.label_selector,
                field_selector=scope.field_selector,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_TIMEOUT_S,
                watch=True,
                _request_timeout=(TIMEOUT_S[0], WATCH_TIMEOUT_S + TIMEOUT_S[1]),
            )

        return KubeRecoveryWatch(
            target,
            lambda: self._group_scope(ref),
            list_pods,
            open_stream,
            lambda pod: group_of(pod, owners) == ref,
            lambda what: api.calling(what, Rule("watch", "pods", "", ref.namespace)),
        )

    def _group_scope(self, ref: GroupRef) -> GroupScope:
        """How to find the group's pods, and how many its workload wants."""
        if ref.kind == "pod":
            return GroupScope(ref.namespace, field_selector=f"metadata.name={ref.name}", desired=1)
        if ref.kind not in WORKLOADS:
            return GroupScope(ref.namespace)
        api = self._api
        read = getattr(api.apps, f"read_namespaced_{WORKLOADS[ref.kind]}")
        rule = Rule("get", f"{ref.kind}s", "apps", ref.namespace)
        with api.calling(f"reading {ref}", rule, {404: lambda _: _workload_gone(ref)}):
            workload: dict[str, Any] = api.json(read, ref.name, ref.namespace)
        selector = selector_string(workload.get("spec", {}).get("selector") or {})
        return GroupScope(
            ref.namespace, selector or None, None, desired_replicas(ref.kind, workload)
        )

    def replicaset_owner(self, namespace: str, name: str) -> tuple[str, str] | None:
        """The controller of one ReplicaSet (a pod's that the watch had not seen before)."""
        api, rule = self._api, Rule("get", "replicasets", "apps", namespace)
        with api.calling(f"reading replicaset {namespace}/{name}", rule, {404: TargetGone}):
            replicaset = api.json(api.apps.read_namespaced_replica_set, name, namespace)
        return replicaset_owners([replicaset]).get(name)

    def close(self) -> None:
        self._api.close()


def _replaced(target: Target) -> ByStatus:
    """The pod is gone (404), or another pod of its name holds it (409, its uid precondition)."""
    return {404: lambda _: gone(target), 409: lambda _: gone(target)}


def _workload_gone(ref: GroupRef) -> TargetGone:
    return TargetGone(f"{ref.kind} {ref.namespace}/{ref.name} is gone")
