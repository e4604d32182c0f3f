"""The simulated kubelet and scheduler: a pod's life from Pending to Ready, and its graceful end.

Timers run on the simulator's event loop. A timer finds its pod again by namespace and name and
acts only if the pod is still the one (same uid) and not terminating, so nothing is cancelled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import count
from typing import Any

from tests.kubesim import objects
from tests.kubesim.store import Store

Obj = dict[str, Any]
_ENDED = ("Succeeded", "Failed")


@dataclass
class Timing:
    """How long the simulated pods take; changed at run time through `KubeSim`."""

    pending_s: float = 0.02  # scheduled, containers being created
    ready_after_s: float = 0.1  # running until the readiness probe first succeeds
    termination_s: float = 0.2  # the process exits this fast after SIGTERM, within the grace


class Kubelet:
    """Schedules pods onto the simulated nodes and runs their containers."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop, timing: Timing) -> None:
        self.store = store
        self.loop = loop
        self.timing = timing
        self._nodes = count()

    def create(
        self, pod: Obj, ready_after_s: float | None = None, *, ready_now: bool = False
    ) -> Obj:
        """Stores a new pod, scheduled and Pending; it starts, then turns Ready, on its own.

        With `ready_now` it is stored Running and Ready at once (a workload already up)."""
        self.schedule(pod)
        if ready_now:
            set_running(pod, ready=True)
            return self.store.create("pods", pod)
        set_pending(pod)
        self.store.create("pods", pod)
        delay = self.timing.ready_after_s if ready_after_s is None else ready_after_s
        key = _key(pod)
        self.loop.call_later(self.timing.pending_s, self._start, *key, delay)
        return pod

    def place(self, pod: Obj) -> Obj:
        """Stores a pod whose status was set by the caller; nothing changes it on its own."""
        self.schedule(pod)
        return self.store.create("pods", pod)

    def schedule(self, pod: Obj) -> None:
        """Binds the pod to a node, spreading pods over the simulated nodes in turn."""
        spec = pod["spec"]
        if not spec.get("nodeName"):
            spec["nodeName"] = objects.node(next(self._nodes) % objects.NODE_COUNT)

    def _start(self, namespace: str, name: str, uid: str, ready_after_s: float) -> None:
        pod = self._live(namespace, name, uid)
        if pod is None:
            return
        set_running(pod, ready=False)
        self.store.modified("pods", pod)
        self.loop.call_later(ready_after_s, self._turn_ready, namespace, name, uid)

    def _turn_ready(self, namespace: str, name: str, uid: str) -> None:
        pod = self._live(namespace, name, uid)
        if pod is not None and pod["status"].get("phase") == "Running":
            set_ready(pod, True)
            self.store.modified("pods", pod)

    def _live(self, namespace: str, name: str, uid: str) -> Obj | None:
        pod = self.store.find("pods", namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid or "deletionTimestamp" in pod["metadata"]:
            return None
        return pod

    def delete(self, pod: Obj, grace_s: int | None) -> Obj:
        """Deletes a stored pod as the API server and kubelet do; returns it as DELETE answers.

        Grace 0, an unscheduled pod or an ended one: gone at once. Otherwise it is marked
        (deletionTimestamp, not Ready) and gone after min(grace, termination_s)."""
        spec, metadata = pod["spec"], pod["metadata"]
        if grace_s is None:
            grace_s = int(spec.get("terminationGracePeriodSeconds", 30))
        ended = pod.get("status", {}).get("phase") in _ENDED
        if grace_s <= 0 or not spec.get("nodeName") or ended:
            return self.store.remove("pods", pod)
        already = metadata.get("deletionGracePeriodSeconds")
        if "deletionTimestamp" in metadata and already is not None and grace_s >= already:
            return pod  # already terminating, no sooner than asked
        metadata["deletionTimestamp"] = objects.now(grace_s)
        metadata["deletionGracePeriodSeconds"] = grace_s
        set_ready(pod, False)
        self.store.modified("pods", pod)
        delay = min(float(grace_s), self.timing.termination_s)
        self.loop.call_later(delay, self._finish, *_key(pod))
        return pod

    def _finish(self, namespace: str, name: str, uid: str) -> None:
        pod = self.store.find("pods", namespace, name)
        if pod is not None and pod["metadata"]["uid"] == uid:
            self.store.remove("pods", pod)

    def restart_containers(self, pod: Obj, ready_after_s: float | None = None) -> Obj:
        """The containers crash and are restarted in place: restartCount + 1, not Ready, then
        Ready again after the readiness delay."""
        at = objects.now()
        for status in pod["status"].get("containerStatuses", []):
            status["lastState"] = {
                "terminated": {
                    "exitCode": 137,
                    "reason": "Error",
                    "startedAt": status.get("state", {}).get("running", {}).get("startedAt", at),
                    "finishedAt": at,
                    "containerID": status.get("containerID", ""),
                }
            }
            status["restartCount"] = status.get("restartCount", 0) + 1
            status["state"] = {"running": {"startedAt": at}}
            status["containerID"] = objects.container_id()
        set_ready(pod, False)
        self.store.modified("pods", pod)
        delay = self.timing.ready_after_s if ready_after_s is None else ready_after_s
        self.loop.call_later(delay, self._turn_ready, *_key(pod))
        return pod


def _key(pod: Obj) -> tuple[str, str, str]:
    metadata = pod["metadata"]
    return metadata["namespace"], metadata["name"], metadata["uid"]


def _containers(pod: Obj) -> list[str]:
    return [container["name"] for container in pod["spec"].get("containers", [])]


def set_pending(pod: Obj) -> None:
    """Scheduled, containers being created."""
    at = objects.now()
    names = _containers(pod)
    unready = f"containers with unready status: [{' '.join(names)}]"
    status = pod.setdefault("status", {})
    status.update(
        phase="Pending",
        conditions=[
            objects.condition("PodReadyToStartContainers", False, at),
            objects.condition("Initialized", True, at),
            objects.condition("Ready", False, at, "ContainersNotReady", unready),
            objects.condition("ContainersReady", False, at, "ContainersNotReady", unready),
            objects.condition("PodScheduled", True, at),
        ],
        hostIP=_host_ip(pod),
        hostIPs=[{"ip": _host_ip(pod)}],
        startTime=at,
        containerStatuses=[_waiting(pod, name) for name in names],
        qosClass="BestEffort",
    )


def set_running(pod: Obj, ready: bool, at: str | None = None) -> None:
    """Containers started; Ready or not."""
    at = at or objects.now()
    status = pod.setdefault("status", {})
    if "conditions" not in status:
        set_pending(pod)
        status["startTime"] = at
        for entry in status["conditions"]:
            entry["lastTransitionTime"] = at
    ip = _host_ip(pod) if pod["spec"].get("hostNetwork") else objects.pod_ip()
    status.update(phase="Running", podIP=ip, podIPs=[{"ip": ip}])
    status["containerStatuses"] = [_running(pod, name, at) for name in _containers(pod)]
    _set_condition(status, "PodReadyToStartContainers", True, at)
    set_ready(pod, ready, at)


def set_ended(pod: Obj, phase: str, at: str) -> None:
    """Every container exited: 0 for Succeeded, 1 for Failed; nothing is Ready."""
    set_running(pod, ready=False, at=at)
    status = pod["status"]
    status["phase"] = phase
    code, reason = (0, "Completed") if phase == "Succeeded" else (1, "Error")
    for container in status["containerStatuses"]:
        started = container["state"]["running"]["startedAt"]
        container["state"] = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": started,
                "finishedAt": at,
                "containerID": container["containerID"],
            }
        }
        container["started"] = False
    if phase == "Succeeded":
        for kind in ("Ready", "ContainersReady"):
            _set_condition(status, kind, False, at)
            for entry in status["conditions"]:
                if entry["type"] == kind:
                    entry.update(reason="PodCompleted")
                    entry.pop("message", None)


