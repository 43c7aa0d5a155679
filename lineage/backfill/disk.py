"""The disk a backfill needs, told before it writes a byte.

The import files and then the store are written beside a Neo4j home, often on the disk of the
server that serves other databases: a disk filled half-way through leaves a half-written folder
and can stop that server. So once the graph is staged (its size known) and before the files are
written, the backfill estimates what both will take and refuses, with the figures, when a
filesystem has less free space than that.

- **Files**: the CSV rows of a stride sample of the staged nodes and relationships (every
  element staged has the same chance), their mean size times the counts, and the headers
  (`import_files.estimated_size`); a tenth more.
- **Store**: the files' size times `STORE_PER_FILE_BYTE`, measured on this project's estates
  after the import and the server's first start (its indexes), with a margin.

Where the files and the store share a filesystem (the default: both beside the home), they are
counted together: the files are removed only after the import. A database the import replaces
(`--overwrite`) frees its own size first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lineage.backfill.import_files import estimated_size
from lineage.backfill.staging import StagingStore
from lineage.errors import UserError
from lineage.memory import size_text
from lineage.warm import store_files

SAMPLE = 4096  # nodes and relationships sampled each
# The store's bytes per byte of import files: measured 2.33 at S and 2.36 at M (BENCHMARKS.md,
# eighteenth session), with a margin for the estates one has not measured.
STORE_PER_FILE_BYTE = 2.75
FILES_MARGIN = 1.1  # the files' estimate is a sample's: a tenth more
FreeSpace = Callable[[Path], int]


def estimated_file_bytes(staging: StagingStore) -> int:
    """About how many bytes the import files of the staged graph take, with a margin."""
    return round(FILES_MARGIN * estimated_size(staging, SAMPLE))


def free_bytes(path: Path) -> int:
    """Free bytes for this process on the filesystem of `path` or of its nearest existing
    folder (`path` may not exist yet)."""
    return shutil.disk_usage(_existing(path)).free


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def folder_bytes(folder: Path) -> int:
    """The bytes of the files of a database folder (0 when there is none)."""
    return sum(size for _, size in store_files(folder)) if folder.is_dir() else 0


@dataclass(frozen=True, slots=True)
class Need:
    """What one folder of the backfill will take, and what is freed there first."""

    what: str  # "the import files", "the store"
    folder: Path
    bytes: int
    freed: int = 0


def check_disk_space(needs: Iterable[Need], free: FreeSpace = free_bytes) -> None:
    """Refuse, naming each filesystem that is short, when the needs of the folders on one
    filesystem add up to more than its free space and what is freed there first."""
    by_device: dict[int, list[Need]] = {}
    for need in needs:
        by_device.setdefault(os.stat(_existing(need.folder)).st_dev, []).append(need)
    short = []
    for group in by_device.values():
        wanted, freed = sum(need.bytes for need in group), sum(need.freed for need in group)
        available = free(group[0].folder) + freed
        if wanted > available:
            if len(group) == 1:
                parts = f"{group[0].what} need about {size_text(wanted)} in {group[0].folder},"
            else:
                parts = " and ".join(f"{need.what} (about {size_text(need.bytes)}, in "
                                     f"{need.folder})" for need in group)
                parts += f" need {size_text(wanted)}"
            frees = f" (with the {size_text(freed)} the backfill frees first)" if freed else ""
            short.append(f"{parts} on a filesystem that has {size_text(available)} free{frees}")
    if short:
        raise UserError("not enough disk space for the backfill: " + "; ".join(short) +
                        ". Nothing was written to disk. Free space, put the import files on "
                        "another disk (--work), or skip this check (--no-disk-check)")
