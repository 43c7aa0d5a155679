"""Bulk first load: the same connectors and merge rules as `lineage ingest`, written to Neo4j by
its offline importer instead of transaction by transaction.

0. **Check**: what the import would refuse (not a Neo4j home, its server running, the database
   there already without `overwrite`) is told before anything is staged.
1. **Stage**: every source runs through the ingest service (`lineage.ingest.ingest`) into a
   `StagingStore` in memory: the same pipeline, batches and `apply_batch`, so conflicts,
   placeholders and provenance come out as they would in Neo4j. Staging stops with a clear
   error when the machine's memory left falls below a floor (`Target.memory_floor`), before
   the machine runs out.
   Then the disk the files and the store will take is estimated and compared with the free
   space of their filesystems (`disk`), before a byte is written (`Target.disk_check`).
2. **Files**: the staged graph becomes node and relationship CSV files (`import_files`),
   written by several processes at once on a large graph (`Target.writers`).
3. **Import**: `neo4j-admin database import full` writes the database's store files directly
   (the server of that home must be stopped: the import is offline).
4. **Finish**: once the server is up (`start_with` starts it, else the server is waited for),
   the store is opened — which creates the constraints and indexes it expects — and the few
   values CSV cannot carry are written over Bolt.

A backfilled database equals one loaded by `ingest` with the same batch size (a test compares
them by `canonical_digest`); afterwards `ingest`, listeners and followers keep it current.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineage.backfill.disk import (
    STORE_PER_FILE_BYTE,
    Need,
    check_disk_space,
    estimated_file_bytes,
    folder_bytes,
)
from lineage.backfill.forked import ForkedError
from lineage.backfill.import_files import (
    default_writers,
    import_files_in,
    remove_import_files,
    write_import_files,
    writers_that_fit,
)
from lineage.backfill.neo4j_admin import check_home, run_import, start_server, wait_for_store
from lineage.backfill.staging import StagingStore, staging_floor
from lineage.errors import UserError
from lineage.memory import process_rss, read_meminfo, size_text
from lineage.pipeline import RunReport
from lineage.timefmt import utc_now
from lineage.warm import databases_folder
from lineage.wording import plural

BACKFILL_META = "backfilled_at"  # when the database was loaded by a backfill
# One source of a backfill: runs into the staging store through the ingest service.
StagedSource = Callable[[StagingStore], RunReport]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a backfill goes: a Neo4j home and database, and the server that will serve it."""

    home: Path
    uri: str
    database: str = "neo4j"
    auth: tuple[str, str] | None = None
    overwrite: bool = False
    start_with: str | None = None  # a command that starts the server of `home`
    wait_seconds: float = 300.0
    work: Path | None = None  # where the files go (default: <home>/backfill-<database>)
    writers: int = field(default_factory=default_writers)  # processes writing the files
    # staging stops when the machine's memory left falls below this (bytes; 0: never; None:
    # a tenth of the machine's memory, 1 GiB at least)
    memory_floor: int | None = None
    keep_files: bool = False  # the CSV files are removed once imported unless kept
    disk_check: bool = True  # refuse, before writing, when the disk is too small (`disk`)

    @property
    def folder(self) -> Path:
        # beside the home's import folder, not in it: that one stays empty (LOAD CSV)
        return self.work or self.home / f"backfill-{self.database}"


@dataclass(slots=True)
class BackfillReport:
    runs: list[RunReport] = field(default_factory=list)
    nodes: int = 0
    relationships: int = 0
    conflicts: int = 0
    files: int = 0
    leftovers: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    folder: str = ""
    writers: int = 1
    # bytes: the files and the store as estimated before writing (`disk`), the files as written
    disk: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(sum(r.nodes_by_kind.values()) + sum(r.edges_by_type.values())
                   for r in self.runs)

    @property
    def rejected(self) -> int:
        return sum(len(r.rejected) for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records, "nodes": self.nodes, "relationships": self.relationships,
            "conflicts": self.conflicts, "files": self.files, "leftovers": self.leftovers,
            "rejected": self.rejected, "folder": self.folder, "writers": self.writers,
            "disk": self.disk,
            "seconds": {name: round(value, 3) for name, value in self.seconds.items()},
            "runs": [r.as_dict() for r in self.runs],
        }


def stage(sources: Sequence[StagedSource], staging: StagingStore | None = None,
          say: Callable[[str], None] = lambda _: None) -> tuple[StagingStore, list[RunReport]]:
    """Run the sources, in order, into a staging store, saying what each staged."""
    staging = staging if staging is not None else StagingStore()
    runs = []
    for number, run in enumerate(sources, 1):
        report = run(staging)
        runs.append(report)
        say(f"source {number} of {len(sources)}, {report.source}: {report.records:,} records "
            f"({len(report.rejected):,} rejected) in {report.seconds:.1f} s; "
            f"{len(staging.nodes):,} nodes and "
            f"{len(staging.edges_by_id):,} edges staged")
    return staging, runs


