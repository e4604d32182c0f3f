"""The journal's SQLite file: one connection per store, WAL mode, full sync, its tables made."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chaosmonkey.errors import ChaosMonkeyError

DB_ENV = "CHAOSMONKEY_DB"
SYSTEM_DB = Path("/var/lib/chaosmonkey/chaosmonkey.db")  # root's, as packaged
USER_DB = Path("chaosmonkey/chaosmonkey.db")  # under the user's state directory
DEFAULT_DB = f"${DB_ENV}, else {SYSTEM_DB} for root, else ~/.local/state/{USER_DB}"


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
    """One well-known place, whatever the folder a command is run from: $CHAOSMONKEY_DB, else
    /var/lib/chaosmonkey/chaosmonkey.db for root, else the user's state directory
    ($XDG_STATE_HOME, else ~/.local/state)."""
    if path := os.environ.get(DB_ENV):
        return Path(path)
    if os.geteuid() == 0:
        return SYSTEM_DB
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / USER_DB


class SqliteStore:
    """A store in the journal's SQLite file (WAL, full sync, its tables created); safe to share
    between threads of one process."""

    def __init__(
        self,
        path: Path | str,
        schema: str,
        what: str,
        migrations: Sequence[Sequence[str]] = (),
    ) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        new = not self.path.exists()
        if new:  # readable by its owner only: it tells what to revert, and how
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.touch(mode=0o600, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            switch_to_wal(self._db, 30)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(schema)
            if migrations:
                self._migrate(migrations, what)
        except sqlite3.DatabaseError as error:
            raise ChaosMonkeyError(
                f"{self.path}: cannot open the {what} ({error}); expected a chaosmonkey SQLite "
                "database or a new path"
            ) from None

    def _migrate(self, migrations: Sequence[Sequence[str]], what: str) -> None:
        """Brings the file's schema (`PRAGMA user_version`: how many migrations it has had) to
        the latest, one migration per transaction; a file from a newer monkey is refused."""
        for number, statements in enumerate(migrations, start=1):
            with self._transaction() as db:
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if version >= number:
                    continue
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(migrations):
            raise ChaosMonkeyError(
                f"{self.path}: the {what}'s schema is version {version}, newer than this "
                f"chaosmonkey knows ({len(migrations)}): upgrade chaosmonkey"
            )

    @property
    def schema_version(self) -> int:
        return int(self._select("PRAGMA user_version")[0][0])

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
