"""decommission, trace and demo as a user runs them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from lineage.stores import LocalStore
from tests.retention_estate import impact_estate
from tests.test_cli import assert_one_line_error, lineage


def estate_folder(tmp_path: Path) -> Path:
    with LocalStore(tmp_path / "lineage.db") as store:
        impact_estate().load(store)
    assert lineage("retention", "apply", cwd=tmp_path).returncode == 0
    return tmp_path


def test_decommission_cli_json_and_exit_codes(tmp_path: Path) -> None:
    folder = estate_folder(tmp_path)
    blocked = lineage("decommission", "PACS-LON", "--as-of", "2024-06-01", "--json", cwd=folder)
    assert blocked.returncode == 1, blocked.stderr
    report = json.loads(blocked.stdout)
    assert set(report) >= {"system", "as_of", "verdict", "reasons", "sole_copies",
                           "must_migrate", "may_dispose", "downstream", "access_profiles",
                           "lineage_gaps"}
    assert report["verdict"] == "blocked" and report["system"] == "system:PACS-LON"
    ready = lineage("decommission", "S3-US", "--as-of", "2024-06-01", cwd=folder)
    assert ready.returncode == 0 and ready.stdout.startswith("READY")
    human = lineage("decommission", "PACS-LON", "--as-of", "2024-06-01", cwd=folder).stdout
    assert human.startswith("BLOCKED") and "Must migrate: 1" in human
    assert human.index("Must migrate") < human.index("May dispose") < human.index("downstream")


def test_trace_cli_json(tmp_path: Path) -> None:
    folder = estate_folder(tmp_path)
    result = lineage("trace", "series:1.5.1", "--direction", "down", "--depth", "2",
                     "--as-of", "2024-06-01", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    traced = json.loads(result.stdout)
    assert set(traced) >= {"root", "nodes", "edges", "truncated"}
    assert {"from", "type", "to"} <= set(traced["edges"][0])
    assert {"key", "kind", "properties"} <= set(traced["nodes"][0])


def test_unknown_system_or_key_exit_2_with_suggestions(tmp_path: Path) -> None:
    folder = estate_folder(tmp_path)
    assert_one_line_error(lineage("decommission", "PACS-LOM", cwd=folder),
                          "system:PACS-LOM", "did you mean system:PACS-LON")
    assert_one_line_error(lineage("trace", "series:1.5.9", cwd=folder), "series:1.5.9",
                          "did you mean")


def test_demo_runs_every_step_and_leaves_a_store_and_an_export(tmp_path: Path) -> None:
    result = lineage("demo", "--folder", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    for step in ("ingest estate", "ingest dicom demo/inputs/PACS-NORTH", "--uid-map",
                 "ingest storage-events", "ingest hl7", "ingest fhir", "ingest atna",
                 "retention apply", "decommission PACS-NORTH", "retention drift",
                 "retention cross-region", "lineage.db trace", "lineage.db export"):
        assert step in result.stdout, step
    assert "BLOCKED: decommissioning system:PACS-NORTH" in result.stdout
    assert "residency violations: 1" in result.stdout
    assert "rejected" not in result.stdout
    assert "premature disposal: 1" in result.stdout  # the DR bucket's lifecycle expiry
    folder = tmp_path / "demo"
    assert (folder / "estate.graphml").exists() and (folder / "estate.graphml.manifest.json")
    stats = json.loads(lineage("--store", "estate.graphml", "stats", "--json", cwd=folder).stdout)
    assert stats["nodes"]["ArchiveObject"] == 26  # 25 from DICOM and storage events, 1 from ATNA
    assert "system:OUTSIDE-ESTATE" in lineage("--store", "estate.graphml", "decommission",
                                              "VNA-CENTRAL", cwd=folder).stdout


def test_the_demos_commands_can_be_pasted_as_they_are(tmp_path: Path) -> None:
    """Every `$ lineage ...` line names the store and the folder, and the closing hint is one
    line: pasted in the same shell, each runs (it wrapped inside `lineage trace` before)."""
    output = lineage("demo", "--folder", "demo", cwd=tmp_path, env={"COLUMNS": "80"}).stdout
    commands = [line[2:] for line in output.splitlines() if line.startswith("$ lineage ")]
    assert len(commands) == 15 and all("--store demo/lineage.db" in c for c in commands)
    decommission = next(c for c in commands if " decommission " in c)
    again = lineage(*shlex.split(decommission)[1:], "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["verdict"] == "blocked"
    lines = output.splitlines()
    hint = lines[lines.index("Try, from here:") + 1].strip()
    assert hint.startswith("lineage --store demo/lineage.db trace series:")
    traced = lineage(*shlex.split(hint)[1:], "--json", cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    assert json.loads(traced.stdout)["root"].startswith("series:")


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.tex").write_text("months of work")
    refused = lineage("demo", "--folder", ".", cwd=work)
    assert_one_line_error(refused, "not empty", ".lineage-demo")
    assert (work / "thesis.tex").read_text() == "months of work"


def test_a_ready_decommission_says_what_the_system_holds_and_where_else(tmp_path: Path) -> None:
    """S3-US holds copies of 1.1.1 and 1.4.1 (PACS-LON holds both too) and of 1.7.1 (nowhere
    else, retention passed): ready, and the report says so instead of showing empty sections."""
    folder = estate_folder(tmp_path)
    ready = lineage("decommission", "S3-US", "--as-of", "2024-06-01", "--json", cwd=folder)
    assert ready.returncode == 0, ready.stderr
    assert json.loads(ready.stdout)["holdings"] == {
        "copies": 3, "items": 3, "elsewhere": [{"system": "system:PACS-LON", "items": 2}]}
    human = lineage("decommission", "S3-US", "--as-of", "2024-06-01", cwd=folder).stdout
    assert human.splitlines()[1] == ("  It holds 3 live copies of 3 series or studies; also "
                                     "held in system:PACS-LON (2 of 3).")
    assert "Must migrate: none" in human.splitlines()
