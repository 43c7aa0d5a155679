"""What a backfill checks about its machine and its Neo4j home before and while it stages: the
memory left (`StagingStore.memory_floor`, `staging_floor`) and a home whose store another
process holds locked (`check_home`), without a Neo4j server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage.backfill.import_files import writers_that_fit
from lineage.backfill.neo4j_admin import check_home
from lineage.backfill.staging import StagingStore, staging_floor
from lineage.errors import UserError
from lineage.model import Edge, EdgeType, Node, Provenance

GIB = 1 << 30
PATIENT = "patient:" + "ab" * 32
PROV = Provenance("pacs", "2026-02-01T10:00:00Z")


class Meminfo:
    """What /proc/meminfo would say, and how often it was read."""

    def __init__(self, available: int, total: int = 16 * GIB) -> None:
        self.values = {"MemTotal": total, "MemAvailable": available}
        self.reads = 0

    def __call__(self) -> dict[str, int]:
        self.reads += 1
        return dict(self.values)


def _batch(n: int) -> tuple[list[Node], list[Edge]]:
    study = f"study:2.25.{n}"
    return ([Node(study, PROV, {"institution": "North"}), Node(PATIENT, PROV)],
            [Edge(study, EdgeType.OF_PATIENT, PATIENT, PROV)])


def test_staging_stops_below_the_floor_and_names_counts_only() -> None:
    memory = Meminfo(available=3 * GIB)
    staging = StagingStore(memory_floor=2 * GIB, meminfo=memory)
    staging.upsert(*_batch(1))  # above the floor: staged
    memory.values["MemAvailable"] = GIB
    staging._watched = float("-inf")  # the next write reads the memory left again
    with pytest.raises(UserError) as refused:
        staging.upsert(*_batch(2))
    message = str(refused.value)
    assert "1.0 GiB left, below the floor of 2.0 GiB (--memory-floor)" in message
    assert "with 3 nodes and 2 edges staged; nothing was written to the database" in message
    assert PATIENT not in message and "2.25" not in message and "North" not in message


def test_the_memory_left_is_read_at_most_twice_a_second() -> None:
    memory = Meminfo(available=8 * GIB)
    staging = StagingStore(memory_floor=GIB, meminfo=memory)
    for n in range(50):
        staging.upsert(*_batch(n))
    assert memory.reads == 1  # 50 batches within half a second
    assert len(staging.nodes) == 51


def test_without_a_floor_the_memory_is_never_read() -> None:
    memory = Meminfo(available=0)
    staging = StagingStore(meminfo=memory)
    staging.upsert(*_batch(1))
    assert memory.reads == 0 and len(staging.nodes) == 2


def test_memory_that_can_no_longer_be_read_is_no_longer_watched() -> None:
    def unreadable() -> dict[str, int]:
        raise PermissionError("/proc/meminfo")

    staging = StagingStore(memory_floor=GIB, meminfo=unreadable)
    staging.upsert(*_batch(1))
    assert staging.memory_floor == 0 and len(staging.nodes) == 2


def test_clearing_keeps_the_floor() -> None:
    staging = StagingStore(memory_floor=GIB, meminfo=Meminfo(available=8 * GIB))
    staging.upsert(*_batch(1))
    staging.clear()
    assert staging.memory_floor == GIB and not staging.nodes


def test_the_default_floor_is_a_tenth_of_the_machine_and_one_gib_at_least() -> None:
    assert staging_floor(None, Meminfo(0, total=64 * GIB)) == 64 * GIB // 10
    assert staging_floor(None, Meminfo(0, total=4 * GIB)) == GIB
    assert staging_floor(3 * GIB, Meminfo(0)) == 3 * GIB
    assert staging_floor(0, Meminfo(0)) == 0
    assert staging_floor(None) >= GIB  # this machine's


def test_where_memory_cannot_be_read_only_an_asked_floor_is_an_error() -> None:
    def unreadable() -> dict[str, int]:
        raise FileNotFoundError("/proc/meminfo")

    assert staging_floor(None, unreadable) == 0
    assert staging_floor(0, unreadable) == 0
    with pytest.raises(UserError, match="--memory-floor: the memory left on this machine"):
        staging_floor(GIB, unreadable)


@pytest.mark.parametrize(("wanted", "spare", "fit"), [
    (2, 10 * GIB, 2),  # plenty
    (2, GIB // 2, 2), (2, 4 * GIB // 10, 1),  # a second writer copies ~0.45 of 1 GiB staged
    (8, 8 * GIB // 10, 8), (8, 7 * GIB // 10, 4),  # 7/8 of 0.9 fits; 0.7 fits 4 (3/4 of 0.9)
    (4, 0, 1), (4, -GIB, 1), (1, 10 * GIB, 1)])
def test_as_many_writers_as_the_memory_left_holds(wanted: int, spare: int, fit: int) -> None:
    assert writers_that_fit(wanted, spare, staged=GIB) == fit


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """The shape of a Neo4j home of tools/neo4j/neo4j-local (no jar is run here)."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "neo4j-command-line-5.26.0.jar").touch()
    (tmp_path / "data" / "databases" / "neo4j").mkdir(parents=True)
    return tmp_path


@pytest.fixture()
def held_lock(home: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the store lock, as a running server does."""
    lock = home / "data" / "databases" / "store_lock"
    lock.touch()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.lockf(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield holder
    holder.communicate("")


def test_a_home_whose_store_is_locked_is_refused(home: Path,
                                                 held_lock: subprocess.Popen[str]) -> None:
    with pytest.raises(UserError, match=r"is running .*stop the Neo4j server of this home"):
        check_home(home, "neo4j", overwrite=True)


def test_a_free_home_passes_and_an_existing_database_needs_overwrite(home: Path) -> None:
    (home / "data" / "databases" / "store_lock").touch()
    check_home(home, "neo4j", overwrite=False)  # unlocked, no store yet
    (home / "data" / "databases" / "neo4j" / "neostore").touch()
    check_home(home, "neo4j", overwrite=True)
    with pytest.raises(UserError, match="--overwrite replaces it"):
        check_home(home, "neo4j", overwrite=False)


def test_the_checks_read_the_data_folder_neo4j_conf_names(home: Path, tmp_path: Path) -> None:
    moved = tmp_path / "disk2" / "databases" / "neo4j"
    moved.mkdir(parents=True)
    (moved / "neostore").touch()
    (home / "conf").mkdir()
    (home / "conf" / "neo4j.conf").write_text(f"server.directories.data={tmp_path / 'disk2'}\n")
    with pytest.raises(UserError, match="--overwrite replaces it"):
        check_home(home, "neo4j", overwrite=False)


@pytest.mark.parametrize(("database", "message"), [
    ("neo4j\n", "is not a Neo4j database name"), ("../x", "is not a Neo4j database name")])
def test_a_database_name_is_checked_before_staging(home: Path, database: str,
                                                   message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_home(home, database, overwrite=True)

