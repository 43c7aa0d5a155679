"""The architects' Cypher catalogue, each query run on a real Neo4j, and `lineage query`."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lineage.errors import UserError
from lineage.model import Edge, EdgeType, Node, Provenance
from lineage.stores import LocalStore, Neo4jStore
from queries.catalogue import CATALOGUE
from queries.library import run_query
from tests.conftest import Neo4jTarget
from tests.retention_estate import impact_estate
from tests.test_cli import assert_one_line_error, lineage

pytestmark = pytest.mark.neo4j
AS_OF = "2024-06-01T23:59:59.999999Z"
PROV = Provenance("test", "2024-01-01")


def run(store: Neo4jStore, name: str, **params: Any) -> list[dict[str, Any]]:
    text = resources.files("queries").joinpath("catalogue", f"{name}.cypher").read_text()
    _, rows, truncated = store.run_user_query(text, params, timeout=30, row_cap=1000)
    assert not truncated
    return rows


@pytest.fixture(scope="module")
def estate(neo4j_store: Neo4jStore) -> Neo4jStore:
    neo4j_store.clear()
    neo4j_store.upsert(*estate_records())
    return neo4j_store


def test_copies_per_system_and_region(estate: Neo4jStore) -> None:
    rows = run(estate, "copies_per_system_region", as_of=AS_OF)
    assert [(r["system"], r["region"], r["copies"], r["bytes"]) for r in rows] == [
        ("system:ARCHIVE-GB", "eu-west-2", 1, 5000),
        ("system:GCS-DE", "europe-west3", 1, 1000),
        ("system:PACS-LON", "onprem-london", 6, 6000),  # five series copies and the orphan
        ("system:S3-US", "us-east-1", 3, 3000),
    ]


def test_sole_copies(estate: Neo4jStore) -> None:
    rows = run(estate, "sole_copies", as_of=AS_OF)
    assert [(r["key"], r["system"]) for r in rows] == [
        ("series:1.2.1", "system:ARCHIVE-GB"), ("series:1.3.1", "system:PACS-LON"),
        ("series:1.6.1", "system:PACS-LON"), ("series:1.7.1", "system:S3-US")]


def test_derivation_chain(estate: Neo4jStore) -> None:
    assert run(estate, "derivation_chain", key="series:1.6.1") == [
        {"key": "series:1.5.1", "distance": 1, "kind": "lossy_compression"}]
    assert run(estate, "derivation_chain", key="series:1.5.1") == []


def test_uncataloged_copies(estate: Neo4jStore) -> None:
    assert run(estate, "uncataloged_copies") == [
        {"key": "object:PACS-LON:orphan", "system": "system:PACS-LON", "copy_of": None,
         "reason": "no COPY_OF"},
        {"key": "object:PACS-LON:pending", "system": None, "copy_of": "series:9.9.1",
         "reason": "COPY_OF an unresolved reference"}]


def test_access_paths(estate: Neo4jStore) -> None:
    assert run(estate, "access_paths", key="study:1.3", as_of=AS_OF) == [
        {"profile": "profile:readers", "role": "readers", "through": "system:PACS-LON",
         "actions": ["view"]},
        {"profile": "profile:researchers", "role": "researcher", "through": "dataset:cohort-1",
         "actions": ["view", "export"]}]


def test_query_is_read_only_capped_and_timed(estate: Neo4jStore) -> None:
    with pytest.raises(UserError, match="refused: the query writes"):
        estate.run_user_query("CREATE (:Study {key: 'study:new'})", {}, 10, 10)
    assert estate.get_node("study:new") is None
    _, rows, truncated = estate.run_user_query("UNWIND range(1, 50) AS i RETURN i", {}, 10, 5)
    assert [r["i"] for r in rows] == [1, 2, 3, 4, 5] and truncated
    with pytest.raises(UserError, match="timeout"):
        estate.run_user_query("UNWIND range(1, 100000000) AS i WITH i WHERE i < 0 RETURN i",
                              {}, 0.2, 10)


def test_query_cli(estate: Neo4jStore, neo4j_target: Neo4jTarget, tmp_path: Path) -> None:
    uri, _ = neo4j_target
    result = lineage("--store", uri, "query", "MATCH (s:System {key: $key}) RETURN s.key AS k",
                     "--param", "key=system:S3-US", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == [{"k": "system:S3-US"}]
    named = lineage("--store", uri, "query", "--name", "derivation_chain", "--param",
                    "key=series:1.6.1", "--json", cwd=tmp_path)
    assert json.loads(named.stdout)["rows"][0]["key"] == "series:1.5.1"
    assert_one_line_error(lineage("--store", uri, "query", "MATCH (n) DETACH DELETE n",
                                  cwd=tmp_path), "refused")
    assert_one_line_error(lineage("query", "RETURN 1", cwd=tmp_path), "Neo4j store")


def test_catalogue_on_the_local_store_takes_a_date_or_a_time(estate: Neo4jStore,
                                                              tmp_path: Path) -> None:
    """`--param as_of=2024-06-01` means the end of that day (it compared as a string with the
    stored timestamps and lost rows), no as_of means now, and the local store runs the twin."""
    with LocalStore(tmp_path / "lineage.db") as local:
        local.upsert(*estate_records())

    def rows(*params: str) -> list[dict[str, Any]]:
        result = lineage("query", "--name", "copies_per_system_region", *params, "--json",
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout)["rows"])

    by_date = rows("--param", "as_of=2024-06-01")
    assert by_date == rows("--param", f"as_of={AS_OF}") == run(
        estate, "copies_per_system_region", as_of=AS_OF)
    assert len(by_date) == 4
    assert rows() == rows("--param", "as_of=2999-01-01T00:00:00+01:00")  # now: all are live
    assert_one_line_error(lineage("query", "--name", "access_paths", cwd=tmp_path),
                          "needs the parameter(s) key")
    assert_one_line_error(lineage("query", "--name", "sole_copies", "--param", "as_of=June",
                                  cwd=tmp_path), "as_of", "'June'")


def estate_records() -> tuple[list[Node], list[Edge]]:
    """The module's estate: the impact estate, an orphan copy, an unresolved one, a grant."""
    built = impact_estate()
    return ([*built.nodes, Node("object:PACS-LON:orphan", PROV),
             Node("object:PACS-LON:pending", PROV),
             Node("profile:researchers", PROV, {"role": "researcher"})],
            [*built.edges,
             Edge("object:PACS-LON:orphan", EdgeType.STORED_IN, "system:PACS-LON", PROV),
             Edge("object:PACS-LON:pending", EdgeType.COPY_OF, "series:9.9.1", PROV),
             Edge("profile:researchers", EdgeType.GRANTS, "dataset:cohort-1", PROV,
                  {"actions": ["view", "export"]})])


def test_every_catalogue_query_has_a_twin_that_agrees(estate: Neo4jStore, tmp_path: Path) -> None:
    with LocalStore(tmp_path / "lineage.db") as local:
        local.upsert(*estate_records())
        for name, query in CATALOGUE.items():
            for key in ("study:1.3", "study:1.1", "series:1.6.1", "series:1.5.1"):
                params = {"key": key, "as_of": AS_OF}
                assert run_query(local, query, params) == run_query(estate, query, params), (
                    name, key)
