"""The durable state of an Orthanc change-feed follower, in a small SQLite file of its own:

- the checkpoint: the `Last` of the last page whose records the store committed;
- Orthanc instance ID → Orthanc series ID, and Orthanc series ID → series key. Orthanc IDs are
  hashes, and a `Deleted` change gives only the ID, so the mapping is kept while the resource
  exists.

Orthanc 1.10 drops the log entries of deleted resources instead of logging `Deleted`, so the
follower also sweeps: it lists what Orthanc holds and compares it with these maps.

The follower saves the checkpoint only after the store committed the page, so a crash repeats at
most one page, and the store's idempotent upserts make the repeat harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.state_file import open_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoint (source TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, series TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (id TEXT PRIMARY KEY, series_key TEXT NOT NULL) WITHOUT ROWID;
"""


class FollowerState:
    def __init__(self, path: Path, source: str):
        self.path = path
        self.source = source
        self.db = open_state(path, SCHEMA, "follower state")

    @property
    def checkpoint(self) -> int:
        row = self.db.execute("SELECT seq FROM checkpoint WHERE source = ?",
                              (self.source,)).fetchone()
        return int(row[0]) if row else 0

    def save_checkpoint(self, seq: int) -> None:
        self.db.execute("INSERT INTO checkpoint (source, seq) VALUES (?, ?) "
                        "ON CONFLICT (source) DO UPDATE SET seq = excluded.seq", (self.source, seq))

    def remember_instances(self, parents: Mapping[str, str]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO instances (id, series) VALUES (?, ?)",
                            parents.items())

    def series_of_instance(self, instance_id: str) -> str | None:
        row = self.db.execute("SELECT series FROM instances WHERE id = ?",
                              (instance_id,)).fetchone()
        return str(row[0]) if row else None

    def remember_series(self, keys: Mapping[str, str]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO series (id, series_key) VALUES (?, ?)",
                            keys.items())

    def series_key(self, series_id: str) -> str | None:
        row = self.db.execute("SELECT series_key FROM series WHERE id = ?",
                              (series_id,)).fetchone()
        return str(row[0]) if row else None

    def known_series(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, series_key FROM series"))

    def known_instances(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, series FROM instances"))

    def forget(self, series_ids: list[str], instance_ids: list[str]) -> None:
        self.db.executemany("DELETE FROM series WHERE id = ?", ((i,) for i in series_ids))
        self.db.executemany("DELETE FROM instances WHERE id = ?", ((i,) for i in instance_ids))

    def close(self) -> None:
        self.db.close()
