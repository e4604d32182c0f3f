"""The durable record of every attack and fault, in SQLite.

An attack is written before anything is injected and its fault stays open until reverted, so a
new process (after a crash, or `chaosmonkey revert --all`) knows exactly what to undo. Each write
is one transaction in WAL mode with full sync: a crash leaves the last committed state.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaosmonkey.faults import PLANS, Injection
from chaosmonkey.faults.legacy import plan_from_v0
from chaosmonkey.journal.store import SqliteStore
from chaosmonkey.model import (
    AttackRecord,
    Outcome,
    RevertResult,
    ServiceImpact,
    ServiceObservation,
    Status,
    Target,
)

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
# Each migration brings the schema one version up (the file's `PRAGMA user_version`); the
# schema above is version 0, as 0.1 made it, so every journal takes the same path.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the target's recovery and the service's, apart
        "ALTER TABLE attacks ADD COLUMN target_detected_at REAL",
        "ALTER TABLE attacks ADD COLUMN target_recovered_at REAL",
        "ALTER TABLE attacks ADD COLUMN service_impact TEXT",
        "ALTER TABLE attacks ADD COLUMN service_detected_at REAL",
        "ALTER TABLE attacks ADD COLUMN service_recovered_at REAL",
        "ALTER TABLE attacks ADD COLUMN degraded_seconds REAL",
        "ALTER TABLE attacks ADD COLUMN worst_latency_s REAL",
    ),
)
_COLUMNS = (
    "id", "policy", "backend", "fault", "target", "dry_run", "status", "outcome", "created_at",
    "injected_at", "detected_at", "recovered_at", "ended_at", "reason", "revert_result",
    "target_detected_at", "target_recovered_at", "service_impact", "service_detected_at",
    "service_recovered_at", "degraded_seconds", "worst_latency_s",
)
_ATTACK_COLUMNS = ", ".join(_COLUMNS)
_OBSERVED = _COLUMNS[_COLUMNS.index("target_detected_at") :]
# The end of a failed revert's reason; a later try that succeeds replaces it with its result.
STILL_ACTIVE = "the fault stays recorded as active"
# An attack the retention may delete: finished, its fault (if any) reverted, no failed revert.
_PRUNABLE = (
    "status = 'done' AND COALESCE(ended_at, created_at) < ? "
    "AND COALESCE(revert_result, '') != 'failed' AND NOT EXISTS "
    "(SELECT 1 FROM faults WHERE faults.attack_id = attacks.id AND faults.state != 'reverted')"
)


class Journal(SqliteStore):
    """Every attack and fault, and the kill switch."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, _SCHEMA, "journal", MIGRATIONS)

    def record_attack(self, record: AttackRecord, injection: Injection | None = None) -> None:
        """Writes a new attack, and the fault it is about to inject, in one transaction."""
        with self._transaction() as db:
            db.execute(
                f"INSERT INTO attacks ({_ATTACK_COLUMNS}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                _attack_row(record),
            )
            if injection is not None:
                db.execute(
                    "INSERT INTO faults (attack_id, backend, injection, state, recorded_at) "
                    "VALUES (?, ?, ?, 'planned', ?)",
                    (record.id, injection.backend, _dump_injection(injection), time.time()),
                )

    def begin_apply(self, attack_id: str) -> str | None:
        """Right before its fault is applied, in one transaction with the kill switch: the fault
        turns active (it may be in place from now on), unless the switch is set or the fault was
        reverted meanwhile (`halt`, `revert --all`). Returns why it must not be applied, or None.

        Whoever sets the switch after this sees the fault active and waits for its monkey to
        revert it; a monkey that comes here after the switch applies nothing."""
        with self._transaction() as db:
            halted = db.execute("SELECT reason FROM halt").fetchone()
            if halted:
                return f"halted: {halted[0]}"
            moved = db.execute(
                "UPDATE faults SET state = 'active' WHERE attack_id = ? AND state = 'planned'",
                (attack_id,),
            ).rowcount
        return None if moved else "its fault was reverted before it was applied"

    def mark_injected(self, record: AttackRecord) -> None:
        """The call that applies the fault was made (its fault is active since `begin_apply`)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE attacks SET status = ?, injected_at = ? WHERE id = ?",
                (Status.INJECTED.value, record.injected_at, record.id),
            )

    def mark_reverted(self, attack_id: str, result: RevertResult) -> None:
        """The fault is no longer in place; an attack that ended with its revert failed says
        what a later try found instead."""
        later = f"{result.value} by a later try"
        with self._transaction() as db:
            db.execute(
                "UPDATE faults SET state = 'reverted', reverted_at = ?, revert_result = ? "
                "WHERE attack_id = ? AND state != 'reverted'",
                (time.time(), result.value, attack_id),
            )
            db.execute(
                "UPDATE attacks SET reason = CASE WHEN revert_result = 'failed' "
                "THEN REPLACE(reason, ?, ?) ELSE reason END, revert_result = ? WHERE id = ?",
                (STILL_ACTIVE, later, result.value, attack_id),
            )

    def finish(self, record: AttackRecord) -> None:
        """Writes the outcome and the measured times."""
        observed = ", ".join(f"{column} = ?" for column in _OBSERVED)
        with self._transaction() as db:
            db.execute(
                "UPDATE attacks SET status = ?, outcome = ?, detected_at = ?, recovered_at = ?, "
                f"ended_at = ?, reason = ?, {observed}, "
                "revert_result = COALESCE(?, revert_result) WHERE id = ?",
                (
                    Status.DONE.value,
                    record.outcome.value if record.outcome else None,
                    record.detected_at,
                    record.recovered_at,
                    record.ended_at,
                    record.reason,
                    *_observed_row(record),
                    record.revert_result.value if record.revert_result else None,
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

    def faults_left_open(self) -> list[tuple[AttackRecord, Injection]]:
        """Faults that may be in place although their attacks ended: every try of their revert
        failed, and no process carries them out any more."""
        rows = self._select(
            f"SELECT {', '.join(f'attacks.{c}' for c in _COLUMNS)}, faults.injection "
            "FROM faults JOIN attacks ON attacks.id = faults.attack_id "
            "WHERE faults.state != 'reverted' AND attacks.status = ? ORDER BY faults.recorded_at",
            Status.DONE.value,
        )
        return [(_attack_from_row(row[:-1]), _load_injection(row[-1])) for row in rows]

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

    def attack(self, attack_id: str) -> AttackRecord | None:
        rows = self._select(f"SELECT {_ATTACK_COLUMNS} FROM attacks WHERE id = ?", attack_id)
        return _attack_from_row(rows[0]) if rows else None

    def prune(self, before: float) -> int:
        """Deletes the attacks that ended before `before` (epoch seconds), and their faults;
        never one unfinished, with a fault that may be in place, or whose revert failed.
        Returns how many attacks were deleted."""
        with self._transaction() as db:
            db.execute(
                f"DELETE FROM faults WHERE attack_id IN (SELECT id FROM attacks WHERE {_PRUNABLE})",
                (before,),
            )
            return int(db.execute(f"DELETE FROM attacks WHERE {_PRUNABLE}", (before,)).rowcount)

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
        *_observed_row(record),
    )


def _observed_row(record: AttackRecord) -> tuple[Any, ...]:
    """The target's recovery, then the service's (all None without a probe)."""
    service = record.service
    seen = (
        (
            service.impact.value,
            service.detected_at,
            service.recovered_at,
            service.degraded_seconds,
            service.worst_latency_s,
        )
        if service
        else (None,) * 5
    )
    return (record.target_detected_at, record.target_recovered_at, *seen)


def _service_from_row(row: tuple[Any, ...]) -> ServiceObservation | None:
    impact, detected_at, recovered_at, degraded_seconds, worst_latency_s = row
    if impact is None:
        return None
    return ServiceObservation(
        ServiceImpact(impact), detected_at, recovered_at, degraded_seconds or 0.0, worst_latency_s
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
        target_detected_at=row[15],
        target_recovered_at=row[16],
        service=_service_from_row(row[17:22]),
    )


def _target_dict(target: Target) -> dict[str, Any]:
    data = asdict(target)
    data["labels"] = dict(target.labels)
    return data


def _dump_injection(injection: Injection) -> str:
    plan = {"kind": injection.plan.kind, **injection.plan.model_dump(mode="json")}
    return json.dumps(
        {
            "attack_id": injection.attack_id,
            "backend": injection.backend,
            "target": _target_dict(injection.target),
            "plan": plan,
        }
    )


def _load_injection(text: str) -> Injection:
    """An injection as recorded, by this version (a `plan` of a registered kind) or by 0.1."""
    data = json.loads(text)
    target = Target(**data["target"])
    if "plan" not in data:
        plan = plan_from_v0(data["backend"], data["action"], data.get("params") or {})
        return Injection(data["attack_id"], target, plan)
    fields = dict(data["plan"])
    kind = fields.pop("kind")
    if kind not in PLANS:
        raise ValueError(f"unknown plan kind {kind!r} in a journal record")
    return Injection(data["attack_id"], target, PLANS[kind].model_validate(fields))