def _watched(staging: StagingStore | None, target: Target, say: Callable[[str], None]
             ) -> StagingStore:
    """The staging store, watching the memory left against the target's floor."""
    floor = staging_floor(target.memory_floor)
    if staging is None:
        staging = StagingStore(floor)
    elif not staging.memory_floor:
        staging.memory_floor = floor
    if not staging.memory_floor:
        say("the memory left on this machine is not watched while staging")
    return staging


def _writers_that_fit(wanted: int, floor: int, say: Callable[[str], None]) -> int:
    """`wanted` writers, or fewer when their children's copies of the staged graph would take
    the memory left below the floor."""
    if wanted == 1 or not floor:
        return wanted
    try:
        spare, staged = read_meminfo().get("MemAvailable", 0) - floor, process_rss()
    except OSError:
        return wanted
    fit = writers_that_fit(wanted, spare, staged)
    if fit < wanted:
        say(f"writing the files with {plural(fit, 'process', 'processes')} instead of {wanted}:"
            f" each more copies part of the {size_text(staged)} staged, and the memory"
            " left would fall below the floor (--memory-floor)")
    return fit


def disk_needs(staging: StagingStore, target: Target) -> list[Need]:
    """What the import files and the store of the staged graph will take, and where."""
    files = estimated_file_bytes(staging)
    database = databases_folder(target.home) / target.database
    # an import that overwrites deletes the database's folder first (neo4j-admin 5)
    freed = folder_bytes(database) if target.overwrite else 0
    earlier = sum(path.stat().st_size for path in import_files_in(target.folder)
                  ) if target.folder.is_dir() else 0  # an earlier run's, replaced
    return [Need("the import files", target.folder, files, earlier),
            Need("the store", database, round(STORE_PER_FILE_BYTE * files), freed)]


def _remove_files(folder: Path) -> int:
    try:
        return remove_import_files(folder)
    except OSError:  # a folder that could not be made or read: nothing of ours in it
        return 0


def backfill(sources: Sequence[StagedSource], target: Target,
             staging: StagingStore | None = None,
             say: Callable[[str], None] = lambda _: None) -> BackfillReport:
    """Stage the sources, write the import files, import them, and finish on the server."""
    report = BackfillReport(folder=str(target.folder))
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[name] = now - clock
        clock = now

    check_home(target.home, target.database, target.overwrite)
    staging, report.runs = stage(sources, _watched(staging, target, say), say)
    staging.set_meta(BACKFILL_META, utc_now())  # also: the import never has nothing to load
    lap("stage")
    say(f"staged {report.records:,} records: {len(staging.nodes):,} nodes, "
        f"{len(staging.edges_by_id):,} edges")
    needs = disk_needs(staging, target)
    report.disk = {"estimated_files": needs[0].bytes, "estimated_store": needs[1].bytes}
    say("; ".join(f"{need.what} will take about {size_text(need.bytes)} in {need.folder}"
                  for need in needs))
    if target.disk_check:
        check_disk_space(needs)
    try:
        target.folder.mkdir(parents=True, exist_ok=True)
        files = write_import_files(staging, target.folder,
                                   _writers_that_fit(target.writers, staging.memory_floor, say))
    except (OSError, ForkedError) as exc:  # a full disk, a folder that cannot be written
        _remove_files(target.folder)  # what was written of them is of no use, and takes the disk
        raise UserError(f"cannot write the import files in {target.folder}: {exc}") from None
    report.disk["files"] = sum(file.path.stat().st_size for file in files.files)
    report.nodes, report.relationships = files.nodes, files.relationships
    report.writers = files.writers
    report.conflicts, report.files = len(staging.conflict_by_id), len(files.files)
    report.leftovers = len(files.leftovers)
    staging.clear()  # the files hold it now; the import wants the memory
    lap("files")
    say(f"wrote {len(files.files)} files to {target.folder}; importing into "
        f"{target.database!r} at {target.home}")
    run_import(target.home, target.database, files, target.overwrite, target.folder)
    if not target.keep_files:
        say(f"removed the import files ({size_text(_remove_files(target.folder))}); "
            "the import's log and report stay")
    lap("import")
    if target.start_with:
        say(f"starting the server: {target.start_with}")
        start_server(target.start_with, target.home)
    else:
        say(f"waiting for Neo4j at {target.uri} (start the server of {target.home})")
    store = wait_for_store(target.uri, target.auth, target.database, target.wait_seconds)
    try:
        store.create_exactly(files.leftovers.nodes, files.leftovers.edges)
    finally:
        store.close()
    lap("finish")
    report.seconds["total"] = time.perf_counter() - started
    return report
