"""The workload controllers: ReplicaSet, Deployment, StatefulSet, DaemonSet, and the garbage
collector of what they own.

They react to the store's changes: a change to a pod marks its controller dirty, and dirty
workloads are synced together right after (in the same loop turn), so a burst of pod changes
costs one sync per workload. A sync creates missing pods, removes surplus ones, and writes the
status; an unchanged status is not written again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.kubesim import objects
from tests.kubesim.kubelet import Kubelet
from tests.kubesim.resources import WORKLOADS
from tests.kubesim.store import Store

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource, namespace, name)
_KINDS = {
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Deployment": "deployments",
}
_ORDER = {"replicasets": 0, "statefulsets": 0, "daemonsets": 0, "deployments": 1}


class Controllers:
    """Keeps each workload's pods and status in line with its spec."""

    def __init__(self, store: Store, kubelet: Kubelet, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.kubelet = kubelet
        self.loop = loop
        self._owned: dict[str, dict[str, Obj]] = {}  # controller uid -> {pod name: pod}
        self._ready_after: dict[str, float | None] = {}  # workload uid -> its pods' delay
        self._start_ready: set[str] = set()  # workload uids whose first pods start Ready
        self._daemon_nodes: dict[str, int] = {}  # DaemonSet uid -> nodes it runs on
        self._dirty: set[Key] = set()
        self._flush_pending = False
        self._writing = False
        store.add_listener(self._on_change)

    def adopt(
        self,
        resource: str,
        workload: Obj,
        ready_after_s: float | None = None,
        start_ready: bool = False,
        nodes: int = objects.NODE_COUNT,
    ) -> None:
        """Takes a stored workload under control; with `start_ready` its first pods are stored
        already Running and Ready (a workload that has been up for a while)."""
        uid = workload["metadata"]["uid"]
        self._ready_after[uid] = ready_after_s
        if start_ready:
            self._start_ready.add(uid)
        if resource == "daemonsets":
            self._daemon_nodes[uid] = nodes
        self._mark(resource, workload)

    def sync_now(self) -> None:
        """Runs every pending sync at once."""
        self._flush()

    def _mark(self, resource: str, obj: Obj) -> None:
        metadata = obj["metadata"]
        self._dirty.add((resource, metadata["namespace"], metadata["name"]))
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def _mark_controller(self, obj: Obj) -> None:
        owner = objects.controller_of(obj)
        if owner is not None and owner.get("kind") in _KINDS:
            namespace = obj["metadata"]["namespace"]
            self._dirty.add((_KINDS[owner["kind"]], namespace, owner["name"]))
            if not self._flush_pending:
                self._flush_pending = True
                self.loop.call_soon(self._flush)

    # Reacting to changes -----------------------------------------------------------------------

    def _on_change(self, kind: str, resource: str, obj: Obj) -> None:
        if resource == "pods":
            self._index_pod(kind, obj)
            self._mark_controller(obj)
        elif resource in WORKLOADS:
            if kind == "DELETED":
                self._collect(resource, obj)
            elif not self._writing:
                self._mark(resource, obj)
            if resource == "replicasets":
                self._mark_controller(obj)

    def _index_pod(self, kind: str, pod: Obj) -> None:
        owner = objects.controller_of(pod)
        if owner is None:
            return
        pods = self._owned.setdefault(owner["uid"], {})
        if kind == "DELETED":
            pods.pop(pod["metadata"]["name"], None)
        else:
            pods[pod["metadata"]["name"]] = pod

    def _collect(self, resource: str, workload: Obj) -> None:
        """Background cascading deletion of what a deleted workload owned."""
        uid = workload["metadata"]["uid"]
        for registry in (self._ready_after, self._daemon_nodes):
            registry.pop(uid, None)
        self._start_ready.discard(uid)
        if resource == "deployments":
            for replicaset in self._replicasets_of(workload):
                self.store.remove("replicasets", replicaset)
            return
        for pod in list(self._owned.pop(uid, {}).values()):
            if self.store.find("pods", pod["metadata"]["namespace"], pod["metadata"]["name"]):
                self.kubelet.delete(pod, None)

    # Syncing -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_pending = False
        for _ in range(10):  # pod changes mark ReplicaSets, whose status marks Deployments
            if not self._dirty:
                return
            dirty, self._dirty = self._dirty, set()
            for resource, namespace, name in sorted(dirty, key=lambda key: _ORDER[key[0]]):
                workload = self.store.find(resource, namespace, name)
                if workload is not None:
                    self._sync(resource, workload)

    def _sync(self, resource: str, workload: Obj) -> None:
        uid = workload["metadata"]["uid"]
        if resource == "deployments":
            status = self._sync_deployment(workload)
        elif resource == "replicasets":
            status = _replicaset_status(workload, self._sync_replicaset(workload))
        elif resource == "statefulsets":
            status = _statefulset_status(workload, self._sync_statefulset(workload))
        else:
            status = _daemonset_status(
                workload,
                self._sync_daemonset(workload),
                self._daemon_nodes.get(uid, objects.NODE_COUNT),
            )
        self._start_ready.discard(uid)
        if status != workload.get("status"):
            workload["status"] = status
            self._writing = True
            try:
                self.store.modified(resource, workload)
            finally:
                self._writing = False

    def _pods_of(self, workload: Obj) -> list[Obj]:
        return list(self._owned.get(workload["metadata"]["uid"], {}).values())

    def _new_pod(self, workload: Obj, kind: str, name: str, node: str | None = None) -> None:
        metadata = workload["metadata"]
        owner = objects.owner_reference("apps/v1", kind, workload)
        generate = None if kind == "StatefulSet" else f"{metadata['name']}-"
        template = workload["spec"]["template"]
        pod = objects.pod_from_template(template, metadata["namespace"], name, owner, generate)
        if kind == "StatefulSet":
            _label_statefulset_pod(pod, workload, name)
        elif kind == "DaemonSet":
            pod["metadata"]["labels"]["controller-revision-hash"] = _revision(workload)
            pod["metadata"]["labels"]["pod-template-generation"] = "1"
        if node is not None:
            pod["spec"]["nodeName"] = node
        uid = metadata["uid"]
        ready_after = self._ready_after.get(uid)
        self.kubelet.create(pod, ready_after, ready_now=uid in self._start_ready)

    def _sync_replicaset(self, replicaset: Obj) -> list[Obj]:
        pods = self._pods_of(replicaset)
        active = [pod for pod in pods if _active(pod)]
        wanted = int(replicaset["spec"].get("replicas", 1))
        prefix = replicaset["metadata"]["name"]
        for _ in range(wanted - len(active)):
            self._new_pod(replicaset, "ReplicaSet", _unused_name(self.store, replicaset, prefix))
        for pod in sorted(active, key=_age, reverse=True)[: max(0, len(active) - wanted)]:
            self.kubelet.delete(pod, None)
        return self._pods_of(replicaset)

    def _sync_statefulset(self, statefulset: Obj) -> list[Obj]:
        wanted = int(statefulset["spec"].get("replicas", 1))
        metadata = statefulset["metadata"]
        for ordinal in range(wanted):
            name = f"{metadata['name']}-{ordinal}"
            if self.store.find("pods", metadata["namespace"], name) is None:
                self._new_pod(statefulset, "StatefulSet", name)
        for pod in self._pods_of(statefulset):
            ordinal = pod["metadata"]["name"].rpartition("-")[2]
            if _active(pod) and ordinal.isdigit() and int(ordinal) >= wanted:
                self.kubelet.delete(pod, None)
        return self._pods_of(statefulset)

    def _sync_daemonset(self, daemonset: Obj) -> list[Obj]:
        nodes = self._daemon_nodes.get(daemonset["metadata"]["uid"], objects.NODE_COUNT)
        covered = {pod["spec"].get("nodeName") for pod in self._pods_of(daemonset) if _active(pod)}
        prefix = daemonset["metadata"]["name"]
        for index in range(nodes):
            if objects.node(index) not in covered:
                name = _unused_name(self.store, daemonset, prefix)
                self._new_pod(daemonset, "DaemonSet", name, objects.node(index))
        return self._pods_of(daemonset)

    def _sync_deployment(self, deployment: Obj) -> Obj:
        owned = self._replicasets_of(deployment)
        if not owned:
            replicaset = objects.replicaset(deployment, objects.template_hash())
            uid = deployment["metadata"]["uid"]
            self.store.create("replicasets", replicaset)
            self.adopt(
                "replicasets",
                replicaset,
                self._ready_after.get(uid),
                start_ready=uid in self._start_ready,
            )
            self._sync("replicasets", replicaset)
            owned = [replicaset]
        wanted = deployment["spec"].get("replicas", 1)
        for replicaset in owned:
            if replicaset["spec"].get("replicas") != wanted:
                replicaset["spec"]["replicas"] = wanted
                self.store.modified("replicasets", replicaset)
        return _deployment_status(deployment, owned)

    def _replicasets_of(self, deployment: Obj) -> list[Obj]:
        metadata = deployment["metadata"]
        return [
            replicaset
            for replicaset in self.store.iter_namespace("replicasets", metadata["namespace"])
            if (objects.controller_of(replicaset) or {}).get("uid") == metadata["uid"]
        ]


def _unused_name(store: Store, workload: Obj, prefix: str) -> str:
    namespace = workload["metadata"]["namespace"]
    while True:
        name = f"{prefix}-{objects.suffix()}"
        if store.find("pods", namespace, name) is None:
            return name


def _revision(workload: Obj) -> str:
    return f"{workload['metadata']['name']}-{workload['metadata']['uid'][:8]}"


def _label_statefulset_pod(pod: Obj, statefulset: Obj, name: str) -> None:
    labels = pod["metadata"]["labels"]
    labels["controller-revision-hash"] = _revision(statefulset)
    labels["statefulset.kubernetes.io/pod-name"] = name
    labels["apps.kubernetes.io/pod-index"] = name.rpartition("-")[2]
    pod["spec"]["hostname"] = name
    pod["spec"]["subdomain"] = statefulset["spec"].get("serviceName", "")


def _active(pod: Obj) -> bool:
    """Counted by its controller: not terminating, not ended."""
    phase = pod.get("status", {}).get("phase")
    return "deletionTimestamp" not in pod["metadata"] and phase not in ("Succeeded", "Failed")


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    for entry in pod.get("status", {}).get("conditions", []):
        if entry["type"] == "Ready":
            return bool(entry["status"] == "True")
    return False


def _age(pod: Obj) -> str:
    return str(pod["metadata"].get("creationTimestamp", ""))


def _nonzero(**counts: int) -> dict[str, int]:
    """The counters that are not 0: the API leaves zero-valued omitempty fields out."""
    return {name: value for name, value in counts.items() if value}


def _replicaset_status(replicaset: Obj, pods: list[Obj]) -> Obj:
    active = [pod for pod in pods if _active(pod)]
    ready = sum(1 for pod in active if is_ready(pod))
    return {
        "replicas": len(active),
        **_nonzero(fullyLabeledReplicas=len(active), readyReplicas=ready, availableReplicas=ready),
        "observedGeneration": replicaset["metadata"].get("generation", 1),
    }


def _statefulset_status(statefulset: Obj, pods: list[Obj]) -> Obj:
    ready = sum(1 for pod in pods if is_ready(pod))
    revision = _revision(statefulset)
    return {
        "observedGeneration": statefulset["metadata"].get("generation", 1),
        "replicas": len(pods),
        **_nonzero(readyReplicas=ready, currentReplicas=len(pods), updatedReplicas=len(pods)),
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
        "availableReplicas": ready,
    }


def _daemonset_status(daemonset: Obj, pods: list[Obj], nodes: int) -> Obj:
    active = [pod for pod in pods if _active(pod)]
    ready = sum(1 for pod in active if is_ready(pod))
    return {
        "currentNumberScheduled": len(active),
        "numberMisscheduled": 0,
        "desiredNumberScheduled": nodes,
        "numberReady": ready,
        "observedGeneration": daemonset["metadata"].get("generation", 1),
        **_nonzero(
            updatedNumberScheduled=len(active),
            numberAvailable=ready,
            numberUnavailable=max(0, nodes - ready),
        ),
    }


def _deployment_status(deployment: Obj, replicasets: list[Obj]) -> Obj:
    counts = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0}
    for replicaset in replicasets:
        for name in counts:
            counts[name] += int(replicaset.get("status", {}).get(name, 0))
    wanted = int(deployment["spec"].get("replicas", 1))
    available = counts["availableReplicas"]
    status: Obj = {"observedGeneration": deployment["metadata"].get("generation", 1)}
    status.update(
        _nonzero(
            replicas=counts["replicas"],
            updatedReplicas=counts["replicas"],
            readyReplicas=counts["readyReplicas"],
            availableReplicas=available,
            unavailableReplicas=max(0, wanted - available),
        )
    )
    newest = replicasets[-1] if replicasets else None
    status["conditions"] = _deployment_conditions(
        deployment, available >= wanted - wanted // 4, newest
    )
    return status


def _deployment_conditions(deployment: Obj, available: bool, replicaset: Obj | None) -> list[Obj]:
    old = {entry["type"]: entry for entry in deployment.get("status", {}).get("conditions", [])}
    at = objects.now()
    reason, message = (
        ("MinimumReplicasAvailable", "Deployment has minimum availability.")
        if available
        else ("MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    )
    name = (replicaset or deployment)["metadata"]["name"]
    wanted = [
        ("Available", "True" if available else "False", reason, message),
        (
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
        ),
    ]
    conditions = []
    for kind, value, why, text in wanted:
        previous = old.get(kind)
        if previous is not None and previous["status"] == value and previous["reason"] == why:
            conditions.append(previous)
            continue
        conditions.append(
            {
                "type": kind,
                "status": value,
                "lastUpdateTime": at,
                "lastTransitionTime": at,
                "reason": why,
                "message": text,
            }
        )
    return conditions
