"""DICOM header ingestion rate, beside the bare pydicom header-read rate of the same files.

    python -m benchmarks.dicom_ingest [--files 3000] [--series 60] [--neo4j bolt://...]

Writes N copies of pydicom's CT_small.dcm (pixel data included, so file I/O is realistic) with
fresh UIDs in `--series` series, then measures in one run, on the same files:
  1. bare read, 1 process: dcmread(stop_before_pixels, specific_tags) of every file;
  2. bare read, all cores: the same through the connector's process pool;
  3. ingest into a fresh local store: `lineage ingest dicom` end to end (scan + pipeline);
  4. ingest into Neo4j (NEO4J_URI or --neo4j; the database is cleared first).
Prints a table with files/s and the ratio of each ingest to each bare rate; writes
benchmarks/results/dicom_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from connectors.dicom_files import read_files, scan, walk
from connectors.dicom_header import TAGS
from connectors.dicom_records import DicomSource
from lineage.ingest import ingest as ingest_records
from lineage.stores import GraphStore, LocalStore, Neo4jStore

RESULTS = Path(__file__).parent / "results" / "dicom_ingest.json"


def write_files(folder: Path, count: int, series: int) -> list[Path]:
    template = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    studies = [generate_uid() for _ in range(max(1, series // 3))]
    series_uids = [(studies[i % len(studies)], generate_uid()) for i in range(series)]
    paths = []
    for index in range(count):
        study, series_uid = series_uids[index % series]
        template.StudyInstanceUID, template.SeriesInstanceUID = study, series_uid
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.PatientID = f"P{index % 500:04d}"
        path = folder / f"s{index % series:03d}" / f"i{index:05d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        template.save_as(path)
        paths.append(path)
    return paths


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def bare_read(paths: list[Path]) -> int:
    for path in paths:
        pydicom.dcmread(path, stop_before_pixels=True, specific_tags=TAGS)
    return len(paths)


def ingest(store: GraphStore, folder: Path) -> int:
    source = DicomSource("BENCH-PACS", b"b" * 32)
    report = ingest_records(store, scan([folder], source, store), "dicom:BENCH", batch_size=1000)
    assert not report.rejected, report.rejected[:3]
    return report.written.nodes_created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--series", type=int, default=60)
    parser.add_argument("--neo4j", default=os.environ.get("NEO4J_URI"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lineage-bench-"))
    try:
        paths = write_files(work / "files", args.files, args.series)
        for path in paths:  # warm the page cache: every measurement reads from memory
            path.read_bytes()
        rows: dict[str, float] = {}
        seconds, _ = timed(lambda: bare_read(paths))
        rows["bare read, 1 process"] = seconds
        seconds, _ = timed(lambda: list(read_files(list(walk([work / "files"])))))
        rows[f"bare read, {os.cpu_count()} processes"] = seconds
        with LocalStore(work / "bench.db") as local:
            rows["ingest into local store"], _ = timed(lambda: ingest(local, work / "files"))
        if args.neo4j:
            with Neo4jStore(args.neo4j) as neo4j:
                neo4j.clear()
                rows["ingest into Neo4j"], _ = timed(lambda: ingest(neo4j, work / "files"))
                neo4j.clear()
        report(rows, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(rows: dict[str, float], args: argparse.Namespace) -> None:
    rates = {name: args.files / seconds for name, seconds in rows.items()}
    bare = [name for name in rates if name.startswith("bare")]
    machine = platform.processor() or platform.machine()
    print(f"{args.files} files in {args.series} series; {machine}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"{'measurement':32} {'seconds':>8} {'files/s':>9}  " + "  ".join(
        f"vs {name}" for name in bare))
    for name, seconds in rows.items():
        ratios = "  ".join(f"{rates[name] / rates[b]:>{len(b) + 3}.0%}" for b in bare)
        print(f"{name:32} {seconds:8.2f} {rates[name]:9.0f}  {ratios}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "files": args.files, "series": args.series, "cores": os.cpu_count(),
        "python": platform.python_version(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime()),
        "seconds": rows, "files_per_second": rates,
        "ratios": {name: {b: rates[name] / rates[b] for b in bare} for name in rates},
    }, indent=2) + "\n")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
