"""The engine's derived values (retention, holding facts, study facts) are ordered by the
engine's own clock (`derived_at`), the sources' observations by theirs (`last_seen`):

- two ingests at once: the recompute after one, which read the graph before the other's write,
  must not write over what the other's recompute wrote after it (the later computation wins,
  whichever commits last). Each test runs the second ingest, write and recompute, in another
  thread at the moment the first recompute has read what it computes from and not yet written;
- a source whose clock runs ahead (a report dated 2099) must not freeze the derived values;
- an observation delivered after a recompute is not older than it: computing is not sighting.

Afterwards every derived value must be what a local store given the same records one ingest
after the other holds, and a decommission from the holding facts what a walk answers."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lineage.impact import decommission
from lineage.ingest import ingest
from lineage.model import (
    DERIVED_PROPERTIES,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    object_key,
    system_key,
)
from lineage.pipeline import Bundle
from lineage.retention import apply as apply_module
from lineage.retention.apply import HOLDING_PENDING_META, apply_retention
from lineage.retention.policy import load_policy
from lineage.stores import GraphStore
from lineage.stores.local import LocalStore
from tests.retention_estate import PROV, patient
from tests.test_decommission_facts import LOOSE, disposal, estate_with_a_loose_series

POLICY = load_policy()
DERIVED_KINDS = (NodeKind.ARCHIVE_OBJECT, NodeKind.STUDY)
INTRUDER_GRACE = 10.0  # seconds the second ingest gets before the first recompute goes on


def derived_values(store: GraphStore) -> dict[str, dict[str, Any]]:
    return {node.key: {name: value for name, value in node.properties.items()
                       if name in DERIVED_PROPERTIES[kind]}
            for kind in DERIVED_KINDS for node in store.iter_nodes(kind)}


def new_copy(system: str, series: str, created: str) -> Bundle:
    copy = object_key(system, series.removeprefix("series:"))
    return Bundle((Node(copy, PROV, {"created_at": created}),
                   Edge(copy, EdgeType.COPY_OF, series, PROV),
                   Edge(copy, EdgeType.STORED_IN, system_key(system), PROV)), "new copy")


def new_study(uid: str, patient_key: str, day: str, system: str) -> Bundle:
    study, series = f"study:{uid}", f"series:{uid}.1"
    return Bundle((Node(study, PROV, {"study_date": day, "modalities": ["CT"]}),
                   Node(series, PROV, {"modality": "CT"}),
                   Edge(study, EdgeType.OF_PATIENT, patient_key, PROV),
                   Edge(series, EdgeType.PART_OF, study, PROV),
                   *new_copy(system, series, day).items), "new study")


def interleaved(monkeypatch: pytest.MonkeyPatch, step: str, store: GraphStore,
                second: Bundle) -> Callable[[], None]:
    """The first time the recompute reaches `step` of `lineage.retention.apply` (after reading
    what it computes from), ingest `second` in another thread and wait for it (up to
    INTRUDER_GRACE seconds: a recompute that made it wait would go on without it). Returns what
    joins that thread and raises what it raised."""
    original = getattr(apply_module, step)
    started: list[threading.Thread] = []
    failed: list[BaseException] = []

    def second_ingest() -> None:
        try:
            ingest(store, [second], "second")
        except BaseException as exc:  # raised in the test's thread by finish()
            failed.append(exc)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if not started:
            started.append(threading.Thread(target=second_ingest))
            started[0].start()
            started[0].join(INTRUDER_GRACE)
        return original(*args, **kwargs)

    def finish() -> None:
        assert started, f"the recompute never reached {step}"
        started[0].join()
        if failed:
            raise failed[0]

    monkeypatch.setattr(apply_module, step, hooked)
    return finish


@pytest.fixture
def applied(any_store: GraphStore) -> GraphStore:
    estate_with_a_loose_series().load(any_store)
    apply_retention(any_store, POLICY)
    return any_store


def settled(store: GraphStore, *ingested: Bundle) -> dict[str, dict[str, Any]]:
    """The derived values after the ingests, checked against those of a local store that was
    given the same estate and the same records one ingest after the other."""
    assert store.get_meta(HOLDING_PENDING_META) == "0"
    with tempfile.TemporaryDirectory() as folder, \
            LocalStore(Path(folder) / "reference.db") as reference:
        estate_with_a_loose_series().load(reference)
        apply_retention(reference, POLICY)
        for bundle in ingested:
            ingest(reference, [bundle], "reference")
        expected = derived_values(reference)
    found = derived_values(store)
    wrong = {key: (values, expected.get(key)) for key, values in found.items()
             if values != expected.get(key)}
    assert not wrong, f"derived values (as stored, as they should be): {wrong}"
    return found


def test_holding_facts_a_second_ingest_moved_are_not_written_over(
        applied: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new copy of the loose series at ARCHIVE-GB; meanwhile GCS-DE's copy of it is disposed:
    PACS-LON must not still count GCS-DE as holding it."""
    finish = interleaved(monkeypatch, "compute", applied, disposal("GCS-DE", "8.8.1"))
    first = new_copy("ARCHIVE-GB", LOOSE, "2025-01-01")
    ingest(applied, [first], "first")
    finish()
    facts = decommission(applied, "PACS-LON")
    walked = decommission(applied, "PACS-LON", facts=False)
    assert facts.pop("answered_from") == "holding facts"
    walked.pop("answered_from")
    assert facts == walked
    values = settled(applied, first, disposal("GCS-DE", "8.8.1"))
    assert values[object_key("PACS-LON", "8.8.1")]["holding_others"] == "system:ARCHIVE-GB"


