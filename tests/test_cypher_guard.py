"""The architects' Cypher endpoint against a real Neo4j: only reads of the graph run. Files on
the server, URLs, administration commands, other procedures and huge results are refused with
the reason (security review findings 1 and 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lineage.model import Node, Provenance
from lineage.stores import Neo4jStore
from tests.http_recorder import recording_server
from tests.test_api import auth, client_for

pytestmark = pytest.mark.neo4j


@pytest.fixture
def architect(neo4j_store: Neo4jStore, tmp_path: Path) -> Iterator[TestClient]:
    neo4j_store.clear()
    neo4j_store.upsert([Node("system:PACS-A", Provenance("test", "2024-01-01"))])
    with client_for(neo4j_store, tmp_path) as client:
        yield client


def refused(client: TestClient, query: str, reason: str) -> None:
    response = client.post("/cypher", json={"query": query}, headers=auth("architect"))
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]


@pytest.mark.parametrize(("query", "reason"), [
    ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", "LOAD CSV is not allowed"),
    ("SHOW TRANSACTIONS", "administration commands"),
    ("SHOW TRANSACTIONS YIELD transactionId RETURN transactionId", "administration commands"),
    ("TERMINATE TRANSACTIONS 'neo4j-transaction-1'", "administration commands"),
    ("CALL dbms.listConfig()", "procedure dbms.listConfig is not allowed"),
    ("CALL dbms.killConnections(['bolt-1'])", "procedure dbms.killConnections is not allowed"),
    ("CALL db.clearQueryCaches()", "procedure db.clearQueryCaches is not allowed"),
    ("MATCH (n) CALL (n) { SET n.x = 1 } IN TRANSACTIONS RETURN count(*)", "IN TRANSACTIONS"),
    ("CREATE (:Study {key: 'study:x'})", "read-only"),
    ("MATCH (s:System) SET s.status = 'retired'", "read-only"),
    ("RETURN range(1, 15000000) AS numbers", "over 10,485,760 bytes"),
])
def test_everything_but_reading_the_graph_is_refused(architect: TestClient, query: str,
                                                    reason: str) -> None:
    refused(architect, query, reason)


def test_load_csv_from_a_url_never_reaches_the_url(architect: TestClient) -> None:
    with recording_server(b"a,b\n") as server:
        refused(architect, f"LOAD CSV FROM '{server.url}/x' AS l RETURN l",
                "LOAD CSV is not allowed")
    assert server.hits == []


def test_reads_and_schema_procedures_still_run(architect: TestClient) -> None:
    for query, expected in [("MATCH (s:System) RETURN s.key AS key", {"key": "system:PACS-A"}),
                            ("CALL db.labels() YIELD label RETURN label", {"label": "System"})]:
        response = architect.post("/cypher", json={"query": query}, headers=auth("architect"))
        assert response.status_code == 200, response.text
        assert expected in response.json()["rows"]
    capped = architect.post("/cypher", json={"query": "UNWIND range(1, 100000) AS i RETURN i",
                                             "max_rows": 100000, "max_bytes": 1000},
                            headers=auth("architect")).json()
    assert capped["truncated"] and 0 < capped["count"] < 200
