"""Pods as the Kubernetes API returns them (JSON dicts) turned into targets and groups; no I/O.

A pod's group is the workload that owns it through `ownerReferences` (controller: true): the
Deployment of its ReplicaSet, its StatefulSet, DaemonSet, Job..., else the pod itself. Group names
are `namespace/kind/name`, unique across namespaces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chaosmonkey.errors import TargetGone
from chaosmonkey.model import Target

BACKEND = "kubernetes"
HOST_NETWORK_EXCLUDED = "hostNetwork pod: it shares its node's network (targets.allowHostNetwork)"
ENABLED_ANNOTATION = "chaosmonkey.io/enabled"
FINISHED_PHASES = ("Succeeded", "Failed")

Pod = Mapping[str, Any]
# A ReplicaSet's name -> the (kind, name) of its controller, None when it has none.
ReplicaSetOwners = Mapping[str, "tuple[str, str] | None"]


@dataclass(frozen=True)
class GroupRef:
    """A group: the workload `kind/name` in `namespace` (kind `pod` for a pod on its own)."""

    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    @classmethod
    def parse(cls, group: str) -> GroupRef:
        namespace, kind, name = group.split("/", 2)
        return cls(namespace, kind, name)


def controller_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (kind, name) of the object's controlling owner, or None."""
    for owner in obj.get("metadata", {}).get("ownerReferences") or ():
        if owner.get("controller"):
            return str(owner["kind"]), str(owner["name"])
    return None


def group_of(pod: Pod, replicaset_owners: ReplicaSetOwners) -> GroupRef:
    """The pod's workload; a ReplicaSet's pods belong to its Deployment when it has one."""
    meta = pod["metadata"]
    namespace = str(meta.get("namespace", ""))
    controller = controller_of(pod)
    if controller is None:
        return GroupRef(namespace, "pod", str(meta["name"]))
    kind, name = controller
    if kind == "ReplicaSet" and (owner := replicaset_owners.get(name)) is not None:
        kind, name = owner
    return GroupRef(namespace, kind.lower(), name)


def needs_replicasets(pods: list[Pod]) -> bool:
    """Whether any pod is controlled by a ReplicaSet (whose owner must then be looked up)."""
    return any((controller_of(pod) or ("", ""))[0] == "ReplicaSet" for pod in pods)


def replicaset_owners(replicasets: list[Mapping[str, Any]]) -> dict[str, tuple[str, str] | None]:
    return {str(rs["metadata"]["name"]): controller_of(rs) for rs in replicasets}


class LazyOwners(Mapping[str, "tuple[str, str] | None"]):
    """ReplicaSet owners read one by one, as a watch meets them (a rollout adds ReplicaSets)."""

    def __init__(self, fetch: Callable[[str], tuple[str, str] | None]) -> None:
        self._fetch = fetch
        self._known: dict[str, tuple[str, str] | None] = {}

    def __getitem__(self, name: str) -> tuple[str, str] | None:
        if name not in self._known:
            try:
                self._known[name] = self._fetch(name)
            except TargetGone:  # deleted already: its pods belong to no workload any more
                self._known[name] = ("ReplicaSet", name)
        return self._known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


def live(pod: Pod) -> bool:
    """Not finished: a Succeeded or Failed pod (an evicted one, say) is no member any more."""
    return pod.get("status", {}).get("phase") not in FINISHED_PHASES


def ready(pod: Pod) -> bool | None:
    """The pod's Ready condition; None when it has none yet."""
    for condition in pod.get("status", {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return None


def terminating(pod: Pod) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def running(pod: Pod) -> bool:
    """Phase Running and not being deleted."""
    return pod.get("status", {}).get("phase") == "Running" and not terminating(pod)


def serving(pod: Pod) -> bool:
    """Running and Ready: a member that counts as available."""
    return running(pod) and ready(pod) is True


def parse_time(stamp: str | None) -> float | None:
    """An RFC 3339 time of the API as epoch seconds."""
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


def precise_time(stamp: str | None) -> float | None:
    """The time only when it has sub-second precision: the API's whole seconds are too coarse to
    time a recovery by."""
    return parse_time(stamp) if stamp and "." in stamp else None


def ready_since(pod: Pod) -> float | None:
    """When the Ready condition last changed, when the API says so precisely."""
    for condition in pod.get("status", {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return precise_time(condition.get("lastTransitionTime"))
    return None


def target_from_pod(
    pod: Pod, group: GroupRef, *, opted_in: bool = False, allow_host_network: bool = False
) -> Target:
    """A `Target` of one pod; hostNetwork pods are excluded unless allowed."""
    meta = pod["metadata"]
    host_network = bool(pod.get("spec", {}).get("hostNetwork"))
    return Target(
        backend=BACKEND,
        id=str(meta["uid"]),
        name=str(meta["name"]),
        group=str(group),
        labels=dict(meta.get("labels") or {}),
        running=running(pod),
        healthy=ready(pod),
        namespace=str(meta.get("namespace", "")),
        created_at=parse_time(meta.get("creationTimestamp")),
        excluded=HOST_NETWORK_EXCLUDED if host_network and not allow_host_network else None,
        opted_in_by_scope=opted_in,
    )


def namespace_opted_in(namespace: Mapping[str, Any]) -> bool:
    annotations = namespace.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(ENABLED_ANNOTATION, "")).lower() == "true"


def selector_string(label_selector: Mapping[str, Any]) -> str:
    """A workload's `spec.selector` (matchLabels, matchExpressions) as a label selector string."""
    parts = [f"{key}={value}" for key, value in (label_selector.get("matchLabels") or {}).items()]
    for expression in label_selector.get("matchExpressions") or ():
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values") or ())
        parts.append(
            {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key}.get(
                operator, f"!{key}"
            )
        )
    return ",".join(parts)


def desired_replicas(kind: str, workload: Mapping[str, Any]) -> int | None:
    """How many pods the workload wants; None when it does not say."""
    if kind == "daemonset":
        wanted = workload.get("status", {}).get("desiredNumberScheduled")
    else:
        wanted = workload.get("spec", {}).get("replicas")
    return None if wanted is None else int(wanted)
