"""The disk a backfill needs (`lineage.backfill.disk`): the import files' size estimated from a
sample of their rows, what is freed first, and the refusal when a filesystem is too small —
against files really written, without a Neo4j server."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.backfill import Target, disk_needs
from lineage.backfill.disk import Need, check_disk_space, estimated_file_bytes
from lineage.backfill.import_files import csv_row_bytes, write_import_files
from lineage.backfill.staging import StagingStore
from lineage.errors import UserError
from lineage.model import Edge, EdgeType, Node, Properties, Provenance

MIB = 1 << 20
PROV = Provenance("pacs", "2026-02-01T10:00:00Z")
AWKWARD: list[Properties] = [
    {"institution": 'North "General", Ward 3\nannex', "weight": 72.5, "anonymised": False},
    {"tags": ["a,b", "c;d", "é漢字"], "sizes": [1, 2, 3], "note": ""},
    {"modalities": ["CT"], "description": "\r\n\"\"", "count": 2**40},
    {"empty": [], "odd": ["x\x1fy"], "nul": "a\x00b"},  # not carried by the CSV format
]


def _written_bytes(folder: Path) -> tuple[int, int]:
    """The bytes of the files in `folder`, and of their header lines."""
    total = headers = 0
    for path in folder.glob("*.csv"):
        data = path.read_bytes()
        total += len(data)
        headers += data.index(b"\n") + 1
    return total, headers


def test_a_row_is_estimated_to_the_byte_whatever_its_values(tmp_path: Path) -> None:
    """Each row's bytes as written, whatever its values (quotes doubled, new lines, multi-byte
    characters, lists, numbers); with every element sampled, the estimate is the files'."""
    staging = StagingStore()
    staging.set_meta("backfilled_at", "2026-12-03T00:00:00Z")  # a special node, in the files
    for n, props in enumerate(AWKWARD * 25):
        copy = f"object:PACS:2.25.{n}"
        staging.upsert([Node(copy, PROV, props), Node(f"system:S{n % 3}", PROV)],
                       [Edge(copy, EdgeType.STORED_IN, f"system:S{n % 3}", PROV,
                             {"path": f'/a "b",\n{n}'} if n % 2 else {})])
    files = write_import_files(staging, tmp_path)
    total, headers = _written_bytes(tmp_path)
    # what the CSV cannot carry goes over Bolt, not into the files
    left_nodes = {props["key"] for _, props in files.leftovers.nodes}
    left_edges = {(src, kind, dst) for src, kind, dst, _ in files.leftovers.edges}
    assert left_nodes and left_edges
    carried = sum(csv_row_bytes((key,), props) for key, props in staging.nodes.items()
                  if key not in left_nodes)
    carried += sum(csv_row_bytes((src, dst), props)
                   for (src, kind, dst), props in staging.edges_by_id.items()
                   if (src, kind, dst) not in left_edges)
    carried += csv_row_bytes(("backfilled_at",), {"value": "2026-12-03T00:00:00Z"})
    assert carried == total - headers
    # all sampled (a small graph): the estimate is every row and header, the leftovers' rows
    # too (a little more than the files), and a tenth more
    left_rows = sum(csv_row_bytes((str(props["key"]),),
                                  {k: v for k, v in props.items() if k != "key"})
                    for _, props in files.leftovers.nodes)
    left_rows += sum(csv_row_bytes((src, dst), props) for src, _, dst, props in
                     files.leftovers.edges)
    assert estimated_file_bytes(staging) == pytest.approx(1.1 * (total + left_rows), abs=1)


def test_the_estimate_samples_the_whole_graph_not_its_beginning(tmp_path: Path) -> None:
    """Small rows staged first, rows ten times larger after: a sample of the first rows would
    miss them; a stride through all of them does not."""
    staging = StagingStore()
    for start in range(0, 12_000, 1000):
        copies = [f"object:PACS:2.25.{n}" for n in range(start, start + 1000)]
        note = "x" * (20 if start < 6_000 else 400)
        staging.upsert([Node(copy, PROV, {"description": note}) for copy in copies],
                       [Edge(copy, EdgeType.STORED_IN, "system:PACS", PROV) for copy in copies])
    write_import_files(staging, tmp_path)
    total, _ = _written_bytes(tmp_path)
    estimate = estimated_file_bytes(staging)
    assert total <= estimate <= 1.2 * total


