"""The retention engine and the compliance reports on a hand-worked estate, on each store."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lineage.model import Node, Provenance, object_key
from lineage.retention import reports
from lineage.retention.apply import STUDY_FACTS_META, apply_retention
from lineage.retention.policy import Policy, load_policy
from lineage.stores import GraphStore, Neo4jStore
from tests.retention_estate import fixed_estate, patient

AS_OF = "2024-06-01"


def copy_key(system: str, uid: str) -> str:
    return object_key(system, f"{uid}.1")


@pytest.fixture
def estate(any_store: GraphStore) -> GraphStore:
    fixed_estate().load(any_store)
    apply_retention(any_store, load_policy(), batch_size=3)  # several pages
    return any_store


def retention(store: GraphStore, key: str) -> tuple[Any, ...]:
    props = store.get_node(key).properties  # type: ignore[union-attr]
    return props["retention_status"], props.get("retain_until"), props.get("retention_policy_id")


def keys(rows: list[dict[str, Any]]) -> list[str]:
    return [row["key"] for row in rows]


def test_retain_until_and_deciding_rule(estate: GraphStore) -> None:
    expected = {
        copy_key("PACS-LON", "1.1"): ("computed", "2020-03-03", "gb-adult-8y"),
        copy_key("S3-US", "1.1"): ("computed", "2015-01-10", "us-cms-radiology-5y"),
        copy_key("PACS-LON", "1.4"): ("computed", "2022-03-03", "gb-screening-mammography-10y"),
        copy_key("S3-US", "1.4"): ("computed", "2022-03-03", "us-mqsa-mammography-10y"),
        copy_key("PACS-LON", "1.2"): ("computed", "2040-03-31", "gb-child-25th-birthday"),
        copy_key("S3-FR", "1.2"): ("computed", "2043-03-31", "fr-csp-minor-28th-birthday"),
        copy_key("ARCHIVE-GB", "1.2"): ("computed", "2040-03-31", "gb-child-25th-birthday"),
        copy_key("PACS-LON", "1.3"): ("unknown", None, None),
        copy_key("PACS-LON", "1.5"): ("computed", "2013-05-05", "gb-adult-8y"),
        copy_key("GCS-DE", "1.5"): ("computed", "2015-05-05", "de-strlschg-exam-10y"),
    }
    assert {key: retention(estate, key) for key in expected} == expected
    unknown = estate.get_node(copy_key("PACS-LON", "1.3")).properties  # type: ignore[union-attr]
    assert unknown["retention_reason"] == (
        "patient age unknown and rule gb-child-25th-birthday depends on it")
    governed = estate.edges(copy_key("S3-US", "1.1"), "out", ["GOVERNED_BY"])  # type: ignore[list-item]
    assert [e.dst for e in governed] == ["policy:us-cms-radiology-5y"]
    rule = estate.get_node("policy:us-cms-radiology-5y").properties  # type: ignore[union-attr]
    assert str(rule["citation"]).startswith("42 CFR 482.26") and rule["jurisdiction"] == "US"
    assert estate.get_node("study:1.1").properties["origin_jurisdiction"] == "GB"  # type: ignore[union-attr]


def test_drift_report(estate: GraphStore) -> None:
    drift = reports.drift(estate, AS_OF)

    assert [(r["key"], r["retain_until"], r["rule"], r["system"], r["region"])
            for r in drift["over_retained"]] == [
        (copy_key("GCS-DE", "1.5"), "2015-05-05", "de-strlschg-exam-10y", "system:GCS-DE",
         "europe-west3"),
        (copy_key("PACS-LON", "1.5"), "2013-05-05", "gb-adult-8y", "system:PACS-LON",
         "onprem-london"),
    ]  # 1.1 and 1.4 are past retention too, but under the active hold H1
    assert drift["premature_disposal"] == [
        {"key": copy_key("PACS-LON", "1.2"), "disposed_at": "2022-01-01T00:00:00.000000Z",
         "retain_until": "2040-03-31", "rule": "gb-child-25th-birthday", "holds": []},
        {"key": copy_key("S3-FR", "1.2"), "disposed_at": "2021-01-01T00:00:00.000000Z",
         "retain_until": "2043-03-31", "rule": "fr-csp-minor-28th-birthday",
         "holds": ["event:H2"]},
    ]
    assert keys(drift["policy_drift"]) == ["study:1.1", "study:1.4", "study:1.5"]
    assert drift["policy_drift"][1]["copies"] == [  # one date, two rules: drift all the same
        {"key": copy_key("PACS-LON", "1.4"), "rule": "gb-screening-mammography-10y",
         "retain_until": "2022-03-03"},
        {"key": copy_key("S3-US", "1.4"), "rule": "us-mqsa-mammography-10y",
         "retain_until": "2022-03-03"},
    ]
    assert drift["unknown"] == [{"key": copy_key("PACS-LON", "1.3"), "reason":
                                 "patient age unknown and rule gb-child-25th-birthday depends "
                                 "on it"}]
    assert drift["cost"]["bytes"] == 3000
    assert drift["cost"]["by_system"] == {"system:GCS-DE": 1000, "system:PACS-LON": 2000}
    assert drift["cost"]["by_storage_tier"] == {"online": 2000, "standard": 1000}
    assert drift["cost"]["monthly_cost"] == round(3000 / 1024**3 * 0.023, 2)



def test_drift_pages_the_over_retained_copies_and_keeps_count_and_cost_whole(
        estate: GraphStore) -> None:
    whole = reports.drift(estate, AS_OF)
    assert whole["over_retained_count"] == len(whole["over_retained"]) == 2
    pages = [reports.drift(estate, AS_OF, offset=offset, limit=1) for offset in (0, 1, 2)]
    assert [len(page["over_retained"]) for page in pages] == [1, 1, 0]
    assert [row for page in pages for row in page["over_retained"]] == whole["over_retained"]
    for page in pages:  # the count and the cost are over every over-retained copy, not the page
        assert page["over_retained_count"] == 2 and page["cost"] == whole["cost"]
        assert page["premature_disposal"] == whole["premature_disposal"]


@pytest.mark.parametrize("scan_most", [1, 3, reports.SCAN_MOST])
def test_every_section_the_store_pages_reads_as_the_whole_report(
        estate: GraphStore, monkeypatch: pytest.MonkeyPatch, scan_most: int) -> None:
    """Pages of over-retained copies (found in key order, or sought when the copies read in
    key order, at most `scan_most`, do not settle the page), drifting studies, conflicts and
    residency violations, put end to end, are the whole report's lists, counts alike."""
    monkeypatch.setattr(reports, "SCAN_MOST", scan_most)
    sections = {reports.drift: ("over_retained", "policy_drift"),
                reports.cross_region: ("conflicts", "residency_violations")}
    for report, names in sections.items():
        whole = report(estate, AS_OF)
        for limit in (1, 2):
            pages = [report(estate, AS_OF, offset=offset, limit=limit)
                     for offset in range(0, 5, limit)]
            for name in names:
                assert len(whole[name]) >= 2, name  # more than one page of 1
                assert [row for page in pages for row in page[name]] == whole[name], name
                assert {page[f"{name}_count"] for page in pages} == {len(whole[name])}, name

