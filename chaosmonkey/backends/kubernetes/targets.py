"""Listing the targets of a policy: the live pods of its namespaces, grouped by workload.

Never listed: kube-system and the monkey's own namespace (its own pods with it). With no
namespaces in the scope, every namespace the monkey may list (cluster-wide permissions).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import structlog

from chaosmonkey.backends.kubernetes.api import KubeApi
from chaosmonkey.backends.kubernetes.errors import ByStatus, Rule
from chaosmonkey.backends.kubernetes.pods import (
    Pod,
    group_of,
    live,
    namespace_opted_in,
    needs_replicasets,
    replicaset_owners,
    target_from_pod,
)
from chaosmonkey.errors import BackendError, PermissionDenied, PolicyError
from chaosmonkey.model import Target
from chaosmonkey.policy.models import Targets

log = structlog.get_logger("chaosmonkey.backends.kubernetes")


class TargetLister:
    """The pods a scope allows, as targets, never from the `never` namespaces."""

    def __init__(self, api: KubeApi, never: Collection[str]) -> None:
        self._api = api
        self._never = frozenset(never)

    def list_targets(self, scope: Targets) -> list[Target]:
        """The scope's namespaces in order (each once), or everywhere when it names none."""
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
        """Every namespace the monkey may list, never-attacked ones left out."""
        api = self._api
        with api.calling("listing pods in every namespace", Rule("list", "pods"), bad_selector()):
            pods, _ = api.list_all(
                api.core.list_pod_for_all_namespaces, label_selector=scope.selector
            )
        pods = [p for p in pods if live(p) and p["metadata"]["namespace"] not in self._never]
        owners: dict[str, Any] = {}
        if needs_replicasets(pods):
            with api.calling("listing replicasets", Rule("list", "replicasets", "apps")):
                replicasets, _ = api.list_all(api.apps.list_replica_set_for_all_namespaces)
            owners = replicaset_owners(replicasets)
        return [target_from_pod(pod, group_of(pod, owners)) for pod in pods]

    def _pods(self, namespace: str, selector: str | None) -> list[Pod]:
        api = self._api
        by_status = {**bad_selector(), 404: lambda _: missing_namespace(namespace)}
        rule = Rule("list", "pods", "", namespace)
        with api.calling(f"listing pods in namespace {namespace}", rule, by_status):
            pods, _ = api.list_all(api.core.list_namespaced_pod, namespace, label_selector=selector)
        return [pod for pod in pods if live(pod)]

    def _replicaset_owners(self, namespace: str) -> dict[str, tuple[str, str] | None]:
        api = self._api
        rule = Rule("list", "replicasets", "apps", namespace)
        with api.calling(f"listing replicasets in namespace {namespace}", rule):
            replicasets, _ = api.list_all(api.apps.list_namespaced_replica_set, namespace)
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
        api = self._api
        with api.calling(
            f"reading namespace {namespace} {why}",
            Rule("get", "namespaces", "", namespace),
            {404: lambda _: missing_namespace(namespace)},
        ):
            return api.json(api.core.read_namespace, namespace)


def bad_selector() -> ByStatus:
    """A 400 on a list is the policy's label selector."""
    return {400: lambda message: PolicyError("targets.selector", message)}


def missing_namespace(namespace: str) -> BackendError:
    return BackendError(f'namespace "{namespace}" does not exist (targets.namespaces)')