def _need(what: str, folder: Path, size: int, freed: int = 0) -> Need:
    folder.mkdir(parents=True, exist_ok=True)
    return Need(what, folder, size, freed)


def test_needs_on_one_filesystem_add_up(tmp_path: Path) -> None:
    files, store = tmp_path / "work", tmp_path / "home" / "data" / "databases" / "neo4j"
    needs = [_need("the import files", files, 600 << 20), _need("the store", store, 1500 << 20)]
    check_disk_space(needs, free=lambda _: 2100 << 20)  # both fit together
    with pytest.raises(UserError) as refused:
        check_disk_space(needs, free=lambda _: 2000 << 20)  # each alone would fit
    message = str(refused.value)
    assert message.startswith("not enough disk space for the backfill: the import files "
                              f"(about 600.0 MiB, in {files}) and the store (about 1.5 GiB"
                              ", in ") and f"in {store})" in message
    assert "need 2.1 GiB on a filesystem that has 2.0 GiB free" in message
    assert "Nothing was written to disk" in message and "--work" in message
    assert "--no-disk-check" in message


def test_what_the_backfill_frees_first_counts_as_free(tmp_path: Path) -> None:
    needs = [_need("the import files", tmp_path / "work", 100 * MIB, freed=40 * MIB),
             _need("the store", tmp_path / "db", 250 * MIB, freed=60 * MIB)]
    check_disk_space(needs, free=lambda _: 250 * MIB)  # 350 needed: 250 free, 100 freed
    with pytest.raises(UserError, match=r"need 350\.0 MiB on a filesystem that has 349\.0 MiB "
                       r"free \(with the 100\.0 MiB the backfill frees first\)"):
        check_disk_space(needs, free=lambda _: 249 * MIB)


def test_needs_on_other_filesystems_are_counted_apart(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.fail("this test needs /dev/shm on a filesystem apart from the temporary folder")
    work = shm / f"lineage-disk-test-{tmp_path.name}"
    try:
        needs = [_need("the import files", work, 600 * MIB),
                 _need("the store", tmp_path, 900 * MIB)]
        check_disk_space(needs, free=lambda _: 1000 * MIB)  # each fits on its own filesystem
        free = {work: 500 * MIB, tmp_path: 1000 * MIB}
        with pytest.raises(UserError) as refused:
            check_disk_space(needs, free=lambda folder: free[folder])
        assert (f"the import files need about 600.0 MiB in {work}, on a filesystem that has "
                "500.0 MiB free.") in str(refused.value)
        assert "the store" not in str(refused.value)  # its filesystem has room
    finally:
        work.rmdir()


def test_an_overwritten_database_and_an_earlier_runs_files_are_freed(tmp_path: Path) -> None:
    staging = StagingStore()
    staging.upsert([Node("system:PACS", PROV, {"kind": "pacs"})])
    database = tmp_path / "home" / "data" / "databases" / "neo4j"
    (database / "schema").mkdir(parents=True)
    (database / "neostore.nodestore.db").write_bytes(b"n" * 3000)
    (database / "schema" / "index.db").write_bytes(b"i" * 1000)
    work = tmp_path / "work"
    work.mkdir()
    (work / "nodes-Study-0000.csv").write_bytes(b"s" * 500)  # an earlier run's, replaced
    (work / "patients.csv").write_bytes(b"p" * 700)  # not the backfill's: stays, not freed
    replaced = disk_needs(staging, Target(tmp_path / "home", "bolt://x", overwrite=True,
                                          work=work))
    assert [(need.what, need.folder, need.freed) for need in replaced] == [
        ("the import files", work, 500), ("the store", database, 4000)]
    assert replaced[1].bytes == round(2.75 * replaced[0].bytes) > 0
    kept = disk_needs(staging, Target(tmp_path / "home", "bolt://x", work=tmp_path / "new"))
    assert [need.freed for need in kept] == [0, 0]
