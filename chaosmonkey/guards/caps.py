"""Caps on how much a monkey may do: attacks per day and faults in place at once, per policy
(`spec.limits`) and for every policy together (`chaosmonkey run --max-...`), read from the
journal so that they hold across restarts and for every process on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from chaosmonkey.journal import Journal
from chaosmonkey.policy.models import Policy


@dataclass(frozen=True)
class Room:
    """How many more attacks may start now, and why not when none may."""

    left: int
    reason: str = ""


@dataclass
class Caps:
    journal: Journal
    max_attacks_per_day: int | None = None  # every policy together
    max_concurrent_faults: int | None = None

    def room(self, policy: Policy, now: datetime) -> Room:
        """The tightest of the policy's and the global caps."""
        limits, since = policy.spec.limits, _midnight(policy, now)
        checks = [
            (
                limits.max_attacks_per_day,
                self.journal.count_attacks(since, policy.name),
                f"policy {policy.name} made its maxAttacksPerDay",
            ),
            (
                limits.max_concurrent_faults,
                self.journal.count_open_faults(policy.name),
                f"policy {policy.name} has its maxConcurrentFaults in place",
            ),
            (
                self.max_attacks_per_day,
                self.journal.count_attacks(since),
                "the monkey made its --max-attacks-per-day",
            ),
            (
                self.max_concurrent_faults,
                self.journal.count_open_faults(),
                "the monkey has its --max-concurrent-faults in place",
            ),
        ]
        rooms = [
            Room(max(0, cap - used), f"{why} ({used} of {cap})")
            for cap, used, why in checks
            if cap is not None
        ]
        return min(rooms, key=lambda room: room.left, default=Room(left=1 << 30))


def _midnight(policy: Policy, now: datetime) -> float:
    """The start of today in the policy's window timezone (UTC without a window)."""
    zone = ZoneInfo(policy.spec.window.timezone if policy.spec.window else "UTC")
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), zone).timestamp()
