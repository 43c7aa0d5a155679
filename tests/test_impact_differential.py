"""Decommission, trace and the explorer's estate give identical answers in Cypher (Neo4j) and
NetworkX (local store), on the hand-worked estate and on hypothesis-generated ones; the
decommission and the estate read from the copies' facts as a walk of the copies does."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from lineage.estate_overview import estate_overview
from lineage.impact import decommission, trace
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore, LocalStore, Neo4jStore
from tests.retention_estate import (
    DIFFERENTIAL,
    SYSTEMS,
    EstateBuilder,
    impact_estate,
    random_estates,
)

pytestmark = pytest.mark.neo4j
POLICY = load_policy()
AS_OF_DATES = ["2006-06-01", "2024-06-01", "2040-01-01"]
SEEN = "2026-01-01T00:00:00Z"  # one retention run time, so provenance compares equal


def answers(store: GraphStore, roots: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for as_of in AS_OF_DATES:
        for code in sorted(SYSTEMS):  # as the walk of the system's copies answers it
            decided = decommission(store, code, as_of)
            walked = decommission(store, code, as_of, facts=False)
            assert walked.pop("answered_from") == "copies"
            results[f"decommission {code} {as_of} from"] = decided.pop("answered_from")
            assert decided == walked, (code, as_of)
            results[f"decommission {code} {as_of}"] = decided
        decided = estate_overview(store, as_of)
        walked = estate_overview(store, as_of, facts=False)
        assert walked.pop("answered_from") == "copies"
        results[f"estate {as_of} from"] = decided.pop("answered_from")
        assert decided == walked, as_of
        results[f"estate {as_of}"] = decided
        for root in roots:
            for direction in ("up", "down", "both"):
                results[f"trace {root} {direction} {as_of}"] = trace(
                    store, root, direction, 3, as_of, fanout=3, max_nodes=12)
    return results


def compare(estate: EstateBuilder, neo4j: Neo4jStore) -> None:
    roots = sorted({n.key for n in estate.nodes if n.key.startswith(("series:", "system:"))})[:6]
    neo4j.clear()
    estate.load(neo4j)
    apply_retention(neo4j, POLICY, seen_at=SEEN)
    with tempfile.TemporaryDirectory() as folder, LocalStore(Path(folder) / "l.db") as local:
        estate.load(local)
        apply_retention(local, POLICY, seen_at=SEEN)
        offline = answers(local, roots)
    online = answers(neo4j, roots)
    for name in offline:
        assert offline[name] == online[name], name


def test_impact_estate_gives_identical_answers(neo4j_store: Neo4jStore) -> None:
    compare(impact_estate(), neo4j_store)
    apply_retention(neo4j_store, POLICY, seen_at=SEEN)
    # each system not fed by another (PACS-LON feeds S3-US and GCS-DE) is read from its facts
    assert {code: decommission(neo4j_store, code, "2040-01-01")["answered_from"]
            for code in sorted(SYSTEMS)} == {
        "ARCHIVE-GB": "holding facts", "GCS-DE": "copies", "PACS-LON": "holding facts",
        "S3-FR": "holding facts", "S3-US": "copies"}


@DIFFERENTIAL
@given(estate=random_estates())
def test_random_estates_give_identical_answers(
    neo4j_store: Neo4jStore, estate: EstateBuilder
) -> None:
    compare(estate, neo4j_store)
