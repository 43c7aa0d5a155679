"""The engine's SQLite files (the local store, the connectors' state): a disk that is full or
fails while one is written is a clear error naming the file, never a traceback.

SQLite undoes the statement or transaction that failed, so what was stored before stays; the
command stops (a store that cannot be written is unavailable: exit 2).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lineage.errors import StoreUnavailableError

# SQLite's primary result codes of a disk that is full or fails (extended codes keep them in
# their low byte: SQLITE_IOERR_WRITE is 778 = 10 + (3 << 8))
_DISK_ERRORS = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})


def disk_failed(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _DISK_ERRORS


class CheckedConnection(sqlite3.Connection):
    """A connection whose statements turn a full or failing disk into StoreUnavailableError
    naming the file (`what` and `path`, set by `connect`)."""

    what = "SQLite file"
    path = ""

    def _failed(self, exc: sqlite3.OperationalError) -> Exception:
        if not disk_failed(exc):
            return exc
        return StoreUnavailableError(
            f"cannot write {self.what} {self.path}: {exc} ({exc.sqlite_errorname}); what was "
            "being written was undone: free space on its disk, or put the file on another")

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._failed(exc) from None

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise self._failed(exc) from None

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        try:
            return super().executescript(script)
        except sqlite3.OperationalError as exc:
            raise self._failed(exc) from None


def connect(path: Path, what: str, **options: Any) -> CheckedConnection:
    """Open the SQLite file `path` (`what` names it in errors) as a CheckedConnection."""
    db = sqlite3.connect(path, factory=CheckedConnection, **options)
    assert isinstance(db, CheckedConnection)
    db.what, db.path = what, str(path)
    return db
