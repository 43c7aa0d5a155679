"""S3 Inventory (manifest.json + CSV, gzip'd or not) reconciled with the graph.

The CSV files have no header: their columns are the manifest's `fileSchema`; keys are
URL-encoded. Data files are looked up beside the manifest (by their key, by file name, or in
the `data/` folder of the inventory).
The report, for the source bucket's system:
- `uncataloged`: copies the bucket holds that the graph lacks (series or study copies, and keys
  that map to nothing known and are not in the graph either);
- `lost`: copies the graph believes live in the bucket that the inventory does not list;
- `lock_disagreements`: Object Lock dates earlier than the graph's retain_until (the bucket would
  let a copy go before its retention ends), legal holds set in the bucket that no active hold of
  the graph explains, and active holds of the graph that the bucket does not enforce.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from connectors.dicomweb import live_copies
from connectors.storage_events import KeyPatterns, StorageEvent, copy_of
from lineage.errors import UserError
from lineage.ingest import Sweep, ingest
from lineage.model import EdgeType
from lineage.retention.reports import as_of_params
from lineage.stores import GraphStore
from lineage.timefmt import utc_now
from queries.library import run_query
from queries.retention import HELD_COPIES


@dataclass(slots=True)
class InventoryCopy:
    objects: int = 0
    bytes: int = 0
    retain_until: str | None = None  # the earliest Object Lock date of its objects
    legal_hold: bool = False
    keys: list[str] = field(default_factory=list)


def read_inventory(manifest_path: Path) -> tuple[str, list[dict[str, str]]]:
    """(source bucket, rows as dicts by column name) of an inventory."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        bucket = str(manifest["sourceBucket"])
        columns = [c.strip() for c in str(manifest["fileSchema"]).split(",")]
        files = [str(f["key"]) for f in manifest["files"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{manifest_path}: not an S3 Inventory manifest ({exc})") from None
    if manifest.get("fileFormat", "CSV") != "CSV":
        raise UserError(f"{manifest_path}: only CSV inventories are read, not "
                        f"{manifest.get('fileFormat')}")
    rows: list[dict[str, str]] = []
    for key in files:
        path = _data_file(manifest_path.parent, key)
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if key.endswith(".gz") else raw).decode("utf-8")
        for values in csv.reader(io.StringIO(text)):
            if values:
                rows.append(dict(zip(columns, values, strict=False)))
    return bucket, rows


def _data_file(folder: Path, key: str) -> Path:
    name = Path(key).name
    for candidate in (folder / key, folder / name, folder / "data" / name,
                      folder.parent / "data" / name):
        if candidate.is_file():
            return candidate
    raise UserError(f"inventory data file {key} is not beside the manifest in {folder}")


def reconcile_inventory(
    store: GraphStore, manifest_path: Path, patterns: KeyPatterns, as_of: str | None = None
) -> dict[str, Any]:
    bucket, held_in_bucket = inventory_copies(manifest_path, patterns)
    return _compare(store, bucket, held_in_bucket, manifest_path, as_of)


def reconcile_manifest(store: GraphStore, manifest_path: Path, key_patterns: list[str],
                       as_of: str | None = None, sweep: bool = False) -> dict[str, Any]:
    """`lineage reconcile s3-inventory`; `sweep`: the inventory is everything the bucket
    holds, so the copies it lacks are disposed."""
    bucket, held_in_bucket = inventory_copies(manifest_path, KeyPatterns.of(key_patterns))
    result = _compare(store, bucket, held_in_bucket, manifest_path, as_of)
    if sweep:
        report = ingest(store, [Sweep(bucket, frozenset(held_in_bucket), str(manifest_path))],
                        f"s3-inventory:{bucket}")
        result["sweep"] = report.extra["sweeps"][0]
    return result


def inventory_copies(manifest_path: Path, patterns: KeyPatterns
                     ) -> tuple[str, dict[str, InventoryCopy]]:
    """(bucket, copy key → what the inventory lists of it), current versions only."""
    bucket, rows = read_inventory(manifest_path)
    held_in_bucket: dict[str, InventoryCopy] = {}
    for row in rows:
        if row.get("IsLatest", "true").lower() != "true" or row.get(
                "IsDeleteMarker", "false").lower() == "true":
            continue
        key = unquote_plus(row.get("Key", ""))
        event = StorageEvent("s3", bucket, key, "created", utc_now(), str(manifest_path))
        copy, _, _ = copy_of(event, patterns)
        found = held_in_bucket.setdefault(copy, InventoryCopy())
        found.objects += 1
        found.bytes += int(row.get("Size") or 0)
        found.keys.append(key)
        lock = (row.get("ObjectLockRetainUntilDate") or "")[:10] or None
        if lock and (found.retain_until is None or lock < found.retain_until):
            found.retain_until = lock
        found.legal_hold |= row.get("ObjectLockLegalHoldStatus", "").upper() == "ON"
    return bucket, held_in_bucket


def _compare(store: GraphStore, bucket: str, held_in_bucket: dict[str, InventoryCopy],
             manifest_path: Path, as_of: str | None) -> dict[str, Any]:
    system = f"system:{bucket}"
    params = as_of_params(as_of)
    graph = {c.key: c for c in live_copies(store, bucket)}
    graph_keys = {e.src for e in store.edges(system, "in", [EdgeType.STORED_IN])}
    held = {row["key"]: row["holds"] for row in run_query(store, HELD_COPIES, {
        "system": system, "as_of": params["as_of"]})}
    result: dict[str, Any] = {"system": system, "manifest": str(manifest_path),
                              "inventory_objects": sum(c.objects for c in held_in_bucket.values()),
                              "uncataloged": [], "lost": [], "lock_disagreements": []}
    for copy, found in sorted(held_in_bucket.items()):
        if copy not in graph and copy not in graph_keys:
            result["uncataloged"].append({"key": copy, "objects": found.objects,
                                          "bytes": found.bytes, "sample": found.keys[0]})
        node = store.get_node(copy)
        retain_until = node.properties.get("retain_until") if node else None
        if found.retain_until and retain_until and str(retain_until) > found.retain_until:
            result["lock_disagreements"].append({
                "key": copy, "problem": "object lock ends before retention",
                "lock_retain_until": found.retain_until, "retain_until": retain_until})
        if found.legal_hold and copy not in held:
            result["lock_disagreements"].append({
                "key": copy, "problem": "legal hold in the bucket that no active hold explains"})
        if not found.legal_hold and copy in held:
            result["lock_disagreements"].append({
                "key": copy, "problem": "active hold not enforced by the bucket",
                "holds": held[copy]})
    for copy in sorted(set(graph) - set(held_in_bucket)):
        result["lost"].append({"key": copy, "series": f"series:{graph[copy].series_uid}"})
    return result
