"""The durable record: every attack and fault, the kill switch (`attacks`), the leader's lease
(`lease`), in one SQLite file (`store`) that every monkey on a host shares."""

from chaosmonkey.journal.attacks import STILL_ACTIVE, Journal
from chaosmonkey.journal.store import DB_ENV, DEFAULT_DB, SqliteStore, default_path

__all__ = ["DB_ENV", "DEFAULT_DB", "STILL_ACTIVE", "Journal", "SqliteStore", "default_path"]
