"""IHE ATNA and DIMSE sources, side by side in one run.

ATNA: N "DICOM Instances Transferred" messages (one study each) — the bare XML parse of them
(defusedxml), the engine's parse into events, and the whole ingest (parse, lineage, store write)
into a local store and, with `--neo4j URI` (emptied!), into Neo4j; messages/s.

DIMSE: a throw-away Orthanc (tools.orthanc_local) holding S studies; C-FIND at study level by
the engine (pynetdicom, one association) beside dcmtk's `findscu` on the same archive, and the
engine's whole listing (study then series level); studies/s.

    python -m benchmarks.atna_dimse [--messages 5000] [--studies 200] [--neo4j bolt://...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from defusedxml import ElementTree
from pydicom.uid import generate_uid

from connectors.atna import parse_audit
from connectors.dimse import Dimse, _study_query, listing, parse_target
from lineage.model import Node, Provenance, system_key
from lineage.sources import SourceContext, run_source
from lineage.stores import GraphStore, make_store
from lineage.synthetic import CT, instance, save
from tools.orthanc_local import OrthancServer

FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "atna" / "move-to-dr.xml"
SYSTEM_MAP = FIXTURE.parent / "system-map.yaml"


def messages(count: int) -> list[str]:
    template = FIXTURE.read_text()
    return [template.replace("2.25.1001", f"2.25.9{i:07d}") for i in range(count)]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def atna(count: int, neo4j: str | None, folder: Path) -> None:
    texts = messages(count)
    started = time.perf_counter()
    for text in texts:
        ElementTree.fromstring(text)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        parse_audit(text)
    parsed = time.perf_counter() - started
    print(f"ATNA, {count:,} messages: bare XML parse {rate(count, bare)}, "
          f"parse into events {rate(count, parsed)}")
    (folder / "audit.xml").write_text("\n".join(texts))
    stores = [("local", str(folder / "lineage.db"))] + ([("neo4j", neo4j)] if neo4j else [])
    for name, location in stores:
        store = make_store(location)
        store.open()
        try:
            if name == "neo4j":
                store.clear()
            _systems(store)
            context = SourceContext(store, b"k" * 32, state_path=lambda n: folder / n)
            started = time.perf_counter()
            report = run_source("atna", {"files": [folder / "audit.xml"],
                                         "system_map": SYSTEM_MAP}, context, batch_size=1000)
            seconds = time.perf_counter() - started
            assert not report.rejected, report.rejected[:3]
            print(f"  ingested into the {name} store: {rate(count, seconds)} "
                  f"({seconds:.2f} s; {seconds / bare:.1f}x the bare parse's time)")
        finally:
            store.close()


def _systems(store: GraphStore) -> None:
    prov = Provenance("benchmark", "2026-01-01T00:00:00Z")
    store.upsert([Node(system_key(code), prov, {"kind": "vna"})
                  for code in ("VNA-CENTRAL", "DR-VAULT")])


def dimse(count: int, folder: Path) -> None:
    with OrthancServer(folder / "orthanc") as orthanc:
        for i in range(count):
            path = save(instance(CT, generate_uid(), generate_uid(), "CT",
                                 study_date=f"2024{1 + i % 12:02d}{1 + i % 28:02d}"),
                        folder / "dicom", f"{i}.dcm")
            httpx.post(f"{orthanc.url}/instances", content=path.read_bytes()).raise_for_status()
        target = parse_target(f"127.0.0.1:{orthanc.dicom_port}", "BENCH", "LINEAGETEST")
        engine = Dimse(target)
        engine.echo()
        started = time.perf_counter()
        found = engine.find(_study_query(None))
        ours = time.perf_counter() - started
        engine.close()
        line = (f"DIMSE, {count:,} studies in Orthanc: C-FIND study level, engine "
                f"{rate(count, ours)}")
        if shutil.which("findscu"):
            started = time.perf_counter()
            subprocess.run(["findscu", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k",
                            "StudyInstanceUID", "-aet", "BENCH", "-aec", "LINEAGETEST",
                            "127.0.0.1", str(orthanc.dicom_port)], check=True,
                           capture_output=True)
            theirs = time.perf_counter() - started
            line += f", findscu {rate(count, theirs)} (engine / findscu time {ours / theirs:.2f})"
        print(line + f"; {len(found.matches):,} answers")
        engine = Dimse(target)
        engine.echo()
        started = time.perf_counter()
        listed = listing(engine, date(2024, 1, 1), date(2025, 1, 1), window_days=31).series
        whole = time.perf_counter() - started
        engine.close()
        print(f"  whole listing (studies by 31-day windows, then each study's series): "
              f"{rate(count, whole)} studies, {len(listed):,} series")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--neo4j", help="a Neo4j URI to ingest into too (emptied first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        atna(args.messages, args.neo4j, folder)
        dimse(args.studies, folder)


if __name__ == "__main__":
    main()
