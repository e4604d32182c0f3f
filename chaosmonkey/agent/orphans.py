"""Removes, when the agent starts, the faults whose keepers died before it.

A container runtime that kills the agent's container kills every process in its cgroup, the
keepers too: their changes stay, with nobody left to end them at their deadline. Before it
serves, the agent looks in the network namespace of every pod on its node and removes what
chaosmonkey left there without a live keeper: iptables rules by their tag, as a revert does, and
root tbf qdiscs whose handles lie in the range of ours (a qdisc carries no tag). The fault proxy
of latency and HTTP errors is a thread of its keeper: it died with it, and its redirect rules go
with their tag. Foreign rules and qdiscs are never touched.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from chaosmonkey.agent.faults import active_faults
from chaosmonkey.agent.sandbox import PROC, sandboxes
from chaosmonkey.errors import ChaosMonkeyError, TargetGone
from chaosmonkey.netfaults.apply import holdings, remove_qdisc, remove_tagged
from chaosmonkey.netfaults.netns import Executor, NetnsExecutor
from chaosmonkey.netfaults.rules import handle_for

log = structlog.get_logger("chaosmonkey.agent")


def remove_orphans(proc: Path = PROC) -> int:
    """Sweeps the namespace of every pod on this node once; returns how many orphaned faults
    (tags, and qdiscs without one) it removed. A namespace that fails is logged and skipped."""
    removed = 0
    swept: set[str] = set()
    for uid, pid in sorted(sandboxes(proc).items()):
        # allow_host: hostNetwork pods share the node's namespace, swept once like any other;
        # removal by tag touches only our own rules.
        executor = NetnsExecutor(pid, allow_host=True)
        if executor.netns is None or executor.netns in swept:
            continue
        swept.add(executor.netns)
        try:
            removed += remove_orphans_in(executor, uid, proc)
        except TargetGone:  # the pod ended meanwhile, and its namespace with it
            continue
        except ChaosMonkeyError as error:  # one namespace must not keep the agent from serving
            log.error("orphan_removal_failed", pod_uid=uid, netns=executor.netns, error=str(error))
    log.info("orphans_swept", namespaces=len(swept), removed=removed)
    return removed


def remove_orphans_in(executor: Executor, uid: str, proc: Path = PROC) -> int:
    """Removes what has no live keeper in the namespace of pod `uid`; returns how many faults."""
    found = holdings(executor)
    if not found.tags and not found.qdiscs:
        return 0
    # Keepers are looked for after the namespace was read: one that applied since then is live.
    live = {str(fault["tag"]) for fault in active_faults(proc)}
    orphans = sorted(found.tags - live)
    for tag in orphans:
        report = remove_tagged(executor, tag)
        rules = sum(len(lines) for lines in report.rules_removed.values())
        log.warning(
            "orphan_removed", pod_uid=uid, tag=tag, rules=rules, qdiscs=list(report.qdiscs_removed)
        )
    accounted = {handle_for(tag) for tag in found.tags | live}  # removed above, or live
    untagged = [root for root in found.qdiscs if root.handle not in accounted]
    for root in untagged:
        remove_qdisc(executor, root)
        log.warning("orphan_removed", pod_uid=uid, tag=None, qdisc=root.handle, device=root.device)
    return len(orphans) + len(untagged)