def set_ready(pod: Obj, ready: bool, at: str | None = None) -> None:
    """The readiness probe's verdict: the Ready and ContainersReady conditions and each
    container's `ready`."""
    at = at or objects.now()
    status = pod["status"]
    names = _containers(pod)
    why = "" if ready else "ContainersNotReady"
    message = "" if ready else f"containers with unready status: [{' '.join(names)}]"
    for kind in ("Ready", "ContainersReady"):
        _set_condition(status, kind, ready, at, why, message)
    for container in status.get("containerStatuses", []):
        container["ready"] = ready and "running" in container.get("state", {})


def _set_condition(
    status: Obj, kind: str, value: bool, at: str, reason: str = "", message: str = ""
) -> None:
    conditions = status.setdefault("conditions", [])
    for index, entry in enumerate(conditions):
        if entry["type"] == kind:
            if entry["status"] != ("True" if value else "False"):
                conditions[index] = objects.condition(kind, value, at, reason, message)
            return
    conditions.append(objects.condition(kind, value, at, reason, message))


def _host_ip(pod: Obj) -> str:
    return objects.node_ip(pod["spec"].get("nodeName", ""))


def _image(pod: Obj, name: str) -> str:
    for container in pod["spec"].get("containers", []):
        if container["name"] == name:
            return str(container.get("image", objects.IMAGE))
    return objects.IMAGE


def _waiting(pod: Obj, name: str) -> Obj:
    return {
        "name": name,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
        "ready": False,
        "restartCount": 0,
        "image": _image(pod, name),
        "imageID": "",
        "started": False,
    }


def _running(pod: Obj, name: str, at: str) -> Obj:
    return {
        "name": name,
        "state": {"running": {"startedAt": at}},
        "lastState": {},
        "ready": False,
        "restartCount": 0,
        "image": _image(pod, name),
        "imageID": objects.IMAGE_ID,
        "containerID": objects.container_id(),
        "started": True,
    }
