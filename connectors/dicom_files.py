"""DICOM files → lineage: walk paths, read headers only (both cores for many files), and yield
the records of each series copy in one system.

`scan(paths, source, index)` is the connector: I/O in `read_file` (headers only:
`stop_before_pixels`, `specific_tags`), transforms in `connectors.dicom_records`. A file that is
not DICOM, is truncated, or lacks a UID is reported as `Rejected` with its path and the reason;
the scan goes on. Instance-level references (SourceImageSequence, RT plan and dose references)
are resolved through the store's instance index, in whichever order the files arrive.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pydicom
from pydantic import Field
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from connectors.dicom_header import TAGS, HeaderError, parse_header, parsed_with_warnings
from connectors.dicom_records import (
    DicomSource,
    SeenInstance,
    copy_bundle,
    copy_key,
    group_by_series,
    instance_members,
    instance_references,
    rejection_bundle,
    released_edges,
    study_modalities,
)
from connectors.uid_map import load_uid_map
from lineage.errors import one_line
from lineage.ingest import Sweep
from lineage.model import Confidence, Provenance
from lineage.pipeline import Bundle, Commit, Notice, Pending, Record, Rejected
from lineage.sources import Source, SourceConfig, SourceContext, SystemCode
from lineage.timefmt import format_timestamp, utc_now

PARALLEL_THRESHOLD = 64  # below this many files a process pool costs more than it saves


class InstanceIndex(Protocol):
    def record_instances(self, members: Mapping[str, str]) -> dict[str, list[str]]: ...

    def await_instances(self, waiters: Mapping[str, Sequence[str]]) -> dict[str, str]: ...

    def forget_waiters(self, sops: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class FileFailure:
    location: str
    reason: str


def walk(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Every file under the given files and folders, in a stable order; hidden files skipped."""
    for path in map(Path, paths):
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(folder) / name
        else:
            yield path


def regular_files(paths: Iterable[Path]) -> tuple[list[Path], list[Notice]]:
    """The paths that are regular files (followed through links), and a notice for each of the
    others: a FIFO, a device (a link to /dev/zero) or a socket would block or never end a read."""
    files: list[Path] = []
    skipped: list[Notice] = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            files.append(path)  # gone or unreadable: read_file reports why
            continue
        if stat.S_ISREG(mode):
            files.append(path)
        else:
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                    or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "not a regular file")
            skipped.append(Notice(str(path), f"{kind}, not a file: skipped"))
    return files, skipped


def read_file(path: Path) -> SeenInstance | FileFailure:
    """The header of one file, or why it cannot be used. Never raises for a bad file."""
    location = str(path)
    try:
        stat = path.stat()
        header = parsed_with_warnings(lambda: parse_header(_read_header(path)))
    except FileNotFoundError:
        return FileFailure(location, "no such file")
    except InvalidDicomError as exc:
        return FileFailure(location, f"not a DICOM file ({one_line(exc, 200)})")
    except HeaderError as exc:
        return FileFailure(location, str(exc))
    except Exception as exc:  # truncated or corrupt files raise anything from deep in pydicom
        return FileFailure(location,
                           f"unreadable DICOM ({type(exc).__name__}: {one_line(exc, 200)})")
    stored_at = format_timestamp(datetime.fromtimestamp(stat.st_mtime, UTC))
    return SeenInstance(header, location, size=stat.st_size, stored_at=stored_at)


