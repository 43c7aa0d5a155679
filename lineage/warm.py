"""Reading a Neo4j database's store files into the operating system's file cache.

Neo4j Community starts with an empty page cache and fills it as queries touch pages: on a store
larger than memory, on a disk that reads at random far slower than in sequence, the first
reports after a start, the first daily delta and the population of a new index wait on random
reads for minutes or hours. Reading the files once, in sequence, puts them in the OS file
cache, from which Neo4j's page faults are then served at memory speed.

A budget of memory (by default what the OS reports as available, less the page cache and heap
the server's neo4j.conf sets, which it fills later, and a margin) goes to the record stores
(nodes, relationships, properties, tokens) and the indexes first, smallest first, then to the
stores of long strings and arrays. The files chosen are read in the reverse order, so that the
most needed are the last the kernel would drop. Reading is safe while the server runs: the
files are only read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineage.errors import UserError
from lineage.memory import MEMINFO, read_meminfo, reserve

_CHUNK = 8 << 20
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d{1,15}(?:\.\d{1,6})?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
# Neo4j's own rule for database names: ASCII letters, digits, dots and dashes.
_DATABASE = re.compile(r"^[A-Za-z][A-Za-z0-9.-]{0,62}\Z")


def parse_size(text: str, what: str = "size") -> int:
    """'512m', '12G', '1.5GiB', '4096' → bytes."""
    match = _SIZE.match(text)
    if not match:
        raise UserError(f"{what} {text[:40]!r} is not a size: use bytes or a number with k, m, "
                        "g or t (e.g. 12g)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def check_database_name(database: str) -> None:
    if not _DATABASE.match(database):
        raise UserError(f"{database[:64]!r} is not a Neo4j database name (letters, digits, dots "
                        "and dashes, starting with a letter)")


def databases_folder(home: Path) -> Path:
    """Where a Neo4j home keeps its databases: `<data>/databases`, the data folder as its
    neo4j.conf sets it (`server.directories.data`, relative to the home), else `data`."""
    data = Path(_conf_value(home, "server.directories.data") or "data")
    return (data if data.is_absolute() else home / data) / "databases"


def database_folder(home: Path, database: str) -> Path:
    check_database_name(database)
    folder = databases_folder(home) / database
    if not folder.is_dir():
        raise UserError(f"no database {database!r} in the Neo4j home {home} "
                        f"({folder} is not a folder)")
    return folder


# Stores of the values too long for a property record: read only for such values, so last.
_LONG_VALUES = (".db.strings", ".db.arrays")


def _order_of_need(item: tuple[Path, int]) -> tuple[bool, int, str]:
    path, size = item
    return path.name.endswith(_LONG_VALUES), size, str(path)


def store_files(folder: Path) -> list[tuple[Path, int]]:
    """The database's regular files (symbolic links are not followed) in the order the budget
    goes to them: the record stores (nodes, relationships, properties, tokens) and the indexes
    smallest first, then the stores of long strings and arrays."""
    found: list[tuple[Path, int]] = []
    pending = [folder]
    while pending:
        for entry in sorted(pending.pop().iterdir()):
            if entry.is_symlink():
                continue
            if entry.is_dir():
                pending.append(entry)
            elif entry.is_file():
                found.append((entry, entry.stat().st_size))
    return sorted(found, key=_order_of_need)


def _meminfo(path: Path = MEMINFO) -> dict[str, int]:
    try:
        return read_meminfo(path)
    except OSError:
        raise UserError(f"cannot tell the memory available here ({path} cannot be read): give "
                        "--budget") from None


def _conf_value(home: Path, setting: str) -> str | None:
    """A setting of the home's neo4j.conf; None when it is not set."""
    conf = home / "conf" / "neo4j.conf"
    if not conf.is_file():
        return None
    for line in conf.read_text(encoding="utf-8", errors="replace").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == setting and value.strip():
            return value.strip()
    return None


def _configured(home: Path, setting: str) -> int:
    """A memory size set in the home's neo4j.conf; 0 when it is not set."""
    value = _conf_value(home, setting)
    return 0 if value is None else parse_size(value, setting)


