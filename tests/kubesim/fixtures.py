"""The `kube` fixture: the simulator by default, the cluster KUBECONFIG names when it is set.

Both offer the same creation methods (`create_namespace`, `create_deployment`, ...), `pods` and
`write_kubeconfig`. On a real cluster, objects are made through the client from an image every
node has (CHAOSMONKEY_KUBE_IMAGE, default the pause image), workloads are waited for until ready,
and the namespaces made are deleted at the end. `kubesim` is the simulator alone (skipped on a real
cluster); `real_kube` the real cluster alone (skipped here with "KUBECONFIG is not set").
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.kubesim import objects
from tests.kubesim.rbac import ADMIN_TOKEN
from tests.kubesim.sim import KubeSim

Obj = dict[str, Any]
REAL_IMAGE = os.environ.get("CHAOSMONKEY_KUBE_IMAGE", "registry.k8s.io/pause:3.9")
READY_TIMEOUT_S = 180.0
NO_KUBECONFIG = "KUBECONFIG is not set"


class Kube(Protocol):
    """What the `kube` fixture yields, simulator or real cluster."""

    is_simulator: bool

    def write_kubeconfig(
        self, path: str | Path, token: str = ..., namespace: str = ...
    ) -> Path: ...
    def create_namespace(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj: ...
    def create_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj: ...
    def create_statefulset(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj: ...
    def create_daemonset(
        self,
        namespace: str,
        name: str,
        pods: int = 2,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj: ...
    def create_pod(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None = None,
        phase: str = "Running",
        ready: bool = True,
        host_network: bool = False,
        age_s: float = 0.0,
    ) -> Obj: ...
    def create_pdb(
        self,
        namespace: str,
        name: str,
        match_labels: dict[str, str],
        min_available: int | str | None = None,
        max_unavailable: int | str | None = None,
    ) -> Obj: ...
    def pods(self, namespace: str | None = None) -> list[Obj]: ...


class RealCluster:
    """The cluster KUBECONFIG names, with the simulator's creation methods."""

    is_simulator = False

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.api_client = config.new_client_from_config(kubeconfig)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.policy = client.PolicyV1Api(self.api_client)
        self._namespaces: list[str] = []

    def close(self) -> None:
        """Deletes the namespaces made, with everything in them."""
        for name in self._namespaces:
            try:
                self.core.delete_namespace(name, grace_period_seconds=0)
            except ApiException as error:
                if error.status != 404:
                    raise
        self.api_client.close()

    def write_kubeconfig(
        self, path: str | Path, token: str = ADMIN_TOKEN, namespace: str = "default"
    ) -> Path:
        """A copy of KUBECONFIG: a real cluster's own credentials stand for every token."""
        target = Path(path)
        shutil.copyfile(self.kubeconfig, target)
        return target

    def create_namespace(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        body = {
            "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}
        }
        created = self._raw(self.core.create_namespace(body, _preload_content=False))
        self._namespaces.append(name)
        return created

    def create_deployment(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj:
        labels = labels or {"app": name}
        body = objects.deployment(
            namespace, name, replicas, labels, _template(name, labels, host_network)
        )
        del body["status"]
        self._raw(self.apps.create_namespaced_deployment(namespace, body, _preload_content=False))
        return self._ready(
            "deployments",
            namespace,
            name,
            lambda status: status.get("readyReplicas", 0) == replicas,
        )

    def create_statefulset(
        self,
        namespace: str,
        name: str,
        replicas: int = 1,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj:
        labels = labels or {"app": name}
        body = objects.statefulset(
            namespace, name, replicas, labels, _template(name, labels, host_network)
        )
        del body["status"]
        self._raw(self.apps.create_namespaced_stateful_set(namespace, body, _preload_content=False))
        return self._ready(
            "statefulsets",
            namespace,
            name,
            lambda status: status.get("readyReplicas", 0) == replicas,
        )

    def create_daemonset(
        self,
        namespace: str,
        name: str,
        pods: int = 2,
        labels: dict[str, str] | None = None,
        ready_after_s: float | None = None,
        host_network: bool = False,
    ) -> Obj:
        """One pod per node of the cluster, whatever `pods` says."""
        labels = labels or {"app": name}
        body = objects.daemonset(namespace, name, labels, _template(name, labels, host_network))
        del body["status"]
        self._raw(self.apps.create_namespaced_daemon_set(namespace, body, _preload_content=False))

        def ready(status: Obj) -> bool:
            desired = status.get("desiredNumberScheduled", 0)
            return bool(desired) and status.get("numberReady", 0) == desired

        return self._ready("daemonsets", namespace, name, ready)

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
        """A bare pod, waited for until Ready; a state a real cluster cannot be told to hold
        (another phase, not ready, an age) skips the test."""
        if phase != "Running" or not ready or age_s:
            pytest.skip("a real cluster cannot hold a pod in a given phase, readiness or age")
        template = _template(name, labels or {}, host_network)
        body = {"metadata": {"name": name, **template["metadata"]}, "spec": template["spec"]}
        self._raw(self.core.create_namespaced_pod(namespace, body, _preload_content=False))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            pod = self._raw(self.core.read_namespaced_pod(name, namespace, _preload_content=False))
            conditions = pod.get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return pod
            if time.monotonic() > deadline:
                pytest.fail(f"pod {namespace}/{name} not Ready after {READY_TIMEOUT_S} s")
            time.sleep(0.5)

    def create_pdb(
        self,
        namespace: str,
        name: str,
        match_labels: dict[str, str],
        min_available: int | str | None = None,
        max_unavailable: int | str | None = None,
    ) -> Obj:
        body = objects.pdb(namespace, name, match_labels, min_available, max_unavailable)
        response = self.policy.create_namespaced_pod_disruption_budget(
            namespace, body, _preload_content=False
        )
        return self._raw(response)

    def pods(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            listed = self.core.list_pod_for_all_namespaces(_preload_content=False)
        else:
            listed = self.core.list_namespaced_pod(namespace, _preload_content=False)
        items: list[Obj] = self._raw(listed)["items"]
        return sorted(items, key=lambda pod: pod["metadata"]["name"])

    def _ready(self, resource: str, namespace: str, name: str, done: Any) -> Obj:
        read = {
            "deployments": self.apps.read_namespaced_deployment,
            "statefulsets": self.apps.read_namespaced_stateful_set,
            "daemonsets": self.apps.read_namespaced_daemon_set,
        }[resource]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            workload = self._raw(read(name, namespace, _preload_content=False))
            if done(workload.get("status", {})):
                return workload
            if time.monotonic() > deadline:
                pytest.fail(f"{resource} {namespace}/{name} not ready after {READY_TIMEOUT_S} s")
            time.sleep(0.5)

    @staticmethod
    def _raw(response: Any) -> Obj:
        document: Obj = json.loads(response.data)
        return document


def _template(name: str, labels: dict[str, str], host_network: bool) -> Obj:
    template = objects.pod_template(name, labels, host_network)
    container = template["spec"]["containers"][0]
    container["image"] = REAL_IMAGE
    del container["ports"]
    return template


@pytest.fixture
def kube() -> Iterator[Kube]:
    """A cluster to test against: a fresh simulator, or the one KUBECONFIG names."""
    kubeconfig = os.environ.get("KUBECONFIG")
    if kubeconfig:
        cluster = RealCluster(kubeconfig)
        try:
            yield cluster
        finally:
            cluster.close()
        return
    with KubeSim() as sim:
        yield sim


@pytest.fixture
def kubesim(kube: Kube) -> KubeSim:
    """The simulator itself, for what only it can do (tokens, timing, failures on demand)."""
    if not isinstance(kube, KubeSim):
        pytest.skip("simulator only: a real cluster's tokens and timing cannot be set by a test")
    return kube


@pytest.fixture
def real_kube(kube: Kube) -> RealCluster:
    """The real cluster alone."""
    if not isinstance(kube, RealCluster):
        pytest.skip(NO_KUBECONFIG)
    return kube


@pytest.fixture
def kube_client(kube: Kube, tmp_path: Path) -> Iterator[client.ApiClient]:
    """A `kubernetes` ApiClient for `kube`, through a kubeconfig file as users have it."""
    api_client = config.new_client_from_config(str(kube.write_kubeconfig(tmp_path / "kubeconfig")))
    yield api_client
    api_client.close()
