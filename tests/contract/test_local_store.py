"""The store contract against the local store (SQLite file + NetworkX view)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lineage.model import Node, Provenance
from lineage.stores import GraphStore, LocalStore
from tests.contract.store_contract import STUDY, StoreContract, small_estate


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "lineage.db") as opened:
        yield opened


@pytest.fixture
def reopen(tmp_path: Path) -> Callable[[], GraphStore]:
    return lambda: LocalStore(tmp_path / "lineage.db")


class TestLocalStore(StoreContract):
    pass


def test_unchanged_elements_are_not_rewritten(store: LocalStore) -> None:
    """Re-reporting the same sighting merges to the stored state: nothing is written."""
    nodes, edges = small_estate()
    store.upsert(nodes, edges)
    writes_before = store.db.total_changes
    result = store.upsert(nodes, edges)
    assert (result.nodes_unchanged, result.edges_unchanged) == (len(nodes), len(edges))
    assert store.db.total_changes == writes_before
    store.upsert([Node(STUDY, Provenance("dicom:PACS1", "2026-02-01"), {"study_date": "20240105"})])
    assert store.db.total_changes == writes_before + 1  # a later sighting moves last_seen
