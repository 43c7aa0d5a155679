"""The GraphStore contract: one suite, run unchanged against every store.

A test module per backend subclasses `StoreContract` and supplies two fixtures: `store` (an
open, empty store) and `reopen` (a callable giving a new store object on the same data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lineage.errors import BatchRejectedError
from lineage.model import Confidence, Edge, EdgeType, Node, NodeKind, Provenance
from lineage.stores import GraphStore
from lineage.timefmt import utc_now

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-02T00:00:00Z"
T2 = "2026-01-03T00:00:00Z"
PACS = Provenance("dicom:PACS1", T0)
EHR = Provenance("hl7:EHR", T0)
STUDY = "study:1.2.3"
SERIES = "series:1.2.3.1"
COPY = "object:PACS1:1.2.3.1"
SYSTEM = "system:PACS1"


def at(provenance: Provenance, seen_at: str, confidence: Confidence | None = None) -> Provenance:
    return Provenance(provenance.source, seen_at, confidence or provenance.confidence)


def small_estate(prov: Provenance = PACS) -> tuple[list[Node], list[Edge]]:
    nodes = [
        Node(SYSTEM, prov, {"kind": "pacs", "region_code": "eu-west-2"}),
        Node(STUDY, prov, {"study_date": "20240105", "modalities": ["CT"]}),
        Node(SERIES, prov, {"modality": "CT", "instance_count": 120}),
        Node(COPY, prov, {"instance_count": 120, "created_at": "2024-01-05T10:00:00+01:00"}),
    ]
    edges = [
        Edge(SERIES, EdgeType.PART_OF, STUDY, prov),
        Edge(COPY, EdgeType.COPY_OF, SERIES, prov),
        Edge(COPY, EdgeType.STORED_IN, SYSTEM, prov, {"valid_from": "2024-01-05"}),
    ]
    return nodes, edges


Snapshot = dict[str, dict[str, Any]]


def snapshot(store: GraphStore) -> tuple[Snapshot, Snapshot]:
    nodes = {n.key: dict(n.properties) for n in store.iter_nodes()}
    edges = {f"{e.src} {e.type} {e.dst}": dict(e.properties) for e in store.iter_edges()}
    return nodes, edges


def without_last_seen(state: Snapshot) -> Snapshot:
    return {k: {n: v for n, v in props.items() if n != "last_seen"} for k, props in state.items()}


class StoreContract:
    # -- upsert and provenance ---------------------------------------------------------------
    def test_upsert_creates_nodes_and_edges_with_provenance(self, store: GraphStore) -> None:
        nodes, edges = small_estate()
        result = store.upsert(nodes, edges)

        assert (result.nodes_created, result.edges_created) == (4, 3)
        study = store.get_node(STUDY)
        assert study is not None and study.kind is NodeKind.STUDY
        assert study.properties["study_date"] == "2024-01-05"
        assert study.properties["modalities"] == ["CT"]
        assert study.properties["source"] == "dicom:PACS1"
        assert study.properties["sources"] == ["dicom:PACS1"]
        assert study.properties["first_seen"] == study.properties["last_seen"]
        assert study.properties["first_seen"] == "2026-01-01T00:00:00.000000Z"
        assert study.properties["confidence"] == "observed"
        edge = store.get_edge(SERIES, EdgeType.PART_OF, STUDY)
        assert edge is not None and edge.properties["source"] == "dicom:PACS1"
        assert store.get_node("study:9.9.9") is None
        assert store.get_edge(STUDY, EdgeType.PART_OF, SERIES) is None

    def test_reupsert_changes_only_last_seen(self, store: GraphStore) -> None:
        store.upsert(*small_estate())
        before_nodes, before_edges = snapshot(store)

        result = store.upsert(*small_estate(at(PACS, T1)))

        after_nodes, after_edges = snapshot(store)
        assert (result.nodes_created, result.nodes_updated, result.nodes_unchanged) == (0, 0, 4)
        assert (result.edges_created, result.edges_updated, result.edges_unchanged) == (0, 0, 3)
        assert without_last_seen(after_nodes) == without_last_seen(before_nodes)
        assert without_last_seen(after_edges) == without_last_seen(before_edges)
        assert {p["last_seen"] for p in after_nodes.values()} == {"2026-01-02T00:00:00.000000Z"}
        assert {p["last_seen"] for p in after_edges.values()} == {"2026-01-02T00:00:00.000000Z"}
        assert store.conflicts() == []

    def test_reupsert_of_same_sighting_changes_nothing(self, store: GraphStore) -> None:
        store.upsert(*small_estate())
        before = snapshot(store)
        store.upsert(*small_estate())
        assert snapshot(store) == before

    def test_second_source_joins_provenance_and_upgrades_confidence(
        self, store: GraphStore
    ) -> None:
        inferred = Provenance("inferred:copies", T1, Confidence.INFERRED)
        store.upsert([Node(STUDY, inferred, {"institution": "North"})])
        store.upsert([Node(STUDY, at(EHR, T0), {"accession": "A1"})])

        props = store.get_node(STUDY).properties  # type: ignore[union-attr]
        assert props["sources"] == ["hl7:EHR", "inferred:copies"]
        assert props["source"] == "inferred:copies"
        assert props["confidence"] == "observed"
        assert props["first_seen"] == "2026-01-01T00:00:00.000000Z"
        assert props["last_seen"] == "2026-01-02T00:00:00.000000Z"
        assert (props["institution"], props["accession"]) == ("North", "A1")

    # -- conflicts --------------------------------------------------------------------------
    def test_other_source_disagreeing_keeps_value_and_records_conflict(
        self, store: GraphStore
    ) -> None:
        store.upsert([Node(STUDY, PACS, {"study_date": "2024-01-05", "accession": "A1"})])
        before = utc_now()
        store.upsert([Node(STUDY, at(EHR, T1), {"study_date": "2024-01-06", "accession": "A1"})])

        assert store.get_node(STUDY).properties["study_date"] == "2024-01-05"  # type: ignore[union-attr]
        [conflict] = store.conflicts()
        assert (conflict.element, conflict.property) == (STUDY, "study_date")
        assert (conflict.current_value, conflict.current_source) == ("2024-01-05", "dicom:PACS1")
        assert (conflict.reported_value, conflict.reported_source) == ("2024-01-06", "hl7:EHR")
        assert conflict.first_seen == "2026-01-02T00:00:00.000000Z"  # the source's time
        assert conflict.recorded_at is not None and before <= conflict.recorded_at <= utc_now()

        store.upsert([Node(STUDY, at(EHR, T2), {"study_date": "2024-01-06"})])
        [again] = store.conflicts()
        assert again.id == conflict.id
        assert (again.first_seen, again.last_seen) == (conflict.first_seen,
                                                       "2026-01-03T00:00:00.000000Z")
        assert again.recorded_at == conflict.recorded_at  # first learned, kept

    def test_same_source_correction_updates_without_conflict(self, store: GraphStore) -> None:
        store.upsert([Node(STUDY, PACS, {"study_date": "2024-01-05"})])
        store.upsert([Node(STUDY, at(PACS, T1), {"study_date": "2024-01-07"})])
        store.upsert([Node(STUDY, at(PACS, T0), {"study_date": "2023-12-31"})])  # older: ignored

        assert store.get_node(STUDY).properties["study_date"] == "2024-01-07"  # type: ignore[union-attr]
        assert store.conflicts() == []

    def test_conflicting_lists_are_recorded_whole(self, store: GraphStore) -> None:
        store.upsert([Node(SERIES, PACS, {"deidentification_methods": ["113100"]})])
        store.upsert([Node(SERIES, at(EHR, T1), {"deidentification_methods": ["113100",
                                                                              "113110"]})])
        [conflict] = store.conflicts()
        assert (conflict.current_value, conflict.reported_value) == (
            ["113100"], ["113100", "113110"])

    def test_modalities_are_the_union_of_what_sources_see(self, store: GraphStore) -> None:
        store.upsert([Node(STUDY, PACS, {"modalities": ["CT", "SEG"]})])
        store.upsert([Node(STUDY, at(EHR, T1), {"modalities": ["CT", "MR"]})])
        assert store.get_node(STUDY).properties["modalities"] == ["CT", "MR", "SEG"]  # type: ignore[union-attr]
        assert store.conflicts() == []

    # -- validity times ---------------------------------------------------------------------
    def test_validity_times_newest_state_wins(self, store: GraphStore) -> None:
        nodes, edges = small_estate()
        store.upsert(nodes, edges)
        end = Edge(COPY, EdgeType.STORED_IN, SYSTEM, at(PACS, T2), {"valid_to": "2026-01-03"})
        disposed = Node(COPY, at(PACS, T2), {"disposed_at": "2026-01-03T12:00:00Z"})
        store.upsert([disposed], [end])
        stale = Node(COPY, at(PACS, T1), {"disposed_at": "2026-01-02T00:00:00Z"})
        store.upsert([stale])

        copy = store.get_node(COPY).properties  # type: ignore[union-attr]
        assert copy["created_at"] == "2024-01-05T09:00:00.000000Z"
        assert copy["disposed_at"] == "2026-01-03T12:00:00.000000Z"
        edge = store.get_edge(COPY, EdgeType.STORED_IN, SYSTEM).properties  # type: ignore[union-attr]
        assert edge["valid_from"] == "2024-01-05T00:00:00.000000Z"
        assert edge["valid_to"] == "2026-01-03T00:00:00.000000Z"
        assert store.conflicts() == []

    def test_removed_properties_are_withdrawn(self, store: GraphStore) -> None:
        store.upsert([Node(COPY, PACS, {"retain_until": "2030-01-01", "retention_policy_id": "r1",
                                        "vendor_note": "x"})])
        store.upsert([Node(COPY, at(EHR, T1), {"retention_status": "unknown"},
                           removed={"retain_until", "retention_policy_id", "vendor_note"})])
        props = store.get_node(COPY).properties  # type: ignore[union-attr]
        assert "retain_until" not in props and "retention_policy_id" not in props
        assert props["vendor_note"] == "x"  # not mutable, and not the withdrawing source's own
        assert props["retention_status"] == "unknown"

    def test_derived_values_keep_the_engines_clock_apart_from_the_sightings(
            self, store: GraphStore) -> None:
        """Retention and the other derived values are ordered by `derived_at`, the sightings
        by `last_seen`: neither clock holds the other back."""
        nodes, edges = small_estate()
        store.upsert(nodes, edges)  # sighted at T0
        engine = Provenance("retention", T2, Confidence.INFERRED)
        store.upsert([Node(COPY, engine, {"retain_until": "2030-01-01"})])
        copy = store.get_node(COPY).properties  # type: ignore[union-attr]
        assert (copy["last_seen"], copy["derived_at"]) == (  # computed, not sighted
            "2026-01-01T00:00:00.000000Z", "2026-01-03T00:00:00.000000Z")
        # a sighting from before the computation is still the newest sighting
        store.upsert([Node(COPY, at(PACS, T1), {"storage_tier": "archive"})])
        # an older computation does not win over a newer one, nor a far-ahead sighting over it
        store.upsert([Node(COPY, at(engine, T1), {"retain_until": "2029-01-01"})])
        store.upsert([Node(COPY, at(PACS, "2099-01-01T00:00:00Z"), {"bytes": 10})])
        store.upsert([Node(COPY, at(engine, "2026-01-04T00:00:00Z"),
                           {"retain_until": "2031-01-01"})])
        copy = store.get_node(COPY).properties  # type: ignore[union-attr]
        assert (copy["storage_tier"], copy["retain_until"], copy["bytes"]) == (
            "archive", "2031-01-01", 10)
        assert (copy["last_seen"], copy["derived_at"]) == (
            "2099-01-01T00:00:00.000000Z", "2026-01-04T00:00:00.000000Z")
        assert copy["sources"] == ["dicom:PACS1", "retention"] and store.conflicts() == []
        # what a later computation withdrew, an earlier one does not bring back
        store.upsert([Node(COPY, at(engine, "2026-01-05T00:00:00Z"),
                           {"retention_status": "unknown"}, removed={"retain_until"})])
        store.upsert([Node(COPY, at(engine, "2026-01-04T12:00:00Z"),
                           {"retention_status": "computed", "retain_until": "2031-01-01"})])
        copy = store.get_node(COPY).properties  # type: ignore[union-attr]
        assert (copy["retention_status"], "retain_until" in copy) == ("unknown", False)

    # -- placeholders -----------------------------------------------------------------------
    def test_edge_to_unseen_node_makes_placeholder_resolved_later(self, store: GraphStore) -> None:
        result = store.upsert([], [Edge(SERIES, EdgeType.PART_OF, STUDY, at(PACS, T1))])
        assert result.placeholders_created == 2
        placeholder = store.get_node(STUDY)
        assert placeholder is not None and placeholder.properties["unresolved"] is True
        assert placeholder.properties["confidence"] == "inferred"
        assert store.stats().unresolved == 2

        store.upsert([Node(STUDY, at(EHR, T2), {"accession": "A1"})])

        resolved = store.get_node(STUDY).properties  # type: ignore[union-attr]
        assert "unresolved" not in resolved
        assert (resolved["source"], resolved["confidence"]) == ("hl7:EHR", "observed")
        assert resolved["first_seen"] == "2026-01-02T00:00:00.000000Z"
        assert store.stats().unresolved == 1

    def test_duplicates_within_one_batch_merge(self, store: GraphStore) -> None:
        store.upsert([Node(STUDY, PACS, {"accession": "A1"}),
                      Node(STUDY, at(EHR, T1), {"institution": "North"})])
        props = store.get_node(STUDY).properties  # type: ignore[union-attr]
        assert (props["accession"], props["institution"]) == ("A1", "North")
        assert props["sources"] == ["dicom:PACS1", "hl7:EHR"]

    def test_batch_mixing_stored_and_new_elements(
        self, store: GraphStore, reopen: Callable[[], GraphStore]
    ) -> None:
        """New elements are written as they are locked, stored ones merged and rewritten only
        when changed: one batch with both, and duplicates, must come out as if merged in order."""
        store.upsert(*small_estate())
        vna = "object:VNA:1.2.3.1"
        result = store.upsert(
            [Node(SERIES, at(PACS, T1), {"instance_count": 121}),  # stored: its source corrects
             Node(vna, at(PACS, T1), {"instance_count": 120}),  # new
             Node(vna, at(EHR, T1), {"storage_tier": "online"})],  # new, again in the batch
            [Edge(vna, EdgeType.COPY_OF, SERIES, at(PACS, T1)),  # new, to a stored node
             Edge(vna, EdgeType.COPY_OF, SERIES, at(PACS, T1)),  # the same report twice
             Edge(COPY, EdgeType.STORED_IN, SYSTEM, at(PACS, T1), {"valid_to": "2026-01-02"}),
             Edge(vna, EdgeType.COPIED_FROM, COPY, at(PACS, T1))])

        assert (result.nodes_created, result.nodes_updated, result.nodes_unchanged) == (1, 2, 0)
        assert (result.edges_created, result.edges_updated, result.edges_unchanged) == (2, 1, 1)
        copy = store.get_node(vna).properties  # type: ignore[union-attr]
        assert (copy["instance_count"], copy["storage_tier"]) == (120, "online")
        assert copy["sources"] == ["dicom:PACS1", "hl7:EHR"]
        assert store.get_node(SERIES).properties["instance_count"] == 121  # type: ignore[union-attr]
        stored_in = store.get_edge(COPY, EdgeType.STORED_IN, SYSTEM)
        assert stored_in is not None
        assert stored_in.properties["valid_to"] == "2026-01-02T00:00:00.000000Z"
        assert store.stats().edges == {"COPIED_FROM": 1, "COPY_OF": 2, "PART_OF": 1,
                                       "STORED_IN": 1}
        expected = snapshot(store)
        with reopen() as again:  # what was read back equals what was written
            assert snapshot(again) == expected

    # -- reads ------------------------------------------------------------------------------
    def test_neighbour_reads_by_direction_and_type(self, store: GraphStore) -> None:
        store.upsert(*small_estate())
        assert [(e.type, e.dst) for e in store.edges(COPY)] == [
            (EdgeType.COPY_OF, SERIES), (EdgeType.STORED_IN, SYSTEM)]
        assert [(e.src, e.type) for e in store.edges(SERIES, "in")] == [(COPY, EdgeType.COPY_OF)]
        assert [e.type for e in store.edges(SERIES, "both")] == [EdgeType.COPY_OF,
                                                                 EdgeType.PART_OF]
        assert store.edges(COPY, types=[EdgeType.STORED_IN])[0].dst == SYSTEM
        assert store.neighbours(SERIES, "both") == [COPY, STUDY]
        assert store.neighbours(STUDY, "out") == []
        assert store.edges("study:not-there") == []
        for direction, types, whole in (("both", None, [COPY, STUDY]), ("in", None, [COPY]),
                                        ("both", [EdgeType.PART_OF], [STUDY])):
            for limit in (1, 2, 5):
                cut = store.neighbours(SERIES, direction, types, limit=limit)  # type: ignore[arg-type]
                assert len(cut) == min(limit, len(whole)) and set(cut) <= set(whole)
                assert cut == sorted(set(cut))
        assert store.get_nodes([SERIES, "study:not-there", COPY]) == [
            store.get_node(SERIES), store.get_node(COPY)]
        assert store.out_edges([SERIES, COPY, "study:not-there"]) == sorted(
            store.edges(COPY) + store.edges(SERIES), key=lambda e: (e.type.value, e.src, e.dst))

    def test_path_reads(self, store: GraphStore) -> None:
        store.upsert(*small_estate())
        assert store.shortest_path(COPY, STUDY) == [COPY, SERIES, STUDY]
        assert store.shortest_path(STUDY, COPY) is None
        assert store.shortest_path(STUDY, COPY, direction="in") == [STUDY, SERIES, COPY]
        assert store.shortest_path(SYSTEM, STUDY, direction="both") == [SYSTEM, COPY, SERIES,
                                                                        STUDY]
        assert store.shortest_path(COPY, STUDY, max_depth=1) is None
        assert store.shortest_path(COPY, STUDY, types=[EdgeType.COPY_OF]) is None
        assert store.shortest_path(COPY, COPY) == [COPY]
        with pytest.raises(ValueError, match="max_depth"):
            store.shortest_path(COPY, STUDY, max_depth=1000)

    def test_keys_by_prefix_are_of_one_kind_in_order_and_capped(self, store: GraphStore) -> None:
        series = ["series:1.2.30.1", "series:1.2.3.2", "series:1.2.3.1", "series:1.2.4.1"]
        store.upsert([Node(key, PACS) for key in series] + [Node("study:1.2.3", PACS)])
        assert store.keys_starting(NodeKind.SERIES, "series:1.2.3.", 10) == [
            "series:1.2.3.1", "series:1.2.3.2"]
        assert store.keys_starting(NodeKind.SERIES, "series:1.2.3", 2) == [
            "series:1.2.3.1", "series:1.2.3.2"]
        assert store.keys_starting(NodeKind.SERIES, "series:", 10) == sorted(series)
        assert store.keys_starting(NodeKind.STUDY, "series:", 10) == []
        assert store.keys_starting(NodeKind.SERIES, "series:9", 10) == []

    def test_iteration_and_stats(self, store: GraphStore) -> None:
        store.upsert(*small_estate())
        assert [n.key for n in store.iter_nodes(NodeKind.SERIES)] == [SERIES]
        assert [n.key for n in store.iter_nodes()] == sorted([SYSTEM, STUDY, SERIES, COPY])
        assert [(e.src, e.dst) for e in store.iter_edges(EdgeType.PART_OF)] == [(SERIES, STUDY)]
        stats = store.stats()
        assert stats.nodes == {"ArchiveObject": 1, "Series": 1, "Study": 1, "System": 1}
        assert stats.edges == {"COPY_OF": 1, "PART_OF": 1, "STORED_IN": 1}
        assert (stats.conflicts, stats.unresolved) == (0, 0)

    # -- atomicity and durability -----------------------------------------------------------
    def test_batch_failing_midway_writes_nothing(self, store: GraphStore) -> None:
        store.upsert([Node(SYSTEM, PACS, {"kind": "pacs"})])
        before = snapshot(store)
        nodes, edges = small_estate(at(PACS, T1))
        too_big = Edge(COPY, EdgeType.COPIED_FROM, "object:VNA:1.2.3.1", at(PACS, T1),
                       {"bytes": 2**64}, location="events.json:7")

        with pytest.raises(BatchRejectedError) as rejected:
            store.upsert(nodes, [*edges, too_big])

        assert rejected.value.record_index == len(nodes) + len(edges)
        assert "events.json:7" in str(rejected.value) and "64-bit" in str(rejected.value)
        assert snapshot(store) == before
        assert store.stats().nodes == {"System": 1}

    def test_meta_settings_are_kept(self, store: GraphStore) -> None:
        assert store.get_meta("pseudonym_key_fingerprint") is None
        store.set_meta("pseudonym_key_fingerprint", "abc")
        store.set_meta("pseudonym_key_fingerprint", "def")
        assert store.get_meta("pseudonym_key_fingerprint") == "def"
        assert store.stats().nodes == {}

    def test_instance_index_resolves_in_either_order(self, store: GraphStore) -> None:
        assert store.record_instances({"1.1": SERIES}) == {}
        assert store.await_instances({"1.1": ["w1"], "2.2": ["w2", "w2"]}) == {"1.1": SERIES}
        assert store.await_instances({"2.2": ["w3"]}) == {}
        assert store.record_instances({"2.2": "series:9", "3.3": "series:9"}) == {
            "2.2": ["w2", "w3"]}
        # kept until their edges are stored: a crash before that releases them again
        assert store.record_instances({"2.2": "series:9"}) == {"2.2": ["w2", "w3"]}
        store.forget_waiters(["2.2"])
        assert store.record_instances({"2.2": "series:9"}) == {}
        assert store.await_instances({"2.2": ["w4"], "3.3": ["w5"]}) == {
            "2.2": "series:9", "3.3": "series:9"}
        assert store.stats().nodes == {}

    def test_data_survives_reopening(
        self, store: GraphStore, reopen: Callable[[], GraphStore]
    ) -> None:
        store.upsert(*small_estate())
        store.upsert([Node(STUDY, at(EHR, T1), {"study_date": "2024-02-01"})])
        expected = snapshot(store)
        with reopen() as again:
            assert snapshot(again) == expected
            assert len(again.conflicts()) == 1
