"""An index of the store that is not ONLINE (still being built on a large store, or FAILED)
is named in the warnings of every retention report and of the decommission: the answer is the
same, read by scans instead. On a real Neo4j server, with a real failed index (a value too
large for a range index)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lineage.impact import decommission
from lineage.retention import reports
from lineage.stores import Neo4jStore
from lineage.stores.base import IndexState
from lineage.stores.cypher import constraints
from tests.retention_estate import fixed_estate

pytestmark = pytest.mark.neo4j
AS_OF = "2024-06-01"
BROKEN = "study_obligation_count"
REPORTS: dict[str, Callable[[Neo4jStore], dict[str, Any]]] = {
    "drift": lambda store: reports.drift(store, AS_OF),
    "drift page": lambda store: reports.drift(store, AS_OF, limit=2),
    "over-retained": lambda store: reports.over_retained(store, AS_OF, limit=2),
    "cross-region": lambda store: reports.cross_region(store, AS_OF),
    "holds": lambda store: reports.holds(store, AS_OF),
    "decommission": lambda store: decommission(store, "PACS-LON", AS_OF),
}


def _index_warnings(report: dict[str, Any]) -> list[str]:
    return [warning for warning in report["warnings"] if warning.startswith("index ")]


def _without_warnings(report: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in report.items() if name != "warnings"}


@pytest.fixture
def applied(neo4j_store: Neo4jStore) -> Iterator[Neo4jStore]:
    neo4j_store.clear()
    fixed_estate().load_applied(neo4j_store)
    yield neo4j_store
    neo4j_store.driver.execute_query("DROP INDEX probe_users_own IF EXISTS")
    repair_index(neo4j_store)


def repair_index(store: Neo4jStore) -> None:
    """Undo `break_index`: the probe gone, the index made again by `open()`."""
    for statement in (f"DROP INDEX {BROKEN} IF EXISTS", "MATCH (n:Probe) DELETE n"):
        store.driver.execute_query(statement)
    store.close()
    store.open()  # makes the dropped index again
    assert store.unready_indexes() == []


def break_index(store: Neo4jStore) -> None:
    """Rebuild the store's own index on a property that one study holds too large to index:
    the build fails, as a real one does."""
    store.driver.execute_query(f"DROP INDEX {BROKEN}")
    store.driver.execute_query("CREATE (:Study:Probe {key: 'study:9.9.9', obligation_count: $v})",
                               v="x" * 40_000)
    [statement] = [s for s in constraints() if f"`{BROKEN}`" in s]
    store.driver.execute_query(statement)
    for _ in range(600):  # db.awaitIndexes raises on a failed index: poll its state
        if store.unready_indexes() != [IndexState(BROKEN, "POPULATING", 0.0)]:
            return
        time.sleep(0.1)


def test_a_failed_index_is_named_by_every_report(applied: Neo4jStore) -> None:
    before = {name: report(applied) for name, report in REPORTS.items()}
    assert all(_index_warnings(report) == [] for report in before.values())
    break_index(applied)
    # A user's own index that fails is theirs: the reports do not read through it.
    applied.driver.execute_query(
        "CREATE INDEX probe_users_own FOR (n:Probe) ON (n.obligation_count)")
    assert applied.unready_indexes() == [IndexState(BROKEN, "FAILED", 0.0)]
    for name, report in REPORTS.items():
        after = report(applied)
        assert _index_warnings(after) == [
            f"index {BROKEN} is FAILED: reports that read through it scan instead; SHOW INDEXES "
            "gives its failure message; drop it and open the store again to rebuild it"], name
        assert "x" * 100 not in " ".join(after["warnings"])  # the value is not repeated
        assert _without_warnings(after) == _without_warnings(before[name]), name


def test_an_index_being_built_says_how_far_it_is() -> None:
    warning = IndexState("archiveobject_tally_by_key", "POPULATING", 23.4).warning()
    assert warning.startswith("index archiveobject_tally_by_key is still being built (23 % done)")
    assert "`lineage warm`" in warning


def test_an_index_an_earlier_engine_kept_is_dropped_on_open(neo4j_store: Neo4jStore) -> None:
    """`archiveobject_presence` (the estate's facts before they held the copies' own dates)
    costs every copy's write and answers nothing now: opening the store drops it; an index of
    the user's own is left."""
    def names() -> set[str]:
        records, _, _ = neo4j_store.driver.execute_query("SHOW INDEXES YIELD name RETURN name")
        return {record["name"] for record in records}

    neo4j_store.driver.execute_query(
        "CREATE INDEX archiveobject_presence IF NOT EXISTS FOR (n:ArchiveObject) "
        "ON (n.holding_system, n.holding_exact_from, n.holding_others, n.holding_tier, "
        "n.holding_bytes)")
    neo4j_store.driver.execute_query(
        "CREATE INDEX probe_users_own IF NOT EXISTS FOR (n:Probe) ON (n.holding_tier)")
    try:
        assert {"archiveobject_presence", "probe_users_own"} <= names()
        neo4j_store.close()
        neo4j_store.open()
        assert "archiveobject_presence" not in names()
        assert {"probe_users_own", "archiveobject_estate"} <= names()
    finally:
        neo4j_store.driver.execute_query("DROP INDEX probe_users_own IF EXISTS")
