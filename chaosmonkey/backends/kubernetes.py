"""The Kubernetes backend: the only module, with its `_kube_*` siblings, that imports `kubernetes`.

Targets are pods of the policy's namespaces (an allow-list: the monkey may hold only namespaced
Roles), grouped by the workload that owns them. Never listed: kube-system and the monkey's own
namespace, its own pods with it (a group lives in one namespace). hostNetwork pods are listed
(they count in their group) but excluded unless `targets.allowHostNetwork`; finished pods
(Succeeded, Failed) are no longer members.

Faults: `kill` deletes the pod with `gracePeriod` (0: at once); `evict` asks the Eviction API, so
PodDisruptionBudgets apply and a refused eviction changes nothing (FaultRefused). Both act only on
the very pod chosen (a uid precondition), and neither is reversible. Network faults go through the
node agent on the pod's node (`_kube_network`), and are reverted by their tag.

RBAC, in each target namespace: pods get, list, watch, delete; pods/eviction create; replicasets
get, list; deployments, statefulsets, daemonsets get; and get on that namespace itself (a Role's
rule on namespaces with resourceNames: [it]), to read the chaosmonkey.io/enabled annotation
(targets.optIn, required then) and to tell a missing namespace from an empty one (optional).
For network faults, pods list in the node agents' namespace.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
import urllib3
from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api, VersionApi

from chaosmonkey.agent.client import AgentClient
from chaosmonkey.backends import _kube_config
from chaosmonkey.backends._kube_errors import CLIENT_ERRORS, ByStatus, Rule, translate
from chaosmonkey.backends._kube_faults import (
    DELETE,
    EVICT,
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
    live,
    namespace_opted_in,
    needs_replicasets,
    replicaset_owners,
    selector_string,
    target_from_pod,
)
from chaosmonkey.backends._kube_watch import GroupScope, KubeRecoveryWatch
from chaosmonkey.errors import BackendError, PermissionDenied, PolicyError, TargetGone
from chaosmonkey.model import Injection, RevertResult, Target
from chaosmonkey.policy.models import NEVER_ATTACKED_NAMESPACES, Fault, Targets
from chaosmonkey.policy.network import NetworkFaultBase

log = structlog.get_logger("chaosmonkey.backends.kubernetes")

PAGE = 500  # pods per list request
TIMEOUT_S = (5.0, 60.0)  # connect, read
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
        self._client = client
        self._core = CoreV1Api(client)
        self._apps = AppsV1Api(client)
        self._url = str(client.configuration.host)
        self._agent_namespace = agent_namespace or identity.namespace
        self._agent_token = agent_token
        own = {identity.namespace} if identity.namespace else set()
        self._never = set(NEVER_ATTACKED_NAMESPACES) | own

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
        with backend._calling("asking the API server's version"):
            backend._json(VersionApi(backend._client).get_code)
        return backend

    @contextmanager
    def _calling(
        self, what: str, rule: Rule | None = None, by_status: ByStatus | None = None
    ) -> Iterator[None]:
        try:
            yield
        except CLIENT_ERRORS as error:
            raise translate(
                error, what=what, url=self._url, rule=rule, by_status=by_status
            ) from error

    @staticmethod
    def _raw(call: Callable[..., Any], *args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        """The HTTP response of a call, unread: the client's models are too slow for thousands
        of pods, and a watch is read as it comes."""
        kwargs.setdefault("_request_timeout", TIMEOUT_S)
        response: urllib3.BaseHTTPResponse = call(*args, _preload_content=False, **kwargs)
        return response

    def _json(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One call's JSON answer, as a dict."""
        response = self._raw(call, *args, **kwargs)
        try:
            data: dict[str, Any] = json.loads(response.data)
        finally:
            response.release_conn()
        return data

    def _list(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[list[Pod], str]:
        """Every item of a list, page by page, and the list's resourceVersion."""
        items: list[Pod] = []
        token: str | None = None
        while True:
            page = self._json(call, *args, limit=PAGE, _continue=token, **kwargs)
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    # --- listing ---

    def list_targets(self, scope: Targets | None = None) -> list[Target]:
        scope = scope or Targets()
        if not scope.namespaces:
            return self._everywhere(scope)
        targets: list[Target] = []
        for namespace in dict.fromkeys(scope.namespaces):
            if namespace in self._never:
                log.warning("namespace_never_attacked", namespace=namespace)
                continue
            targets.extend(self._namespace_targets(namespace, scope))
        return targets

    def _namespace_targets(self, namespace: str, scope: Targets) -> list[Target]:
        opted_in = self._opted_in(namespace) if scope.opt_in else False
        pods = self._pods(namespace, scope.selector)
        if not pods and not scope.opt_in:
            self._check_exists(namespace)
        owners = self._replicaset_owners(namespace) if needs_replicasets(pods) else {}
        return [
            target_from_pod(
                pod,
                group_of(pod, owners),
                opted_in=opted_in,
                allow_host_network=scope.allow_host_network,
            )
            for pod in pods
        ]

    def _everywhere(self, scope: Targets) -> list[Target]:
        """Every namespace the monkey may list (cluster-wide permissions), never-attacked ones
        left out; without a scope only."""
        rule = Rule("list", "pods")
        with self._calling("listing pods in every namespace", rule, self._bad_selector()):
            pods, _ = self._list(
                self._core.list_pod_for_all_namespaces, label_selector=scope.selector
            )
        pods = [p for p in pods if live(p) and p["metadata"]["namespace"] not in self._never]
        owners: dict[str, Any] = {}
        if needs_replicasets(pods):
            with self._calling("listing replicasets", Rule("list", "replicasets", "apps")):
                replicasets, _ = self._list(self._apps.list_replica_set_for_all_namespaces)
            owners = replicaset_owners(replicasets)
        return [target_from_pod(pod, group_of(pod, owners)) for pod in pods]

    def _pods(self, namespace: str, selector: str | None) -> list[Pod]:
        by_status = {**self._bad_selector(), 404: lambda _: _missing(namespace)}
        with self._calling(
            f"listing pods in namespace {namespace}", Rule("list", "pods", "", namespace), by_status
        ):
            pods, _ = self._list(self._core.list_namespaced_pod, namespace, label_selector=selector)
        return [pod for pod in pods if live(pod)]

    @staticmethod
    def _bad_selector() -> ByStatus:
        return {400: lambda message: PolicyError("targets.selector", message)}

    def _replicaset_owners(self, namespace: str) -> dict[str, tuple[str, str] | None]:
        rule = Rule("list", "replicasets", "apps", namespace)
        with self._calling(f"listing replicasets in namespace {namespace}", rule):
            replicasets, _ = self._list(self._apps.list_namespaced_replica_set, namespace)
        return replicaset_owners(replicasets)

    def _opted_in(self, namespace: str) -> bool:
        """Whether the namespace is annotated chaosmonkey.io/enabled=true (targets.optIn)."""
        return namespace_opted_in(self._namespace(namespace, "for targets.optIn"))

    def _check_exists(self, namespace: str) -> None:
        """An empty listing may be a missing namespace (the API does not say so); checked when
        the monkey may read namespaces."""
        try:
            self._namespace(namespace, "to tell whether it exists")
        except PermissionDenied as error:
            log.debug("namespace_not_checked", namespace=namespace, reason=str(error))

    def _namespace(self, namespace: str, why: str) -> dict[str, Any]:
        with self._calling(
            f"reading namespace {namespace} {why}",
            Rule("get", "namespaces", "", namespace),
            {404: lambda _: _missing(namespace)},
        ):
            return self._json(self._core.read_namespace, namespace)

    # --- faults ---

    def plan(self, attack_id: str, target: Target, fault: Fault) -> Injection:
        if isinstance(fault, NetworkFaultBase):
            self._agent_client("")  # no token: refused before anything is recorded
            return plan_network(attack_id, target, fault, self._pod(target), self._agents())
        return plan_injection(attack_id, target, fault)

    def apply(self, injection: Injection) -> float:
        if injection.action == NETWORK_ACTION:
            return apply_network(injection, self._agent_client)
        target = injection.target
        namespace, name = str(target.namespace), target.name
        options = delete_options(target, injection.params.get("grace_period_s"))
        replaced: ByStatus = {404: lambda _: gone(target), 409: lambda _: gone(target)}
        if injection.action == DELETE:
            rule = Rule("delete", "pods", "", namespace)
            with self._calling(f"delete pod {namespace}/{name}", rule, replaced):
                started = time.time()
                self._json(self._core.delete_namespaced_pod, name, namespace, body=options)
            return started
        if injection.action == EVICT:
            rule = Rule("create", "pods/eviction", "", namespace)
            budget: ByStatus = {**replaced, 429: lambda message: refused(target, message)}
            with self._calling(f"evict pod {namespace}/{name}", rule, budget):
                started = time.time()
                body = eviction(target, options)
                self._json(self._core.create_namespaced_pod_eviction, name, namespace, body)
            return started
        raise BackendError(f"unknown kubernetes action {injection.action!r}")

    def revert(self, injection: Injection) -> RevertResult:
        if injection.revert_action is None:
            return RevertResult.NOTHING_TO_REVERT
        if injection.revert_action == NETWORK_REVERT:
            return revert_network(
                injection,
                self._agent_client,
                self._agent_on,
                lambda: self._pod_gone(injection.target),
            )
        raise BackendError(f"unknown kubernetes revert action {injection.revert_action!r}")

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
        rule = Rule("list", "pods", "", namespace)
        with self._calling(f"listing the node agents in namespace {namespace}", rule):
            pods, _ = self._list(
                self._core.list_namespaced_pod, namespace, label_selector=AGENT_SELECTOR
            )
        return pods

    def _agent_on(self, node: str) -> str | None:
        try:
            return agent_address(self._agents(), node)
        except BackendError:
            return None

    def _pod(self, target: Target) -> Pod:
        """The target pod as it is now; TargetGone when it was deleted or replaced."""
        namespace = str(target.namespace)
        rule, missing = Rule("get", "pods", "", namespace), {404: lambda _: gone(target)}
        with self._calling(f"reading pod {namespace}/{target.name}", rule, missing):
            pod = self._json(self._core.read_namespaced_pod, target.name, namespace)
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
        ref = GroupRef.parse(target.group)
        owners = LazyOwners(lambda name: self.replicaset_owner(ref.namespace, name))

        def list_pods(scope: GroupScope) -> tuple[list[Pod], str]:
            with self._calling(
                f"listing the pods of {ref}", Rule("list", "pods", "", ref.namespace)
            ):
                return self._list(
                    self._core.list_namespaced_pod,
                    scope.namespace,
                    label_selector=scope.label_selector,
                    field_selector=scope.field_selector,
                )

        def open_stream(scope: GroupScope, version: str) -> urllib3.BaseHTTPResponse:
            return self._raw(
                self._core.list_namespaced_pod,
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
            lambda what: self._calling(what, Rule("watch", "pods", "", ref.namespace)),
        )

    def _group_scope(self, ref: GroupRef) -> GroupScope:
        """How to find the group's pods, and how many its workload wants."""
        if ref.kind == "pod":
            return GroupScope(ref.namespace, field_selector=f"metadata.name={ref.name}", desired=1)
        if ref.kind not in WORKLOADS:
            return GroupScope(ref.namespace)
        read = getattr(self._apps, f"read_namespaced_{WORKLOADS[ref.kind]}")
        rule = Rule("get", f"{ref.kind}s", "apps", ref.namespace)
        with self._calling(f"reading {ref}", rule, {404: lambda _: _workload_gone(ref)}):
            workload = self._json(read, ref.name, ref.namespace)
        selector = selector_string(workload.get("spec", {}).get("selector") or {})
        return GroupScope(
            ref.namespace, selector or None, None, desired_replicas(ref.kind, workload)
        )

    def replicaset_owner(self, namespace: str, name: str) -> tuple[str, str] | None:
        """The controller of one ReplicaSet (a pod's that the watch had not seen before)."""
        rule = Rule("get", "replicasets", "apps", namespace)
        with self._calling(f"reading replicaset {namespace}/{name}", rule, {404: TargetGone}):
            replicaset = self._json(self._apps.read_namespaced_replica_set, name, namespace)
        return replicaset_owners([replicaset]).get(name)

    def close(self) -> None:
        close: Callable[[], None] = self._client.close  # not annotated in the client
        close()


def _missing(namespace: str) -> BackendError:
    return BackendError(f'namespace "{namespace}" does not exist (targets.namespaces)')


def _workload_gone(ref: GroupRef) -> TargetGone:
    return TargetGone(f"{ref.kind} {ref.namespace}/{ref.name} is gone")
