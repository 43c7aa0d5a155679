"""The `lineage` command as a user runs it: a real process, real stores, exit codes, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lineage.stores import Neo4jStore
from tests.conftest import Neo4jTarget

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "estate.yaml"
# A production-grade pseudonym key for tests (32 random bytes in hex, drawn once).
STRONG_KEY = "9f1c2b7e4d3a86f05e2c71b9a4d8e3f6c0b5a7192e8d4f63a1c7b0e59d2f8a34"


def lineage(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lineage: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_ingest_estate_then_stats_on_the_default_local_store(tmp_path: Path) -> None:
    ingest = lineage("ingest", "estate", str(EXAMPLE), "--json", cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    report = json.loads(ingest.stdout)
    assert report["nodes"]["created"] == 11 and report["rejected"] == []
    assert (tmp_path / "lineage.db").exists()

    stats = json.loads(lineage("stats", "--json", cwd=tmp_path).stdout)
    assert stats["nodes"]["System"] == 6
    assert stats["edges"] == {"APPLIES_TO": 5, "FEEDS": 5, "GRANTS": 4, "INCLUDES": 2}

    again = json.loads(lineage("ingest", "estate", str(EXAMPLE), "--json", cwd=tmp_path).stdout)
    assert again["nodes"] == {"created": 0, "updated": 0, "unchanged": 11}


def test_human_output_names_what_was_written(tmp_path: Path) -> None:
    result = lineage("--store", "site.db", "ingest", "estate", str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nodes 11 new" in result.stdout and "System" in result.stdout
    stats = lineage("stats", cwd=tmp_path, env={"LINEAGE_STORE": "site.db"})
    assert "ComplianceEvent" in stats.stdout and "unresolved references: 3" in stats.stdout


def test_conflicts_command_lists_disagreements(tmp_path: Path) -> None:
    lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path)
    changed = tmp_path / "other.yaml"
    changed.write_text(EXAMPLE.read_text().replace("vendor: Sectra", "vendor: Agfa"))
    lineage("ingest", "estate", str(changed), cwd=tmp_path)

    found = json.loads(lineage("conflicts", "--json", cwd=tmp_path).stdout)
    assert found["count"] == 1
    [conflict] = found["conflicts"]
    assert conflict["element"] == "system:PACS-NORTH" and conflict["property"] == "vendor"
    assert (conflict["current_value"], conflict["reported_value"]) == ("Sectra", "Agfa")
    assert (conflict["current_source"], conflict["reported_source"]) == (
        "estate:estate.yaml", "estate:other.yaml")
    assert "system:PACS-NORTH" in lineage("conflicts", cwd=tmp_path).stdout


def test_malformed_estate_exits_2_naming_the_field_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("systems:\n  - {code: PACS1, kind: pacs, region_code: r}\n"
                   "  - {code: PACS2, kind: pacs, region_code: r, status: dead}\n")
    assert_one_line_error(lineage("ingest", "estate", str(bad), cwd=tmp_path),
                          "bad.yaml", "systems[1].status")
    stats = json.loads(lineage("stats", "--json", cwd=tmp_path).stdout)
    assert stats["nodes"] == {}


def test_unreachable_store_uri_is_named_without_traceback(tmp_path: Path) -> None:
    assert_one_line_error(lineage("--store", "bolt://127.0.0.1:9", "stats", cwd=tmp_path),
                          "bolt://127.0.0.1:9")


def test_store_folder_that_does_not_exist(tmp_path: Path) -> None:
    assert_one_line_error(lineage("--store", "nowhere/x.db", "stats", cwd=tmp_path),
                          "nowhere/x.db")


def test_placeholder_key_is_refused_in_production(tmp_path: Path) -> None:
    result = lineage("stats", cwd=tmp_path, env={"LINEAGE_ENV": "production"})
    assert_one_line_error(result, "LINEAGE_PSEUDONYM_KEY")
    for weak in ("p" * 40, "abcd" * 10):  # long enough, but guessable
        result = lineage("stats", cwd=tmp_path,
                         env={"LINEAGE_ENV": "Production", "LINEAGE_PSEUDONYM_KEY": weak})
        assert_one_line_error(result, "LINEAGE_PSEUDONYM_KEY")
    ok = lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path,
                 env={"LINEAGE_ENV": "PRODUCTION", "LINEAGE_PSEUDONYM_KEY": STRONG_KEY})
    assert ok.returncode == 0, ok.stderr


def test_store_refuses_a_second_pseudonym_key(tmp_path: Path) -> None:
    first = {"LINEAGE_PSEUDONYM_KEY": "a" * 40}
    assert lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path, env=first).returncode == 0
    result = lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path,
                     env={"LINEAGE_PSEUDONYM_KEY": "b" * 40})
    assert_one_line_error(result, "pseudonym key fingerprint", "lineage.db")
    assert lineage("ingest", "estate", str(EXAMPLE), cwd=tmp_path, env=first).returncode == 0


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = lineage("ingest", "estate", cwd=tmp_path)
    assert result.returncode == 2 and "Missing argument" in result.stderr


@pytest.mark.neo4j
def test_ingest_estate_into_neo4j(tmp_path: Path, neo4j_store: Neo4jStore,
                                  neo4j_target: Neo4jTarget) -> None:
    neo4j_store.clear()
    uri, auth = neo4j_target
    env = {"LINEAGE_STORE": uri}
    if auth:
        env |= {"NEO4J_USER": auth[0], "NEO4J_PASSWORD": auth[1]}
    result = lineage("ingest", "estate", str(EXAMPLE), "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert neo4j_store.stats().nodes["System"] == 6
    stats = json.loads(lineage("stats", "--json", cwd=tmp_path, env=env).stdout)
    assert stats["store"] == uri and stats["edges"]["FEEDS"] == 5


def test_a_read_only_command_never_creates_a_store(tmp_path: Path) -> None:
    result = lineage("--store", "typo.db", "decommission", "PACS-NORTH", cwd=tmp_path)
    assert_one_line_error(result, "no store at typo.db", "only reads")
    assert not (tmp_path / "typo.db").exists()
    assert lineage("--store", "typo.db", "stats", cwd=tmp_path).returncode == 2
    assert not (tmp_path / "typo.db").exists()
