"""The HTTP API through the real app (TestClient) on each store: reports, ingestion, roles, audit,
errors, Cypher and exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import TokenBook, token_hash
from lineage.export import GRAPH_BYTES_PER_ELEMENT
from lineage.settings import Settings
from lineage.stores import GraphStore, Neo4jStore
from tests.test_cli import STRONG_KEY
from tests.test_hl7 import SAMPLES
from tests.test_storage_events import s3

TOKENS = {role: f"{role}-secret-token-0123456789" for role in
          ("ingest", "architect", "auditor", "admin")}
AS_OF = "2024-06-01"


def client_for(store: GraphStore, tmp_path: Path, max_body: int = 1_000_000) -> TestClient:
    book = TokenBook.from_entries({f"{role}-user": {"sha256": token_hash(token), "role": role}
                                   for role, token in TOKENS.items()}, development=False)
    settings = Settings(environment="production", pseudonym_key=STRONG_KEY)  # type: ignore[arg-type]
    app = create_app(settings, store=store, tokens=book, audit_path=tmp_path / "audit.jsonl",
                     work_dir=tmp_path, max_body=max_body)
    return TestClient(app, raise_server_exceptions=False)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def client(impact_store: GraphStore, tmp_path: Path) -> Iterator[TestClient]:
    with client_for(impact_store, tmp_path) as test_client:
        yield test_client


def test_reports_match_the_cli_semantics_and_page(client: TestClient) -> None:
    report = client.get("/systems/PACS-LON/decommission", params={"as_of": AS_OF},
                        headers=auth("architect")).json()
    assert report["verdict"] == "blocked" and report["counts"]["sole_copies"] == 2
    page = client.get("/systems/PACS-LON/decommission", params={"as_of": AS_OF, "limit": 1,
                                                               "offset": 1},
                      headers=auth("auditor")).json()
    assert [r["key"] for r in page["sole_copies"]] == ["series:1.6.1"] and page["truncated"]
    drift = client.get("/retention/drift", params={"as_of": AS_OF, "limit": 1},
                       headers=auth("auditor")).json()
    assert drift["counts"]["over_retained"] == 4 and len(drift["over_retained"]) == 1
    assert drift["over_retained_count"] == 4 and drift["truncated"]
    whole = client.get("/retention/drift", params={"as_of": AS_OF},
                       headers=auth("auditor")).json()
    pages = [client.get("/retention/drift", params={"as_of": AS_OF, "limit": 3, "offset": o},
                        headers=auth("auditor")).json() for o in (0, 3)]
    assert [r for p in pages for r in p["over_retained"]] == whole["over_retained"]
    assert all(p["cost"] == whole["cost"] for p in pages)
    cross = client.get("/retention/cross-region", params={"as_of": AS_OF},
                       headers=auth("architect")).json()
    assert len(cross["residency_violations"]) == 2
    holds = client.get("/holds", params={"as_of": AS_OF}, headers=auth("admin")).json()
    assert [h["key"] for h in holds["holds"]] == ["event:A1", "event:H1", "event:H3"]
    traced = client.get("/lineage/series:1.5.1", params={"as_of": AS_OF, "depth": 2},
                        headers=auth("architect")).json()
    assert traced["root"] == "series:1.5.1" and traced["count"] == 5
    node = client.get("/nodes/object:S3-US:1.1.1", headers=auth("architect")).json()
    assert node["kind"] == "ArchiveObject" and node["count"] == 4  # with GOVERNED_BY
    assert client.get("/stats", headers=auth("architect")).json()["nodes"]["System"] == 6


def test_role_boundaries(client: TestClient) -> None:
    assert client.get("/stats").status_code == 401
    assert client.get("/stats", headers={"Authorization": "Bearer nope"}).status_code == 401
    refused = client.get("/stats", headers=auth("ingest"))
    assert refused.status_code == 403 and "role ingest may not" in refused.json()["detail"]
    assert client.post("/ingest/hl7", params={"system": "EHR"}, content="MSH",
                       headers=auth("auditor")).status_code == 403
    assert client.post("/cypher", json={"query": "RETURN 1"},
                       headers=auth("auditor")).status_code == 403
    assert client.get("/audit", headers=auth("architect")).status_code == 403
    assert client.get("/export", headers=auth("architect")).status_code == 403


def test_ingestion_endpoints(client: TestClient) -> None:
    hl7 = client.post("/ingest/hl7", params={"system": "EHR"},
                      content=(SAMPLES / "orm_o01.hl7").read_text(), headers=auth("ingest"))
    assert hl7.status_code == 200, hl7.text
    assert hl7.json()["nodes_by_kind"]["Order"] == 1
    events = client.post("/ingest/storage-events/s3", json={"Records": [
        s3("ObjectCreated:Put", "studies/7.1/series/7.1.1/a.dcm", "2024-03-01T00:00:00Z", "01")]},
        headers=auth("ingest"))
    assert events.json()["nodes_by_kind"]["ArchiveObject"] == 1
    validation = client.post("/ingest/storage-events/azure", json=[{
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}],
        headers=auth("ingest"))
    assert validation.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    fhir = client.post("/ingest/fhir", params={"system": "EHR"}, headers=auth("ingest"),
                       content=json.dumps({"resourceType": "Patient", "id": "p1",
                                           "birthDate": "1990-02-03"}))
    assert fhir.json()["nodes_by_kind"] == {"Patient": 1}
    dataset = {"00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
               "00080018": {"vr": "UI", "Value": ["1.2.3.4.5.6"]},
               "0020000D": {"vr": "UI", "Value": ["1.2.3.4"]},
               "0020000E": {"vr": "UI", "Value": ["1.2.3.4.5"]},
               "00080060": {"vr": "CS", "Value": ["CT"]},
               "00100020": {"vr": "LO", "Value": ["MRN1"]}}
    dicom = client.post("/ingest/dicom-json", params={"system": "PACS-LON"}, json=[dataset, {}],
                        headers=auth("admin")).json()
    assert dicom["nodes_by_kind"]["ArchiveObject"] == 1
    assert "SOPClassUID is missing" in dicom["rejected"][0]["reason"]


def test_marquez_style_openlineage_payload_is_accepted_unchanged(client: TestClient) -> None:
    event = {  # as openlineage-python's HttpTransport posts it
        "eventTime": "2024-03-01T11:00:00.000000+00:00", "eventType": "COMPLETE",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.9.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {}},
        "job": {"namespace": "ai-pipelines", "name": "nodule-training", "facets": {}},
        "inputs": [{"namespace": "https://pacs.example/dicom-web",
                    "name": "studies/1.2.3/series/1.2.3.4", "facets": {}}],
        "outputs": [{"namespace": "s3://models", "name": "nodule-v3", "facets": {}}]}
    response = client.post("/api/v1/lineage", json=event, headers=auth("ingest"))
    assert response.status_code == 201, response.text
    run = client.get("/nodes/run:0176a8c2-fe01-7439-87e6-56a1a1b4029f",
                     headers=auth("architect")).json()
    assert {(e["type"], e["to"]) for e in run["edges"]} == {
        ("RUN_OF", "job:ai-pipelines/nodule-training"),
        ("READ", "series:1.2.3.4"), ("WROTE", "dataset:s3://models/nodule-v3")}


def test_a_huge_unknown_key_is_not_repeated_whole(client: TestClient) -> None:
    huge = "study:1." + "7" * 20_000
    for path in (f"/nodes/{huge}", f"/lineage/{huge}", f"/systems/{'7' * 20_000}/decommission"):
        answer = client.get(path, headers=auth("architect"))
        assert answer.status_code in (400, 404), answer.text[:300]  # 400: fails key validation
        detail = answer.json()["detail"]
        assert len(detail) < 600 and "7777" in detail, detail


def test_errors_are_clear_and_never_tracebacks(client: TestClient) -> None:
    missing = client.get("/systems/PACS-LOM/decommission", headers=auth("architect"))
    assert missing.status_code == 404 and "did you mean system:PACS-LON" in missing.json()["detail"]
    invalid = client.get("/retention/drift", params={"as_of": "2024-13-99"},
                         headers=auth("architect"))
    assert invalid.status_code in (400, 422) and "2024-13-99" in invalid.text
    field = client.get("/lineage/series:1.5.1", params={"depth": 99}, headers=auth("architect"))
    assert field.status_code == 422 and "depth" in field.text
    bad_json = client.post("/api/v1/lineage", content="{", headers=auth("ingest"))
    assert bad_json.status_code == 400 and "not JSON" in bad_json.json()["detail"]
    for response in (missing, invalid, field, bad_json):
        assert "Traceback" not in response.text


def test_body_size_limit(impact_store: GraphStore, tmp_path: Path) -> None:
    with client_for(impact_store, tmp_path, max_body=100) as small:
        response = small.post("/ingest/hl7", params={"system": "EHR"}, content="M" * 500,
                              headers=auth("ingest"))
    assert response.status_code == 413


def test_every_request_is_audited_and_auditors_export_it(client: TestClient) -> None:
    client.get("/stats", headers=auth("architect"))
    client.get("/stats", headers=auth("ingest"))
    log = client.get("/audit", headers=auth("auditor")).json()
    calls = [(e["who"], e["endpoint"], e["status"]) for e in log["data"]]
    assert ("architect-user", "/stats", 200) in calls and ("ingest-user", "/stats", 403) in calls
    assert all({"at", "role", "parameters", "result_bytes"} <= set(e) for e in log["data"])


def test_export_streams_with_its_manifest(client: TestClient) -> None:
    response = client.get("/export", params={"format": "node-link"}, headers=auth("auditor"))
    assert response.status_code == 200
    manifest = json.loads(response.headers["X-Export-Manifest"])
    import hashlib

    assert hashlib.sha256(response.content).hexdigest() == manifest["sha256"]
    assert json.loads(response.content)["nodes"]


def test_a_whole_export_too_large_for_the_memory_is_refused(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GRAPH_BYTES_PER_ELEMENT, "prov-json", 1 << 50)  # as if a huge estate
    refused = client.get("/export", params={"format": "prov-json"}, headers=auth("auditor"))
    assert refused.status_code == 400
    assert "would hold about" in refused.json()["detail"]
    assert "export --format node-link or graphml" in refused.json()["detail"]
    for streamed in ("node-link", "graphml"):
        answer = client.get("/export", params={"format": streamed}, headers=auth("auditor"))
        assert answer.status_code == 200


def test_a_scope_that_reaches_too_many_nodes_is_refused(client: TestClient) -> None:
    scope: dict[str, str | int] = {"format": "node-link", "scope": "system:PACS-LON", "depth": 2}
    refused = client.get("/export", params={**scope, "max_nodes": 3}, headers=auth("auditor"))
    assert refused.status_code == 400
    assert "reaches more than 3 nodes within" in refused.json()["detail"]
    beyond = client.get("/export", params={**scope, "max_nodes": 10 ** 7},
                        headers=auth("auditor"))
    assert beyond.status_code == 422  # a request cannot lift the cap past a million
    fits = client.get("/export", params=scope, headers=auth("auditor"))
    assert fits.status_code == 200 and len(json.loads(fits.content)["nodes"]) > 3


def test_cypher_endpoint(client: TestClient, impact_store: GraphStore) -> None:
    response = client.post("/cypher", json={"query": "MATCH (s:System) RETURN count(s) AS n"},
                           headers=auth("architect"))
    if isinstance(impact_store, Neo4jStore):
        assert response.json()["rows"] == [{"n": 6}]
        write = client.post("/cypher", json={"query": "CREATE (:Study {key: 'study:x'})"},
                            headers=auth("architect"))
        assert write.status_code == 400 and "read-only" in write.json()["detail"]
    else:
        assert response.status_code == 400 and "Neo4j" in response.json()["detail"]


def test_placeholder_token_refused_outside_development() -> None:
    from lineage.errors import SettingsError

    with pytest.raises(SettingsError, match="real tokens"):
        TokenBook.from_entries({}, development=False)
    with pytest.raises(SettingsError, match="real tokens"):
        TokenBook.from_entries({"x": {"sha256": token_hash("dev-admin-token"), "role": "admin"}},
                               development=False)
    book = TokenBook.from_entries({}, development=True)
    assert book.principal("dev-admin-token") is not None


def test_openapi_is_documented(client: TestClient) -> None:
    schema: dict[str, Any] = client.get("/openapi.json").json()
    assert {"/systems/{code}/decommission", "/lineage/{key}", "/retention/drift",
            "/api/v1/lineage", "/cypher", "/export", "/audit"} <= set(schema["paths"])


def test_an_expired_token_is_refused(any_store: GraphStore, tmp_path: Path) -> None:
    entries = {"old": {"sha256": token_hash("old-token-0123456789"), "role": "auditor",
                       "expires": "2020-01-01"},
               "new": {"sha256": token_hash("new-token-0123456789"), "role": "auditor",
                       "expires": "2999-01-01T00:00:00Z"}}
    settings = Settings(environment="production", pseudonym_key=STRONG_KEY)  # type: ignore[arg-type]
    app = create_app(settings, store=any_store, tokens=TokenBook.from_entries(entries, False),
                     audit_path=tmp_path / "audit.jsonl", work_dir=tmp_path)
    with TestClient(app) as client:
        old = client.get("/stats", headers={"Authorization": "Bearer old-token-0123456789"})
        assert old.status_code == 401 and "expired" in old.json()["detail"]
        new = client.get("/stats", headers={"Authorization": "Bearer new-token-0123456789"})
        assert new.status_code == 200


def assert_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    """An RFC 9457 problem details answer of that status and kind."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:image-lineage:problem:{kind}" and body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_every_error_is_one_problem_details_shape(client: TestClient) -> None:
    """401, 403, 404 (a key and a route), 405, 400 and 422 were three shapes before."""
    assert_problem(client.get("/stats"), 401, "unauthorized")
    assert client.get("/stats").headers["www-authenticate"] == "Bearer"
    assert_problem(client.get("/stats", headers={"Authorization": "Bearer nope"}), 401,
                   "unauthorized")
    assert_problem(client.get("/audit", headers=auth("ingest")), 403, "forbidden")
    assert_problem(client.get("/nodes/study:9.9", headers=auth("architect")), 404, "not_found")
    assert_problem(client.get("/no/such/route", headers=auth("architect")), 404, "not_found")
    assert_problem(client.delete("/stats", headers=auth("architect")), 405, "method_not_allowed")
    assert_problem(client.post("/api/v1/lineage", content="{", headers=auth("ingest")), 400,
                   "bad_request")
    secret = "PATIENT^SECRET^NAME"
    invalid = assert_problem(client.get("/lineage/series:1.5.1", params={
        "depth": secret, "direction": "sideways"}, headers=auth("architect")), 422, "validation")
    assert {e["field"] for e in invalid["errors"]} == {"query.depth", "query.direction"}
    assert secret not in json.dumps(invalid) and "sideways" not in json.dumps(invalid)


