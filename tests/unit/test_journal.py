"""The journal: what is written before a fault, what stays open, and crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
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


WRITER = """
import sys, time
from chaosmonkey.journal import Journal
from chaosmonkey.model import AttackRecord, Target
from chaosmonkey.faults import Injection
from chaosmonkey.faults.pause import ContainerPause
journal = Journal(sys.argv[1])
target = Target("docker", "c", "web", "web")
for n in range(100000):
    rec = AttackRecord(f"a{n}", "p", "docker", "pause", target, False, created_at=time.time())
    journal.record_attack(rec, Injection(rec.id, target, ContainerPause(duration_s=5.0)))
    if n in (20, 200):
        print(f"wrote {n}", flush=True)
"""


def test_a_killed_writer_leaves_a_consistent_journal(tmp_path: Path) -> None:
    """SIGKILL in the middle of writes: the database passes integrity_check and every
    attack has its fault (each pair was one transaction)."""
    path = tmp_path / "j.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "wrote 20"
    assert writer.stdout.readline().strip() == "wrote 200"  # and it goes on writing
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    attacks = db.execute("SELECT COUNT(*) FROM attacks").fetchone()[0]
    faults = db.execute("SELECT COUNT(*) FROM faults").fetchone()[0]
    assert attacks > 20
    assert attacks == faults
    assert len(Journal(path).open_faults()) == faults


OPENER = "import sys; from chaosmonkey.journal import Journal; Journal(sys.argv[1]).close()"


def test_processes_creating_one_journal_at_once_all_open_it(tmp_path: Path) -> None:
    """Four processes opening the same new journal at the same moment all succeed (switching a
    new file to WAL does not wait for SQLite's lock by itself), over 10 rounds."""
    for round_number in range(10):
        path = tmp_path / f"j{round_number}.db"
        openers = [
            subprocess.Popen([sys.executable, "-c", OPENER, str(path)], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        failures = [p.communicate(timeout=60)[1] for p in openers if p.wait(timeout=60) != 0]
        assert failures == []
