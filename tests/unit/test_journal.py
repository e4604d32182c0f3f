"""The journal: what is written before a fault, what stays open, and crash safety."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.faults import Injection
from chaosmonkey.faults.pause import ContainerPause
from chaosmonkey.journal import STILL_ACTIVE, Journal, default_path
from chaosmonkey.model import (
    AttackRecord,
    Outcome,
    RevertResult,
    ServiceImpact,
    ServiceObservation,
    Status,
    Target,
)

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
    assert journal.begin_apply("a1") is None
    journal.mark_injected(record())
    assert journal.active_fault_counts() == {"docker": 1}
    journal.mark_reverted("a1", RevertResult.REVERTED)
    assert journal.open_faults() == []
    assert journal.active_fault_counts() == {}


def test_a_fault_is_applied_only_if_neither_halted_nor_reverted_first(tmp_path: Path) -> None:
    """begin_apply, one transaction with the kill switch: refused once halted; refused for a
    fault reverted before its apply (`revert --all`), which then never turns active again."""
    journal = Journal(tmp_path / "j.db")
    journal.record_attack(record("a1"), injection("a1"))
    journal.record_attack(record("a2"), injection("a2"))
    journal.mark_reverted("a2", RevertResult.ALREADY_CLEAN)  # revert --all came first
    assert journal.begin_apply("a2") == "its fault was reverted before it was applied"
    journal.mark_injected(record("a2"))
    assert [fault.attack_id for fault in journal.open_faults()] == ["a1"]
    journal.halt("incident 42")
    assert journal.begin_apply("a1") == "halted: incident 42"
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


JOURNAL_0_1 = """
CREATE TABLE attacks (id TEXT PRIMARY KEY, policy TEXT NOT NULL, backend TEXT NOT NULL,
    fault TEXT NOT NULL, target TEXT NOT NULL, dry_run INTEGER NOT NULL, status TEXT NOT NULL,
    outcome TEXT, created_at REAL NOT NULL, injected_at REAL, detected_at REAL,
    recovered_at REAL, ended_at REAL, reason TEXT, revert_result TEXT);
CREATE INDEX attacks_created ON attacks (created_at);
CREATE TABLE faults (attack_id TEXT PRIMARY KEY REFERENCES attacks (id), backend TEXT NOT NULL,
    injection TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('planned', 'active', 'reverted')),
    recorded_at REAL NOT NULL, reverted_at REAL, revert_result TEXT);
CREATE INDEX faults_open ON faults (state);
CREATE TABLE halt (id INTEGER PRIMARY KEY CHECK (id = 1), reason TEXT NOT NULL,
    since REAL NOT NULL);
INSERT INTO attacks VALUES ('old1', 'web-kill', 'docker', 'kill',
    '{"backend": "docker", "id": "c1", "name": "web-1", "group": "web", "labels": {}}',
    0, 'done', 'recovered', 10.0, 11.0, 11.5, 13.0, 14.0, NULL, 'nothing_to_revert');
"""


def test_a_journal_of_version_0_1_is_migrated_and_read(tmp_path: Path) -> None:
    """A journal as 0.1 made it (schema version 0) gains the columns of the target's and the
    service's recoveries when opened; its attacks read back as they were, with neither."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(JOURNAL_0_1)
    journal = Journal(path)
    assert journal.schema_version == 1
    [old] = journal.attacks()
    assert (old.id, old.outcome, old.recovery_seconds, old.time_to_detect_seconds) == (
        "old1",
        Outcome.RECOVERED,
        2.0,
        0.5,
    )
    assert (old.target_recovered_at, old.service) == (None, None)
    journal.close()
    assert Journal(path).schema_version == 1  # opened again: nothing to do


def test_the_recoveries_of_an_attack_are_kept_apart(tmp_path: Path) -> None:
    """The target's recovery and the service's, as the monkey saw them, read back unchanged."""
    journal = Journal(tmp_path / "j.db")
    rec = record()
    journal.record_attack(rec, injection())
    rec.injected_at, rec.target_detected_at, rec.target_recovered_at = 10.0, 10.01, 12.4
    journal.mark_injected(rec)
    rec.service = ServiceObservation(ServiceImpact.DEGRADED, 10.4, 11.45, 1.05, 1.002)
    rec.detected_at, rec.recovered_at = 10.4, 11.45
    rec.outcome, rec.status, rec.ended_at = Outcome.RECOVERED, Status.DONE, 13.0
    journal.finish(rec)
    [again] = Journal(tmp_path / "j.db").attacks()
    assert again.service == rec.service
    assert again.target_recovery() == {"time_to_detect_seconds": 0.01, "recovery_seconds": 2.4}
    assert again.service_recovery() == {
        "impact": "degraded",
        "time_to_detect_seconds": 0.4,
        "recovery_seconds": 1.45,
        "degraded_seconds": 1.05,
        "worst_latency_seconds": 1.002,
    }


