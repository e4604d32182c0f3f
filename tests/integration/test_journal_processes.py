"""The journal across processes: a writer killed mid-write leaves a consistent file, and
processes creating one new journal at once all open it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from chaosmonkey.journal import Journal

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
