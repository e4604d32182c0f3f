"""Builders of API objects shaped as the API server returns them (omitempty fields left out)."""

from __future__ import annotations

import random
import secrets
import time
from datetime import UTC, datetime
from itertools import count
from typing import Any

Obj = dict[str, Any]

IMAGE = "chaosmonkey-target:test"
IMAGE_ID = "docker.io/library/chaosmonkey-target@sha256:" + "0" * 64
NODE_COUNT = 3  # nodes that plain pods are spread over; a DaemonSet may ask for more
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of generated names, as apimachinery's
_pod_ips = count(1)


def now(offset_s: float = 0.0) -> str:
    """An RFC 3339 time in whole seconds (metav1.Time), `offset_s` from now."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


def micro(moment: datetime | None = None) -> str:
    """An RFC 3339 time with microseconds (metav1.MicroTime)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def suffix(length: int = 5) -> str:
    """A random name suffix such as generateName adds."""
    return "".join(random.choice(_SAFE) for _ in range(length))


def template_hash() -> str:
    return suffix(10)


def node(index: int) -> str:
    """The name of simulated node `index` (from 0)."""
    return f"kubesim-node-{index + 1}"


def node_ip(name: str) -> str:
    """The address of a simulated node, from its name."""
    number = int(name.rpartition("-")[2]) if name.rpartition("-")[2].isdigit() else 1
    return f"172.18.{(number + 1) // 250}.{(number + 1) % 250}"


def pod_ip() -> str:
    number = next(_pod_ips)
    return f"10.244.{number // 250 % 250}.{number % 250 + 2}"


def owner_reference(api_version: str, kind: str, owner: Obj) -> Obj:
    metadata = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: Obj) -> Obj | None:
    """The owner reference with controller=true, if any."""
    for reference in obj["metadata"].get("ownerReferences") or []:
        if reference.get("controller"):
            return dict(reference)
    return None


def namespace(name: str, labels: dict[str, str], annotations: dict[str, str]) -> Obj:
    metadata: Obj = {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def pod_template(container: str, labels: dict[str, str], host_network: bool) -> Obj:
    spec: Obj = {
        "containers": [
            {
                "name": container,
                "image": IMAGE,
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }
    if host_network:
        spec["hostNetwork"] = True
    return {"metadata": {"labels": dict(labels)}, "spec": spec}


def pod_defaults(spec: Obj) -> Obj:
    """Fills in what the API server defaults on a pod spec."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    for container in spec.get("containers") or []:
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", "IfNotPresent")
    return spec


def pod_from_template(
    template: Obj, namespace: str, name: str, owner: Obj | None, generate_name: str | None = None
) -> Obj:
    """A new pod, not yet scheduled, from a workload's pod template."""
    metadata: Obj = {"name": name, "namespace": namespace}
    if generate_name:
        metadata["generateName"] = generate_name
    metadata["labels"] = dict(template["metadata"].get("labels") or {})
    if template["metadata"].get("annotations"):
        metadata["annotations"] = dict(template["metadata"]["annotations"])
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    spec = pod_defaults(_copy(template["spec"]))
    return {
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    }


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


copy = _copy


def container_id() -> str:
    return "containerd://" + secrets.token_hex(32)


def condition(kind: str, status: bool, at: str, reason: str = "", message: str = "") -> Obj:
    """A pod condition (lastProbeTime null, as the kubelet writes it)."""
    entry: Obj = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": at,
    }
    if reason:
        entry["reason"] = reason
    if message:
        entry["message"] = message
    return entry


_ZERO_STATUS: dict[str, Obj] = {  # the counters the API always writes, even when 0
    "replicasets": {"replicas": 0},
    "statefulsets": {"replicas": 0, "availableReplicas": 0},
    "daemonsets": {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    },
}


def zero_status(resource: str) -> Obj:
    """A new workload's status as the API server first returns it."""
    return dict(_ZERO_STATUS.get(resource, {}))


def selector(labels: dict[str, str]) -> Obj:
    return {"matchLabels": dict(labels)}


def deployment(
    namespace: str, name: str, replicas: int, labels: dict[str, str], template: Obj
) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "generation": 1,
        },
        "spec": {
            "replicas": replicas,
            "selector": selector(labels),
            "template": template,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {},
    }


def replicaset(owner: Obj, hash_: str) -> Obj:
    """The ReplicaSet a Deployment owns, its pods labelled with `pod-template-hash`."""
    spec = owner["spec"]
    labels = {**spec["template"]["metadata"]["labels"], "pod-template-hash": hash_}
    template = _copy(spec["template"])
    template["metadata"]["labels"] = dict(labels)
    metadata = owner["metadata"]
    return {
        "metadata": {
            "name": f"{metadata['name']}-{hash_}",
            "namespace": metadata["namespace"],
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": str(spec["replicas"]),
                "deployment.kubernetes.io/max-replicas": str(spec["replicas"] + 1),
                "deployment.kubernetes.io/revision": "1",
            },
            "ownerReferences": [owner_reference("apps/v1", "Deployment", owner)],
            "generation": 1,
        },
        "spec": {
            "replicas": spec["replicas"],
            "selector": {
                "matchLabels": {**spec["selector"]["matchLabels"], "pod-template-hash": hash_}
            },
            "template": template,
        },
        "status": zero_status("replicasets"),
    }


def statefulset(
    namespace: str, name: str, replicas: int, labels: dict[str, str], template: Obj
) -> Obj:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels), "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": selector(labels),
            "template": template,
            "serviceName": name,
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "revisionHistoryLimit": 10,
        },
        "status": zero_status("statefulsets"),
    }


def daemonset(namespace: str, name: str, labels: dict[str, str], template: Obj) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {"deprecated.daemonset.template.generation": "1"},
            "generation": 1,
        },
        "spec": {
            "selector": selector(labels),
            "template": template,
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "revisionHistoryLimit": 10,
        },
        "status": zero_status("daemonsets"),
    }


def pdb(
    namespace: str,
    name: str,
    match_labels: dict[str, str],
    min_available: int | str | None,
    max_unavailable: int | str | None,
) -> Obj:
    spec: Obj = {"selector": selector(match_labels)}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {"metadata": {"name": name, "namespace": namespace, "generation": 1}, "spec": spec}
