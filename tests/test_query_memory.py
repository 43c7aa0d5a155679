"""Whole-estate queries whose working memory on Neo4j must not grow with the estate: each held
every row of its walk at once, which Neo4j's transaction memory limit stopped at 1 M studies
(BENCHMARKS.md, "Fourth session"). The memory is PROFILE's GlobalMemory of the query."""

from __future__ import annotations

from typing import Any

import pytest

from lineage.model import Edge, EdgeType, Node, NodeKind, make_key, system_key
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.retention.reports import as_of_params
from lineage.stores import Neo4jStore
from queries.explore import ESTATE_FACTS_QUERY, ESTATE_SYSTEMS
from queries.impact import DECOMMISSION_FACTS
from queries.library import Query
from queries.retention import DRIFT_OVER_RETAINED, DRIFT_OVER_RETAINED_TALLIED
from tests.test_estate_systems import PROV, estate_of, system_with_copies

pytestmark = pytest.mark.neo4j

AS_OF = "2024-01-01"
OVER_RETAINED = {"retain_until": "2022-01-01", "retention_status": "computed",
                 "retention_policy_version": "v-test",
                 "retention_group": "v-test\tsystem:OLD\t\tonline", "retention_bytes": 0,
                 "retention_created": "2020-01-01"}  # and its tally


def working_memory(store: Neo4jStore, query: Query, params: dict[str, Any]) -> int:
    with store.driver.session(database=store.database) as session:
        result = session.run("PROFILE " + query.cypher(), params)
        list(result)
        plan = result.consume().profile
    assert plan is not None
    return int(plan["args"]["GlobalMemory"])


@pytest.mark.parametrize("query", [ESTATE_SYSTEMS, ESTATE_FACTS_QUERY], ids=lambda q: q.name)
def test_the_estate_queries_do_not_hold_every_copy(neo4j_store: Neo4jStore,
                                                   query: Query) -> None:
    """Neither the walk nor the facts' sums hold or sort a system's copies (or their index
    entries): an ORDER BY before the facts' grouping made Neo4j sort every entry."""
    neo4j_store.clear()
    params = {**as_of_params(AS_OF), "systems": None}
    system_with_copies(neo4j_store, "PACS-A", 200)
    apply_retention(neo4j_store, load_policy())
    small = working_memory(neo4j_store, query, params)
    system_with_copies(neo4j_store, "PACS-A", 4000)  # twenty times the copies
    apply_retention(neo4j_store, load_policy())
    large = working_memory(neo4j_store, query, params)
    assert estate_of(neo4j_store)["system:PACS-A"]["copies"] == 4000
    [row] = neo4j_store.run(ESTATE_FACTS_QUERY, params)
    assert (row["copies"], row["entries"], row["stored"]) == (4000, 4000, 4000)
    assert large < 2 * small, (small, large)


def _hold_on(store: Neo4jStore, code: str) -> None:
    event = make_key(NodeKind.COMPLIANCE_EVENT, "HOLD-1")
    store.upsert([Node(event, PROV, {"event_type": "legal_hold", "started_at": "2023-01-01"})],
                 [Edge(event, EdgeType.APPLIES_TO, system_key(code), PROV)])


@pytest.mark.parametrize("query", [DRIFT_OVER_RETAINED, DRIFT_OVER_RETAINED_TALLIED],
                         ids=lambda query: query.name)
def test_a_deep_drift_page_does_not_hold_the_held_copies_with_each_row(
        neo4j_store: Neo4jStore, query: Query) -> None:
    """A page deep in the over-retained copies ranks offset + limit of them; each ranked row
    must not carry the list of copies under hold (a list per row, as Neo4j counts it)."""
    neo4j_store.clear()
    over = system_with_copies(neo4j_store, "OLD", 1500, extra=OVER_RETAINED)
    system_with_copies(neo4j_store, "HELD", 20)
    _hold_on(neo4j_store, "HELD")
    params = as_of_params(AS_OF) | {"policy_version": "v-test", "offset": 1400, "limit": 10,
                                    "after": ""}
    few_held = working_memory(neo4j_store, query, params)
    system_with_copies(neo4j_store, "HELD", 2000)  # a hundred times the copies held
    many_held = working_memory(neo4j_store, query, params)
    page = neo4j_store.run(query, params)
    assert [row["key"] for row in page] == sorted(over)[1400:1410]
    # the held list itself (2,000 keys) is held once: well under a megabyte more
    assert many_held - few_held < 1_000_000, (few_held, many_held)


def test_a_decommission_from_facts_holds_its_later_copies_once(neo4j_store: Neo4jStore) -> None:
    """As of a moment before most of a system's copies changed, `decommission_facts` lists those
    copies and their items to walk: lists of keys, not a working set per key (a DISTINCT over
    them took 1.5 GB of a 2.1 GB transaction limit at 1 M studies)."""
    neo4j_store.clear()
    extra = {"holding_system": system_key("PACS-A"), "holding_gap": False, "holding_others": "",
             "holding_exact_from": "2023-01-01"}
    keys = system_with_copies(neo4j_store, "PACS-A", 4000, extra=extra)
    neo4j_store.upsert([Node(key, PROV, {"holding_item": f"series:{key}"}) for key in keys])
    params = {"system": system_key("PACS-A"), "as_of": "2022-01-01T00:00:00Z"}
    [row] = neo4j_store.run(DECOMMISSION_FACTS, params)
    assert (row["entries"], len(row["later"]), len(row["later_items"])) == (4000, 4000, 4000)
    assert working_memory(neo4j_store, DECOMMISSION_FACTS, params) < 20_000_000