def test_as_of_takes_a_date_or_a_time_and_the_catalogue_runs(client: TestClient) -> None:
    by_day = client.get("/retention/drift", params={"as_of": "2024-06-01"},
                        headers=auth("auditor")).json()
    by_time = client.get("/retention/drift", params={"as_of": "2024-06-01T23:59:59Z"},
                         headers=auth("auditor")).json()
    assert by_time["as_of"] == "2024-06-01T23:59:59.000000Z"
    assert by_day["over_retained"] == by_time["over_retained"]
    names = [q["name"] for q in client.get("/catalogue", headers=auth("architect")).json()[
        "queries"]]
    assert "copies_per_system_region" in names and "sole_copies" in names
    rows = client.get("/catalogue/copies_per_system_region", params={"as_of": "2024-06-01"},
                      headers=auth("architect")).json()
    assert rows["count"] == 4 and rows["columns"] == ["system", "region", "copies", "bytes"]
    paths = client.get("/catalogue/access_paths", params={"key": "study:1.3"},
                       headers=auth("architect")).json()
    assert [r["profile"] for r in paths["rows"]] == ["profile:readers"]
    assert_problem(client.get("/catalogue/access_paths", headers=auth("architect")), 400,
                   "bad_request")
    assert_problem(client.get("/catalogue/nope", headers=auth("architect")), 404, "not_found")


def test_every_endpoint_documents_its_answer_and_its_problems(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            success = next(code for code in answers if code.startswith("2"))
            content = answers[success].get("content", {})
            documented = [media.get("schema", {}) for media in content.values()]
            if path == "/export":  # a file: GraphML or JSON, streamed
                continue
            assert any("$ref" in s for s in documented), (method, path, answers[success])
            if path != "/health":
                for status in ("400", "401", "422"):
                    assert "#/components/schemas/Problem" in json.dumps(answers[status]), path


def test_the_server_says_its_mode_store_and_audit_log_at_start(
        impact_store: GraphStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(environment="development", store="bolt://db.example:7687")
    app = create_app(settings, store=impact_store, tokens=TokenBook.from_entries({}, True),
                     audit_path=tmp_path / "audit.jsonl", work_dir=tmp_path)
    with caplog.at_level("INFO", logger="lineage.api"), TestClient(app):
        pass
    [line] = [r.getMessage() for r in caplog.records if "image-lineage API" in r.getMessage()]
    assert "development mode" in line and "'dev-admin-token' is an admin" in line
    assert "store bolt://db.example:7687" in line and str(tmp_path / "audit.jsonl") in line
