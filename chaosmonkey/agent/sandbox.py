"""Finds a pod's network namespace on its node from the pod's uid, through /proc.

The kubelet puts every container of a pod, its sandbox (pause) container first, under one cgroup
named after the pod's uid: `.../kubepods/<qos>/pod<uid>/<container>` with the cgroupfs driver,
`.../kubepods-<qos>-pod<uid with _ for ->.slice/...` with the systemd driver. The sandbox holds
the pod's network namespace for the pod's whole life, and the app containers join it, so a fault
applied there survives a restart of any app container. The oldest process of the pod is taken:
the sandbox starts first and lives longest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from chaosmonkey.errors import TargetGone

PROC = Path("/proc")
_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def check_uid(uid: str) -> str:
    """The pod uid itself (lower case), once it is known to be a UUID."""
    if not _UID.fullmatch(uid.lower()):
        raise ValueError(f"pod uid {uid!r}: expected a UUID such as 0f1e2d3c-...")
    return uid.lower()


def in_pod(cgroup_text: str, uid: str) -> bool:
    """Whether a /proc/PID/cgroup text puts the process in the pod `uid`'s cgroup."""
    cgroupfs = f"pod{uid}"
    systemd = f"pod{uid.replace('-', '_')}.slice"
    for line in cgroup_text.splitlines():
        path = line.split(":", 2)[-1]
        for part in path.split("/"):
            if part == cgroupfs or (part.startswith("kubepods") and part.endswith(systemd)):
                return True
    return False


def pod_pids(uid: str, proc: Path = PROC) -> list[int]:
    """Pids of the processes in the pod's cgroup, oldest first (the sandbox first)."""
    uid = check_uid(uid)
    found = []
    for pid in _pids(proc):
        try:
            if in_pod((proc / str(pid) / "cgroup").read_text(), uid):
                found.append((_start_ticks(proc, pid), pid))
        except (OSError, ValueError, IndexError):  # ended while we looked
            continue
    return [pid for _, pid in sorted(found)]


def sandbox_pid(uid: str, proc: Path = PROC) -> int:
    """The pod's oldest process, which holds its network namespace; `TargetGone` if none."""
    pids = pod_pids(uid, proc)
    if not pids:
        raise TargetGone(f"pod {uid} has no process on this node: it is gone or elsewhere")
    return pids[0]


def _pids(proc: Path) -> Iterable[int]:
    return (int(entry.name) for entry in proc.iterdir() if entry.name.isdigit())


def _start_ticks(proc: Path, pid: int) -> int:
    """The process's start time since boot, in clock ticks (field 22 of /proc/PID/stat)."""
    fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[19])
