"""Cypher and NetworkX give identical answers: the same estates in Neo4j and in the local store,
the same retention applied, every retention query, every catalogue query and the decommission's
holding facts compared row for row."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from lineage.backfill.digest import canonical_digest
from lineage.ingest import ingest
from lineage.model import Edge, EdgeType, Node, NodeKind, object_key
from lineage.pipeline import Bundle
from lineage.retention import reports
from lineage.retention.apply import apply_retention
from lineage.retention.policy import Policy, load_policy
from lineage.retention.reports import _params
from lineage.stores import GraphStore, LocalStore, Neo4jStore
from queries.catalogue import ACCESS_PATHS, CATALOGUE
from queries.impact import DECOMMISSION_FACTS, HOLDING_FACTS_QUERY
from queries.library import run_query
from queries.retention import (
    ALL,
    COPY_KEYS,
    CROSS_REGION_CONFLICTS,
    DRIFT_OVER_RETAINED,
    DRIFT_OVER_RETAINED_BY_KEY,
    DRIFT_OVER_RETAINED_TALLIED,
    DRIFT_OVER_RETAINED_TOTALS,
    DRIFT_POLICY,
    RESIDENCY_VIOLATIONS,
    RETENTION_INPUTS,
)
from tests.retention_estate import (
    DIFFERENTIAL,
    PROV,
    EstateBuilder,
    fixed_estate,
    random_estates,
)

pytestmark = pytest.mark.neo4j
AS_OF_DATES = ["2001-01-01", "2016-06-30", "2024-06-01", "2041-01-01"]
POLICY = load_policy()
PAGED_SECTIONS = {DRIFT_POLICY: "studies", CROSS_REGION_CONFLICTS: "studies",
                  RESIDENCY_VIOLATIONS: "copies"}  # the store pages these: the list's name


def answers(store: LocalStore | Neo4jStore) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for as_of in AS_OF_DATES:
        params, _ = _params(store, as_of)
        params |= {"after": "", "limit": 1000, "offset": 0, "system": "system:PACS-LON",
                   "scan": 1000}
        copies = [row["key"] for row in run_query(store, COPY_KEYS, params)]
        params["keys"] = [*copies, "study:1.1", "object:NOT-STORED:1", copies[0] if copies else ""]
        patients = [node.key for node in store.iter_nodes(NodeKind.PATIENT)]
        params |= {"copies": [*copies[:2], "object:NOT-STORED:1"], "series": ["series:2.0.1"],
                   "studies": ["study:1.3", "study:2.0", "study:9.9"], "patients": patients[:1],
                   "systems": ["system:PACS-LON"]}
        for query in [*ALL, HOLDING_FACTS_QUERY, DECOMMISSION_FACTS]:
            results[f"{query.name}@{as_of}"] = run_query(store, query, params)
        page = params | {"offset": 1, "limit": 2}
        results[f"over_retained page@{as_of}"] = run_query(store, DRIFT_OVER_RETAINED, page)
        for scan in (1, 3, 1000):  # the page found in key order, sure or not
            [by_key] = run_query(store, DRIFT_OVER_RETAINED_BY_KEY, page | {"scan": scan})
            results[f"over_retained by key {scan}@{as_of}"] = by_key
            if len(by_key["copies"]) == page["limit"] or by_key["scanned"] < scan:
                assert by_key["copies"] == results[f"over_retained page@{as_of}"], scan
        whole_list = results[f"{DRIFT_OVER_RETAINED.name}@{as_of}"]
        cursor = page | {"offset": 0, "after": whole_list[0]["key"] if whole_list else ""}
        results[f"over_retained after@{as_of}"] = run_query(store, DRIFT_OVER_RETAINED, cursor)
        for scan in (1, 1000):  # from the cursor on, in key order
            results[f"over_retained by key after {scan}@{as_of}"] = run_query(
                store, DRIFT_OVER_RETAINED_BY_KEY, cursor | {"scan": scan})
        for name, asked in (("page", page), ("after", cursor)):  # from the tallies
            tallied = run_query(store, DRIFT_OVER_RETAINED_TALLIED, asked)
            assert tallied == run_query(store, DRIFT_OVER_RETAINED, asked), (name, as_of)
            results[f"over_retained tallied {name}@{as_of}"] = tallied
        for query in PAGED_SECTIONS:  # one row: the count in all, and the page
            [whole] = results[f"{query.name}@{as_of}"]
            assert whole["count"] == len(whole[PAGED_SECTIONS[query]]), (query.name, as_of)
            results[f"{query.name} page@{as_of}"] = run_query(store, query, page)
        totals = run_query(store, DRIFT_OVER_RETAINED_TOTALS, params)
        over_retained = results[f"{DRIFT_OVER_RETAINED.name}@{as_of}"]
        assert sum(row["copies"] for row in totals) == len(over_retained), as_of  # filter alike
        assert sum(row["bytes"] for row in totals) == sum(r["bytes"] or 0 for r in over_retained)
        for name, query in CATALOGUE.items():  # the architects' catalogue, on the same estates
            key = "series:2.0.1" if name == "derivation_chain" else "study:2.0"
            results[f"{query.name}@{as_of}"] = run_query(store, query, params | {"key": key})
        for key in ("study:1.1", "study:1.2", "study:1.3"):  # the fixed estate's
            results[f"access_paths {key}@{as_of}"] = run_query(store, ACCESS_PATHS,
                                                               params | {"key": key})
    return results


def compare(estate: EstateBuilder, neo4j: Neo4jStore) -> None:
    neo4j.clear()
    estate.load(neo4j)
    apply_retention(neo4j, POLICY, batch_size=4)
    with tempfile.TemporaryDirectory() as folder, LocalStore(Path(folder) / "l.db") as local:
        estate.load(local)
        apply_retention(local, POLICY, batch_size=4)
        offline = answers(local)
    online = answers(neo4j)
    assert offline.keys() == online.keys()
    for name in offline:
        assert offline[name] == online[name], name


def test_fixed_estate_gives_identical_answers(neo4j_store: Neo4jStore) -> None:
    compare(fixed_estate(), neo4j_store)
    keys = [row["key"] for row in run_query(neo4j_store, COPY_KEYS, {"after": "", "limit": 99})]
    assert len(keys) == 10
    assert len(run_query(neo4j_store, RETENTION_INPUTS, {"keys": keys})) == 10
    assert run_query(neo4j_store, COPY_KEYS, {"after": keys[3], "limit": 2}) == [
        {"key": keys[4]}, {"key": keys[5]}]


@DIFFERENTIAL
@given(estate=random_estates())
def test_random_estates_give_identical_answers(
    neo4j_store: Neo4jStore, estate: EstateBuilder
) -> None:
    compare(estate, neo4j_store)


def _longer(policy: Policy) -> Policy:
    """The policy with its first rule two years longer: another version, other dates."""
    data = policy.model_dump()
    first = next(iter(data["jurisdictions"].values()))["rules"][0]
    first["years"] += 2
    return Policy.model_validate(data)


def loaded_in_both(neo4j_store: Neo4jStore, tmp_path: Path,
                   estate: EstateBuilder) -> Iterator[GraphStore]:
    """The estate loaded into the cleared Neo4j store, then into a new local store (closed
    once the caller is done with it)."""
    for store in (neo4j_store, LocalStore(tmp_path / "l.db")):
        with nullcontext() if store is neo4j_store else store:
            store.clear()
            estate.load(store)
            yield store


def test_both_stores_write_the_same_graph(neo4j_store: Neo4jStore, tmp_path: Path) -> None:
    """Neo4j merges a page of retention in the client under the copies' locks; the local store
    goes through the general batch: the graphs they leave are the same, provenance included,
    after a first apply and after a second policy that moves dates and ends GOVERNED_BY links."""
    digests = []
    for store in loaded_in_both(neo4j_store, tmp_path, fixed_estate()):
        apply_retention(store, POLICY, batch_size=4, seen_at="2026-05-01T00:00:00Z")
        apply_retention(store, _longer(POLICY), batch_size=3,
                        seen_at="2026-06-01T00:00:00Z")
        ended = [e for e in store.iter_edges(EdgeType.GOVERNED_BY) if "valid_to" in
                 e.properties]
        digests.append((canonical_digest(store), len(ended)))
    assert digests[0] == digests[1]
    assert digests[0][1] > 0  # the second policy ended some links


def test_reports_follow_an_ingest_after_the_apply(neo4j_store: Neo4jStore,
                                                  tmp_path: Path) -> None:
    """The study facts drift and cross-region seek by are kept by the recompute that follows an
    ingest: a study that gains a copy in another jurisdiction enters both reports (Neo4j reads
    the facts, the local store scans), and one whose other copy is disposed leaves them."""
    later = fixed_estate()
    later.nodes, later.edges = [], []
    later.copy("S3-US", "1.2", "2023-01-01")  # 1.2 was live in ARCHIVE-GB only
    later.copy("S3-US", "1.4", "2018-01-01", disposed="2024-01-01")  # 1.4 leaves the US
    answers_of = []
    for store in loaded_in_both(neo4j_store, tmp_path, fixed_estate()):
        apply_retention(store, POLICY)
        before = (reports.drift(store, "2024-06-01"), reports.cross_region(store, "2024-06-01"))
        ingest(store, [Bundle((*later.nodes, *later.edges), "later")], "later")
        after = (reports.drift(store, "2024-06-01"), reports.cross_region(store, "2024-06-01"))
        answers_of.append((before, after))
    assert answers_of[0] == answers_of[1]
    for report_before, report_after in zip(*answers_of[0], strict=True):
        section = "policy_drift" if "policy_drift" in report_before else "conflicts"
        keys_before = [row["key"] for row in report_before[section]]
        keys_after = [row["key"] for row in report_after[section]]
        assert "study:1.2" in keys_after and "study:1.2" not in keys_before
        assert "study:1.4" in keys_before and "study:1.4" not in keys_after


def test_a_copy_with_several_parents_counts_for_one_study(neo4j_store: Neo4jStore,
                                                          tmp_path: Path) -> None:
    """Merged sources can leave a series part of two studies, or a copy of two series or of a
    series and a study. Such a copy counts for one study (the lowest key among its series'
    studies) in the reports that list copies by study, on both stores: the Cypher walks a copy
    of one series of one study without testing it, and must not take that shortcut for these."""
    estate = fixed_estate()
    estate.edges += [
        Edge("series:1.4.1", EdgeType.PART_OF, "study:1.1", PROV),  # in 1.4 and in 1.1
        Edge(object_key("GCS-DE", "1.5.1"), EdgeType.COPY_OF, "series:1.1.1", PROV),  # two series
        Edge(object_key("S3-US", "1.1.1"), EdgeType.COPY_OF, "study:1.3", PROV),  # and a study
        Edge("series:1.4.2.1", EdgeType.PART_OF, "study:1.4", PROV),  # 1.4 keeps copies of its own
    ]
    estate.nodes.append(Node("series:1.4.2.1", PROV, {"modality": "MG"}))
    estate.copy("GCS-DE", "1.4.2", "2019-01-01", tier="archive")
    estate.copy("S3-US", "1.4.2", "2019-01-01", tier="archive")
    found = []
    for store in loaded_in_both(neo4j_store, tmp_path, estate):
        apply_retention(store, POLICY)
        drift, cross = reports.drift(store, "2024-06-01"), reports.cross_region(store,
                                                                               "2024-06-01")
        found.append({"policy_drift": drift["policy_drift"], "conflicts": cross["conflicts"],
                      "residency": cross["residency_violations"],
                      "restore": reports.holds(store, "2024-06-01")["restore_needed"]})
    assert found[0] == found[1]
    # H1 holds patient P1's studies: 1.4 is produced from its own two copies, both archived
    # (the online copies of series 1.4.1 count for study 1.1)
    assert [(row["key"], row["hold"], row["copies"]) for row in found[0]["restore"]] == [
        ("study:1.2", "event:H3", [object_key("ARCHIVE-GB", "1.2.1")]),
        ("study:1.4", "event:H1", [object_key("GCS-DE", "1.4.2.1"),
                                   object_key("S3-US", "1.4.2.1")])]
    for section in ("policy_drift", "conflicts"):
        by_study = {row["key"]: [c["key"] for c in row["copies"]] for row in found[0][section]}
        assert by_study == {
            "study:1.1": [object_key(s, f"{uid}.1") for s, uid in (
                ("GCS-DE", "1.5"), ("PACS-LON", "1.1"), ("PACS-LON", "1.4"), ("S3-US", "1.1"),
                ("S3-US", "1.4"))],
            "study:1.4": [object_key("GCS-DE", "1.4.2.1"), object_key("S3-US", "1.4.2.1")],
        }, section
    assert [(row["key"], row["study"]) for row in found[0]["residency"]] == [
        (object_key("S3-US", "1.1.1"), "study:1.1"), (object_key("S3-US", "1.4.1"), "study:1.1"),
        (object_key("S3-US", "1.4.2.1"), "study:1.4")]


def test_a_study_left_by_its_copies_loses_their_facts(neo4j_store: Neo4jStore,
                                                      tmp_path: Path) -> None:
    """Neo4j counts a section's studies or copies from the studies' facts. When a series
    becomes part of a study of lower key too, its copies count for that study from then on, and
    the recompute after the ingest must rewrite the facts of the study they left, which none of
    them counts for any more: else its residency violations are still counted, not listed."""
    moved = Edge("series:1.4.1", EdgeType.PART_OF, "study:1.3", PROV)
    found = []
    for store in loaded_in_both(neo4j_store, tmp_path, fixed_estate()):
        apply_retention(store, POLICY)
        before = reports.cross_region(store, "2024-06-01")
        assert "study:1.4" in {row["study"] for row in before["residency_violations"]}
        ingest(store, [Bundle((moved,), "later")], "later")
        after = reports.cross_region(store, "2024-06-01"), reports.drift(store, "2024-06-01")
        found.append(after)
    assert found[0] == found[1]
    cross, drift = found[0]
    assert "study:1.4" not in {row["study"] for row in cross["residency_violations"]}
    for report, section in ((cross, "residency_violations"), (cross, "conflicts"),
                            (drift, "policy_drift")):
        assert report[f"{section}_count"] == len(report[section]), section
