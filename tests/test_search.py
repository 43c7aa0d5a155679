"""The explorer's search (`find_nodes`, `GET /search`) on both stores: a key of any kind containing
the text, a system, dataset or job by name, a study, order or report by accession; case does not
matter; the engine's own bookkeeping nodes are never found. On Neo4j each kind is read from its
key index (queries/explore/find_nodes.cypher), so a kind without its branch there is not found:
the first test finds one node of every kind."""

from __future__ import annotations

from typing import Any

import pytest

from lineage.model import KEY_PREFIX, Node, NodeKind, Provenance
from lineage.stores import GraphStore, Neo4jStore
from queries.explore import ACCESSION_KINDS, FIND_NODES, NAMED_KINDS
from queries.library import run_query

PROV = Provenance("test:search", "2024-01-01T00:00:00Z")
PSEUDONYM = "0" * 26 + "ab12cd" + "f" * 32


def key_of(kind: NodeKind, text: str = "Ab12Cd") -> str:
    """A valid key of `kind` whose natural id holds `text` (a patient's: in lower-case hex)."""
    if kind is NodeKind.PATIENT:
        return f"patient:{PSEUDONYM}"
    natural = f"SRC:x-{text}-1" if kind is NodeKind.ARCHIVE_OBJECT else f"x-{text}-1"
    return f"{KEY_PREFIX[kind]}:{natural}"


def search(store: GraphStore, text: str, limit: int = 100) -> list[str]:
    return [row["key"] for row in run_query(store, FIND_NODES, {"text": text, "limit": limit})]


def rows(store: GraphStore, text: str) -> list[dict[str, Any]]:
    return run_query(store, FIND_NODES, {"text": text, "limit": 100})


def test_a_key_of_every_kind_is_found_whatever_its_case(any_store: GraphStore) -> None:
    keys = sorted(key_of(kind) for kind in NodeKind)
    any_store.upsert([Node(key, PROV, {}) for key in keys])
    any_store.upsert([Node("system:OTHER", PROV, {})])
    assert search(any_store, "ab12cd") == keys
    assert search(any_store, "ab12cd", limit=3) == keys[:3]
    assert search(any_store, "zz9") == []


def test_names_and_accessions_where_the_model_keeps_them(any_store: GraphStore) -> None:
    any_store.upsert([
        Node("system:PACS-N", PROV, {"name": "North Imaging Hub"}),
        Node("dataset:lung", PROV, {"name": "Lung Cohort 2024"}),
        Node("job:etl/deid", PROV, {"name": "Lung cohort de-identification"}),
        Node("series:1.2.3", PROV, {"name": "Lung Cohort B"}),  # a name no search reads
        Node("study:1.2", PROV, {"accession": "ACC-77"}),
        Node("order:HOSP/ACC-77", PROV, {"accession": "acc-77"}),
        Node("report:HOSP/R1", PROV, {"accession": "Acc-77"}),
        Node("object:SRC:9", PROV, {"accession": "ACC-77"}),  # nor an accession here
    ])
    assert search(any_store, "lung cohort") == ["dataset:lung", "job:etl/deid"]
    assert search(any_store, "imaging hub") == ["system:PACS-N"]
    # an accession is matched whole (the order's key holds it too)
    assert search(any_store, "acc-77") == ["order:HOSP/ACC-77", "report:HOSP/R1", "study:1.2"]
    assert search(any_store, "acc-7") == ["order:HOSP/ACC-77"]  # by its key alone
    found = {row["key"]: row for row in rows(any_store, "imaging hub")}
    assert found["system:PACS-N"] == {"key": "system:PACS-N", "name": "North Imaging Hub",
                                      "accession": None}


def test_a_name_or_accession_that_is_not_text_is_not_read(any_store: GraphStore) -> None:
    """A connector may write a list or a number where the engine's own write text: the search
    skips those values (on Neo4j one list-valued name used to fail every search)."""
    any_store.upsert([Node("system:LISTED", PROV, {"name": ["North", "Hub"]}),
                      Node("study:1.2", PROV, {"accession": 12345}),
                      Node("dataset:cohort", PROV, {"name": "North cohort"})])
    assert search(any_store, "north") == ["dataset:cohort"]
    assert search(any_store, "12345") == []
    assert search(any_store, "listed") == ["system:LISTED"]


def test_an_exact_key_comes_first(any_store: GraphStore) -> None:
    any_store.upsert([Node(key, PROV, {}) for key in (
        "object:PACS-NORTH:1", "system:PACS-NORTH-2", "system:PACS-NORTH", "dataset:pacs-north",
        "system:A-PACS-NORTH", "system:B-PACS-NORTH")])
    assert search(any_store, "pacs-north") == [
        "dataset:pacs-north", "system:PACS-NORTH",  # exact without their kind, by key
        "object:PACS-NORTH:1", "system:A-PACS-NORTH", "system:B-PACS-NORTH",
        "system:PACS-NORTH-2"]
    # the exact key comes first even where its kind has more matches before it than the limit
    assert search(any_store, "pacs-north", limit=2) == ["dataset:pacs-north", "system:PACS-NORTH"]
    assert search(any_store, "system:pacs-north")[0] == "system:PACS-NORTH"


def test_the_engines_own_nodes_and_hostile_text_find_nothing(any_store: GraphStore) -> None:
    any_store.upsert([Node("system:PACS", PROV, {"name": "x"})])
    any_store.set_meta("probe-ab12cd", "1")
    any_store.record_instances({"1.2.840.ab12cd": "series:1.2"})
    assert search(any_store, "ab12cd") == []
    for text in (".*", "%", "'; MATCH (n) DETACH DELETE n //", "\\", "x" * 10_000):
        assert search(any_store, text) == [], text[:20]
    assert search(any_store, "pacs") == ["system:PACS"]  # nothing was deleted


def _operators(plan: dict[str, Any]) -> list[str]:
    return [plan["operatorType"].partition("@")[0],
            *(name for child in plan.get("children", []) for name in _operators(child))]


@pytest.mark.neo4j
def test_on_neo4j_keys_and_accessions_are_read_from_indexes(neo4j_store: Neo4jStore) -> None:
    """No scan of every node: each kind's keys, and the accessions, from an index scan; only the
    few named kinds (systems, datasets, jobs) by label."""
    neo4j_store.clear()
    plan = neo4j_store.driver.execute_query(
        "EXPLAIN " + FIND_NODES.cypher(), text="x", limit=5).summary.plan
    assert plan is not None
    operators = _operators(plan)
    assert "AllNodesScan" not in operators
    assert operators.count("NodeIndexScan") == len(NodeKind) + len(ACCESSION_KINDS)
    assert operators.count("NodeByLabelScan") == len(NAMED_KINDS)
