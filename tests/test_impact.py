"""Decommissioning readiness and lineage trace on a hand-worked estate, on each store."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lineage.errors import UserError
from lineage.impact import decommission, trace
from lineage.model import Edge, EdgeType, Node, Provenance, object_key, system_key
from lineage.stores import GraphStore

AS_OF = "2024-06-01"


@pytest.fixture
def estate(impact_store: GraphStore) -> GraphStore:
    return impact_store


def keys(rows: list[dict[str, Any]]) -> list[str]:
    return [row["key"] for row in rows]


def test_decommission_of_the_pacs_is_blocked(estate: GraphStore) -> None:
    report = decommission(estate, "PACS-LON", AS_OF)

    assert report["verdict"] == "blocked"
    assert report["reasons"] == ["1 sole copy must be migrated first",
                                 "2 systems or datasets depend on it"]
    assert keys(report["sole_copies"]) == ["series:1.3.1", "series:1.6.1"]
    assert report["must_migrate"] == [{"key": "series:1.3.1", "copies": [
        "object:PACS-LON:1.3.1"], "retain_until": None, "holds": [],
        "reason": "retention unknown"}]
    assert report["may_dispose"] == [{"key": "series:1.6.1", "copies": [
        "object:PACS-LON:1.6.1"], "retain_until": "2014-03-03", "holds": []}]
    assert report["downstream"] == [{"key": "dataset:cohort-1", "via": ["includes"]},
                                    {"key": "system:S3-US", "via": ["copied_from", "feeds"]}]
    assert report["access_profiles"] == [{"key": "profile:readers", "role": "readers",
                                          "actions": ["view"]}]
    assert report["lineage_gaps"] == []
    assert report["truncated"] is False


def test_decommission_of_the_cloud_copy_is_ready_with_gaps(estate: GraphStore) -> None:
    report = decommission(estate, "S3-US", AS_OF)
    assert (report["verdict"], report["reasons"]) == ("ready", [])
    assert keys(report["may_dispose"]) == ["series:1.7.1"]
    assert report["may_dispose"][0]["retain_until"] == "2011-03-03"
    assert report["lineage_gaps"] == [{"key": "object:S3-US:1.7.1", "reasons": [
        "de-identified with no link to its original",
        "no recorded source in the systems feeding it"]}]


def test_decommission_as_of_an_earlier_day(estate: GraphStore) -> None:
    report = decommission(estate, "PACS-LON", "2007-01-01")
    assert {"key": "system:GCS-DE", "via": ["feeds"]} in report["downstream"]  # feed still on
    assert "series:1.2.1" not in keys(report["sole_copies"])  # not yet acquired in 2007


def test_decommission_pages_its_lists(estate: GraphStore) -> None:
    first = decommission(estate, "PACS-LON", AS_OF, limit=1)
    second = decommission(estate, "PACS-LON", AS_OF, limit=1, offset=1)
    assert first["truncated"] and first["counts"]["sole_copies"] == 2
    assert keys(first["sole_copies"]) + keys(second["sole_copies"]) == [
        "series:1.3.1", "series:1.6.1"]


def test_unknown_system_suggests_near_matches(estate: GraphStore) -> None:
    with pytest.raises(UserError, match="did you mean system:PACS-LON"):
        decommission(estate, "PACS-LOM", AS_OF)


def test_an_unknown_key_is_answered_by_seeks_not_by_reading_every_node(
    any_store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown key from any reader must not cost a pass over millions of nodes (it read
    every node of the kind, properties included, to suggest near matches)."""
    any_store.upsert([Node(f"series:1.2.{n}.1", Provenance("dicom:PACS1", AS_OF))
                      for n in range(2000)])

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("every node was read to suggest near matches")

    monkeypatch.setattr(any_store, "iter_nodes", refuse)
    for typo, meant in (("series:1.2.1999.2", "series:1.2.1999.1"),
                        ("series:1.2.17x.1", "series:1.2.17.1")):
        with pytest.raises(UserError, match=f"did you mean [^;]*{re.escape(meant)}"):
            trace(any_store, typo, "both", 2, AS_OF)


