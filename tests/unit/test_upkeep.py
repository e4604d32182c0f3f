"""The daemon's upkeep: faults left in place tried again while leading, and the retention."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

from chaosmonkey.daemon.upkeep import RETRY_EVERY, Upkeep
from chaosmonkey.engine import Engine
from chaosmonkey.errors import BackendError
from chaosmonkey.faults import Injection
from chaosmonkey.faults.pause import ContainerPause
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Outcome, RevertResult, Status, Target
from tests.unit.fakes import FakeBackend, FakeTimer

TARGET = Target("docker", "c1", "web-1", "web", {"app": "web"}, healthy=True)
DAY = 86400.0


def left_in_place(journal: Journal, attack_id: str, ended_at: float) -> None:
    """An attack that ended with its pause still in place (every try of its revert failed)."""
    rec = AttackRecord(attack_id, "web-pause", "docker", "pause", TARGET, False, created_at=1.0)
    journal.record_attack(rec, Injection(attack_id, TARGET, ContainerPause(duration_s=5.0)))
    assert journal.begin_apply(attack_id) is None
    rec.outcome, rec.status, rec.ended_at = Outcome.FAILED, Status.DONE, ended_at
    rec.revert_result = RevertResult.FAILED
    journal.finish(rec)


def finished(journal: Journal, attack_id: str, ended_at: float) -> None:
    rec = AttackRecord(attack_id, "web-pause", "docker", "pause", TARGET, False, created_at=1.0)
    rec.outcome, rec.status, rec.ended_at = Outcome.SKIPPED, Status.DONE, ended_at
    journal.record_attack(rec)
    journal.finish(rec)


def monkey(tmp_path: Path) -> tuple[Engine, FakeBackend, Journal]:
    journal = Journal(tmp_path / "j.db")
    backend = FakeBackend([TARGET])
    return Engine(lambda name: backend, journal, timer=backend.timer), backend, journal


def test_faults_left_in_place_are_tried_again_only_while_leading(tmp_path: Path) -> None:
    """A follower changes no target: the fault is tried (and reverted) once this monkey leads."""
    engine, backend, journal = monkey(tmp_path)
    left_in_place(journal, "a1", ended_at=backend.timer.time())
    leading = False
    upkeep = Upkeep(engine, lambda: leading)
    upkeep.tick()
    assert backend.reverted == []
    leading = True
    upkeep.tick()
    assert [change.action for change in backend.reverted] == ["unpause"]
    assert journal.open_faults() == []


def test_the_upkeep_retries_every_minute_until_stopped(tmp_path: Path) -> None:
    """The loop ticks at once, then every RETRY_EVERY on the engine's timer; a failing try
    does not end it; it returns once stopped."""
    engine, backend, journal = monkey(tmp_path)
    left_in_place(journal, "a1", ended_at=backend.timer.time())
    stop, tries = threading.Event(), []

    def unpause(target: Target) -> RevertResult:
        tries.append(backend.timer.time())
        if len(tries) < 3:
            raise BackendError("daemon busy")
        stop.set()
        return RevertResult.REVERTED

    backend.unpause = unpause  # type: ignore[method-assign]
    Upkeep(engine, lambda: True).run(stop)
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps == [RETRY_EVERY.total_seconds()] * 2
    assert journal.open_faults() == []


def test_the_journal_is_pruned_at_start_and_once_a_day(tmp_path: Path) -> None:
    """With keep_days, the first tick deletes what ended before; the next prune comes a day
    later; a fault left in place is never deleted. Without keep_days nothing is."""
    engine, backend, journal = monkey(tmp_path)
    timer: FakeTimer = backend.timer
    now = timer.time()
    finished(journal, "old", now - 31 * DAY)
    left_in_place(journal, "stuck", now - 31 * DAY)
    Upkeep(engine, lambda: False).tick()
    assert len(journal.attacks()) == 2  # keeps everything by default
    upkeep = Upkeep(engine, lambda: False, keep_days=30)
    upkeep.tick()
    assert [a.id for a in journal.attacks()] == ["stuck"]
    finished(journal, "next", now - 30 * DAY + 60)  # 30 days old a minute from now
    timer.advance_to(now + 3600)
    upkeep.tick()
    assert len(journal.attacks()) == 2  # not a day yet
    timer.advance_to(now + DAY)
    upkeep.tick()
    assert [a.id for a in journal.attacks()] == ["stuck"]