def test_a_journal_from_a_newer_monkey_is_refused(tmp_path: Path) -> None:
    """A schema version this monkey does not know: one clear line, the file untouched."""
    path = tmp_path / "new.db"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ChaosMonkeyError, match="schema is version 99, newer than this"):
        Journal(path)


def test_the_default_journal_is_one_well_known_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Whatever the folder: $CHAOSMONKEY_DB, else /var/lib/chaosmonkey for root, else the
    user's state directory."""
    monkeypatch.setenv("CHAOSMONKEY_DB", str(tmp_path / "mine.db"))
    assert default_path() == tmp_path / "mine.db"
    monkeypatch.delenv("CHAOSMONKEY_DB")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_path() == Path("/var/lib/chaosmonkey/chaosmonkey.db")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_path() == tmp_path / "state" / "chaosmonkey" / "chaosmonkey.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local/state/chaosmonkey/chaosmonkey.db"


def test_a_new_journal_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It tells what to revert and how: made 0600, in a folder made 0700 when missing."""
    path = tmp_path / "state" / "chaosmonkey" / "chaosmonkey.db"
    Journal(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


DAY = 86400.0


def ended(journal: Journal, attack_id: str, at: float, revert: RevertResult | None) -> None:
    """An attack with a pause, applied, and ended at `at`; its fault reverted with `revert`, or
    left in place (its revert failed) when None."""
    rec = record(attack_id)
    rec.created_at = at - 60
    journal.record_attack(rec, injection(attack_id))
    assert journal.begin_apply(attack_id) is None
    rec.injected_at = at - 50
    journal.mark_injected(rec)
    if revert is not None:
        journal.mark_reverted(attack_id, revert)
    else:
        rec.revert_result, rec.reason = RevertResult.FAILED, "revert failed: down; " + STILL_ACTIVE
    rec.outcome, rec.status, rec.ended_at = Outcome.RECOVERED, Status.DONE, at
    journal.finish(rec)


def rows(journal: Journal, table: str) -> int:
    column = "id" if table == "attacks" else "attack_id"
    return len(journal._select(f"SELECT {column} FROM {table}"))


def test_retention_deletes_attacks_that_ended_before_the_cutoff(tmp_path: Path) -> None:
    """Attacks that ended before the cutoff go, with their faults; later ones and attacks that
    never had a fault (skipped, dry runs) by their end stay."""
    journal = Journal(tmp_path / "j.db")
    now = 100 * DAY
    ended(journal, "old", now - 40 * DAY, RevertResult.REVERTED)
    ended(journal, "recent", now - 5 * DAY, RevertResult.REVERTED)
    skipped = record("skipped-old")
    skipped.outcome, skipped.status, skipped.ended_at = Outcome.SKIPPED, Status.DONE, now - 31 * DAY
    journal.record_attack(skipped)
    journal.finish(skipped)
    assert journal.prune(before=now - 30 * DAY) == 2
    assert [a.id for a in journal.attacks()] == ["recent"]
    assert (rows(journal, "attacks"), rows(journal, "faults")) == (1, 1)
    assert journal.prune(before=now - 30 * DAY) == 0


def test_retention_never_deletes_an_attack_whose_fault_may_be_in_place(tmp_path: Path) -> None:
    """However old: an attack not finished, one whose fault is recorded or active, and one
    whose revert failed all stay, with their faults; the failed one may go once a later try
    reverted its fault."""
    journal = Journal(tmp_path / "j.db")
    long_ago = 1 * DAY
    journal.record_attack(record("planned"), injection("planned"))  # created at t=1 s
    active = record("active")
    journal.record_attack(active, injection("active"))
    assert journal.begin_apply("active") is None
    active.injected_at = 2.0
    journal.mark_injected(active)
    unfinished = record("no-fault-unfinished")
    journal.record_attack(unfinished)
    ended(journal, "failed-revert", long_ago, None)
    assert journal.prune(before=1000 * DAY) == 0
    assert rows(journal, "attacks") == 4
    assert [f.attack_id for f in journal.open_faults()] == ["planned", "active", "failed-revert"]
    journal.mark_reverted("failed-revert", RevertResult.REVERTED)
    assert journal.prune(before=1000 * DAY) == 1
    assert "failed-revert" not in {a.id for a in journal.attacks()}


def test_faults_left_open_are_those_of_ended_attacks(tmp_path: Path) -> None:
    """A fault whose attack ended with its revert failed is left open, for later tries; one
    whose attack is still carried out is its monkey's. Reverted later, the attack says so."""
    journal = Journal(tmp_path / "j.db")
    journal.record_attack(record("running"), injection("running"))
    ended(journal, "failed-revert", 10 * DAY, None)
    [(rec, left)] = journal.faults_left_open()
    assert (rec.id, left) == ("failed-revert", injection("failed-revert"))
    journal.mark_reverted("failed-revert", RevertResult.ALREADY_CLEAN)
    assert journal.faults_left_open() == []
    again = journal.attack("failed-revert")
    assert again is not None
    assert again.revert_result is RevertResult.ALREADY_CLEAN
    assert again.reason == "revert failed: down; already_clean by a later try"
    assert journal.attack("nope") is None
