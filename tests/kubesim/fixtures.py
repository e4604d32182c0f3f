"""The `kube` fixture: the simulator by default, the cluster KUBECONFIG names when it is set.

Both offer the same creation methods (`create_namespace`, `create_deployment`, ...), `pods` and
`write_kubeconfig` (the `Kube` base class, cluster.py). On a real cluster, objects are made through
the client from an image every node has (CHAOSMONKEY_KUBE_IMAGE, default the pause image),
workloads are waited for until ready, and the namespaces made are deleted at the end. `kubesim` is
the simulator alone (skipped on a real cluster); `real_kube` the real cluster alone (skipped here
with "KUBECONFIG is not set").
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.kubesim import objects
from tests.kubesim.cluster import Kube
from tests.kubesim.rbac import ADMIN_TOKEN
from tests.kubesim.sim import KubeSim
from tests.waiting import wait_until

Obj = dict[str, Any]
REAL_IMAGE = os.environ.get("CHAOSMONKEY_KUBE_IMAGE", "registry.k8s.io/pause:3.9")
READY_TIMEOUT_S = 180.0
NO_KUBECONFIG = "KUBECONFIG is not set"


class RealCluster(Kube):
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

    def pods(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            listed = self.core.list_pod_for_all_namespaces(_preload_content=False)
        else:
            listed = self.core.list_namespaced_pod(namespace, _preload_content=False)
        items: list[Obj] = _raw(listed)["items"]
        return sorted(items, key=lambda pod: pod["metadata"]["name"])

    # How objects are made here -----------------------------------------------------------------

    def _pod_template(self, name: str, labels: dict[str, str], host_network: bool) -> Obj:
        """The simulator's template, with an image every node has and no ports."""
        template = objects.pod_template(name, labels, host_network)
        container = template["spec"]["containers"][0]
        container["image"] = REAL_IMAGE
        del container["ports"]
        return template

    def _create_namespace(
        self, name: str, labels: dict[str, str], annotations: dict[str, str]
    ) -> Obj:
        body = {"metadata": {"name": name, "labels": labels, "annotations": annotations}}
        created = _raw(self.core.create_namespace(body, _preload_content=False))
        self._namespaces.append(name)
        return created

    def _create_workload(
        self, resource: str, workload: Obj, ready_after_s: float | None, nodes: int = 0
    ) -> Obj:
        """Creates the workload (its status left to the cluster) and waits until it is ready."""
        calls: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
            "deployments": (
                self.apps.create_namespaced_deployment,
                self.apps.read_namespaced_deployment,
            ),
            "statefulsets": (
                self.apps.create_namespaced_stateful_set,
                self.apps.read_namespaced_stateful_set,
            ),
            "daemonsets": (
                self.apps.create_namespaced_daemon_set,
                self.apps.read_namespaced_daemon_set,
            ),
        }
        create, read = calls[resource]
        namespace, name = workload["metadata"]["namespace"], workload["metadata"]["name"]
        del workload["status"]
        _raw(create(namespace, workload, _preload_content=False))
        return _read_until(
            lambda: _raw(read(name, namespace, _preload_content=False)),
            lambda found: _workload_ready(resource, found),
            f"{resource} {namespace}/{name}",
        )

    def _create_pod(
        self, namespace: str, name: str, template: Obj, phase: str, ready: bool, age_s: float
    ) -> Obj:
        if phase != "Running" or not ready or age_s:
            pytest.skip("a real cluster cannot hold a pod in a given phase, readiness or age")
        body = {"metadata": {"name": name, **template["metadata"]}, "spec": template["spec"]}
        _raw(self.core.create_namespaced_pod(namespace, body, _preload_content=False))
        return _read_until(
            lambda: _raw(self.core.read_namespaced_pod(name, namespace, _preload_content=False)),
            _pod_ready,
            f"pod {namespace}/{name}",
        )

    def _create_pdb(self, budget: Obj) -> Obj:
        namespace = budget["metadata"]["namespace"]
        response = self.policy.create_namespaced_pod_disruption_budget(
            namespace, budget, _preload_content=False
        )
        return _raw(response)


def _raw(response: Any) -> Obj:
    document: Obj = json.loads(response.data)
    return document


def _read_until(read: Callable[[], Obj], done: Callable[[Obj], bool], what: str) -> Obj:
    """Reads the object every half second until `done` holds for it; fails after the timeout."""
    last: list[Obj] = []

    def ready() -> bool:
        last[:] = [read()]
        return done(last[0])

    wait_until(ready, f"{what} to be ready", READY_TIMEOUT_S, interval_s=0.5)
    return last[0]


def _workload_ready(resource: str, workload: Obj) -> bool:
    status = workload.get("status", {})
    if resource == "daemonsets":
        desired = status.get("desiredNumberScheduled", 0)
        return bool(desired) and status.get("numberReady", 0) == desired
    return bool(status.get("readyReplicas", 0) == workload["spec"]["replicas"])


def _pod_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


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
