"""The reads the web explorer adds (estate, search, conflicts, session) and the HTML report, on
both stores; hostile values stay text."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from lineage.export import export
from lineage.model import Node, Provenance
from lineage.stores import GraphStore
from tests.test_api import AS_OF, assert_problem, auth, client  # noqa: F401 (the fixture)

HOSTILE = "</script><script>alert('x')</script><img src=x onerror=alert(1)>"


def test_estate_lists_systems_with_copies_and_feeds(client: TestClient) -> None:  # noqa: F811
    estate = client.get("/estate", params={"as_of": AS_OF}, headers=auth("auditor")).json()
    systems = {s["key"]: s for s in estate["systems"]}
    assert estate["count"] == 6 and estate["as_of"] == AS_OF
    assert systems["system:PACS-LON"]["feeds"] == ["system:S3-US"]  # GCS-DE's feed ended 2010
    assert systems["system:CT-1"]["feeds"] == ["system:PACS-LON"]
    assert systems["system:S3-US"]["copies"] == 3 and systems["system:CT-1"]["copies"] == 0
    # the store is applied: every system's sums come from its copies' facts
    assert (estate["answered_from"], estate["warnings"]) == ("holding facts", [])


def test_search_by_key_code_and_its_bounds(client: TestClient) -> None:  # noqa: F811
    found = client.get("/search", params={"q": "pacs-lon"}, headers=auth("architect")).json()
    assert found["results"][0] == {"key": "system:PACS-LON", "kind": "system", "name": None,
                                   "accession": None}
    assert len(found["results"]) > 1  # the copies stored there follow
    nothing = client.get("/search", params={"q": "'; MATCH (n) DETACH DELETE n //"},
                         headers=auth("architect")).json()
    assert nothing["results"] == []
    assert client.get("/stats", headers=auth("architect")).json()["nodes"]["System"] == 6
    assert_problem(client.get("/search", params={"q": "x" * 201}, headers=auth("architect")),
                   422, "validation")
    assert_problem(client.get("/search", params={"q": "p"}, headers=auth("architect")), 422,
                   "validation")


def test_session_says_what_a_role_may_do(client: TestClient) -> None:  # noqa: F811
    ingest = client.get("/session", headers=auth("ingest")).json()
    assert ingest == {"name": "ingest-user", "role": "ingest", "may_read": False,
                      "may_export": False, "may_ingest": True, "may_query": False}
    assert client.get("/session", headers=auth("auditor")).json()["may_export"] is True
    assert_problem(client.get("/session"), 401, "unauthorized")
    assert_problem(client.get("/estate", headers=auth("ingest")), 403, "forbidden")


def test_the_html_report_escapes_what_the_graph_holds(any_store: GraphStore,
                                                       tmp_path: Path) -> None:
    prov = Provenance("test", "2026-01-01T00:00:00Z")
    any_store.upsert([Node("dataset:cohort", prov, {"name": "cohort"}),
                      Node("system:PACS", prov, {"kind": "pacs"})])
    any_store.upsert([Node("dataset:cohort", Provenance("other", "2026-01-02T00:00:00Z"),
                           {"name": HOSTILE})])  # a metadata conflict quoting the value
    manifest = export(any_store, "html", tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;/script&gt;&lt;script&gt;alert" in text  # shown, as text
    data = text.split('id="lineage-data">', 1)[1].split("</script>", 1)[0]
    assert {n["key"] for n in json.loads(data)["nodes"]} == {"dataset:cohort", "system:PACS"}
    assert manifest["data_sha256"] in text and len(manifest["data_sha256"]) == 64
    policy = text.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"')[0]
    assert policy.startswith("default-src 'none'; script-src 'sha256-")


def test_conflicts_are_listed_with_when_the_engine_learned_them(
        any_store: GraphStore, tmp_path: Path) -> None:
    from tests.test_api import client_for

    prov = Provenance("a", "2020-01-01T00:00:00Z")
    any_store.upsert([Node("study:1.2", prov, {"study_date": "2020-01-01"})])
    any_store.upsert([Node("study:1.2", Provenance("b", "2020-01-02T00:00:00Z"),
                           {"study_date": "2020-01-03"})])
    with client_for(any_store, tmp_path) as test_client:
        found = test_client.get("/conflicts", headers=auth("auditor")).json()
    [conflict] = found["conflicts"]
    assert (conflict["element"], conflict["property"], conflict["last_seen"]) == (
        "study:1.2", "study_date", "2020-01-02T00:00:00.000000Z")
    assert conflict["recorded_at"] > "2026"  # this run's clock, not the source's
