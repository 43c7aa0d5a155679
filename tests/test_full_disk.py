"""A disk that fills while the engine writes its own SQLite files — the local store, a
connector's state — stops the command with one line naming the file (exit 2), and what was
stored before stays whole. Real files on a real, small filesystem (tmpfs)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.small_disk import small_filesystem
from tests.test_cli import assert_one_line_error, lineage
from tests.test_storage_events import KEY, s3

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "estate.yaml"


def _events(path: Path, count: int) -> Path:
    """`count` S3 creations, each of its own series (a copy each)."""
    path.write_text(json.dumps({"Records": [
        s3("ObjectCreated:Put", KEY.replace("1.2.3.4", f"1.2.3.{n}").format(f"i{n}"),
           "2024-03-01T12:00:00Z", f"{n:08x}") for n in range(count)]}), encoding="utf-8")
    return path


def test_a_local_store_whose_disk_fills_keeps_what_it_stored(tmp_path: Path) -> None:
    events = _events(tmp_path / "events.json", 3000)
    with small_filesystem(tmp_path / "small", "256k") as small:
        store = str(small / "lineage.db")
        first = lineage("--store", store, "ingest", "estate", str(EXAMPLE), cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        full = lineage("--store", store, "ingest", "storage-events", str(events), "--provider",
                       "s3", "--state", str(tmp_path / "events.state"), cwd=tmp_path)
        assert_one_line_error(full, f"cannot write local store {store}: database or disk is "
                              "full (SQLITE_FULL); what was being written was undone")
        stats = lineage("--store", store, "stats", "--json", cwd=tmp_path)
        assert stats.returncode == 0, stats.stderr
        counts = json.loads(stats.stdout)
    assert counts["nodes"]["System"] >= 6  # the estate stored before is whole
    copies = counts["nodes"].get("ArchiveObject", 0)
    assert 0 <= copies < 3000  # the batches committed before the disk filled, not the rest
    assert counts["edges"].get("STORED_IN", 0) == copies  # no copy half-written


def test_a_connectors_state_whose_disk_fills_stops_the_run(tmp_path: Path) -> None:
    events = _events(tmp_path / "events.json", 3000)
    with small_filesystem(tmp_path / "small", "128k") as small:
        state = small / "events.state"
        full = lineage("--store", str(tmp_path / "lineage.db"), "ingest", "storage-events",
                       str(events), "--provider", "s3", "--state", str(state), cwd=tmp_path)
        assert_one_line_error(full, f"cannot write storage-event state {state}: database or "
                              "disk is full (SQLITE_FULL)")
    again = lineage("--store", str(tmp_path / "lineage.db"), "ingest", "storage-events",
                    str(events), "--provider", "s3", "--state", str(tmp_path / "state"),
                    "--json", cwd=tmp_path)  # the same events, the state on a disk with room
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["nodes_by_kind"]["ArchiveObject"] == 3000
