"""The explorer's estate (`GET /estate`, `lineage.estate_overview`) sums each system's live
copies, bytes and tiers from its copies' write-time facts (written by `retention apply` and the
recompute after each ingest) instead of walking its copies, only when they stand for that walk:
these tests hold the facts to the walk's answer as an estate changes, and check when a system
must be walked instead. On Neo4j the facts are read from one index, without the copies.
A copy's own dates are among its facts, so the estate at any moment is answered from them."""

from __future__ import annotations

from typing import Any

import pytest

from lineage.estate_overview import FACTS, WALK, estate_overview
from lineage.ingest import ingest
from lineage.model import Edge, EdgeType, Node, object_key, system_key
from lineage.pipeline import Bundle, Commit
from lineage.retention.apply import ESTATE_FACTS_META, HOLDING_PENDING_META, apply_retention
from lineage.retention.policy import load_policy
from lineage.retention.reports import as_of_params
from lineage.stores import GraphStore, Neo4jStore
from lineage.stores.cypher import COMPOSITE
from queries.explore import ESTATE_FACTS_QUERY
from tests.retention_estate import PROV, EstateBuilder, impact_estate

POLICY = load_policy()
BOTH = f"{FACTS} and {WALK}"
UNTIERED, EMPTY_TIER = object_key("S3-FR", "1.3.1"), object_key("S3-FR", "1.4.1")


def estate_with_tiers() -> EstateBuilder:
    """The impact estate, plus in S3-FR a copy with no tier and no size and one whose tier is
    empty text (neither is a tier), and a cold copy in ARCHIVE-GB."""
    estate = impact_estate()
    estate.copy("ARCHIVE-GB", "1.3", "2019-03-01", tier="cold", size=7000)
    for key, series, props in (
            (UNTIERED, "series:1.3.1", {}),
            (EMPTY_TIER, "series:1.4.1", {"storage_tier": "", "bytes": 300})):
        estate.nodes.append(Node(key, PROV, {"created_at": "2019-04-01", **props}))
        estate.edges += [Edge(key, EdgeType.COPY_OF, series, PROV),
                         Edge(key, EdgeType.STORED_IN, system_key("S3-FR"), PROV)]
    return estate


def checked(store: GraphStore, as_of: str | None = None) -> dict[str, Any]:
    """The estate as decided, after checking it equals a walk of every system's copies; its
    systems by key."""
    decided = estate_overview(store, as_of)
    walked = estate_overview(store, as_of, facts=False)
    assert walked.pop("answered_from") == WALK
    how = decided.pop("answered_from")
    assert decided == walked, (as_of, how)
    return {row["key"]: row for row in decided["systems"]} | {"answered_from": how}


@pytest.fixture
def applied(any_store: GraphStore) -> GraphStore:
    estate_with_tiers().load(any_store)
    apply_retention(any_store, POLICY)
    return any_store


def test_the_facts_answer_as_the_walk_does(applied: GraphStore) -> None:
    estate = checked(applied)
    assert estate["answered_from"] == FACTS
    archive, s3_fr = estate["system:ARCHIVE-GB"], estate["system:S3-FR"]
    assert (archive["copies"], archive["bytes"], archive["tiers"]) == (2, 12000,
                                                                       ["archive", "cold"])
    # its copy of 1.2 was disposed of; the untiered copy counts, unsized, under no tier
    assert (s3_fr["copies"], s3_fr["bytes"], s3_fr["tiers"]) == (2, 300, [])
    assert estate["system:PACS-LON"]["feeds"] == ["system:S3-US"]  # GCS-DE's feed ended


def test_an_ingest_that_moves_a_tier_or_disposes_is_in_the_next_estate(
        applied: GraphStore) -> None:
    cold = object_key("ARCHIVE-GB", "1.3.1")
    ingest(applied, [Bundle((Node(cold, PROV, {"storage_tier": "glacier"}),), "lifecycle"),
                     Bundle((Node(UNTIERED, PROV, {"disposed_at": "2026-02-01"}),),
                            "disposal")], "test")
    estate = checked(applied)
    assert estate["answered_from"] == FACTS
    assert estate["system:ARCHIVE-GB"]["tiers"] == ["archive", "glacier"]
    assert estate["system:S3-FR"]["copies"] == 1


def test_an_estate_between_a_write_and_its_recompute_walks(applied: GraphStore) -> None:
    seen: list[dict[str, Any]] = []
    moved = Node(object_key("ARCHIVE-GB", "1.3.1"), PROV, {"storage_tier": "glacier"})
    ingest(applied, [Bundle((moved,), "lifecycle"), Commit(lambda: seen.append(checked(applied)))],
           "test", retention_every=3600)
    during, after = seen[0], checked(applied)
    assert (during["answered_from"], after["answered_from"]) == (WALK, FACTS)
    assert during["system:ARCHIVE-GB"]["tiers"] == after["system:ARCHIVE-GB"]["tiers"] == [
        "archive", "glacier"]


