"""`lineage backfill`: a database loaded through neo4j-admin's offline importer equals one loaded
by the pipeline, node for node and property for property (canonical digests), on the scale
benchmark's size-S estate and on the demo's real sources; its errors are clear.

A second, real Neo4j home is made for the imports (its jars are those of tools/neo4j), served
on a free port; the pipeline side is the suite's Neo4j server.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from neo4j import GraphDatabase
from typer.testing import CliRunner

from benchmarks.estate import EstateShape
from lineage.backfill import Target, backfill, import_files
from lineage.backfill.digest import canonical_digest
from lineage.backfill.import_files import ImportFile, remove_import_files, write_import_files
from lineage.backfill.plan import load_plan, plan_sources
from lineage.backfill.staging import StagingStore
from lineage.cli.app import app
from lineage.demo import REGIONS, write_inputs
from lineage.errors import UserError
from lineage.ingest import ingest
from lineage.model import Confidence, Edge, EdgeType, Node, Provenance
from lineage.pipeline import Bundle, Record, RunReport
from lineage.stores import Neo4jStore
from tests.small_disk import small_filesystem
from tests.test_cli import assert_one_line_error, lineage

pytestmark = pytest.mark.neo4j
REPO = Path(__file__).resolve().parents[1]
NEO4J_LOCAL = REPO / "tools" / "neo4j" / "neo4j-local"
SECRET = "test-pseudonym-key-0123456789abcdef"
BATCH = 5000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class SecondHome:
    """A Neo4j home beside the suite's server: imports go here, served on `port`."""

    home: Path
    port: int

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    @property
    def start_command(self) -> str:
        return shlex.join(["env", f"NEO4J_BOLT_PORT={self.port}", "NEO4J_HEAP=768m",
                           "NEO4J_PAGECACHE=256m", str(NEO4J_LOCAL), "start"])

    def local(self, action: str) -> None:
        subprocess.run([str(NEO4J_LOCAL), action], check=True, capture_output=True,
                       env={**os.environ, "NEO4J_HOME": str(self.home),
                            "NEO4J_BOLT_PORT": str(self.port)})


@pytest.fixture(scope="module")
def second_home(tmp_path_factory: pytest.TempPathFactory,
                neo4j_store: Neo4jStore) -> Iterator[SecondHome]:
    jars = REPO / ".neo4j"
    subprocess.run([str(NEO4J_LOCAL), "install"], check=True, capture_output=True,
                   env={**os.environ, "NEO4J_HOME": str(jars)})
    home = tmp_path_factory.mktemp("backfill-home")
    (home / "lib").symlink_to(jars / "lib")
    second = SecondHome(home, _free_port())
    yield second
    second.local("stop")


def _prov(source: str, at: str, confidence: Confidence = Confidence.OBSERVED) -> Provenance:
    return Provenance(source, at, confidence)


def awkward_records() -> list[Record]:
    """What the merge and the CSV format must both get right: a conflict between sources, a
    correction by the same source, an out-of-order update of a mutable state, a placeholder
    resolved in a later batch, union lists, and values CSV files carry badly (quotes, commas,
    new lines, Unicode, empty text, floats, booleans, an empty list, a list item holding the
    array delimiter) — and a record no store can hold (rejected by both, the rest goes on)."""
    pacs, vna = _prov("pacs", "2026-02-01T10:00:00Z"), _prov("vna", "2026-02-02T10:00:00Z")
    late = _prov("pacs", "2026-03-01T10:00:00Z")
    early = _prov("pacs", "2026-01-15T10:00:00Z")
    study, series = "study:2.25.4242424242", "series:2.25.4242424242.1"
    copy = "object:AWKWARD:2.25.4242424242.1"
    filler = [Bundle((Node(f"system:FILL-{n}", pacs, {"kind": "pacs"}),), f"filler {n}")
              for n in range(BATCH)]  # pushes what follows into a later batch
    return [
        Bundle((Node(study, pacs, {"institution": "North \"General\", Ward 3\nannex",
                                   "modalities": ["CT"], "weight": 72.5, "anonymised": False,
                                   "note": "", "tags": ["a,b", "c;d", "é漢字"],
                                   "sizes": [1, 2, 3], "empty": [],
                                   "odd": ["x\x1fy"]}),), "study from pacs"),
        Bundle((Edge(copy, EdgeType.COPY_OF, series, pacs),
                Edge(copy, EdgeType.STORED_IN, "system:AWKWARD", pacs)), "copy before series"),
        *filler,
        Bundle((Node(series, vna, {"modality": "CT"}),
                Edge(series, EdgeType.PART_OF, study, vna)), "series later"),
        Bundle((Node(study, vna, {"institution": "South", "modalities": ["SEG"]}),),
               "vna disagrees"),
        Bundle((Node(study, late, {"description": "first"}),), "pacs adds"),
        Bundle((Node(copy, late, {"storage_tier": "cold"}),
                Node(copy, early, {"storage_tier": "hot"})), "tier out of order"),
        Bundle((Node("system:HUGE", pacs, {"capacity": 2**70}),), "too big"),
        Bundle((Node("system:AFTER", pacs, {"kind": "vna"}),), "after the bad one"),
    ]


