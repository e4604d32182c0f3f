"""The kill switch: `chaosmonkey halt` stops every monkey on a journal until `chaosmonkey resume`.

It lives in the journal, so it holds across restarts and reaches every process that uses the
journal: a guard refuses new attacks and makes running ones revert at their next check.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from chaosmonkey.engine import Engine
from chaosmonkey.journal import Journal
from chaosmonkey.planning import PlanEntry
from chaosmonkey.policy.models import Policy
from chaosmonkey.scheduling import has_trigger
from chaosmonkey.scheduling import next_runs as next_runs_of

REVERT_WAIT_S = 3.0  # how long `halt` lets running monkeys revert their own faults


class HaltGuard:
    """A guard that objects while the journal's kill switch is set."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __call__(self, policy: Policy) -> str | None:
        halted = self._journal.halted()
        return f"halted: {halted[0]}" if halted else None


def halt(engine: Engine, journal: Journal, reason: str) -> int:
    """Sets the switch, lets running attacks revert, then reverts whatever is still open
    (a monkey that died); returns how many faults this call reverted itself."""
    journal.halt(reason)
    deadline = time.monotonic() + REVERT_WAIT_S
    while journal.active_fault_counts() and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(engine.revert_open_faults())


def status(
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
