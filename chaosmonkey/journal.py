"""The durable record of every attack and fault, in SQLite.

An attack is written before anything is injected and its fault stays open until reverted, so a
new process (after a crash, or `chaosmonkey revert --all`) knows exactly what to undo. Each write
is one transaction in WAL mode with full sync: a crash leaves the last committed state.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaosmonkey.errors import ChaosMonkeyError
from chaosmonkey.model import (
    AttackRecord,
    Injection,
    Outcome,
    RevertResult,
    Status,
    Target,
)

DEFAULT_DB = "chaosmonkey.db"
DB_ENV = "CHAOSMONKEY_DB"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attacks (
    id TEXT PRIMARY KEY,
    policy TEXT NOT NULL,
    backend TEXT NOT NULL,
    fault TEXT NOT NULL,
    target TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    created_at REAL NOT NULL,
    injected_at REAL,
    detected_at REAL,
    recovered_at REAL,
    ended_at REAL,
    reason TEXT,
    revert_result TEXT
);
CREATE INDEX IF NOT EXISTS attacks_created ON attacks (created_at);
CREATE TABLE IF NOT EXISTS faults (
    attack_id TEXT PRIMARY KEY REFERENCES attacks (id),
    backend TEXT NOT NULL,
    injection TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('planned', 'active', 'reverted')),
    recorded_at REAL NOT NULL,
    reverted_at REAL,
    revert_result TEXT
);
CREATE INDEX IF NOT EXISTS faults_open ON faults (state);
CREATE TABLE IF NOT EXISTS halt (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    reason TEXT NOT NULL,
    since REAL NOT NULL
);
"""
_ATTACK_COLUMNS = (
    "id, policy, backend, fault, target, dry_run, status, outcome, created_at, injected_at, "
    "detected_at, recovered_at, ended_at, reason, revert_result"
)