def test_backfill_equals_the_pipeline_on_size_s(neo4j_store: Neo4jStore,
                                                second_home: SecondHome,
                                                tmp_path: Path) -> None:
    def records() -> Iterator[Record]:
        yield from EstateShape(10_000).records()
        yield from awkward_records()

    neo4j_store.clear()
    piped = ingest(neo4j_store, records(), "benchmark", batch_size=BATCH)
    second_home.local("stop")
    target = Target(home=second_home.home, uri=second_home.uri, overwrite=True,
                    start_with=second_home.start_command, wait_seconds=120,
                    work=tmp_path / "files")
    said: list[str] = []
    report = backfill([lambda staging: ingest(staging, records(), "benchmark",
                                              batch_size=BATCH)], target, say=said.append)
    assert f"source 1 of 1, benchmark: {report.runs[0].records:,} records (1 rejected) in " \
        in said[0]
    assert [r.location for r in report.runs[0].rejected] == ["too big"]
    assert [r.location for r in piped.rejected] == ["too big"]
    assert report.leftovers == 2  # a study with an empty list and a delimiter in an item, and
    # the edge to it
    assert not list((tmp_path / "files").glob("*.csv"))  # removed once imported
    assert (tmp_path / "files" / "import.log").is_file()
    with Neo4jStore(second_home.uri) as loaded:
        pipeline_digest, backfill_digest = canonical_digest(neo4j_store), canonical_digest(loaded)
        study = loaded.get_node("study:2.25.4242424242")
        assert loaded.get_node("system:AFTER") is not None
        constraints = {r["name"] for r in loaded.read_rows("SHOW CONSTRAINTS YIELD name", {})}
    assert backfill_digest.nodes > 100_000 and backfill_digest.edges > 170_000
    assert backfill_digest.conflicts == 1
    assert backfill_digest == pipeline_digest
    assert study is not None and study.properties["empty"] == []
    assert study.properties["institution"] == "North \"General\", Ward 3\nannex"
    assert {"study_key", "archiveobject_key", "lineageconflict_key"} <= constraints


def test_a_different_graph_gives_a_different_digest(neo4j_store: Neo4jStore) -> None:
    neo4j_store.clear()
    ingest(neo4j_store, awkward_records(), "benchmark", batch_size=BATCH)
    before = canonical_digest(neo4j_store)
    neo4j_store.upsert([Node("system:AFTER", _prov("pacs", "2026-04-01T00:00:00Z"),
                             {"kind": "tape"})])
    assert canonical_digest(neo4j_store).sha256 != before.sha256


def _demo_plan(folder: Path) -> Path:
    write_inputs(folder)
    dicom = "\n".join(
        f"  - {{kind: dicom, paths: [{system}], system: {system}, region: {region}"
        + (", uid_map: uid-map.csv}" if system == "RESEARCH-EU" else "}")
        for system, region in REGIONS.items())
    plan = folder / "plan.yaml"
    plan.write_text(
        "sources:\n  - {kind: estate, file: estate.yaml}\n" + dicom + "\n"
        "  - {kind: storage-events, files: [s3-events.json], provider: s3}\n"
        "  - {kind: hl7, files: [ehr.hl7], system: EHR}\n"
        "  - {kind: fhir, files: [research.fhir.json], system: RESEARCH-EU}\n"
        "  - {kind: atna, files: [audit-messages.xml]}\n", encoding="utf-8")
    return plan


# Times the connectors take from the clock of the run (a scan's sighting), not from the data.
RUN_TIMES = frozenset({"recorded_at", "first_seen", "last_seen"})


