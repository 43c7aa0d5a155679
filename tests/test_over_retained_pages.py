"""The over-retained copies a page at a time after a key (`reports.over_retained`, `drift(...,
after=)`, `GET /retention/over-retained`, `lineage retention over-retained`): every copy once,
in key order, on both stores, and a deep page read in key order from its cursor instead of
seeking every copy past its date."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lineage.retention import reports
from lineage.retention.apply import STUDY_FACTS_META
from lineage.stores import GraphStore, LocalStore
from queries import library
from queries.library import Query, Row
from queries.retention import (
    DRIFT_OVER_RETAINED,
    DRIFT_OVER_RETAINED_BY_KEY,
    DRIFT_OVER_RETAINED_TALLIED,
)
from tests.retention_estate import EstateBuilder, fixed_estate
from tests.test_api import auth, client_for
from tests.test_cli import lineage

AS_OF = "2024-06-01"
STUDIES = 24


def dense_estate() -> EstateBuilder:
    """The fixed estate (holds, disposals, a copy in an archive tier) and 24 more studies of
    1995, each copied to three systems, one copy in five disposed: ~70 over-retained copies as
    of 2024, spread over the key order between copies that are not."""
    estate = fixed_estate()
    for number in range(STUDIES):
        uid = f"3.{number:02d}"
        patient = estate.patient(f"D{number}", "1950-01")
        estate.study(uid, patient, f"1995-01-{number + 1:02d}", "CT")
        for system in ("PACS-LON", "S3-US", "GCS-DE"):
            disposed = "2001-01-01" if (number + len(system)) % 5 == 0 else None
            estate.copy(system, uid, "1995-02-01", disposed=disposed)
    return estate


@pytest.fixture
def dense_store(any_store: GraphStore) -> GraphStore:
    return dense_estate().load_applied(any_store)


def every_page(store: GraphStore, limit: int, after: str = "") -> list[dict[str, Any]]:
    pages = []
    while True:
        page = reports.over_retained(store, AS_OF, after=after, limit=limit)
        pages.append(page)
        if page["next"] is None:
            return pages
        assert page["next"] == page["copies"][-1]["key"] and len(page["copies"]) == limit
        assert page["next"] > after, "no progress"  # a cursor that does not move: stop
        after = page["next"]


def test_pages_after_a_key_give_every_over_retained_copy_once(dense_store: GraphStore) -> None:
    whole = reports.drift(dense_store, AS_OF)
    rows = whole["over_retained"]
    assert len(rows) == whole["over_retained_count"] > 50
    assert whole["over_retained_next"] is None  # the whole list: nothing follows
    for limit in (1, 7, len(rows), len(rows) + 5):
        pages = every_page(dense_store, limit)
        assert [row for page in pages for row in page["copies"]] == rows, limit
        assert all(page["limit"] == limit and page["policy_applied"] for page in pages)
        assert pages[0]["uncomputed_copies"] == 0  # counted once, on the first page
        assert all(page["uncomputed_copies"] is None for page in pages[1:])
    middle = rows[len(rows) // 2]["key"]
    assert [r for p in every_page(dense_store, 5, middle) for r in p["copies"]] == [
        row for row in rows if row["key"] > middle]
    between = middle + "\x00"  # a key that is not a copy's: the copies after it
    assert reports.over_retained(dense_store, AS_OF, after=between, limit=3)["copies"] == [
        row for row in rows if row["key"] > between][:3]
    assert reports.over_retained(dense_store, AS_OF, after="~", limit=3)["copies"] == []


def test_a_drift_page_continues_after_its_cursor(dense_store: GraphStore) -> None:
    rows = reports.drift(dense_store, AS_OF)["over_retained"]
    first = reports.drift(dense_store, AS_OF, limit=10)
    assert first["over_retained"] == rows[:10] and first["over_retained_next"] == rows[9]["key"]
    second = reports.drift(dense_store, AS_OF, limit=10, after=first["over_retained_next"])
    assert second["over_retained"] == rows[10:20]
    assert second["over_retained_count"] == len(rows) and second["cost"] == first["cost"]
    assert second["policy_drift"] == first["policy_drift"]  # the cursor is the copies' alone
    last = reports.drift(dense_store, AS_OF, limit=10, after=rows[-3]["key"])
    assert last["over_retained"] == rows[-2:] and last["over_retained_next"] is None


def recording(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the queries the reports run from now on."""
    ran: list[str] = []

    def run_query(store: GraphStore, query: Query, params: Mapping[str, Any]) -> list[Row]:
        ran.append(query.name)
        return library.run_query(store, query, params)

    def run_queries(store: GraphStore, queries: Mapping[str, Query],
                    params: Mapping[str, Any]) -> dict[str, list[Row]]:
        ran.extend(query.name for query in queries.values())
        return library.run_queries(store, queries, params)

    monkeypatch.setattr("lineage.retention.reports.run_query", run_query)
    monkeypatch.setattr("lineage.retention.reports.run_queries", run_queries)
    return ran


SOUGHT = {DRIFT_OVER_RETAINED.name, DRIFT_OVER_RETAINED_BY_KEY.name}  # copies visited to find


