"""A decommission reads the copies' holding facts (written by `retention apply` and by the
recompute after each ingest) instead of walking the system's copies, only when they stand for
that walk: these tests hold the facts to the walk's answers as an estate changes, and check
when a decommission must walk instead (an ingest between its write and its recompute, one that
failed, a moment before the facts hold)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lineage.impact import decommission
from lineage.ingest import ingest
from lineage.model import Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.pipeline import Bundle, Commit
from lineage.retention.apply import HOLDING_PENDING_META, apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore
from tests.retention_estate import PROV, EstateBuilder, impact_estate

POLICY = load_policy()
FACTS, WALK = "holding facts", "copies"
LOOSE = "series:8.8.1"  # a series no study claims, held by PACS-LON and GCS-DE


def estate_with_a_loose_series() -> EstateBuilder:
    estate = impact_estate()
    estate.nodes.append(Node(LOOSE, PROV, {"modality": "CT"}))
    estate.copy("PACS-LON", "8.8", "2019-01-01")
    estate.copy("GCS-DE", "8.8", "2019-02-01")
    estate.nodes.append(Node("series:7.7.1", PROV, {"modality": "CT"}))
    estate.copy("S3-US", "7.7", "2019-03-01")  # fed by PACS-LON, which never held it: a gap
    return estate


def checked(store: GraphStore, system: str, as_of: str | None = None) -> dict[str, Any]:
    """The decommission as decided, after checking it equals a walk of the system's copies."""
    decided = decommission(store, system, as_of)
    walked = decommission(store, system, as_of, facts=False)
    assert walked.pop("answered_from") == WALK
    how = decided.pop("answered_from")
    assert decided == walked, (system, as_of, how)
    return decided | {"answered_from": how}


def sole(report: dict[str, Any]) -> list[str]:
    return [row["key"] for row in report["sole_copies"]]


def disposal(system: str, uid: str) -> Bundle:
    return Bundle((Node(object_key(system, uid), PROV, {"disposed_at": "2026-02-01"}),),
                  "disposal")


@pytest.fixture
def applied(any_store: GraphStore) -> GraphStore:
    estate_with_a_loose_series().load(any_store)
    apply_retention(any_store, POLICY)
    return any_store


def test_the_facts_answer_as_the_walk_does_and_are_read_when_they_hold(
        applied: GraphStore) -> None:
    paths = {code: checked(applied, code)["answered_from"]
             for code in ("PACS-LON", "S3-US", "GCS-DE", "ARCHIVE-GB", "S3-FR", "CT-1")}
    # S3-US and GCS-DE are fed by PACS-LON: a copy there may lack its source, so they walk
    assert paths == {"PACS-LON": FACTS, "S3-US": WALK, "GCS-DE": WALK, "ARCHIVE-GB": FACTS,
                     "S3-FR": FACTS, "CT-1": FACTS}
    report = checked(applied, "PACS-LON")
    assert LOOSE not in sole(report)
    assert report["holdings"] == {"copies": 6, "items": 6, "elsewhere": [
        {"system": "system:GCS-DE", "items": 2}, {"system": "system:S3-US", "items": 2}]}
    # as of a moment before some of its items' copies were created or disposed, those copies
    # are walked and the rest read from the facts; before most of them, all are walked
    assert checked(applied, "PACS-LON", "2021-06-01")["answered_from"] == FACTS
    assert checked(applied, "PACS-LON", "2012-06-01")["answered_from"] == WALK


def test_an_ingest_that_disposes_the_other_copy_leaves_a_sole_copy_in_the_facts(
        applied: GraphStore) -> None:
    """The recompute after an ingest rewrites the facts of the other copies of what it touched,
    even of a series with no study (no patient links them)."""
    ingest(applied, [disposal("GCS-DE", "8.8.1")], "test")
    report = checked(applied, "PACS-LON")
    assert report["answered_from"] == FACTS
    assert LOOSE in sole(report)
    assert {"system": "system:GCS-DE", "items": 1} in report["holdings"]["elsewhere"]


def test_a_new_copy_elsewhere_ends_a_sole_copy_in_the_facts(applied: GraphStore) -> None:
    assert "series:1.3.1" in sole(checked(applied, "PACS-LON"))
    copy = object_key("ARCHIVE-GB", "1.3.1")
    ingest(applied, [Bundle((Node(copy, PROV, {"created_at": "2025-01-01"}),
                             Edge(copy, EdgeType.COPY_OF, "series:1.3.1", PROV),
                             Edge(copy, EdgeType.STORED_IN, system_key("ARCHIVE-GB"), PROV)),
                            "new copy")], "test")
    report = checked(applied, "PACS-LON")
    assert report["answered_from"] == FACTS
    assert "series:1.3.1" not in sole(report)


