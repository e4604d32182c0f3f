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
POD_LOGS = Path("/var/log/pods")  # the kubelet's: <namespace>_<name>_<uid> for every pod
_UID_PARTS = ("[0-9a-f]{8}", "[0-9a-f]{4}", "[0-9a-f]{4}", "[0-9a-f]{4}", "[0-9a-f]{12}")
_UID = re.compile("-".join(_UID_PARTS))
_CGROUPFS_POD = re.compile(f"pod(?P<uid>{_UID.pattern})")  # pod<uid>
_SYSTEMD_POD = re.compile(rf"kubepods(?:-\w+)?-pod(?P<uid>{'_'.join(_UID_PARTS)})\.slice")


def check_uid(uid: str) -> str:
    """The pod uid itself (lower case), once it is known to be a UUID."""
    if not _UID.fullmatch(uid.lower()):
        raise ValueError(f"pod uid {uid!r}: expected a UUID such as 0f1e2d3c-...")
    return uid.lower()


def pod_of(cgroup_text: str) -> str | None:
    """The uid of the pod whose cgroup a /proc/PID/cgroup text names, or None."""
    for line in cgroup_text.splitlines():
        for part in line.split(":", 2)[-1].split("/"):
            if found := _CGROUPFS_POD.fullmatch(part) or _SYSTEMD_POD.fullmatch(part):
                return found["uid"].replace("_", "-")
    return None


def in_pod(cgroup_text: str, uid: str) -> bool:
    """Whether a /proc/PID/cgroup text puts the process in the pod `uid`'s cgroup."""
    return pod_of(cgroup_text) == uid


def pod_pids(uid: str, proc: Path = PROC) -> list[int]:
    """Pids of the processes in the pod's cgroup, oldest first (the sandbox first)."""
    uid = check_uid(uid)
    return [pid for _, pid, pod in _pod_processes(proc) if pod == uid]


def sandbox_pid(uid: str, proc: Path = PROC) -> int:
    """The pod's oldest process, which holds its network namespace; `TargetGone` if none."""
    pids = pod_pids(uid, proc)
    if not pids:
        raise TargetGone(f"pod {uid} has no process on this node: it is gone or elsewhere")
    return pids[0]


def pod_namespace(uid: str, pod_logs: Path = POD_LOGS) -> str | None:
    """The pod's namespace, from the directory the kubelet makes for its logs; None when there
    is none. Namespaces and pod names have no `_`: the name splits in three unambiguously."""
    uid = check_uid(uid)
    try:
        entries = [entry.name for entry in pod_logs.iterdir()]
    except OSError:
        return None
    for name in entries:
        parts = name.split("_")
        if len(parts) == 3 and parts[2] == uid and parts[0]:
            return parts[0]
    return None


def sandboxes(proc: Path = PROC) -> dict[str, int]:
    """Every pod with a process on this node: its uid -> its sandbox (its oldest process)."""
    found: dict[str, int] = {}
    for _, pid, uid in _pod_processes(proc):
        found.setdefault(uid, pid)
    return found


def _pod_processes(proc: Path) -> list[tuple[int, int, str]]:
    """(start ticks, pid, pod uid) of every process in a pod's cgroup, oldest first."""
    found = []
    for pid in _pids(proc):
        try:
            uid = pod_of((proc / str(pid) / "cgroup").read_text())
            if uid is not None:
                found.append((_start_ticks(proc, pid), pid, uid))
        except (OSError, ValueError, IndexError):  # ended while we looked
            continue
    return sorted(found)


def _pids(proc: Path) -> Iterable[int]:
    return (int(entry.name) for entry in proc.iterdir() if entry.name.isdigit())


def _start_ticks(proc: Path, pid: int) -> int:
    """The process's start time since boot, in clock ticks (field 22 of /proc/PID/stat)."""
    fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[19])
