"""S3 Inventory reconciliation: uncataloged, lost, and Object Lock disagreements."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from connectors.s3_inventory import reconcile_inventory
from connectors.storage_events import KeyPatterns
from lineage.model import Edge, EdgeType, Node, Provenance
from lineage.stores import GraphStore, LocalStore
from tests.test_cli import lineage
from tests.test_storage_events import run, s3

PROV = Provenance("test", "2024-01-01")
SCHEMA = ("Bucket, Key, Size, LastModifiedDate, StorageClass, ObjectLockRetainUntilDate, "
          "ObjectLockMode, ObjectLockLegalHoldStatus")


def key(series: str, name: str) -> str:
    return f"studies/1.2/series/{series}/{name}.dcm"


def write_inventory(folder: Path, rows: list[list[str]]) -> Path:
    data = folder / "inventory" / "data" / "part-0.csv.gz"
    data.parent.mkdir(parents=True)
    lines = "\n".join(",".join(f'"{v}"' for v in row) for row in rows) + "\n"
    data.write_bytes(gzip.compress(lines.encode()))
    manifest = folder / "inventory" / "manifest.json"
    manifest.write_text(json.dumps({
        "sourceBucket": "pacs-archive-eu", "destinationBucket": "arn:aws:s3:::inventory",
        "fileFormat": "CSV", "fileSchema": SCHEMA,
        "files": [{"key": "pacs-archive-eu/inv/data/part-0.csv.gz", "size": 1}]}))
    return manifest


def test_inventory_against_the_graph(any_store: GraphStore, tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    run(any_store, events, "s3", {"Records": [
        s3("ObjectCreated:Put", key(series, "i1"), "2024-03-01T00:00:00Z", f"0{n}")
        for n, series in enumerate(["1.2.1", "1.2.2", "1.2.3"])]})
    any_store.upsert([Node("object:pacs-archive-eu:1.2.1", PROV, {"retain_until": "2030-01-01"}),
                      Node("event:hold-9", PROV, {"event_type": "legal_hold",
                                                   "started_at": "2024-01-01"})],
                     [Edge("event:hold-9", EdgeType.APPLIES_TO, "study:1.2", PROV)])
    manifest = write_inventory(tmp_path, [
        ["pacs-archive-eu", key("1.2.1", "i1"), "10", "2024-03-01T00:00:00.000Z", "STANDARD",
         "2025-01-01T00:00:00.000Z", "COMPLIANCE", "OFF"],
        ["pacs-archive-eu", key("1.2.2", "i1"), "10", "2024-03-01T00:00:00.000Z", "STANDARD",
         "", "", "ON"],
        ["pacs-archive-eu", key("1.2.4", "i1").replace(".dcm", "+copy.dcm"), "5",
         "2024-03-01T00:00:00.000Z", "GLACIER", "", "", "OFF"],
        ["pacs-archive-eu", "misc/read%20me.txt", "1", "2024-03-01T00:00:00.000Z", "STANDARD",
         "", "", "OFF"],
    ])

    result = reconcile_inventory(any_store, manifest, KeyPatterns.of(), "2024-06-01")

    assert result["inventory_objects"] == 4
    assert [e["key"] for e in result["uncataloged"]] == [
        "object:pacs-archive-eu:1.2.4", "object:pacs-archive-eu:misc/read me.txt"]
    assert [e["key"] for e in result["lost"]] == ["object:pacs-archive-eu:1.2.3"]
    problems = {(e["key"], e["problem"]) for e in result["lock_disagreements"]}
    assert problems == {  # hold-9 covers study 1.2; the bucket holds only 1.2.2
        ("object:pacs-archive-eu:1.2.1", "object lock ends before retention"),
        ("object:pacs-archive-eu:1.2.1", "active hold not enforced by the bucket"),
    }


def test_inventory_cli(tmp_path: Path) -> None:
    manifest = write_inventory(tmp_path, [["pacs-archive-eu", key("1.2.9", "i1"), "1", "", "",
                                           "", "", "OFF"]])
    with LocalStore(tmp_path / "lineage.db"):  # an empty store: reconciling only reads
        pass
    result = lineage("reconcile", "s3-inventory", str(manifest), "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["uncataloged"][0]["key"] == "object:pacs-archive-eu:1.2.9"

    with LocalStore(tmp_path / "lineage.db") as store:  # a copy the inventory no longer lists
        store.upsert([Node("object:pacs-archive-eu:1.2.8", PROV)],
                     [Edge("object:pacs-archive-eu:1.2.8", EdgeType.STORED_IN,
                           "system:pacs-archive-eu", PROV),
                      Edge("object:pacs-archive-eu:1.2.8", EdgeType.COPY_OF, "series:1.2.8",
                           PROV)])
    swept = json.loads(lineage("reconcile", "s3-inventory", str(manifest), "--sweep", "--json",
                               cwd=tmp_path).stdout)
    assert [e["key"] for e in swept["lost"]] == ["object:pacs-archive-eu:1.2.8"]
    assert swept["sweep"]["disposed"] == 1
    with LocalStore(tmp_path / "lineage.db") as store:
        lost = store.get_node("object:pacs-archive-eu:1.2.8")
        assert lost is not None and "disposed_at" in lost.properties
