"""The kill switch: `chaosmonkey halt` stops every monkey on a journal until `chaosmonkey resume`.

It lives in the journal, so it holds across restarts and reaches every process that uses the
journal: a guard refuses new attacks and makes running ones revert at their next check.
"""

from __future__ import annotations

from chaosmonkey.journal import Journal
from chaosmonkey.policy.models import Policy


class HaltGuard:
    """A guard that objects while the journal's kill switch is set."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __call__(self, policy: Policy) -> str | None:
        halted = self._journal.halted()
        return f"halted: {halted[0]}" if halted else None
