"""The scheduler's stored jobs: one plain row per job in the journal's SQLite file.

A row holds the job's id, its next run time (seconds since the epoch) and `job`, a text saying
what the job does (its function's name, arguments, trigger and misfire grace). Nothing read back
is executed, imported or unpickled: at start the scheduler rebuilds every job from the policies
and keeps a row's next run time only when its text equals the rebuilt job's (scheduler.py).

Earlier monkeys kept APScheduler's pickled jobs in table `scheduled_runs`; unpickling them would
run whatever code the file holds, so that table is dropped unread.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

TABLE = "scheduled_jobs"
LEGACY_TABLE = "scheduled_runs"  # APScheduler's pickles: never read

_SCHEMA = f"""
DROP TABLE IF EXISTS {LEGACY_TABLE};
CREATE TABLE IF NOT EXISTS {TABLE} (
    id TEXT PRIMARY KEY,
    next_run_time REAL NOT NULL,
    job TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class StoredJob:
    """A row as read: `job` is None when the row is unreadable (it then matches no job)."""

    job: str | None
    next_run_time: datetime


class JobTable:
    """The table in the journal's file (which must exist: it is never made here); safe to share
    between threads."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw",
            uri=True,
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error:
            self._db.close()
            raise

    def load(self) -> dict[str, StoredJob]:
        """Every row by id, soonest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, next_run_time, job FROM {TABLE} ORDER BY next_run_time, id"
            ).fetchall()
        return {str(job_id): _stored(at, job) for job_id, at, job in rows}

    def put(self, job_id: str, job: str, next_run_time: datetime) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT INTO {TABLE} (id, next_run_time, job) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET next_run_time = excluded.next_run_time, "
                "job = excluded.job",
                (job_id, next_run_time.timestamp(), job),
            )

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute(f"DELETE FROM {TABLE} WHERE id = ?", (job_id,))

    def clear(self) -> None:
        with self._lock:
            self._db.execute(f"DELETE FROM {TABLE}")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _stored(at: object, job: object) -> StoredJob:
    if isinstance(at, int | float) and isinstance(job, str) and math.isfinite(at):
        try:
            return StoredJob(job, datetime.fromtimestamp(at, UTC))
        except (OverflowError, OSError, ValueError):
            pass
    return StoredJob(None, datetime.fromtimestamp(0, UTC))
