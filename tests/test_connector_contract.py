"""The connector contract at the seam with the ingest service, as a user meets it: one bad field
in a real file costs that record only, the run goes on and exits 1, nothing good is lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import lineage

HL7 = Path(__file__).resolve().parent / "fixtures" / "hl7"


def hl7_with(tmp_path: Path, old: str, new: str) -> Path:
    """The ADT^A08 sample, then a copy of it for another patient with one field broken."""
    good = (HL7 / "adt_a08.hl7").read_text()
    broken = good.replace("MRN12345", "MRN77777").replace(old, new, 1)
    assert broken != good.replace("MRN12345", "MRN77777"), f"{old!r} not in the sample"
    path = tmp_path / "messages.hl7"
    path.write_text(good + broken + good.replace("MRN12345", "MRN88888"))
    return path


def run_json(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = lineage(*args, "--json", cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("20240301090000||ADT", "20241345090000||ADT", "MSH-7"),  # month 13 in the message time
    ("|20240228|Y", "|20241345|Y", "death"),  # PID-29 not a date
])
def test_one_bad_hl7_field_costs_one_message(tmp_path: Path, old: str, new: str,
                                             reason: str) -> None:
    path = hl7_with(tmp_path, old, new)
    code, report = run_json(tmp_path, "ingest", "hl7", str(path), "--system", "EHR")
    assert code == 1
    [rejected] = report["rejected"]
    assert rejected["location"] == f"{path}:5" and reason in rejected["reason"]
    assert report["nodes_by_kind"] == {"Patient": 2}
    assert "20241345" not in json.dumps(report)  # the rejected value is not echoed back


def fhir_study(uid: str, started: str) -> dict[str, Any]:
    return {"resourceType": "ImagingStudy", "id": uid.replace(".", "-"), "status": "available",
            "started": started,
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
            "series": [{"uid": f"{uid}.1", "modality": {"code": "CT"}, "numberOfInstances": 2}]}


@pytest.mark.parametrize("started", ["yesterday", "2024-13-45"])
def test_one_bad_fhir_date_costs_one_resource(tmp_path: Path, started: str) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": fhir_study("1.2.3.1", "2024-01-02")},
        {"resource": fhir_study("1.2.3.2", started)},
        {"resource": fhir_study("1.2.3.3", "2024-01-03")}]}
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    code, report = run_json(tmp_path, "ingest", "fhir", "b.json", "--system", "EHR-FHIR")
    assert code == 1
    [rejected] = report["rejected"]
    assert rejected["location"] == "b.json#entry[1]"
    assert report["nodes_by_kind"]["Study"] == 2


def ol_event(run_id: str, time: str) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": time, "producer": "https://example/p",
            "run": {"runId": run_id}, "job": {"namespace": "ai", "name": f"job-{run_id.strip()}"},
            "outputs": [{"namespace": "s3://models", "name": f"m-{run_id.strip()}"}]}


@pytest.mark.parametrize(("run_id", "time"), [
    ("r-2", "2025-13-10T08:00:00Z"),  # a bad eventTime
    ("r-2 ", "2025-01-10T08:00:00Z"),  # a runId with a trailing space
])
def test_one_bad_openlineage_event_costs_one_event(tmp_path: Path, run_id: str,
                                                   time: str) -> None:
    lines = [ol_event("r-1", "2025-01-10T08:00:00Z"), ol_event(run_id, time),
             ol_event("r-3", "2025-01-10T09:00:00Z")]
    (tmp_path / "e.ndjson").write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    code, report = run_json(tmp_path, "ingest", "openlineage", "e.ndjson")
    assert code == 1
    [rejected] = report["rejected"]
    assert rejected["location"] == "e.ndjson:2"
    assert report["nodes_by_kind"]["Run"] == 2


def test_every_ingest_command_has_a_registered_source(tmp_path: Path) -> None:
    result = lineage("sources", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    kinds = {s["kind"]: s for s in json.loads(result.stdout)["sources"]}
    assert set(kinds) == {"estate", "dicom", "dicom-json", "orthanc", "hl7", "fhir",
                          "storage-events", "openlineage", "atna"}
    assert all("disabled" not in s["summary"] for s in kinds.values())
    commands = lineage("ingest", "--help", cwd=tmp_path).stdout
    assert all(kind in commands for kind in kinds if kind != "dicom-json")  # an API-only source


def test_fhir_resources_the_engine_does_not_use_are_skipped_not_rejected(tmp_path: Path) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": fhir_study("1.2.3.1", "2024-01-02")},
        {"resource": {"resourceType": "Observation", "id": "o1", "status": "final"}},
        {"resource": {"resourceType": "Observation", "id": "o2", "status": "final"}},
        {"resource": {"resourceType": "Medication", "id": "m1"}}]}
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    code, report = run_json(tmp_path, "ingest", "fhir", "b.json", "--system", "EHR-FHIR")
    assert code == 0 and report["rejected"] == []
    assert [n["message"] for n in report["notices"]] == [
        "1 Medication resource not used by the engine: skipped",
        "2 Observation resources not used by the engine: skipped"]