def _read_header(path: Path) -> Dataset:
    """Headers only. Files without a preamble (some RT exports) are read again with force=True,
    and count as DICOM only if that finds the identifying UIDs."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=TAGS)
    except InvalidDicomError:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=TAGS, force=True)
        if "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
            raise InvalidDicomError(
                "no DICOM preamble, and no SOP Class or Instance UID when read anyway"
            ) from None
        return ds


def read_files(
    paths: Sequence[Path], workers: int | None = None
) -> Iterator[SeenInstance | FileFailure]:
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(paths) < PARALLEL_THRESHOLD:
        yield from map(read_file, paths)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(read_file, paths, chunksize=32)


def scan(
    paths: Iterable[str | Path],
    source: DicomSource,
    index: InstanceIndex,
    workers: int | None = None,
    seen_at: str | None = None,
    sweep: bool = False,
) -> Iterator[Record | Sweep]:
    """The records of a scan of DICOM files held by one system. `sweep`: the paths are
    everything the system holds, so its live copies this scan did not see are disposed."""
    paths = list(paths)
    files, skipped = regular_files(walk(paths))
    if skipped:
        yield Bundle((), "scan", tuple(skipped))
    seen: list[SeenInstance] = []
    for result in read_files(files, workers):
        if isinstance(result, FileFailure):
            yield Rejected(result.location, result.reason)
        else:
            seen.append(result)
    yield from instance_records(seen, source, index, "dicom", seen_at)
    if sweep:
        copies = frozenset(copy_key(source.system, series_key.split(":", 1)[1])
                           for series_key in group_by_series(seen, source))
        yield Sweep(source.system, copies, ", ".join(str(p) for p in paths))


def instance_records(
    seen: list[SeenInstance],
    source: DicomSource,
    index: InstanceIndex,
    connector: str,
    seen_at: str | None = None,
) -> Iterator[Record]:
    """Records of a set of instances of one system: one bundle per series copy, one per IOCM
    rejection note, then the derivation edges that instances of this set let go."""
    prov = Provenance(source.connector(connector), seen_at or utc_now(), Confidence.OBSERVED)
    groups = group_by_series(seen, source)
    members = instance_members(groups)
    waiting = instance_references(groups, members)
    resolved = {**members, **(index.await_instances(waiting) if waiting else {})}
    modalities = study_modalities(groups, source)
    for series_key, instances in groups.items():
        yield Pending(instances[0].location, _copy_builder(series_key, instances, source, prov,
                                                           resolved, modalities))
        for instance in instances:
            if instance.header.rejection is not None:
                yield Pending(instance.location, _rejection_builder(instance, source, prov))
    if not members:
        return
    # The index learns these instances only once their copies are stored, and forgets the
    # waiters they release only once the derivation edges are: a crash in between loses
    # nothing, the next run releases the same waiters again.
    released: dict[str, list[str]] = {}
    yield Commit(lambda: released.update(index.record_instances(members)))
    edges = tuple(released_edges(released, members, prov))
    if edges:
        yield Bundle(edges, "instance index: references waiting for these instances")
    if released:
        yield Commit(lambda: index.forget_waiters(sorted(released)))


def _copy_builder(series_key: str, instances: list[SeenInstance], source: DicomSource,
                  prov: Provenance, resolved: Mapping[str, str],
                  modalities: Mapping[str, list[str]]) -> Callable[[], Bundle]:
    return lambda: copy_bundle(series_key, instances, source, prov, resolved, modalities)


def _rejection_builder(instance: SeenInstance, source: DicomSource,
                       prov: Provenance) -> Callable[[], Bundle]:
    rejection = instance.header.rejection
    assert rejection is not None
    return lambda: rejection_bundle(rejection, source, prov, instance.location)


class DicomFilesConfig(SourceConfig):
    paths: list[Path]
    system: SystemCode
    region: str | None = None
    patient_issuer: str | None = None  # for files without IssuerOfPatientID; default: system
    uid_map: Path | None = None  # CSV original,deidentified of a de-identification run
    deid_namespace: str | None = None  # for Retain-UIDs copies; default: the system
    workers: int | None = Field(default=None, ge=1)
    sweep: bool = False  # the paths are everything the system holds


def _source_records(config: DicomFilesConfig, context: SourceContext) -> Iterator[Record | Sweep]:
    source = DicomSource(
        system=config.system, secret=context.secret, region=config.region,
        patient_issuer=config.patient_issuer, deid_namespace=config.deid_namespace,
        uid_map=load_uid_map(config.uid_map) if config.uid_map else {})
    return scan(config.paths, source, context.store, config.workers, sweep=config.sweep)


SOURCE = Source(
    kind="dicom", summary="DICOM files held by one system (headers only)",
    config_class=DicomFilesConfig, records=_source_records, label=lambda c: f"dicom:{c.system}")
