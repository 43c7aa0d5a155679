"""Shared fixtures. Neo4j is found in this order:

1. `NEO4J_URI` (+ `NEO4J_USER` / `NEO4J_PASSWORD`) when set: tools/run-tests sets it after
   starting a local server with tools/neo4j/neo4j-local;
2. a testcontainers `Neo4jContainer`, when a Docker engine answers;
3. otherwise the Neo4j tests are skipped, unless `LINEAGE_REQUIRE_NEO4J=1` (as in CI), which makes
   a missing Neo4j an error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lineage.stores import GraphStore, LocalStore, Neo4jStore
from tools.orthanc_local import OrthancServer

Neo4jTarget = tuple[str, tuple[str, str] | None]


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def neo4j_target() -> Iterator[Neo4jTarget]:
    uri = os.environ.get("NEO4J_URI")
    if uri:
        password = os.environ.get("NEO4J_PASSWORD")
        yield uri, ((os.environ.get("NEO4J_USER", "neo4j"), password) if password else None)
        return
    if _docker_answers():
        from testcontainers.neo4j import Neo4jContainer

        with Neo4jContainer("neo4j:5.26-community", password="test-password") as container:
            yield container.get_connection_url(), (container.username, container.password)
        return
    message = "Neo4j: NEO4J_URI is unset and no Docker engine answers"
    if os.environ.get("LINEAGE_REQUIRE_NEO4J") == "1":
        pytest.fail(f"{message}, and LINEAGE_REQUIRE_NEO4J=1 requires Neo4j")
    pytest.skip(message)


@pytest.fixture(scope="module")
def neo4j_store(neo4j_target: Neo4jTarget) -> Iterator[Neo4jStore]:
    """A Neo4j store, emptied at the start and end of each test module."""
    uri, auth = neo4j_target
    store = Neo4jStore(uri, auth=auth)
    store.open()
    store.clear()
    yield store
    store.clear()
    store.close()


@pytest.fixture(params=["local", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each kind: tests using it run once per backend."""
    if request.param == "local":
        with LocalStore(tmp_path / "lineage.db") as store:
            yield store
        return
    neo4j: Neo4jStore = request.getfixturevalue("neo4j_store")
    neo4j.clear()
    yield neo4j


@pytest.fixture
def impact_store(any_store: GraphStore) -> GraphStore:
    """Each store holding the hand-worked impact estate, with the default pack applied."""
    from tests.retention_estate import impact_estate

    return impact_estate().load_applied(any_store)


@pytest.fixture
def orthanc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrthancServer]:
    """A real Orthanc with DICOMweb on free loopback ports and a fresh storage folder; skipped
    when Orthanc is not installed, unless LINEAGE_REQUIRE_ORTHANC=1 (as in CI). Parametrized
    indirectly, the parameter is more of Orthanc's settings."""
    if shutil.which("Orthanc") is None:
        message = "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
        if os.environ.get("LINEAGE_REQUIRE_ORTHANC") == "1":
            pytest.fail(f"{message}, and LINEAGE_REQUIRE_ORTHANC=1 requires it")
        pytest.skip(message)
    with OrthancServer(tmp_path / "orthanc", settings=getattr(request, "param", None)) as server:
        yield server


@contextmanager
def serving(store: GraphStore, tmp_path: Path) -> Iterator[str]:
    """The API as a real uvicorn server on a free loopback port over `store` (the tokens of
    tests.test_api, 12 MB bodies); yields its base URL."""
    import threading
    import time

    import uvicorn

    from tests.test_api import client_for

    app = client_for(store, tmp_path, max_body=12 * 1024 * 1024).app
    running = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = running.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(30)


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[str]:
    """A real API server over a local store."""
    with LocalStore(tmp_path / "lineage.db") as store, serving(store, tmp_path) as url:
        yield url


@pytest.fixture
def any_api_server(any_store: GraphStore, tmp_path: Path) -> Iterator[str]:
    """A real API server over each store."""
    with serving(any_store, tmp_path) as url:
        yield url
