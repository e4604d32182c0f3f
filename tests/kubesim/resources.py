"""The resource types the simulator serves, and the discovery documents built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API and what may be done with it."""

    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """ "v1" for the core group, "group/version" otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name errors use: "pods", "leases.coordination.k8s.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


_TYPES = (
    ResourceType("namespaces", "Namespace", "", "v1", False, (*READ, *WRITE), ("ns",)),
    ResourceType(
        "pods", "Pod", "", "v1", True, (*READ, *WRITE), ("po",), subresources=("eviction",)
    ),
    ResourceType("events", "Event", "", "v1", True, (*READ, *WRITE), ("ev",)),
    ResourceType("deployments", "Deployment", "apps", "v1", True, (*READ, *WRITE), ("deploy",)),
    ResourceType("replicasets", "ReplicaSet", "apps", "v1", True, (*READ, *WRITE), ("rs",)),
    ResourceType("statefulsets", "StatefulSet", "apps", "v1", True, (*READ, *WRITE), ("sts",)),
    ResourceType("daemonsets", "DaemonSet", "apps", "v1", True, (*READ, *WRITE), ("ds",)),
    ResourceType(
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        "policy",
        "v1",
        True,
        (*READ, *WRITE),
        ("pdb",),
    ),
    ResourceType("leases", "Lease", "coordination.k8s.io", "v1", True, (*READ, *WRITE)),
)

BY_PLURAL: dict[str, ResourceType] = {t.plural: t for t in _TYPES}
WORKLOADS = ("deployments", "replicasets", "statefulsets", "daemonsets")


def find(group: str, version: str, plural: str) -> ResourceType | None:
    """The served type at /apis/group/version/plural (group "" for /api/v1), if any."""
    rtype = BY_PLURAL.get(plural)
    if rtype is None or rtype.group != group or rtype.version != version:
        return None
    return rtype


def groups() -> list[str]:
    """The named API groups served, in a stable order."""
    return sorted({t.group for t in _TYPES if t.group})


def version_info() -> dict[str, Any]:
    """The /version document."""
    return {
        "major": "1",
        "minor": "30",
        "gitVersion": "v1.30.0-kubesim",
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2024-04-17T00:00:00Z",
        "goVersion": "go1.22.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> dict[str, Any]:
    """The /api document."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def group_document(group: str) -> dict[str, Any]:
    """/apis/{group}: one group with its single version v1."""
    version = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [version],
        "preferredVersion": version,
    }


def group_list() -> dict[str, Any]:
    """The /apis document."""
    listed = [group_document(group) for group in groups()]
    for group in listed:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """/api/v1 or /apis/{group}/{version}: the resources served there, None if none are."""
    served = [t for t in _TYPES if t.group == group and t.version == version]
    if not served:
        return None
    resources: list[dict[str, Any]] = []
    for rtype in served:
        resources.append(_resource_entry(rtype))
        resources.extend(_subresource_entry(rtype, sub) for sub in rtype.subresources)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}


def _resource_entry(rtype: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rtype.plural,
        "singularName": rtype.kind.lower(),
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    return entry


def _subresource_entry(rtype: ResourceType, sub: str) -> dict[str, Any]:
    return {
        "name": f"{rtype.plural}/{sub}",
        "singularName": "",
        "namespaced": rtype.namespaced,
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
        "verbs": ["create"],
    }