def test_trace_down_follows_copies_and_derivatives(estate: GraphStore) -> None:
    result = trace(estate, "series:1.5.1", "down", 3, AS_OF)
    assert keys(result["nodes"]) == ["object:GCS-DE:1.5.1", "object:PACS-LON:1.5.1",
                                     "object:PACS-LON:1.6.1", "series:1.5.1", "series:1.6.1"]
    assert [(e["from"], e["type"], e["to"]) for e in result["edges"]] == [
        ("object:GCS-DE:1.5.1", "COPY_OF", "series:1.5.1"),
        ("object:PACS-LON:1.5.1", "COPY_OF", "series:1.5.1"),
        ("object:PACS-LON:1.6.1", "COPY_OF", "series:1.6.1"),
        ("series:1.6.1", "DERIVED_FROM", "series:1.5.1"),
    ]
    assert result["truncated"] is False
    derived = next(e for e in result["edges"] if e["type"] == "DERIVED_FROM")
    assert derived["properties"]["kind"] == "lossy_compression"
    node = next(n for n in result["nodes"] if n["key"] == "object:GCS-DE:1.5.1")
    assert node["kind"] == "ArchiveObject" and node["properties"]["bytes"] == 1000


def test_trace_up_finds_sources_systems_and_feeds(estate: GraphStore) -> None:
    result = trace(estate, "object:S3-US:1.1.1", "up", 2, AS_OF)
    assert keys(result["nodes"]) == ["object:PACS-LON:1.1.1", "object:S3-US:1.1.1",
                                     "series:1.1.1", "study:1.1", "system:PACS-LON",
                                     "system:S3-US"]
    assert len(result["edges"]) == 7
    assert ("system:PACS-LON", "FEEDS", "system:S3-US") in {
        (e["from"], e["type"], e["to"]) for e in result["edges"]}


def test_trace_as_of_hides_what_did_not_exist_yet(estate: GraphStore) -> None:
    assert keys(trace(estate, "series:1.1.1", "down", 1, "2015-01-01")["nodes"]) == [
        "object:PACS-LON:1.1.1", "series:1.1.1"]  # the S3 copy came in 2018


def test_trace_caps_say_truncated(estate: GraphStore) -> None:
    capped = trace(estate, "system:PACS-LON", "down", 1, AS_OF, fanout=2)
    assert capped["truncated"] is True and len(capped["nodes"]) == 3
    small = trace(estate, "system:PACS-LON", "down", 2, AS_OF, max_nodes=4)
    assert small["truncated"] is True and len(small["nodes"]) == 4
    full = trace(estate, "system:PACS-LON", "down", 1, AS_OF)
    assert full["truncated"] is False and len(full["nodes"]) == 7


def test_trace_of_an_unknown_key_is_a_user_error(estate: GraphStore) -> None:
    with pytest.raises(UserError, match=r"no node 'series:9\.9\.9'"):
        trace(estate, "series:9.9.9", "down", 2, AS_OF)
    with pytest.raises(UserError, match="direction"):
        trace(estate, "series:1.1.1", "sideways", 2, AS_OF)  # type: ignore[arg-type]


def test_trace_through_a_dense_system_sees_feeds_added_later(any_store: GraphStore) -> None:
    """A system holding more copies than queries.graph.DENSE is walked through a per-type index
    on the local store (made at the first trace); a FEEDS edge into it written after that
    must still be followed."""
    from queries.graph import DENSE

    prov = Provenance("test:dense", "2024-01-01")
    copies = [Node(object_key("VNA", f"obj-{n:05d}"), prov, {"created_at": "2023-01-01"})
              for n in range(DENSE + 5)]
    any_store.upsert([Node(system_key("VNA"), prov), *copies],
                     [Edge(c.key, EdgeType.STORED_IN, system_key("VNA"), prov) for c in copies])
    root = copies[0].key
    before = trace(any_store, root, "both", 2, AS_OF)
    assert keys(before["nodes"]) == [root, "system:VNA"]  # the other copies are not lineage
    any_store.upsert([Node(system_key("DR"), prov)],
                     [Edge(system_key("DR"), EdgeType.FEEDS, system_key("VNA"), prov)])
    after = trace(any_store, root, "both", 2, AS_OF)
    assert keys(after["nodes"]) == [root, "system:DR", "system:VNA"]
    assert ("system:DR", "FEEDS", "system:VNA") in {
        (e["from"], e["type"], e["to"]) for e in after["edges"]}
