"""A connector's own durable state (checkpoints, per-object event order): a small SQLite file
(a full or failing disk while it is written: `lineage.sqlite_files`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lineage.errors import StoreUnavailableError
from lineage.sqlite_files import connect


def open_state(path: Path, schema: str, what: str) -> sqlite3.Connection:
    """Open (creating) the state file with its schema; `what` names it in the error."""
    try:
        db = connect(path, what, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(schema)
    except sqlite3.DatabaseError as exc:
        raise StoreUnavailableError(f"cannot open {what} {path}: {exc}") from None
    return db
