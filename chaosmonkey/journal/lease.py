"""One leader among the monkeys sharing a journal: a lease with a fencing token, in its database.

The holder keeps the lease until `expires_at` and renews it well before then. Whoever takes a free
or expired lease gets the next token, so a former holder that has not noticed its loss yet is
fenced out: `fence()` reads the row and refuses unless it still names this holder, with the token
this holder was given, and has not expired. Acquire, renew and release are each one
`BEGIN IMMEDIATE` transaction on the journal's file, atomic across processes.

Times are wall-clock (`time.time()`): the monkeys share a clock as they share the file, on one host.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from chaosmonkey.errors import ChaosMonkeyError, NotLeader
from chaosmonkey.journal.store import switch_to_wal

log = structlog.get_logger("chaosmonkey.journal.lease")

DEFAULT_NAME = "leader"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    holder TEXT,
    token INTEGER NOT NULL,
    expires_at REAL NOT NULL
)
"""
_UPSERT = (
    "INSERT INTO lease (name, holder, token, expires_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, "
    "expires_at = excluded.expires_at"
)

Clock = Callable[[], float]
# One step of a write transaction: given the connection and the time, says whether it succeeded.
_Step = Callable[[sqlite3.Connection, float], bool]


@dataclass(frozen=True)
class LeaseRow:
    """The lease as the database holds it; `holder` is None once released."""

    holder: str | None
    token: int
    expires_at: float


class Lease:
    """The lease `name` in the SQLite database at `path`, as seen by `holder_id`.

    `token` is the token of this holder's latest acquisition (None before one, and after a
    release). Every method reads or writes the database: nothing is answered from a cache.
    """

    def __init__(
        self,
        path: Path | str,
        holder_id: str,
        duration_s: float = 10.0,
        *,
        name: str = DEFAULT_NAME,
        clock: Clock = time.time,
    ) -> None:
        self.path = Path(path)
        self.holder_id = holder_id
        self.duration_s = duration_s
        self.name = name
        self.token: int | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._db = _connect(self.path, busy_timeout_s=min(duration_s / 3, 5.0))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def try_acquire(self) -> bool:
        """Takes the lease if it is free, expired or already ours; a taker gets the next token."""
        return self._attempt(self._acquire)

    def renew(self) -> bool:
        """Extends the lease by `duration_s`, if this holder still holds it with its token."""
        return self._attempt(self._renew)

    def release(self) -> None:
        """Frees the lease, if ours, so that another monkey can take it at once."""
        self._attempt(self._release)
        self.token = None

    def is_leader(self) -> bool:
        """Whether the database says this holder holds the lease, with its token, unexpired."""
        try:
            return self.refusal() is None
        except sqlite3.Error:
            return False

    def fence(self) -> None:
        """Raises NotLeader unless this holder holds the lease with its token, unexpired, now."""
        try:
            reason = self.refusal()
        except sqlite3.Error as error:
            reason = f"not the leader: cannot read the lease in {self.path} ({error})"
        if reason:
            raise NotLeader(reason)

    def refusal(self) -> str | None:
        """Why this holder may not change a target now (read from the database), or None."""
        with self._lock:
            row = _read(self._db, self.name)
        return self._refusal(row, self._clock())

    def _refusal(self, row: LeaseRow | None, now: float) -> str | None:
        me = f"this monkey ({self.holder_id}, token {self.token})"
        if row is None or row.holder is None:
            return f"not the leader: lease {self.name!r} in {self.path} is free; {me} holds none"
        if row.holder != self.holder_id or row.token != self.token:
            taken = "was" if row.expires_at <= now else "is"
            return (
                f"not the leader: lease {self.name!r} {taken} taken by {row.holder} with token "
                f"{row.token}, not by {me}"
            )
        if row.expires_at <= now:
            return f"not the leader: the lease of {me} expired {now - row.expires_at:.1f}s ago"
        return None

    def _acquire(self, db: sqlite3.Connection, now: float) -> bool:
        row = _read(db, self.name)
        if row is not None and self._refusal(row, now) is None:
            return self._renew(db, now)
        if row is not None and row.holder is not None and row.expires_at > now:
            return False
        token = (row.token if row else 0) + 1
        db.execute(_UPSERT, (self.name, self.holder_id, token, now + self.duration_s))
        self.token = token
        return True

    def _renew(self, db: sqlite3.Connection, now: float) -> bool:
        cursor = db.execute(
            "UPDATE lease SET expires_at = ? "
            "WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?",
            (now + self.duration_s, self.name, self.holder_id, self.token, now),
        )
        return cursor.rowcount == 1

    def _release(self, db: sqlite3.Connection, now: float) -> bool:
        cursor = db.execute(
            "UPDATE lease SET holder = NULL, expires_at = ? "
            "WHERE name = ? AND holder = ? AND token = ?",
            (now, self.name, self.holder_id, self.token),
        )
        return cursor.rowcount == 1

    def _attempt(self, step: _Step) -> bool:
        """Runs `step` in one `BEGIN IMMEDIATE` transaction; a locked or failing database makes a
        failed attempt (logged), never a lease held by mistake."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                done = step(self._db, self._clock())
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                log.warning("lease_unavailable", path=str(self.path), error=str(error))
                return False
            finally:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            return done


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection of its own to the journal's file, in WAL mode, with the lease table."""
    try:
        db = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        switch_to_wal(db, busy_timeout_s)
        db.execute("PRAGMA synchronous=FULL")
        db.execute(_SCHEMA)
    except sqlite3.DatabaseError as error:
        raise ChaosMonkeyError(
            f"{path}: cannot open the lease ({error}); expected a chaosmonkey SQLite database"
        ) from None
    return db


def _read(db: sqlite3.Connection, name: str) -> LeaseRow | None:
    sql = "SELECT holder, token, expires_at FROM lease WHERE name = ?"
    row = db.execute(sql, (name,)).fetchone()
    return LeaseRow(row[0], row[1], row[2]) if row else None
