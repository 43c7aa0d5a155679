"""The store contract against the local store (SQLite file + NetworkX view)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lineage.stores import GraphStore, LocalStore
from tests.contract.store_contract import StoreContract


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "lineage.db") as opened:
        yield opened


@pytest.fixture
def reopen(tmp_path: Path) -> Callable[[], GraphStore]:
    return lambda: LocalStore(tmp_path / "lineage.db")


class TestLocalStore(StoreContract):
    pass
