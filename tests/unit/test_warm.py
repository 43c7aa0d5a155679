"""`lineage warm`: which files of a Neo4j database are read, in which order, within which
budget, and what it refuses. Real files in a temporary folder shaped like a Neo4j home; the read
of a real database is in tests/test_backfill.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lineage.cli.app import app
from lineage.errors import UserError
from lineage.warm import (
    WarmReport,
    _meminfo,
    configured_page_cache,
    databases_folder,
    default_budget,
    parse_size,
    read_files,
    store_files,
    warm,
)

GIB = 1 << 30


def _home(tmp_path: Path, sizes: dict[str, int]) -> Path:
    home = tmp_path / "home"
    folder = home / "data" / "databases" / "neo4j"
    for name, size in sizes.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return home


SIZES = {"neostore.propertystore.db.strings": 1_000, "neostore.propertystore.db": 50_000,
         "neostore.nodestore.db": 3_000,
         "schema/index/range-1.0/7/index-7": 9_000, "neostore.counts.db": 0,
         "neostore.relationshipstore.db": 20_000}


@pytest.mark.parametrize(("text", "expected"), [
    ("4096", 4096), ("512m", 512 << 20), ("12G", 12 * GIB), ("1.5GiB", int(1.5 * GIB)),
    (" 2 kb ", 2048), ("0", 0),
])
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1g", "12 gigs", "1e9", "12g; rm -rf /",
                                  "9" * 5000])
def test_not_sizes_are_refused_without_repeating_a_long_input(text: str) -> None:
    with pytest.raises(UserError, match="is not a size") as raised:
        parse_size(text, "--budget")
    assert len(str(raised.value)) < 200


def test_the_whole_store_record_stores_and_indexes_first(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    report = warm(home, budget=10 * GIB)
    assert report.read_bytes == report.store_bytes == sum(SIZES.values())
    assert report.files_read == len(SIZES) and not report.partial and not report.skipped
    folder = home / "data" / "databases" / "neo4j"
    assert [str(path.relative_to(folder)) for path, _ in store_files(folder)] == [
        "neostore.counts.db", "neostore.nodestore.db", "schema/index/range-1.0/7/index-7",
        "neostore.relationshipstore.db", "neostore.propertystore.db",
        "neostore.propertystore.db.strings"]  # long values last, though the smallest


def test_the_budget_reads_the_first_files_and_part_of_the_next(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    report = warm(home, budget=3_000 + 9_000 + 5_000)
    assert report.read_bytes == 17_000
    assert report.partial == ["neostore.relationshipstore.db"]
    assert report.skipped == ["neostore.propertystore.db", "neostore.propertystore.db.strings"]
    assert report.files_read == 3  # the empty file, the node store, the index


def test_links_are_not_followed(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"y" * 100_000)
    folder = home / "data" / "databases" / "neo4j"
    (folder / "link.db").symlink_to(outside)
    (folder / "schema" / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    report = warm(home, budget=10 * GIB)
    assert report.read_bytes == sum(SIZES.values())


def test_a_file_gone_since_the_listing_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    folder = home / "data" / "databases" / "neo4j"
    files = store_files(folder)
    (folder / "neostore.nodestore.db").unlink()  # the server removed it meanwhile
    report = WarmReport(database="neo4j", budget=10 * GIB)
    read_files(folder, files, report)
    assert report.unreadable == ["neostore.nodestore.db: No such file or directory"]
    assert report.read_bytes == sum(SIZES.values()) - 3_000
    assert report.files_read == len(SIZES) - 1


@pytest.mark.parametrize("database", ["../../etc", "", "a/b", "x" * 1000, "neo4j\x00", "1db",
                                      "neo4j\n"])
def test_database_names_that_are_not_names(tmp_path: Path, database: str) -> None:
    home = _home(tmp_path, SIZES)
    with pytest.raises(UserError, match="is not a Neo4j database name") as raised:
        warm(home, database, budget=GIB)
    assert len(str(raised.value)) < 200


def test_a_missing_database_is_named(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    with pytest.raises(UserError, match="no database 'reports' in the Neo4j home"):
        warm(home, "reports", budget=GIB)


def test_the_data_folder_is_where_neo4j_conf_puts_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    moved = _home(tmp_path / "elsewhere", SIZES)  # its data/databases/neo4j
    (home / "conf").mkdir(parents=True)
    conf = home / "conf" / "neo4j.conf"
    conf.write_text(f"server.directories.data={moved / 'data'}\n")
    assert warm(home, "neo4j", budget=GIB).read_bytes == sum(SIZES.values())
    conf.write_text("server.directories.data = ../elsewhere/home/data\n")  # relative to it
    assert databases_folder(home).resolve() == (moved / "data" / "databases").resolve()
    conf.write_text("# server.directories.data=/nowhere\n")
    assert databases_folder(home) == home / "data" / "databases"


def test_the_default_budget_leaves_the_server_and_a_margin(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    assert configured_page_cache(home) == 0
    (home / "conf").mkdir()
    (home / "conf" / "neo4j.conf").write_text(
        "server.memory.heap.max_size=3g\nserver.memory.pagecache.size=4g\n")
    assert configured_page_cache(home) == 4 * GIB
    small = {"MemTotal": 8 * GIB}  # a margin of 1 GiB: a tenth would be less
    assert default_budget(home, lambda: small | {"MemAvailable": 20 * GIB}) == 12 * GIB
    assert default_budget(home, lambda: small | {"MemAvailable": 4 * GIB}) == 0
    large = {"MemTotal": 40 * GIB, "MemAvailable": 30 * GIB}  # a margin of 4 GiB
    assert default_budget(home, lambda: large) == 30 * GIB - 3 * GIB - 4 * GIB - 4 * GIB


def test_without_meminfo_the_budget_must_be_given(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"cannot tell the memory available here.*--budget"):
        _meminfo(tmp_path / "no-meminfo")
    assert _meminfo()["MemTotal"] > 0  # this machine's


def test_the_command_prints_what_it_read(tmp_path: Path) -> None:
    home = _home(tmp_path, SIZES)
    result = CliRunner().invoke(app, ["warm", "--neo4j-home", str(home), "--budget", "17000"])
    assert result.exit_code == 0, result.output
    assert "3 files whole, 1 in part, 2 left out" in result.stdout
    assert "not whole: neostore.propertystore.db" in result.stdout
    refused = subprocess.run([sys.executable, "-m", "lineage", "warm", "--neo4j-home", str(home),
                              "--budget", "much"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--budget 'much' is not a size" in refused.stderr