def test_a_decommission_between_a_write_and_its_recompute_walks(applied: GraphStore) -> None:
    seen: list[dict[str, Any]] = []
    records: list[Bundle | Commit] = [
        disposal("GCS-DE", "8.8.1"), Commit(lambda: seen.append(checked(applied, "PACS-LON")))]
    ingest(applied, records, "test", retention_every=3600)
    during, after = seen[0], checked(applied, "PACS-LON")
    assert (during["answered_from"], after["answered_from"]) == (WALK, FACTS)
    assert LOOSE in sole(during) and LOOSE in sole(after)
    assert applied.get_meta(HOLDING_PENDING_META) == "0"


def test_an_ingest_that_died_leaves_decommissions_walking_until_a_whole_apply(
        applied: GraphStore) -> None:
    applied.add_to_meta(HOLDING_PENDING_META, 1)  # counted itself, never recomputed
    assert checked(applied, "PACS-LON")["answered_from"] == WALK
    apply_retention(applied, POLICY)
    assert checked(applied, "PACS-LON")["answered_from"] == FACTS


def test_a_whole_apply_that_fails_half_way_leaves_decommissions_walking(
        applied: GraphStore) -> None:
    applied.add_to_meta(HOLDING_PENDING_META, 1)  # an ingest died: some facts may be stale

    def stop(_: int) -> None:
        raise KeyboardInterrupt  # the apply is stopped after its first page

    with pytest.raises(KeyboardInterrupt):
        apply_retention(applied, POLICY, batch_size=2, progress=stop)
    assert applied.get_meta(HOLDING_PENDING_META) == "0"
    assert checked(applied, "PACS-LON")["answered_from"] == WALK
    apply_retention(applied, POLICY)
    assert checked(applied, "PACS-LON")["answered_from"] == FACTS


def test_a_copy_written_without_its_facts_makes_the_decommission_walk(
        applied: GraphStore) -> None:
    copy = object_key("PACS-LON", "9.9.1")  # by a writer other than the ingest service
    applied.upsert([Node(copy, PROV, {"created_at": "2025-01-01"})],
                   [Edge(copy, EdgeType.STORED_IN, system_key("PACS-LON"), PROV)])
    report = checked(applied, "PACS-LON")
    assert report["answered_from"] == WALK
    assert {"key": copy, "reasons": ["copy of nothing known"]} in report["lineage_gaps"]


def test_a_copy_of_two_series_makes_the_decommission_walk(applied: GraphStore) -> None:
    copy = object_key("ARCHIVE-GB", "9.9.1")
    ingest(applied, [Bundle((Node(copy, PROV, {"created_at": "2025-01-01"}),
                             Edge(copy, EdgeType.COPY_OF, "series:1.3.1", PROV),
                             Edge(copy, EdgeType.COPY_OF, LOOSE, PROV),
                             Edge(copy, EdgeType.STORED_IN, system_key("ARCHIVE-GB"), PROV)),
                            "a copy of two series")], "test")
    assert checked(applied, "ARCHIVE-GB")["answered_from"] == WALK
    assert checked(applied, "PACS-LON")["answered_from"] == FACTS


def test_holding_facts_another_source_wrote_are_rewritten_not_a_conflict(
        any_store: GraphStore) -> None:
    """The facts are derived state: whoever wrote a value first (an import, an older tool), the
    apply and the recompute replace it (they are mutable properties of a copy)."""
    estate_with_a_loose_series().load(any_store)
    copy = object_key("GCS-DE", "8.8.1")
    any_store.upsert([Node(copy, Provenance("import:old", "2026-01-01T00:00:00Z"),
                           {"holding_others": "system:NOWHERE", "holding_exact_from": "1999"})])
    apply_retention(any_store, POLICY)
    ingest(any_store, [disposal("GCS-DE", "8.8.1")], "test")
    stored = any_store.get_node(copy)
    assert stored is not None
    assert (stored.properties["holding_others"], stored.properties["holding_exact_from"]) == (
        "-", "2026-02-01T00:00:00.000000Z")
    assert LOOSE in sole(checked(any_store, "PACS-LON"))


def test_a_store_applied_without_holding_facts_walks(applied: GraphStore) -> None:
    applied.set_meta("decommission_facts", "0")  # an engine before the facts
    assert checked(applied, "PACS-LON")["answered_from"] == WALK


def test_a_counting_setting_loses_no_update_and_stays_at_zero_or_more(
        any_store: GraphStore) -> None:
    def count_up() -> None:
        for _ in range(20):
            any_store.add_to_meta("counted", 1)

    threads = [threading.Thread(target=count_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert any_store.get_meta("counted") == "120"
    assert any_store.add_to_meta("counted", -200) == 0
    assert any_store.add_to_meta("never set", -1) == 0
