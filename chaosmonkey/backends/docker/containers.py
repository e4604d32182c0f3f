"""Containers as the engine describes them, made into targets: pure functions of its answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chaosmonkey.model import COMPOSE_SERVICE_LABEL, GROUP_LABEL, Target

BACKEND = "docker"
_ID = re.compile(r"[0-9a-f]{64}")
_HOSTNAME_MOUNTS = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


def resolve_group(name: str, labels: Mapping[str, str]) -> str:
    """The compose service, else the `chaosmonkey.io/group` label, else the container's name."""
    return labels.get(COMPOSE_SERVICE_LABEL) or labels.get(GROUP_LABEL) or name


def health_from_status(status: str) -> bool | None:
    """`(healthy)` -> True; `(unhealthy)`, `(health: starting)` -> False; no check -> None."""
    if "(healthy)" in status:
        return True
    if "(unhealthy)" in status or "(health: starting)" in status:
        return False
    return None


def container_name(names: list[str]) -> str:
    """The canonical name among a summary's `Names` (links add `/other/alias` entries)."""
    plain = [name for name in names if "/" not in name.lstrip("/")]
    return (plain or names or [""])[0].lstrip("/")


def target_from_summary(summary: Mapping[str, Any]) -> Target:
    """A `Target` from one entry of `GET /containers/json`; a paused container is not running."""
    labels = dict(summary.get("Labels") or {})
    name = container_name(list(summary.get("Names") or []))
    return Target(
        backend=BACKEND,
        id=summary["Id"],
        name=name,
        group=resolve_group(name, labels),
        labels=labels,
        running=summary.get("State") == "running",
        healthy=health_from_status(summary.get("Status") or ""),
        created_at=float(summary["Created"]) if summary.get("Created") else None,
    )


def available_from_inspect(attrs: Mapping[str, Any]) -> bool:
    """Live state from `inspect`: running, not paused, and healthy when it has a health check."""
    state = attrs.get("State") or {}
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        return False
    health = state.get("Health")
    return health is None or health.get("Status") == "healthy"


def own_container_id(mountinfo: str, cgroup: str) -> str | None:
    """The id of the container this process runs in, or None on a host.

    The engine bind-mounts /etc/hostname from `.../containers/<id>/hostname` (any cgroup version);
    cgroup v1 paths also name the id. The host's own mountinfo is not read for container paths.
    """
    for line in mountinfo.splitlines():
        fields = line.split()
        mounted = len(fields) > 4 and fields[4] in _HOSTNAME_MOUNTS and "/containers/" in fields[3]
        if mounted and (match := _ID.search(fields[3])):
            return match.group(0)
    for line in cgroup.splitlines():
        if "docker" in line and (match := _ID.search(line)):
            return match.group(0)
    return None