def test_retention_a_second_ingest_moved_is_not_written_over(
        applied: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new study of P1 moves the last encounter of P1's copies; meanwhile a later one does:
    its adult CT in London is kept 8 years from the later."""
    p1 = patient("P1")
    first, second = (new_study("1.8", p1, "2022-04-04", "PACS-LON"),
                     new_study("1.9", p1, "2024-05-05", "PACS-LON"))
    finish = interleaved(monkeypatch, "compute", applied, second)
    ingest(applied, [first], "first")
    finish()
    values = settled(applied, first, second)
    assert {uid: values[object_key("PACS-LON", f"{uid}.1")]["retain_until"]
            for uid in ("1.1", "1.8", "1.9")} == dict.fromkeys(("1.1", "1.8", "1.9"),
                                                               "2032-05-05")


def test_study_facts_a_second_ingest_moved_are_not_written_over(
        applied: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new copy of study 1.1 at S3-FR; meanwhile its copy at S3-US is disposed: the study's
    live facts must count the copies live after both."""
    first, second = (new_copy("S3-FR", "series:1.1.1", "2025-01-01"),
                     disposal("S3-US", "1.1.1"))
    finish = interleaved(monkeypatch, "_facts", applied, second)
    ingest(applied, [first], "first")
    finish()
    settled(applied, first, second)


AHEAD = Provenance("hl7:ward-clock", "2099-01-01T00:00:00Z")  # a sender whose clock is wrong


@pytest.mark.parametrize("ahead", [object_key("PACS-LON", "8.8.1"), "study:1.1"])
def test_a_report_dated_ahead_of_the_engines_clock_does_not_freeze_its_derived_values(
        applied: GraphStore, ahead: str) -> None:
    """A source whose clock runs ahead dates its report of the PACS-LON copy of the loose series
    (or of study 1.1) in 2099; then GCS-DE's copy of that series and S3-US's copy of study 1.1
    are disposed. Holding facts, retention and study facts are the engine's own values,
    recomputed from the graph as it stands: no report's date, however far ahead, keeps the
    recompute from rewriting them."""
    applied.upsert([Node(ahead, AHEAD, {"department": "radiology"})])
    disposals = (disposal("GCS-DE", "8.8.1"), disposal("S3-US", "1.1.1"))
    ingest(applied, disposals, "test")
    facts = decommission(applied, "PACS-LON")
    walked = decommission(applied, "PACS-LON", facts=False)
    assert facts.pop("answered_from") == "holding facts"
    walked.pop("answered_from")
    assert facts == walked
    assert LOOSE in [row["key"] for row in facts["sole_copies"]]
    settled(applied, *disposals)


def test_an_observation_delivered_after_a_recompute_is_not_taken_for_an_old_one(
        applied: GraphStore) -> None:
    """A storage event from an hour ago, delivered after the engine recomputed the copy's
    retention: the engine's computation is not a sighting of the copy, so the event is the
    copy's newest observation and its tier change is taken."""
    copy = object_key("PACS-LON", "1.3.1")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    before = applied.get_node(copy)
    assert before is not None and str(before.properties["last_seen"]) < an_hour_ago
    ingest(applied, [Bundle((Node(copy, Provenance("s3:late-queue", an_hour_ago),
                                  {"storage_tier": "archive"}),), "late event")], "test")
    after = applied.get_node(copy)
    assert after is not None
    assert (after.properties["storage_tier"], after.properties["last_seen"]) == (
        "archive", an_hour_ago)
    assert str(after.properties["derived_at"]) > an_hour_ago  # recomputed after the event