def test_cli_backfills_the_demo_sources_as_ingest_does(
        neo4j_store: Neo4jStore, second_home: SecondHome, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", SECRET)
    plan = _demo_plan(tmp_path / "inputs")
    neo4j_store.clear()
    counted: dict[str, int] = {}

    @contextmanager
    def counter(label: str) -> Iterator[Callable[[int], None]]:
        counted[label] = 0
        yield lambda done: counted.update({label: counted[label] + done})

    runs = [run(neo4j_store)  # type: ignore[arg-type]  # what `lineage ingest` runs, on Neo4j
            for run in plan_sources(load_plan(plan), SECRET.encode(), tmp_path / "state", 1000,
                                    counter)]
    assert counted == {f"staging {run.source}": run.records for run in runs}  # each counted
    assert len(counted) == 8 and min(counted.values()) > 0  # estate, 3 DICOM folders, 4 files
    second_home.local("stop")
    result = CliRunner().invoke(app, [
        "--store", second_home.uri, "backfill", str(plan), "--neo4j-home",
        str(second_home.home), "--overwrite", "--start-with", second_home.start_command,
        "--wait", "120", "--keep-files"])
    assert result.exit_code == 0, result.output
    assert list((second_home.home / "backfill-neo4j").glob("nodes-Study-*.csv"))  # kept
    assert "backfilled" in result.stdout and "into 'neo4j'" in result.stdout
    with Neo4jStore(second_home.uri) as loaded:
        assert canonical_digest(loaded, RUN_TIMES) == canonical_digest(neo4j_store, RUN_TIMES)
        fingerprint = loaded.get_meta("pseudonym_key_fingerprint")
    assert fingerprint == neo4j_store.get_meta("pseudonym_key_fingerprint") is not None


def test_warm_reads_a_served_database_whole(second_home: SecondHome) -> None:
    """`lineage warm` on a real database while its server runs: every store file read once
    (counted by an independent walk of the folder), and the server still answers."""
    second_home.local("start")
    folder = second_home.home / "data" / "databases" / "neo4j"
    on_disk = sum((Path(root) / name).stat().st_size for root, _, names in os.walk(folder)
                  for name in names if not (Path(root) / name).is_symlink())
    result = CliRunner().invoke(app, ["warm", "--neo4j-home", str(second_home.home), "--budget",
                                      "1t", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["read_bytes"] == report["store_bytes"] == on_disk > 0
    assert report["partial"] == report["skipped"] == []
    said = CliRunner().invoke(app, ["warm", "--neo4j-home", str(second_home.home)]).stdout
    assert f"read {on_disk / (1 << 20):.1f} MiB of {on_disk / (1 << 20):.1f} MiB of 'neo4j'" \
        in said  # a small store in MiB, not "0.0 GiB"
    with GraphDatabase.driver(second_home.uri) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1


def test_the_import_refuses_a_running_server_and_an_existing_database_before_staging(
        second_home: SecondHome, tmp_path: Path) -> None:
    staged_runs: list[StagingStore] = []

    def source(staging: StagingStore) -> RunReport:
        staged_runs.append(staging)
        return ingest(staging, awkward_records()[:1], "t")

    second_home.local("start")  # the server makes its database if it had none
    target = Target(home=second_home.home, uri=second_home.uri, overwrite=True, wait_seconds=0,
                    work=tmp_path / "files")
    with pytest.raises(UserError, match=r"(?s)is running .*stop the Neo4j server of this home"):
        backfill([source], target)
    second_home.local("stop")
    kept = Target(home=second_home.home, uri=second_home.uri, wait_seconds=0,
                  work=tmp_path / "files")
    with pytest.raises(UserError, match="--overwrite replaces it"):
        backfill([source], kept)
    assert staged_runs == []  # told at once, not after the staging (twenty minutes at size L)
    assert not (tmp_path / "files").exists()


def test_staging_stops_at_the_memory_floor_with_nothing_written(
        second_home: SecondHome, tmp_path: Path) -> None:
    plan = _demo_plan(tmp_path / "inputs")
    second_home.local("stop")
    store_files = sorted((second_home.home / "data").rglob("*"))
    result = lineage("--store", second_home.uri, "backfill", str(plan), "--neo4j-home",
                     str(second_home.home), "--overwrite", "--work", str(tmp_path / "files"),
                     "--memory-floor", "100t", cwd=tmp_path,  # more than this machine has
                     env={"LINEAGE_PSEUDONYM_KEY": SECRET})
    assert_one_line_error(result, "stopped staging before this machine runs out of memory",
                          "below the floor of 102400.0 GiB (--memory-floor)",
                          "nothing was written to the database")
    assert not list((tmp_path / "files").glob("*.csv*"))
    assert sorted((second_home.home / "data").rglob("*")) == store_files


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error a backfill ends with (after the lines it said while staging)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("lineage: error: "), result.stderr
    return last


def _large_estate_plan(folder: Path, systems: int) -> Path:
    """A plan of one estate file of `systems` systems: import files of ~150 bytes a system,
    and no connector state."""
    folder.mkdir()
    (folder / "estate.yaml").write_text("version: 1\nsystems:\n" + "".join(
        f"  - {{code: PACS-{n:05d}, kind: pacs, region_code: eu-west-{n % 3}, vendor: Vendor "
        f"{n}, name: \"Picture archive {n} of the North-West regional imaging network\"}}\n"
        for n in range(systems)), encoding="utf-8")
    plan = folder / "plan.yaml"
    plan.write_text("sources: [{kind: estate, file: estate.yaml}]\n", encoding="utf-8")
    return plan


def test_a_disk_too_small_for_the_files_is_refused_before_they_are_written(
        second_home: SecondHome, tmp_path: Path) -> None:
    plan = _large_estate_plan(tmp_path / "inputs", 3000)
    second_home.local("stop")
    store_files = sorted((second_home.home / "data").rglob("*"))
    with small_filesystem(tmp_path / "small", "128k") as small:
        (small / "patients.csv").write_text("a user's own file\n", encoding="utf-8")
        files = small / "files"
        backfill_into_small = ["--store", second_home.uri, "backfill", str(plan),
                               "--neo4j-home", str(second_home.home), "--overwrite",
                               "--work", str(files)]
        refused = _error_line(lineage(*backfill_into_small, cwd=tmp_path))
        assert refused.startswith("lineage: error: not enough disk space for the backfill: "
                                  "the import files need about ")
        assert f"MiB in {files}, on a filesystem that has 0.1 MiB free" in refused
        assert "Nothing was written to disk" in refused
        assert "the store" not in refused  # its own filesystem has room
        assert list(small.rglob("*.csv")) == [small / "patients.csv"]
        # without the check the files fill the disk and fail half-way, as before it
        unchecked = _error_line(lineage(*backfill_into_small, "--no-disk-check", cwd=tmp_path))
        assert f"cannot write the import files in {files}: " in unchecked
        assert "No space left on device" in unchecked
        assert list(small.rglob("*.csv")) == [small / "patients.csv"]
    assert sorted((second_home.home / "data").rglob("*")) == store_files


def test_not_a_neo4j_home(tmp_path: Path) -> None:
    target = Target(home=tmp_path, uri="bolt://127.0.0.1:1", wait_seconds=0)
    with pytest.raises(UserError, match="is not a Neo4j home"):
        backfill([lambda staging: ingest(staging, awkward_records()[:1], "t")], target)


@pytest.mark.parametrize(("writers", "message"), [("0", "greater than or equal to 1"),
                                                  ("9", "--writers: at most 8, not 9")])
def test_the_cli_refuses_a_number_of_writers_out_of_range(tmp_path: Path, writers: str,
                                                          message: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("sources: [{kind: estate, file: estate.yaml}]\n", encoding="utf-8")
    result = lineage("--store", "bolt://127.0.0.1:1", "backfill", str(plan), "--neo4j-home",
                     str(tmp_path), "--writers", writers, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert not (tmp_path / "backfill-neo4j").exists()  # refused before anything was written


@pytest.mark.parametrize(("text", "message"), [
    ("sources: [", "is not valid YAML"),
    ("- kind: estate", "a plan is a mapping"),
    ("sources: []", "lists no source"),
    ("sources: [{file: x.yaml}]", r"sources\[1\]: each source needs a `kind`"),
    ("sources: [{kind: nope}]", "no source 'nope' is registered"),
    ("sources: [{kind: hl7, files: [a.hl7], colour: red}]", r"sources\[1\]: .*colour"),
    ("sources: [{kind: estate, file: &a [*a]}]", r"sources\[1\]: estate source: file"),
])
def test_bad_plans_are_named(tmp_path: Path, text: str, message: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_plan(plan)


def test_a_huge_plan_is_refused_before_it_is_read(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(b"#" * (2 * 1024 * 1024))
    with pytest.raises(UserError, match="at most"):
        load_plan(plan)


def _rows_by_group(files: list[ImportFile]) -> dict[tuple[str, str, str], list[str]]:
    """Each file's rows under (option, group, header), whichever file of a group holds them."""
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for written in files:
        header, *rows = written.path.read_text(encoding="utf-8").splitlines()
        assert len(rows) == written.rows
        grouped.setdefault((written.option, written.group, header), []).extend(rows)
    return {group: sorted(rows) for group, rows in grouped.items()}


@pytest.mark.parametrize("awkward", [False, True], ids=["estate", "estate-and-awkward-values"])
@pytest.mark.parametrize("writers", [2, 3])
def test_several_processes_write_what_one_writes(tmp_path: Path, awkward: bool,
                                                 writers: int) -> None:
    staging = StagingStore()
    ingest(staging, [*EstateShape(200).records(), *(awkward_records() if awkward else [])],
           "t", batch_size=BATCH)
    one = write_import_files(staging, tmp_path / "one", writers=1)
    several = write_import_files(staging, tmp_path / "several", writers, parallel_from=1)
    assert {f.path.name.split("-")[-2] for f in several.files} == {
        f"w{n}" for n in range(1, writers + 1)}  # each writer wrote its share
    assert (one.writers, several.writers) == (1, writers)
    assert (several.nodes, several.relationships) == (one.nodes, one.relationships) > (2000,
                                                                                      3000)
    assert _rows_by_group(several.files) == _rows_by_group(one.files)
    assert several.leftovers == one.leftovers
    assert len(several.leftovers) == (2 if awkward else 0)
    (tmp_path / "several" / "notes.csv").write_text("kept\n", encoding="utf-8")
    written = sum(f.path.stat().st_size for f in several.files)
    assert remove_import_files(tmp_path / "several") == written > 0
    assert [p.name for p in (tmp_path / "several").iterdir()] == ["notes.csv"]


def test_a_writer_that_fails_fails_the_backfill_with_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child writer that cannot write (its folder gone, as a full or failing disk would do)
    is an error naming it and the folder, after the other writers are ended; so is a folder
    that cannot be made."""
    real_writers = import_files._Writers

    def failing(folder: Path, part: str = "") -> import_files._Writers:
        return real_writers(folder / "gone" if part == "w2-" else folder, part)

    monkeypatch.setattr(import_files, "_Writers", failing)
    monkeypatch.setattr(import_files, "PARALLEL_FROM", 1)
    (tmp_path / "lib").mkdir()  # the shape of a Neo4j home: the import is never reached
    (tmp_path / "lib" / "neo4j-command-line-5.26.0.jar").touch()
    staged = [lambda staging: ingest(staging, EstateShape(200).records(), "t",
                                     batch_size=BATCH)]
    target = Target(home=tmp_path, uri="bolt://127.0.0.1:1", wait_seconds=0, writers=3,
                    work=tmp_path / "files")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "patients.csv").write_text("a user's own file\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"cannot write the import files in .*files: import "
                                        r"file writer w2 failed: FileNotFoundError"):
        backfill(staged, target)
    # what the other writers wrote is removed; nothing else is
    assert [p.name for p in (tmp_path / "files").glob("*.csv")] == ["patients.csv"]
    (tmp_path / "not-a-folder").write_text("", encoding="utf-8")
    blocked = Target(home=tmp_path, uri="bolt://127.0.0.1:1", wait_seconds=0,
                     work=tmp_path / "not-a-folder")
    with pytest.raises(UserError, match=r"cannot write the import files in .*not-a-folder"):
        backfill(staged, blocked)


def test_files_say_what_the_csv_cannot_carry(tmp_path: Path) -> None:
    staging = StagingStore()
    ingest(staging, awkward_records(), "t", batch_size=BATCH)
    files = write_import_files(staging, tmp_path)
    assert [props["key"] for _, props in files.leftovers.nodes] == ["study:2.25.4242424242"]
    assert files.multiline is False  # the only new line is in the leftover study
    assert sum(f.rows for f in files.files) + len(files.leftovers) == files.nodes + \
        files.relationships
