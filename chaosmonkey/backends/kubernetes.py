"""The Kubernetes backend: the only module, with its `_kube_*` siblings, that imports `kubernetes`.

Targets are pods of the policy's namespaces (an allow-list: the monkey may hold only namespaced
Roles), grouped by the workload that owns them. Never listed: kube-system and the monkey's own
namespace, its own pods with it (a group lives in one namespace). hostNetwork pods are listed
(they count in their group) but excluded unless `targets.allowHostNetwork`; finished pods
(Succeeded, Failed) are no longer members.

Faults: `kill` deletes the pod with `gracePeriod` (0: at once); `evict` asks the Eviction API, so
PodDisruptionBudgets apply and a refused eviction changes nothing (FaultRefused). Both act only on
the very pod chosen (a uid precondition), and neither is reversible. Network faults go through the
node agent on the pod's node (`_kube_network`), and are reverted by their tag. Each change made
to a pod (and a refused eviction) is told on the pod as a Kubernetes Event (`_kube_events`).

RBAC, in each target namespace: pods get, list, watch, delete; pods/eviction create; replicasets
get, list; deployments, statefulsets, daemonsets get; and get on that namespace itself (a Role's
rule on namespaces with resourceNames: [it]), to read the chaosmonkey.io/enabled annotation
(targets.optIn, required then) and to tell a missing namespace from an empty one (optional);
events create (optional: without it, attacks go on, unannounced). For network faults, pods list in
the node agents' namespace.

Module map: `_kube_api` the calls and their errors, `_kube_targets` the listing, `_kube_pods` pods
as targets and groups, `_kube_faults` what kill and evict ask, `_kube_watch` the recovery watch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes.client import ApiClient, VersionApi

from chaosmonkey.agent.client import AgentClient
from chaosmonkey.backends import _kube_config, _kube_events
from chaosmonkey.backends._kube_api import TIMEOUT_S, KubeApi
from chaosmonkey.backends._kube_errors import ByStatus, Rule
from chaosmonkey.backends._kube_events import EventRecorder
from chaosmonkey.backends._kube_faults import (
    DELETE,
    EVICT,
    EvictionRefused,
    delete_options,
    eviction,
    gone,
    plan_injection,
    refused,
)
from chaosmonkey.backends._kube_lease import KubeLease as KubeLease
from chaosmonkey.backends._kube_network import ACTION as NETWORK_ACTION
from chaosmonkey.backends._kube_network import (
    AGENT_SELECTOR,
    NAMESPACE_ENV,
    agent_address,
    agent_token,
    apply_network,
    plan_network,
    revert_network,
)
from chaosmonkey.backends._kube_network import REVERT_ACTION as NETWORK_REVERT
from chaosmonkey.backends._kube_pods import (
    BACKEND,
    GroupRef,
    LazyOwners,
    Pod,
    desired_replicas,
    group_of,
    replicaset_owners,
    selector_string,
)
from chaosmonkey.backends._kube_targets import TargetLister
from chaosmonkey.backends._kube_watch import GroupScope, KubeRecoveryWatch
from chaosmonkey.errors import BackendError, TargetGone
from chaosmonkey.model import Injection, RevertResult, Target
from chaosmonkey.policy.models import NEVER_ATTACKED_NAMESPACES, Fault, Targets
from chaosmonkey.policy.network import NetworkFaultBase

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
        identity: _kube_config.Identity,
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
        choice = _kube_config.choose(
            env,
            _kube_config.SERVICE_ACCOUNT_DIR / "token",
            _kube_config.DEFAULT_KUBECONFIG.expanduser(),
        )
        backend = cls(
            ApiClient(_kube_config.load(choice)),
            _kube_config.identity(env, choice),
            agent_token(env),
            env.get(NAMESPACE_ENV),
        )
        api = backend._api
        with api.calling("asking the API server's version"):
            api.json(VersionApi(api.client).get_code)
        return backend

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        return self._targets.list_targets(scope or Targets())

    # --- faults ---

    def plan(self, attack_id: str, target: Target, fault: Fault) -> Injection:
        if isinstance(fault, NetworkFaultBase):
            self._agent_client("")  # no token: refused before anything is recorded
            return plan_network(attack_id, target, fault, self._pod(target), self._agents())
        return plan_injection(attack_id, target, fault)

    def apply(self, injection: Injection) -> float:
        """Applies the fault, then records an Event on the pod (never failing the attack)."""
        if injection.action == NETWORK_ACTION:
            started = apply_network(injection, self._agent_client)
            event = _kube_events.network_fault(injection.params)
        elif injection.action in (DELETE, EVICT):
            started, event = self._apply_pod_fault(injection)
        else:
            raise BackendError(f"unknown kubernetes action {injection.action!r}")
        self._events.record(injection.target, injection.attack_id, event)
        return started

    def _apply_pod_fault(self, injection: Injection) -> tuple[float, _kube_events.AttackEvent]:
        """Deletes or evicts the very pod planned; when and what, for its event."""
        target, api = injection.target, self._api
        namespace, name = str(target.namespace), target.name
        grace_period_s = injection.params.get("grace_period_s")
        options = delete_options(target, grace_period_s)
        replaced: ByStatus = {404: lambda _: gone(target), 409: lambda _: gone(target)}
        if injection.action == DELETE:
            rule = Rule("delete", "pods", "", namespace)
            with api.calling(f"delete pod {namespace}/{name}", rule, replaced):
                started = time.time()
                api.json(api.core.delete_namespaced_pod, name, namespace, body=options)
            return started, _kube_events.killed(int(grace_period_s or 0))
        rule = Rule("create", "pods/eviction", "", namespace)
        budget: ByStatus = {**replaced, 429: lambda message: refused(target, message)}
        try:
            with api.calling(f"evict pod {namespace}/{name}", rule, budget):
                started = time.time()
                body = eviction(target, options)
                api.json(api.core.create_namespaced_pod_eviction, name, namespace, body)
        except EvictionRefused as refusal:
            event = _kube_events.eviction_refused(refusal.api_message)
            self._events.record(target, injection.attack_id, event)
            raise
        return started, _kube_events.evicted(grace_period_s)

    def revert(self, injection: Injection) -> RevertResult:
        if injection.revert_action is None:
            return RevertResult.NOTHING_TO_REVERT
        if injection.revert_action != NETWORK_REVERT:
            raise BackendError(f"unknown kubernetes revert action {injection.revert_action!r}")
        result = revert_network(
            injection,
            self._agent_client,
            self._agent_on,
            lambda: self._pod_gone(injection.target),
        )
        if result is RevertResult.REVERTED:
            event = _kube_events.network_reverted(injection.params)
            self._events.record(injection.target, injection.attack_id, event)
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


def _workload_gone(ref: GroupRef) -> TargetGone:
    return TargetGone(f"{ref.kind} {ref.namespace}/{ref.name} is gone")
