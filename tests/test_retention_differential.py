"""Cypher and NetworkX give identical answers: the same estates in Neo4j and in the local store,
the same retention applied, every retention query and every catalogue query compared row for
row."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.retention.reports import _params
from lineage.stores import LocalStore, Neo4jStore
from queries.catalogue import ACCESS_PATHS, CATALOGUE
from queries.library import run_query
from queries.retention import ALL, RETENTION_INPUTS
from tests.retention_estate import DIFFERENTIAL, EstateBuilder, fixed_estate, random_estates

pytestmark = pytest.mark.neo4j
AS_OF_DATES = ["2001-01-01", "2016-06-30", "2024-06-01", "2041-01-01"]
POLICY = load_policy()


def answers(store: LocalStore | Neo4jStore) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for as_of in AS_OF_DATES:
        params, _ = _params(store, as_of)
        params |= {"after": "", "limit": 1000, "keys": None, "system": "system:PACS-LON"}
        for query in ALL:
            results[f"{query.name}@{as_of}"] = run_query(store, query, params)
        for name, query in CATALOGUE.items():  # the architects' catalogue, on the same estates
            key = "series:2.0.1" if name == "derivation_chain" else "study:2.0"
            results[f"{query.name}@{as_of}"] = run_query(store, query, params | {"key": key})
        for key in ("study:1.1", "study:1.2", "study:1.3"):  # the fixed estate's
            results[f"access_paths {key}@{as_of}"] = run_query(store, ACCESS_PATHS,
                                                               params | {"key": key})
    return results


def compare(estate: EstateBuilder, neo4j: Neo4jStore) -> None:
    neo4j.clear()
    estate.load(neo4j)
    apply_retention(neo4j, POLICY, batch_size=4)
    with tempfile.TemporaryDirectory() as folder, LocalStore(Path(folder) / "l.db") as local:
        estate.load(local)
        apply_retention(local, POLICY, batch_size=4)
        offline = answers(local)
    online = answers(neo4j)
    assert offline.keys() == online.keys()
    for name in offline:
        assert offline[name] == online[name], name


def test_fixed_estate_gives_identical_answers(neo4j_store: Neo4jStore) -> None:
    compare(fixed_estate(), neo4j_store)
    params, _ = _params(neo4j_store, "2024-06-01")
    page = params | {"after": "", "limit": 99, "keys": None}
    assert len(run_query(neo4j_store, RETENTION_INPUTS, page)) == 10


@DIFFERENTIAL
@given(estate=random_estates())
def test_random_estates_give_identical_answers(
    neo4j_store: Neo4jStore, estate: EstateBuilder
) -> None:
    compare(estate, neo4j_store)
