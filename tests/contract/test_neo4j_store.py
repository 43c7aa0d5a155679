"""The store contract against a real Neo4j server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lineage.stores import GraphStore, Neo4jStore
from tests.conftest import Neo4jTarget
from tests.contract.store_contract import StoreContract

pytestmark = pytest.mark.neo4j


@pytest.fixture
def store(neo4j_store: Neo4jStore) -> Iterator[Neo4jStore]:
    neo4j_store.clear()
    yield neo4j_store


@pytest.fixture
def reopen(neo4j_target: Neo4jTarget) -> Callable[[], GraphStore]:
    uri, auth = neo4j_target
    return lambda: Neo4jStore(uri, auth=auth)


class TestNeo4jStore(StoreContract):
    pass