def test_any_moment_is_answered_from_the_facts(applied: GraphStore) -> None:
    # as of 2019-03-15 the cold copy (2019-03-01) exists but the S3-FR copies (2019-04-01) do
    # not; in September 2020 S3-FR still holds its copy of 1.2 (disposed 2021-01-01); the
    # copies of the items 1.3.1 and 1.4.1 hold other facts only from 2019-04-01 on
    estate = checked(applied, "2019-03-15")
    assert estate["answered_from"] == FACTS
    assert (estate["system:ARCHIVE-GB"]["copies"], estate["system:ARCHIVE-GB"]["tiers"]) == (
        1, ["cold"])
    assert estate["system:S3-FR"]["copies"] == 0
    assert checked(applied, "2020-09-01")["system:S3-FR"]["copies"] == 3
    assert checked(applied, "2020-09-01")["answered_from"] == FACTS
    assert checked(applied, "2050-01-01")["answered_from"] == FACTS
    before = checked(applied, "2001-01-01")
    assert before["answered_from"] == FACTS
    assert all(row["copies"] == 0 for key, row in before.items() if key != "answered_from")


def test_a_copy_in_two_systems_walks_those_two(applied: GraphStore) -> None:
    before = checked(applied)
    shared = object_key("GCS-DE", "1.3.1")
    ingest(applied, [Bundle((Node(shared, PROV, {"created_at": "2019-05-01",
                                                 "storage_tier": "standard", "bytes": 10}),
                             Edge(shared, EdgeType.COPY_OF, "series:1.3.1", PROV),
                             Edge(shared, EdgeType.STORED_IN, system_key("GCS-DE"), PROV),
                             Edge(shared, EdgeType.STORED_IN, system_key("S3-US"), PROV)),
                            "one copy, two systems")], "test")
    estate = checked(applied)
    assert estate["answered_from"] == BOTH
    for code in ("GCS-DE", "S3-US"):
        system = system_key(code)
        assert estate[system]["copies"] == before[system]["copies"] + 1
        assert estate[system]["bytes"] == before[system]["bytes"] + 10


def test_a_copy_written_without_its_facts_walks_its_system(applied: GraphStore) -> None:
    copy = object_key("ARCHIVE-GB", "9.9.1")  # by a writer other than the ingest service
    applied.upsert([Node(copy, PROV, {"created_at": "2025-01-01", "storage_tier": "tape"})],
                   [Edge(copy, EdgeType.STORED_IN, system_key("ARCHIVE-GB"), PROV)])
    estate = checked(applied)
    assert estate["answered_from"] == BOTH
    assert estate["system:ARCHIVE-GB"]["tiers"] == ["archive", "cold", "tape"]


def test_without_a_whole_apply_every_system_is_walked(any_store: GraphStore) -> None:
    estate_with_tiers().load(any_store)
    assert checked(any_store)["answered_from"] == WALK  # never applied
    apply_retention(any_store, POLICY)
    assert checked(any_store)["answered_from"] == FACTS
    any_store.add_to_meta(HOLDING_PENDING_META, 1)  # an ingest died before its recompute
    assert checked(any_store)["answered_from"] == WALK

    def stop(_: int) -> None:
        raise KeyboardInterrupt  # a whole apply stopped after its first page

    with pytest.raises(KeyboardInterrupt):
        apply_retention(any_store, POLICY, batch_size=2, progress=stop)
    assert checked(any_store)["answered_from"] == WALK
    apply_retention(any_store, POLICY)
    assert checked(any_store)["answered_from"] == FACTS
    any_store.set_meta(ESTATE_FACTS_META, "1")  # an engine before the copies' own dates
    assert checked(any_store)["answered_from"] == WALK


@pytest.mark.neo4j
@pytest.mark.parametrize("any_store", ["neo4j"], indirect=True)
def test_on_neo4j_the_facts_come_from_one_index_without_the_copies(
        applied: Neo4jStore) -> None:
    params = {**as_of_params(None), "systems": None}
    with applied.driver.session(database=applied.database) as session:
        result = session.run("PROFILE " + ESTATE_FACTS_QUERY.cypher(), params)
        list(result)
        plan = result.consume().profile
    assert plan is not None
    operators: list[dict[str, Any]] = []
    pending = [plan]
    while pending:
        operator = pending.pop()
        operators.append(operator)
        pending.extend(operator.get("children", []))
    details = [f"{op['operatorType']} {op['args'].get('Details', '')}" for op in operators]
    _, properties = COMPOSITE["archiveobject_estate"]
    index = f"RANGE INDEX o:ArchiveObject({', '.join(properties)})"
    [seek] = [d for d in details if d.startswith("NodeIndexSeek") and index in d]
    # the values the sums read come with the entries (cached from the index): no copy is read
    assert all(f"cache[o.{name}]" in seek for name in properties[1:]), seek
    # nothing expands from a system to its copies: STORED_IN is only counted
    assert not any(d.startswith("Expand") and "STORED_IN" in d for d in details), details