def configured_page_cache(home: Path) -> int:
    return _configured(home, "server.memory.pagecache.size")


def default_budget(home: Path, meminfo: Callable[[], dict[str, int]] = _meminfo) -> int:
    """What can be cached without pushing out the server: available memory, less the page
    cache and heap the server will still fill (as its neo4j.conf sets them), less a margin
    for everything else (a tenth of the machine's memory, 1 GiB at least)."""
    memory = meminfo()
    margin = reserve(memory)
    server = configured_page_cache(home) + _configured(home, "server.memory.heap.max_size")
    return max(0, memory.get("MemAvailable", 0) - server - margin)


@dataclass(slots=True)
class WarmReport:
    database: str
    budget: int
    store_bytes: int = 0
    read_bytes: int = 0
    files_read: int = 0  # read to their end
    partial: list[str] = field(default_factory=list)  # read up to the budget
    skipped: list[str] = field(default_factory=list)  # not read: over the budget
    unreadable: list[str] = field(default_factory=list)  # "name: reason"; the rest goes on
    seconds: float = 0.0

    @property
    def mib_per_s(self) -> float:
        return self.read_bytes / (1 << 20) / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "budget_bytes": self.budget,
                "store_bytes": self.store_bytes, "read_bytes": self.read_bytes,
                "files_read": self.files_read, "partial": self.partial,
                "skipped": self.skipped, "unreadable": self.unreadable,
                "seconds": round(self.seconds, 1), "mib_per_s": round(self.mib_per_s, 1)}


def _read(path: Path, limit: int, buffer: memoryview) -> int:
    """Read up to `limit` bytes of `path` in sequence; the bytes read."""
    done = 0
    with path.open("rb", buffering=0) as stream:
        while done < limit:
            got = stream.readinto(buffer[:min(len(buffer), limit - done)])
            if not got:
                break
            done += got
    return done


def _budgeted(files: list[tuple[Path, int]], budget: int
              ) -> Iterator[tuple[Path, int, int]]:
    """(file, size, bytes to read) for every file in order, until the budget is spent."""
    left = budget
    for path, size in files:
        take = min(size, left)
        left -= take
        yield path, size, take


def warm(home: Path, database: str = "neo4j", budget: int | None = None,
         say: Callable[[str], None] = lambda text: None) -> WarmReport:
    """Read the database's store files into the OS file cache in `store_files`' order, within
    `budget` bytes (default: `default_budget`)."""
    folder = database_folder(home, database)
    report = WarmReport(database=database,
                        budget=default_budget(home) if budget is None else budget)
    read_files(folder, store_files(folder), report, say)
    return report


def read_files(folder: Path, files: list[tuple[Path, int]], report: WarmReport,
               say: Callable[[str], None] = lambda text: None) -> None:
    """Read `files` (with their sizes, in `store_files`' order) within the report's budget. The
    files chosen are read last first: should the cache still run short, the kernel drops what
    was read longest ago, the least needed. A file that cannot be read (removed by the server
    since it was listed) is noted and skipped."""
    report.store_bytes = sum(size for _, size in files)
    chosen = []
    for path, size, take in _budgeted(files, report.budget):
        name = str(path.relative_to(folder))
        if take == 0 and size > 0:
            report.skipped.append(name)
        else:
            chosen.append((path, name, size, take))
    buffer = memoryview(bytearray(_CHUNK))
    started = time.perf_counter()
    for path, name, size, take in reversed(chosen):
        try:
            read = _read(path, take, buffer)
        except OSError as exc:
            report.unreadable.append(f"{name}: {exc.strerror or type(exc).__name__}")
            continue
        report.read_bytes += read
        if take < size:
            report.partial.append(name)
        else:
            report.files_read += 1
        if size >= 1 << 30:
            say(f"read {name}: {read / (1 << 30):.1f} of {size / (1 << 30):.1f} GiB")
    report.seconds = time.perf_counter() - started
