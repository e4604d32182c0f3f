"""The journal: what is written before a fault, what stays open, and crash safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.faults import Injection
from chaosmonkey.faults.pause import ContainerPause
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Outcome, RevertResult, Status, Target

TARGET = Target("docker", "c1", "web-1", "web", {"app": "web"}, healthy=True)


def record(attack_id: str = "a1") -> AttackRecord:
    return AttackRecord(attack_id, "web-kill", "docker", "pause", TARGET, False, created_at=1.0)


def injection(attack_id: str = "a1") -> Injection:
    return Injection(attack_id, TARGET, ContainerPause(duration_s=5.0))


def test_a_fault_is_open_from_the_moment_it_is_recorded(tmp_path: Path) -> None:
    """A recorded fault is open before it is applied, and closed only by a revert."""
    journal = Journal(tmp_path / "j.db")
    journal.record_attack(record(), injection())
    assert journal.open_faults() == [injection()]
    assert journal.active_fault_counts() == {}
    journal.mark_injected(record())
    assert journal.active_fault_counts() == {"docker": 1}
    journal.mark_reverted("a1", RevertResult.REVERTED)
    assert journal.open_faults() == []
    assert journal.active_fault_counts() == {}


def test_records_read_back_in_a_new_process(tmp_path: Path) -> None:
    """What one Journal wrote, another reads back identically, outcome and times included."""
    path = tmp_path / "j.db"
    first = Journal(path)
    rec = record()
    first.record_attack(rec, injection())
    rec.injected_at, rec.detected_at, rec.recovered_at = 10.0, 10.5, 12.25
    rec.outcome, rec.status, rec.ended_at = Outcome.RECOVERED, Status.DONE, 13.0
    first.mark_injected(rec)
    first.finish(rec)
    first.close()
    [again] = Journal(path).attacks()
    assert again.outcome is Outcome.RECOVERED
    assert again.recovery_seconds == 2.25
    assert again.time_to_detect_seconds == 0.5
    assert again.target == TARGET


def test_a_file_that_is_not_a_journal_is_refused_untouched(tmp_path: Path) -> None:
    """Pointing --db at another file gives one clear error and leaves the file as it was."""
    other = tmp_path / "policy.yaml"
    other.write_text("apiVersion: chaosmonkey/v1\n" * 200)
    before = other.read_bytes()
    with pytest.raises(ChaosMonkeyError, match="cannot open the journal"):
        Journal(other)
    assert other.read_bytes() == before