def test_a_page_at_any_depth_reads_the_tallies_in_key_order(
        dense_store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = reports.drift(dense_store, AS_OF)["over_retained"]
    ran = recording(monkeypatch)
    after = rows[39]["key"]
    asks: list[Callable[[], list[Row]]] = [
        lambda: reports.drift(dense_store, AS_OF, limit=3, offset=40)["over_retained"],
        lambda: reports.over_retained(dense_store, AS_OF, after=after, limit=3)["copies"],
        lambda: reports.drift(dense_store, AS_OF, limit=3, after=after)["over_retained"]]
    for ask in asks:
        ran.clear()
        assert ask() == rows[40:43]
        assert DRIFT_OVER_RETAINED_TALLIED.name in ran and not SOUGHT & set(ran), ran


def untallied(store: GraphStore) -> None:
    """As a store whose policy an engine without the tallies applied."""
    store.set_meta(STUDY_FACTS_META, "1")


def test_without_tallies_a_deep_page_after_a_key_is_scanned_from_there(
        dense_store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = reports.drift(dense_store, AS_OF)["over_retained"]
    untallied(dense_store)
    monkeypatch.setattr(reports, "SCAN_MOST", 20)  # as a store of millions: the scan is cut
    ran = recording(monkeypatch)
    deep = reports.drift(dense_store, AS_OF, limit=3, offset=40)  # an offset must seek
    assert deep["over_retained"] == rows[40:43] and DRIFT_OVER_RETAINED.name in ran
    ran.clear()
    cursor = reports.over_retained(dense_store, AS_OF, after=rows[39]["key"], limit=3)
    assert cursor["copies"] == rows[40:43] and ran == [DRIFT_OVER_RETAINED_BY_KEY.name], ran
    assert reports.STALE_FACTS in cursor["warnings"]
    ran.clear()
    chained = reports.drift(dense_store, AS_OF, limit=3, after=rows[39]["key"])
    assert chained["over_retained"] == rows[40:43]
    assert ran.count(DRIFT_OVER_RETAINED.name) == 1  # the totals alone: there are no tallies


def test_without_tallies_where_the_scan_is_cut_the_seek_gives_the_same_pages(
        dense_store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = reports.drift(dense_store, AS_OF)["over_retained"]
    untallied(dense_store)
    monkeypatch.setattr(reports, "SCAN_PER_ROW", 1)  # a page of n reads n copies: never sure
    ran = recording(monkeypatch)
    pages = every_page(dense_store, 4)
    assert [row for page in pages for row in page["copies"]] == rows
    assert ran.count(DRIFT_OVER_RETAINED.name) >= len(pages) - 1  # the seek did answer


def test_without_a_policy_the_first_page_says_so(any_store: GraphStore) -> None:
    dense_estate().load(any_store)
    page = reports.over_retained(any_store, AS_OF)
    assert not page["policy_applied"] and page["copies"] == [] and page["next"] is None
    assert reports.needs_apply(page) and "was ever applied" in page["warnings"][0]


@pytest.fixture
def client(dense_store: GraphStore, tmp_path: Path) -> Iterator[TestClient]:
    with client_for(dense_store, tmp_path) as test_client:
        yield test_client


def test_the_api_pages_after_a_key_and_refuses_hostile_cursors(client: TestClient) -> None:
    get: Callable[..., Any] = lambda path, **params: client.get(  # noqa: E731
        path, params={"as_of": AS_OF, **params}, headers=auth("auditor"))
    whole = get("/retention/drift").json()["over_retained"]
    rows, after = [], ""
    while True:
        page = get("/retention/over-retained", limit=9, after=after).json()
        rows += page["copies"]
        if page["next"] is None:
            break
        after = page["next"]
    assert rows == whole
    drift = get("/retention/drift", limit=5).json()
    assert drift["over_retained_next"] == whole[4]["key"]
    assert get("/retention/drift", limit=5, after=drift["over_retained_next"]).json()[
        "over_retained"] == whole[5:10]
    huge = get("/retention/over-retained", after="object:" + "7" * 20_000)
    assert huge.status_code == 422 and "after" in huge.text and "7" * 1000 not in huge.text
    for odd in ("\u0000", "object:S3-US:1.1\ufffd", "' OR 1=1 //", "\U0001f600"):
        answer = get("/retention/over-retained", after=odd, limit=2)
        assert answer.status_code == 200, answer.text
        assert answer.json()["copies"] == [r for r in whole if r["key"] > odd][:2], odd
    assert get("/retention/over-retained", limit=0).status_code == 422
    assert client.get("/retention/over-retained").status_code == 401  # no token


def test_the_cli_streams_every_copy_and_prints_one_page(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "lineage.db") as store:
        whole = reports.drift(dense_estate().load_applied(store), AS_OF)["over_retained"]
    lines = lineage("retention", "over-retained", "--as-of", AS_OF, "--json", cwd=tmp_path)
    assert lines.returncode == 0, lines.stderr
    assert [json.loads(line) for line in lines.stdout.splitlines()] == whole
    text = lineage("retention", "over-retained", "--as-of", AS_OF, "--after", whole[9]["key"],
                   cwd=tmp_path)
    header, *rest = text.stdout.splitlines()
    assert header.split("\t")[0] == "key" and len(rest) == len(whole) - 10
    assert rest[0].split("\t")[:2] == [whole[10]["key"], whole[10]["retain_until"]]
    page = lineage("retention", "over-retained", "--as-of", AS_OF, "--limit", "3", "--json",
                   cwd=tmp_path)
    assert json.loads(page.stdout)["next"] == whole[2]["key"]
    shown = lineage("retention", "over-retained", "--as-of", AS_OF, "--limit", "3",
                    cwd=tmp_path)
    assert f"--after {whole[2]['key']}" in shown.stdout
