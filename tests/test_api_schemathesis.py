"""schemathesis against the API's own OpenAPI schema: no input makes the server fail (5xx).

Runs on the local store holding the hand-worked impact estate, with an admin token, so that
every endpoint is exercised past authentication."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from api.security import TokenBook, token_hash
from lineage.retention.apply import apply_retention
from lineage.retention.policy import load_policy
from lineage.settings import Settings
from lineage.stores import LocalStore
from tests.retention_estate import impact_estate
from tests.test_cli import STRONG_KEY

TOKEN = "admin-secret-token-for-schemathesis"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    folder: Path = tmp_path_factory.mktemp("api")
    store = LocalStore(folder / "lineage.db")
    store.open()
    impact_estate().load(store)
    apply_retention(store, load_policy())
    book = TokenBook.from_entries({"admin": {"sha256": token_hash(TOKEN), "role": "admin"}},
                                  development=False)
    application = create_app(Settings(environment="production", pseudonym_key=STRONG_KEY),  # type: ignore[arg-type]
                             store=store, tokens=book, audit_path=folder / "audit.jsonl",
                             work_dir=folder)
    with TestClient(application):  # runs the lifespan: the store is attached while tests run
        yield application
    store.close()


def test_no_input_makes_the_server_fail(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def no_server_error(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code < 500, (case.method, case.path, response.text[:300])

        no_server_error()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert len(checked) >= 14, checked
