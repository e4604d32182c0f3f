"""`Kube`: the creation methods the simulator and a real cluster share.

The objects are built here, once, from the builders in objects.py; each cluster only says how a
pod template looks on it and how a built object is stored (`_create_*`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from tests.kubesim import objects
from tests.kubesim.rbac import ADMIN_TOKEN

Obj = dict[str, Any]


class Kube(ABC):
    """What the `kube` fixture yields, simulator or real cluster."""

    is_simulator: bool

    @abstractmethod
    def write_kubeconfig(
        self, path: str | Path, token: str = ADMIN_TOKEN, namespace: str = "default"
    ) -> Path:
        """A kubeconfig that reaches this cluster."""

    @abstractmethod
    def pods(self, namespace: str | None = None) -> list[Obj]:
        """The current pods as API JSON, in name order."""

    def create_namespace(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        return self._create_namespace(name, labels or {}, annotations or {})

    def create_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj:
        """A Deployment, its ReplicaSet `name-<hash>` and pods `name-<hash>-<5>`. On the
        simulator the first pods are stored Running and Ready and replacements go through Pending
        and readiness; a real cluster's are waited for until ready."""
        labels = labels or {"app": name}
        template = self._pod_template(name, labels, host_network)
        deployment = objects.deployment(namespace, name, replicas, labels, template)
        return self._create_workload("deployments", deployment, ready_after_s)

    def create_statefulset(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj:
        """A StatefulSet and its pods `name-0` ... `name-(replicas-1)`."""
        labels = labels or {"app": name}
        template = self._pod_template(name, labels, host_network)
        statefulset = objects.statefulset(namespace, name, replicas, labels, template)
        return self._create_workload("statefulsets", statefulset, ready_after_s)

    def create_daemonset(
        self,
        namespace: str,
        name: str,
        pods: int = 2,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj:
        """A DaemonSet with one pod on each of `pods` simulated nodes (on a real cluster, one
        per node, whatever `pods` says)."""
        labels = labels or {"app": name}
        template = self._pod_template(name, labels, host_network)
        daemonset = objects.daemonset(namespace, name, labels, template)
        return self._create_workload("daemonsets", daemonset, ready_after_s, nodes=pods)

    def create_pod(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None = None,
        phase: str = "Running",
        ready: bool = True,
        host_network: bool = False,
        age_s: float = 0.0,
    ) -> Obj:
        """A bare pod (no owner) in the given state: the simulator holds it there; a real
        cluster waits for it to be Ready, and skips the test for any other state."""
        template = self._pod_template(name, labels or {}, host_network)
        return self._create_pod(namespace, name, template, phase, ready, age_s)

    def create_pdb(
        self,
        namespace: str,
        name: str,
        match_labels: dict[str, str],
        min_available: int | str | None = None,
        max_unavailable: int | str | None = None,
    ) -> Obj:
        """A PodDisruptionBudget (policy/v1) over the pods with `match_labels`."""
        budget = objects.pdb(namespace, name, match_labels, min_available, max_unavailable)
        return self._create_pdb(budget)

    # What each cluster does its own way --------------------------------------------------------

    @abstractmethod
    def _pod_template(self, name: str, labels: dict[str, str], host_network: bool) -> Obj: ...

    @abstractmethod
    def _create_namespace(
        self, name: str, labels: dict[str, str], annotations: dict[str, str]
    ) -> Obj: ...

    @abstractmethod
    def _create_workload(
        self, resource: str, workload: Obj, ready_after_s: float | None, nodes: int = 0
    ) -> Obj: ...

    @abstractmethod
    def _create_pod(
        self, namespace: str, name: str, template: Obj, phase: str, ready: bool, age_s: float
    ) -> Obj: ...

    @abstractmethod
    def _create_pdb(self, budget: Obj) -> Obj: ...
