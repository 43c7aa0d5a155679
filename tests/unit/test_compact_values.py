"""Shared values of the compact stores: equal-looking values of different types stay apart."""

from __future__ import annotations

from typing import Any

from lineage.backfill.staging import StagingStore
from lineage.model import Edge, EdgeType, Node, Provenance
from lineage.stores.compact import shared_value


def test_lists_are_shared_by_typed_content() -> None:
    lists: dict[tuple[Any, ...], list[Any]] = {}
    ints, bools = shared_value([1, 0], lists), shared_value([True, False], lists)
    assert [type(item) for item in ints] == [int, int]
    assert [type(item) for item in bools] == [bool, bool]
    assert shared_value([1, 0], lists) is ints  # the same content: one list


def test_staged_edges_share_equal_property_maps_only() -> None:
    staging = StagingStore()
    prov = Provenance("test", "2026-01-01T00:00:00Z")
    systems = [Node(f"system:S{n}", prov, {"region_code": "eu-west-2"}) for n in range(3)]
    staging.upsert(systems, [Edge("system:S0", EdgeType.FEEDS, "system:S1", prov),
                             Edge("system:S1", EdgeType.FEEDS, "system:S2", prov),
                             Edge("system:S2", EdgeType.FEEDS, "system:S0",
                                  Provenance("other", "2026-01-01T00:00:00Z"))])
    first, second, third = (staging.edges_by_id[(src, "FEEDS", dst)] for src, dst in
                            (("system:S0", "system:S1"), ("system:S1", "system:S2"),
                             ("system:S2", "system:S0")))
    assert first is second and first is not third and third["source"] == "other"
    staging.upsert([], [Edge("system:S0", EdgeType.FEEDS, "system:S1",
                             Provenance("test", "2026-02-01T00:00:00Z"))])
    moved = staging.edges_by_id[("system:S0", "FEEDS", "system:S1")]
    assert str(moved["last_seen"]).startswith("2026-02-01")
    assert str(second["last_seen"]).startswith("2026-01-01")  # replaced for one, not changed


def test_staged_edge_maps_equal_in_python_but_of_other_types_stay_apart() -> None:
    staging = StagingStore()
    prov = Provenance("test", "2026-01-01T00:00:00Z")
    values: list[Any] = [1, True, 1.0, "1", ["1"], [1], [True], 0, False, -0.0, 0.0]
    systems = [Node(f"system:S{n}", prov) for n in range(len(values) + 1)]
    staging.upsert(systems, [Edge(f"system:S{n}", EdgeType.FEEDS, f"system:S{n + 1}", prov,
                                  {"weight": value}) for n, value in enumerate(values)])
    stored = [staging.edges_by_id[(f"system:S{n}", "FEEDS", f"system:S{n + 1}")]["weight"]
              for n in range(len(values))]
    assert [(type(value), repr(value)) for value in stored] == \
        [(type(value), repr(value)) for value in values]
    assert stored == values