@pytest.mark.neo4j
def test_a_page_of_drift_on_a_store_without_tallies_reads_every_copy(
        neo4j_store: Neo4jStore) -> None:
    """A store applied by an engine that wrote no tallies: a page's count and cost come from
    every over-retained copy (not from the tallies, which would count none), and the report
    says to apply again."""
    neo4j_store.clear()
    fixed_estate().load(neo4j_store)
    apply_retention(neo4j_store, load_policy())
    whole = reports.drift(neo4j_store, AS_OF)
    with neo4j_store.driver.session(database=neo4j_store.database) as session:
        session.run("MATCH (o:ArchiveObject) REMOVE o.retention_group, o.retention_bytes, "
                    "o.retention_created").consume()
    neo4j_store.set_meta(STUDY_FACTS_META, "1")
    page = reports.drift(neo4j_store, AS_OF, limit=1)
    assert page["over_retained_count"] == whole["over_retained_count"] == 2
    assert page["cost"] == whole["cost"] and page["over_retained"] == whole["over_retained"][:1]
    assert page["study_facts_current"] is False and reports.needs_apply(page)
    assert any("apply" in warning for warning in page["warnings"])


@pytest.mark.neo4j
def test_report_queries_run_at_once_on_neo4j(neo4j_store: Neo4jStore,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    neo4j_store.clear()
    together = threading.Barrier(4, timeout=10)  # broken unless all four queries are running
    read_rows = neo4j_store.read_rows

    def meeting(statement: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
        together.wait()
        return read_rows(statement, params)

    monkeypatch.setattr(neo4j_store, "read_rows", meeting)
    assert reports.drift(neo4j_store, AS_OF)["over_retained"] == []


@pytest.mark.neo4j
def test_a_failing_report_query_fails_the_report(neo4j_store: Neo4jStore,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    read_rows = neo4j_store.read_rows

    def failing(statement: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
        if "drift_unknown" in statement:
            raise RuntimeError("drift_unknown: server gone")
        return read_rows(statement, params)

    monkeypatch.setattr(neo4j_store, "read_rows", failing)
    with pytest.raises(RuntimeError, match="drift_unknown: server gone"):
        reports.drift(neo4j_store, AS_OF)


def test_drift_earlier_and_later(estate: GraphStore) -> None:
    assert keys(reports.drift(estate, "2013-01-01")["over_retained"]) == []
    later = reports.drift(estate, "2050-01-01")  # holds H1, H3 still active: only 1.5 copies
    assert keys(later["over_retained"]) == [copy_key("GCS-DE", "1.5"),
                                            copy_key("PACS-LON", "1.5")]


def test_cross_region_report(estate: GraphStore) -> None:
    result = reports.cross_region(estate, AS_OF)
    assert [(r["key"], r["regions"]) for r in result["conflicts"]] == [
        ("study:1.1", ["onprem-london", "us-east-1"]),
        ("study:1.4", ["onprem-london", "us-east-1"]),
        ("study:1.5", ["europe-west3", "onprem-london"]),
    ]
    assert result["residency_violations"] == [
        {"key": copy_key("S3-US", "1.1"), "study": "study:1.1", "origin": "GB", "country": "US",
         "region": "us-east-1"},
        {"key": copy_key("S3-US", "1.4"), "study": "study:1.4", "origin": "GB", "country": "US",
         "region": "us-east-1"},
    ]


def test_holds_report(estate: GraphStore) -> None:
    result = reports.holds(estate, AS_OF)
    assert [(h["key"], h["type"], h["covered"], h["covered_live"]) for h in result["holds"]] == [
        ("event:A1", "audit", 5, 4), ("event:H1", "legal_hold", 4, 4),
        ("event:H3", "legal_hold", 3, 1)]
    assert result["holds"][1]["scope"] == [patient("P1")]
    assert result["conflicts"] == [{"key": copy_key("S3-FR", "1.2"), "hold": "event:H2",
                                    "disposed_at": "2021-01-01T00:00:00.000000Z"}]
    assert result["restore_needed"] == [{"key": "study:1.2", "hold": "event:H3",
                                         "copies": [copy_key("ARCHIVE-GB", "1.2")],
                                         "tiers": ["archive"]}]


def test_unknown_region_is_named(any_store: GraphStore) -> None:
    builder = fixed_estate()
    builder.nodes.append(Node(copy_key("PACS-LON", "1.1"), Provenance("t", "2024-02-02"),
                              {"region_code": "mars-north-1"}))
    builder.load(any_store)
    apply_retention(any_store, load_policy())
    assert {"key": copy_key("PACS-LON", "1.1"),
            "reason": "storage region 'mars-north-1' is not in the policy"} in reports.drift(
        any_store, AS_OF)["unknown"]


def test_policy_change_recomputes_and_withdraws(estate: GraphStore) -> None:
    pack = load_policy()
    raw = pack.model_dump()
    gb_rules = raw["jurisdictions"]["GB"]["rules"]
    raw["jurisdictions"]["GB"]["rules"] = [r for r in gb_rules if r["id"] != "gb-adult-8y"] + [
        {**next(r for r in gb_rules if r["id"] == "gb-adult-8y"), "id": "gb-adult-30y",
         "years": 30}]
    changed = Policy.model_validate(raw)

    apply_retention(estate, changed)

    assert retention(estate, copy_key("PACS-LON", "1.5")) == (
        "computed", "2035-05-05", "gb-adult-30y")
    edges = {e.dst: e.properties for e in estate.edges(copy_key("PACS-LON", "1.5"), "out",
                                                        ["GOVERNED_BY"])}  # type: ignore[list-item]
    assert "valid_to" in edges["policy:gb-adult-8y"]
    assert "valid_to" not in edges["policy:gb-adult-30y"]
    assert reports.drift(estate, AS_OF)["policy_version"] == changed.fingerprint



def test_a_copy_whose_retention_became_unknown_loses_its_date(estate: GraphStore) -> None:
    copy = copy_key("PACS-LON", "1.5")
    assert retention(estate, copy)[1] is not None
    estate.upsert([Node(copy, Provenance("dicom", "2025-01-01"), {"region_code": "mars-1"})])
    apply_retention(estate, load_policy())
    stored = estate.get_node(copy).properties  # type: ignore[union-attr]
    assert stored["retention_status"] == "unknown"
    assert stored["retention_reason"] == "storage region 'mars-1' is not in the policy"
    withdrawn = {"retain_until", "retention_policy_id", "jurisdictions", "country"}
    assert not withdrawn & set(stored)
    assert stored["bytes"] == 2000 and stored["region_code"] == "mars-1"  # the rest is kept

def test_half_recomputed_copies_are_flagged_not_mixed(estate: GraphStore) -> None:
    # A recomputation that died after rewriting one copy: the store still names the old policy.
    estate.upsert([Node(copy_key("GCS-DE", "1.5"), Provenance("retention", "2030-01-01"),
                        {"retention_policy_version": "0123456789abcdef"})])
    drift = reports.drift(estate, AS_OF)
    assert {"key": copy_key("GCS-DE", "1.5"),
            "reason": "computed under another policy version"} in drift["unknown"]
    assert copy_key("GCS-DE", "1.5") not in keys(drift["over_retained"])


def test_reports_before_any_policy_say_so(any_store: GraphStore) -> None:
    fixed_estate().load(any_store)
    drift = reports.drift(any_store, AS_OF)
    assert drift["policy_version"] is None and drift["over_retained"] == []
    assert {row["reason"] for row in drift["unknown"]} == {"retention not computed"}


def test_derived_values_another_source_wrote_first_are_the_engines_to_rewrite(
        any_store: GraphStore) -> None:
    """The tallies and the study facts are derived state: a value some other source wrote first
    (an import, an older tool) is replaced by the apply, not reported as a conflict (on Neo4j
    the apply's merge stops at one)."""
    fixed_estate().load(any_store)
    old = Provenance("import:old", "2020-01-01T00:00:00Z")
    copy = copy_key("PACS-LON", "1.1")
    any_store.upsert([Node(copy, old, {"retention_group": "stale", "retention_bytes": -1}),
                      Node("study:1.1", old, {"live_rule_count": 99, "facts_exact_from": "x"})])
    policy = load_policy()
    apply_retention(any_store, policy)
    stored_copy, study = any_store.get_node(copy), any_store.get_node("study:1.1")
    assert stored_copy is not None and study is not None
    assert str(stored_copy.properties["retention_group"]).startswith(policy.fingerprint)
    assert stored_copy.properties["retention_bytes"] == 1000
    assert (study.properties["live_rule_count"], study.properties["facts_exact_from"]) != (99, "x")
    assert not any_store.conflicts()
