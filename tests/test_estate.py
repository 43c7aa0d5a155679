"""Estate declarations: validation that names file and field, and what they put in the graph."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.errors import EstateError
from lineage.estate import estate_records, load_estate
from lineage.identity import patient_key
from lineage.ingest import ingest
from lineage.stores import GraphStore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "estate.yaml"
SECRET = b"s" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "estate.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("systems:\n  - {code: X, kind: pacs}\n", "systems[0].region_code: Field required"),
        ("systems:\n  - {code: X, kind: toaster, region_code: r}\n", "systems[0].kind: Input"),
        ("systems:\n  - {code: 'A B', kind: pacs, region_code: r}\n", "systems[0].code"),
        ("systems:\n  - {code: X, kind: pacs, region_code: r, colour: red}\n",
         "systems[0].colour: Extra inputs are not permitted"),
        ("feeds:\n  - {from: A, to: B}\n", "feeds[0].from: system 'A' is not declared"),
        ("datasets:\n  - {id: d1, includes: [system:X]}\n", "datasets[0].includes[0]"),
        ("compliance_events:\n  - {id: h, type: legal_hold, started_at: 2025-01-01,"
         " ended_at: 2024-01-01, scope: {}}\n", "compliance_events[0]: Value error, ended_at"),
        ("compliance_events:\n  - {id: h, type: legal_hold, started_at: 2025-01-01,"
         " scope: {patients: [MRN123]}}\n", "compliance_events[0].scope.patients[0]"),
        ("access_profiles:\n  - {id: p, role: r, grants: [{actions: [view]}]}\n",
         "access_profiles[0].grants[0]: Value error, a grant names exactly one"),
        ("- just\n- a list\n", "an estate file is a mapping"),
        ("systems: [\n", "line 2, column 1 is not valid YAML"),
    ],
)
def test_bad_estate_files_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EstateError) as error:
        load_estate(write(tmp_path, text))
    assert str(error.value).startswith(f"{tmp_path / 'estate.yaml'}:")
    assert message in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EstateError, match="cannot read the estate file"):
        load_estate(tmp_path / "absent.yaml")


def test_example_estate_lands_in_the_graph(any_store: GraphStore) -> None:
    estate = load_estate(EXAMPLE)
    records = estate_records(estate, "estate:estate.yaml", SECRET, "2026-01-01T00:00:00Z")
    report = ingest(any_store, records, "estate:estate.yaml")

    assert report.rejected == []
    pacs = any_store.get_node("system:PACS-NORTH")
    assert pacs is not None
    assert (pacs.properties["kind"], pacs.properties["status"]) == ("pacs", "decommissioning")
    assert pacs.properties["confidence"] == "declared"
    feed = any_store.get_edge("system:S3-RESEARCH-EU", "FEEDS", "system:AI-TRIAGE")
    assert feed is not None and feed.properties["valid_to"] == "2025-06-30T00:00:00.000000Z"
    grant = any_store.get_edge("profile:ai-engineers", "GRANTS", "dataset:chest-ct-training-2024")
    assert grant is not None and grant.properties["actions"] == ["view", "export"]
    hold = any_store.get_node("event:hold-2025-017")
    assert hold is not None and hold.properties["event_type"] == "legal_hold"
    assert "ended_at" not in hold.properties
    scope = any_store.neighbours("event:hold-2025-017", "out")
    assert patient_key("NORTH-HOSP", "MRN0001234", SECRET) in scope
    assert "study:1.2.826.0.1.3680043.8.498.10001" in scope


def test_no_patient_identifier_in_clear_reaches_the_graph(any_store: GraphStore) -> None:
    ingest(any_store, estate_records(load_estate(EXAMPLE), "estate", SECRET), "estate")
    dump = repr([(n.key, n.properties) for n in any_store.iter_nodes()])
    dump += repr([(e.src, e.dst, e.properties) for e in any_store.iter_edges()])
    assert "MRN0001234" not in dump and "NORTH-HOSP" not in dump
