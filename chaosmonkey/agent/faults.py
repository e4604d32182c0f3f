"""What the node agent does: applies a network fault in a pod's namespace through the fault's
keeper (as on Docker: same rules, same deadline), reverts it by its tag, lists the live ones.

The agent builds the rules itself from the fault's spec and its resolved peers, with the same
code the monkey used to record them in its journal: a caller holding the token can make only
the faults a policy can describe, in a pod's own namespace, within the agent's own limits
(`limits`: namespaces, the node's network, the longest duration).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chaosmonkey.agent.limits import AgentLimits, Refused
from chaosmonkey.agent.sandbox import POD_LOGS, PROC, check_uid, pod_namespace, sandbox_pid
from chaosmonkey.errors import TargetGone
from chaosmonkey.faults.network import AnyNetworkFault, Peer
from chaosmonkey.model import RevertResult
from chaosmonkey.netfaults.apply import remove_tagged
from chaosmonkey.netfaults.destinations import Destination
from chaosmonkey.netfaults.keeper import MODULE, KeeperSpec, find_keepers
from chaosmonkey.netfaults.launch import launch_keeper, stop_keepers
from chaosmonkey.netfaults.netns import HostNamespaceRefused, NetnsExecutor, namespace_of
from chaosmonkey.netfaults.rules import check_tag

MAX_DURATION_S = 24 * 3600.0  # no fault held longer, whatever a caller asks
_changing = threading.Lock()  # one apply or revert at a time on a node


class FaultRequest(BaseModel):
    """The body of `POST /faults`: which pod, which fault, for how long (from now, on the
    agent's clock: the keeper's deadline does not depend on the caller's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pod_uid: str
    tag: str
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    fault: AnyNetworkFault
    peers: list[Peer] = Field(default_factory=list)

    @field_validator("pod_uid")
    @classmethod
    def _uid(cls, value: str) -> str:
        return check_uid(value)

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        return check_tag(value)

    def keeper_spec(self, now: float) -> KeeperSpec:
        peers = [Destination(peer.cidr, peer.port) for peer in self.peers]
        changes, proxy = self.fault.changes(self.tag, peers)
        return KeeperSpec(self.tag, now + self.duration_s, changes, proxy)


def apply_fault(
    request: FaultRequest,
    limits: AgentLimits,
    proc: Path = PROC,
    pod_logs: Path = POD_LOGS,
) -> dict[str, Any]:
    """Starts the fault's keeper in the pod's sandbox namespace; returns what it holds.
    A fault whose keeper already runs is left as it is (a retried request). `Refused` when the
    agent's limits forbid it: too long, a namespace not allowed, the node's own network."""
    limits.check_duration(request.duration_s)
    with _changing:
        pid = sandbox_pid(request.pod_uid, proc)
        namespace = pod_namespace(request.pod_uid, pod_logs)
        limits.check_namespace(request.pod_uid, namespace, str(pod_logs))
        allow_host = limits.host_network_allowed(request.fault.allow_host_network)
        executor = NetnsExecutor(pid, allow_host=allow_host)
        try:
            executor.check()
        except HostNamespaceRefused:
            raise Refused(
                f"pod {request.pod_uid} uses its node's network: refused unless the agent runs "
                "with --allow-host-network and the fault sets allowHostNetwork",
                "host_network",
            ) from None
        running = find_keepers(request.tag)
        spec = request.keeper_spec(time.time())
        keeper = running[0] if running else launch_keeper(pid, spec)
    return {
        "tag": request.tag,
        "keeper_pid": keeper,
        "netns": executor.netns,
        "changes": len(spec.changes),
        "already_applied": bool(running),
    }


def revert_fault(tag: str, pod_uid: str, proc: Path = PROC) -> RevertResult:
    """Stops the tag's keeper (which removes its rules), then removes whatever the tag still
    owns in the pod's namespace."""
    tag, pod_uid = check_tag(tag), check_uid(pod_uid)
    with _changing:
        held_in = stop_keepers(tag)
        try:
            pid = sandbox_pid(pod_uid, proc)
        except TargetGone:
            return RevertResult.TARGET_GONE
        executor = NetnsExecutor(pid, allow_host=True)  # removal by tag touches only our rules
        report = remove_tagged(executor, tag)
    if report.namespace_gone:
        return RevertResult.TARGET_GONE
    removed = report.rules_removed or report.qdiscs_removed or executor.netns in held_in
    return RevertResult.REVERTED if removed else RevertResult.ALREADY_CLEAN


def active_faults(proc: Path = PROC) -> list[dict[str, Any]]:
    """The live keepers on this node: tag, pid, deadline and namespace of each."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if MODULE not in argv or argv.index(MODULE) + 1 >= len(argv):
                continue
            spec = KeeperSpec.from_json(argv[argv.index(MODULE) + 1])
        except (OSError, ValueError, KeyError):
            continue
        pid = int(entry.name)
        found.append(
            {"tag": spec.tag, "pid": pid, "deadline": spec.deadline, "netns": namespace_of(pid)}
        )
    return sorted(found, key=lambda fault: str(fault["tag"]))