def switch_to_wal(db: sqlite3.Connection, timeout_s: float) -> None:
    """WAL mode, waiting up to `timeout_s`: SQLite does not wait for the lock the switch needs
    when another process is creating the same new file, it fails at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def default_path() -> Path:
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


class SqliteStore:
    """A store in the journal's SQLite file (WAL, full sync, its tables created); safe to share
    between threads of one process."""

    def __init__(self, path: Path | str, schema: str, what: str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            switch_to_wal(self._db, 30)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(schema)
        except sqlite3.DatabaseError as error:
            raise ChaosMonkeyError(
                f"{self.path}: cannot open the {what} ({error}); expected a chaosmonkey SQLite "
                "database or a new path"
            ) from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _select(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()


class Journal(SqliteStore):
    """Every attack and fault, and the kill switch."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA, "journal")

    def record_attack(self, record: AttackRecord, injection: Injection | None = None) -> None:
        """Writes a new attack, and the fault it is about to inject, in one transaction."""
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO attacks ({_ATTACK_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                _attack_row(record),
            )
            if injection is not None:
                db.execute(
                    "INSERT INTO faults (attack_id, backend, injection, state, recorded_at) "
                    "VALUES (?, ?, ?, 'planned', ?)",
                    (record.id, injection.backend, _dump_injection(injection), time.time()),
                )

    def mark_injected(self, record: AttackRecord) -> None:
        """The fault is applied (or may be: the call was made)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE attacks SET status = ?, injected_at = ? WHERE id = ?",
                (Status.INJECTED.value, record.injected_at, record.id),
            )
            db.execute("UPDATE faults SET state = 'active' WHERE attack_id = ?", (record.id,))

    def mark_reverted(self, attack_id: str, result: RevertResult) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE faults SET state = 'reverted', reverted_at = ?, revert_result = ? "
                "WHERE attack_id = ? AND state != 'reverted'",
                (time.time(), result.value, attack_id),
            )
            db.execute(
                "UPDATE attacks SET revert_result = ? WHERE id = ?", (result.value, attack_id)
            )

    def finish(self, record: AttackRecord) -> None:
        """Writes the outcome and the measured times."""
        with self._transaction() as db:
            db.execute(
                "UPDATE attacks SET status = ?, outcome = ?, detected_at = ?, recovered_at = ?, "
                "ended_at = ?, reason = ? WHERE id = ?",
                (
                    Status.DONE.value,
                    record.outcome.value if record.outcome else None,
                    record.detected_at,
                    record.recovered_at,
                    record.ended_at,
                    record.reason,
                    record.id,
                ),
            )

    def halt(self, reason: str) -> None:
        """The kill switch: no attack starts and running ones revert until `resume`."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO halt (id, reason, since) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET reason = excluded.reason",
                (reason, time.time()),
            )

    def resume(self) -> bool:
        """Lifts the kill switch; False when it was not set."""
        with self._transaction() as db:
            return db.execute("DELETE FROM halt").rowcount > 0

    def halted(self) -> tuple[str, float] | None:
        """(reason, since) while the kill switch is set."""
        rows = self._select("SELECT reason, since FROM halt")
        return (rows[0][0], rows[0][1]) if rows else None

    def count_attacks(self, since: float, policy: str | None = None) -> int:
        """Attacks with a fault (dry runs have none) created since `since` (by the engine's
        clock, as the caps' day is), of one policy or all."""
        sql = (
            "SELECT COUNT(*) FROM faults JOIN attacks ON attacks.id = faults.attack_id "
            "WHERE attacks.created_at >= ?"
        )
        if policy is None:
            return int(self._select(sql, since)[0][0])
        return int(self._select(sql + " AND attacks.policy = ?", since, policy)[0][0])

    def count_open_faults(self, policy: str | None = None) -> int:
        """Faults possibly in place, of one policy or all."""
        sql = (
            "SELECT COUNT(*) FROM faults JOIN attacks ON attacks.id = faults.attack_id "
            "WHERE faults.state != 'reverted'"
        )
        if policy is None:
            return int(self._select(sql)[0][0])
        return int(self._select(sql + " AND attacks.policy = ?", policy)[0][0])

    def open_faults(self) -> list[Injection]:
        """Faults that may be in place: applied, or recorded and maybe applied before a crash."""
        rows = self._select(
            "SELECT injection FROM faults WHERE state != 'reverted' ORDER BY recorded_at"
        )
        return [_load_injection(row[0]) for row in rows]

    def active_fault_counts(self) -> dict[str, int]:
        rows = self._select(
            "SELECT backend, COUNT(*) FROM faults WHERE state = 'active' GROUP BY backend"
        )
        return {backend: count for backend, count in rows}

    def attacks(self, limit: int = 100) -> list[AttackRecord]:
        rows = self._select(
            f"SELECT {_ATTACK_COLUMNS} FROM attacks ORDER BY created_at DESC LIMIT ?", limit
        )
        return [_attack_from_row(row) for row in rows]

    def unfinished_attacks(self) -> list[AttackRecord]:
        rows = self._select(
            f"SELECT {_ATTACK_COLUMNS} FROM attacks WHERE status != ?", Status.DONE.value
        )
        return [_attack_from_row(row) for row in rows]


def _attack_row(record: AttackRecord) -> tuple[Any, ...]:
    return (
        record.id,
        record.policy,
        record.backend,
        record.fault,
        json.dumps(_target_dict(record.target)),
        int(record.dry_run),
        record.status.value,
        record.outcome.value if record.outcome else None,
        record.created_at,
        record.injected_at,
        record.detected_at,
        record.recovered_at,
        record.ended_at,
        record.reason,
        record.revert_result.value if record.revert_result else None,
    )


def _attack_from_row(row: tuple[Any, ...]) -> AttackRecord:
    return AttackRecord(
        id=row[0],
        policy=row[1],
        backend=row[2],
        fault=row[3],
        target=Target(**json.loads(row[4])),
        dry_run=bool(row[5]),
        status=Status(row[6]),
        outcome=Outcome(row[7]) if row[7] else None,
        created_at=row[8],
        injected_at=row[9],
        detected_at=row[10],
        recovered_at=row[11],
        ended_at=row[12],
        reason=row[13],
        revert_result=RevertResult(row[14]) if row[14] else None,
    )


def _target_dict(target: Target) -> dict[str, Any]:
    data = asdict(target)
    data["labels"] = dict(target.labels)
    return data


def _dump_injection(injection: Injection) -> str:
    return json.dumps(
        {
            "attack_id": injection.attack_id,
            "backend": injection.backend,
            "target": _target_dict(injection.target),
            "action": injection.action,
            "params": dict(injection.params),
            "revert_action": injection.revert_action,
        }
    )


def _load_injection(text: str) -> Injection:
    data = json.loads(text)
    data["target"] = Target(**data["target"])
    return Injection(**data)
