"""What `chaosmonkey status` shows: armed or halted, the next runs, the faults in place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chaosmonkey.journal import Journal
from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling.planning import PlanEntry
from chaosmonkey.scheduling.scheduler import has_trigger
from chaosmonkey.scheduling.scheduler import next_runs as next_runs_of


def report(
    journal: Journal, policies: list[Policy], planned: Iterable[PlanEntry] = ()
) -> dict[str, Any]:
    """What `chaosmonkey status` shows: armed or halted, next runs (of the schedules of
    `policies`, and the `planned` Chaos Monkey mode attacks), active faults."""
    halted = journal.halted()
    dry_run = {policy.name: policy.spec.dry_run for policy in policies}
    next_runs = [
        {"policy": policy.name, "at": run.isoformat(), "armed": not policy.spec.dry_run}
        for policy in policies
        if has_trigger(policy)
        for run in next_runs_of(policy, 1)
    ] + [
        {
            "policy": entry.policy,
            "group": entry.group,
            "at": entry.at.isoformat(),
            "armed": not dry_run.get(entry.policy, True),
        }
        for entry in planned
        if entry.at is not None
    ]
    faults = [
        {"attack_id": f.attack_id, "target": f.target.name, "action": f.action}
        for f in journal.open_faults()
    ]
    return {
        "state": "halted" if halted else "armed",
        "halt_reason": halted[0] if halted else None,
        "next_runs": sorted(next_runs, key=lambda run: str(run["at"])),
        "active_faults": faults,
    }
