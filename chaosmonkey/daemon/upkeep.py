"""The daemon's upkeep besides its runs: faults whose revert failed tried again while this monkey
leads, and the journal's old attacks deleted (`--keep-days`), at start and once a day."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import structlog

from chaosmonkey.engine import Engine

log = structlog.get_logger("chaosmonkey.daemon.upkeep")

RETRY_EVERY = timedelta(minutes=1)  # how often faults left in place by a failed revert are tried
PRUNE_EVERY = timedelta(days=1)


class Upkeep:
    """Ticks every RETRY_EVERY on the engine's timer until `stop`. `keep_days` None: the journal
    keeps every attack."""

    def __init__(
        self, engine: Engine, leads: Callable[[], bool], keep_days: int | None = None
    ) -> None:
        self._engine, self._leads, self._keep_days = engine, leads, keep_days
        self._next_prune = engine.timer.time()  # the first tick prunes

    def run(self, stop: threading.Event) -> None:
        """Ticks at once, then every RETRY_EVERY, until `stop` is set."""
        while not stop.is_set():
            self.tick()
            self._engine.timer.wait(stop, RETRY_EVERY.total_seconds())

    def tick(self) -> None:
        """Prunes the journal when due; tries the faults left in place again when leading (a
        follower changes no target). An error is logged: the next tick tries again."""
        try:
            self._prune_when_due()
            if self._leads():
                for injection, result in self._engine.retry_failed_reverts():
                    log.warning(
                        "left_in_place_retried", attack_id=injection.attack_id, result=str(result)
                    )
        except Exception:  # one failed tick (the journal locked, say) must not end the upkeep
            log.exception("upkeep_failed")

    def _prune_when_due(self) -> None:
        now = self._engine.timer.time()
        if self._keep_days is None or now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY.total_seconds()
        deleted = self._engine.journal.prune(now - timedelta(days=self._keep_days).total_seconds())
        log.info("journal_pruned", attacks=deleted, keep_days=self._keep_days)
