"""Property tests of the connector contract: whatever bytes or JSON a source is given, a run
through the ingest service ends with a report (records written or rejected), never with an
exception; and the MLLP listener, fed any messages, keeps acknowledging and ingesting.

Inputs are real samples with parts replaced by arbitrary values (where parsers break), plus
arbitrary JSON and text. They run on the local store: the property is the connectors' and the
service's, the same code for both stores."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.hl7 import Hl7Source
from connectors.inbox import Inbox
from connectors.mllp import Hl7Listener
from connectors.patients import current_studies
from lineage.pipeline import RunReport
from lineage.sources import Payload, SourceContext, run_source
from lineage.stores import LocalStore
from tests.test_connector_contract import fhir_study, ol_event
from tests.test_storage_events import s3

HL7 = Path(__file__).resolve().parent / "fixtures" / "hl7"
SECRET = b"p" * 32
EXAMPLES = int(os.environ.get("LINEAGE_PROPERTY_EXAMPLES", "40"))  # more for a deeper search
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=30), st.sampled_from(["", " ", "2024-13-45", "yesterday",
                                                             "1.2.3 ", "\u202e", "0" * 70]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_of(item, (*prefix, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return copy


@st.composite
def mutated(draw: st.DrawFn, sample: Any) -> Any:
    """The sample with one to three of its parts (any depth) replaced by arbitrary JSON."""
    value = sample
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths_of(value))))
        value = replaced(value, path, draw(json_value))
    return value


FHIR_SAMPLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": fhir_study("1.2.3.1", "2024-01-02")},
    {"resource": {"resourceType": "Patient", "id": "p1", "birthDate": "1990-02-03",
                  "identifier": [{"system": "urn:mrn", "value": "M1"}],
                  "link": [{"type": "replaced-by", "other": {"reference": "Patient/p2"}}]}},
    {"resource": {"resourceType": "DiagnosticReport", "id": "r1", "status": "final",
                  "imagingStudy": [{"reference": "ImagingStudy/1-2-3-1"}]}}]}
S3_SAMPLE = {"Records": [s3("ObjectCreated:Put", "studies/1.2/series/1.2.3/a.dcm",
                            "2024-03-01T00:00:00Z", "0A")]}
DICOM_JSON_SAMPLE = [{"00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
                      "00080018": {"vr": "UI", "Value": ["1.2.3.4.5.6"]},
                      "0020000D": {"vr": "UI", "Value": ["1.2.3.4"]},
                      "0020000E": {"vr": "UI", "Value": ["1.2.3.4.5"]},
                      "00100030": {"vr": "DA", "Value": ["19800101"]},
                      "00100020": {"vr": "LO", "Value": ["MRN1"]}}]
JSON_SOURCES: list[tuple[str, dict[str, Any], Any]] = [
    ("fhir", {"system": "EHR"}, FHIR_SAMPLE),
    ("openlineage", {}, ol_event("r-1", "2025-01-10T08:00:00Z")),
    ("storage-events", {"provider": "s3"}, S3_SAMPLE),
    ("dicom-json", {"system": "PACS"}, DICOM_JSON_SAMPLE),
]


def run(tmp_path: Path, kind: str, values: dict[str, Any], body: bytes) -> RunReport:
    with LocalStore(tmp_path / "lineage.db") as store:
        context = SourceContext(store, SECRET, state_path=lambda name: tmp_path / name)
        return run_source(kind, {**values, "payloads": [Payload(location="in", data=body)]},
                          context)


def check(report: RunReport) -> None:
    """Each bad record rejected on its own: the source itself never had to be stopped."""
    assert [r for r in report.rejected if "the source stopped" in r.reason] == []
    assert report.records >= len(report.rejected)
    assert all(r.location and r.reason for r in report.rejected)


@pytest.mark.parametrize(("kind", "values", "sample"), JSON_SOURCES, ids=lambda v: str(v)[:12])
@PROPERTY
@given(data=st.data())
def test_any_json_gives_records_or_rejections(tmp_path: Path, kind: str, values: dict[str, Any],
                                              sample: Any, data: st.DataObject) -> None:
    document = data.draw(st.one_of(mutated(sample), json_value), label="document")
    check(run(tmp_path, kind, values, json.dumps(document).encode()))


@pytest.mark.parametrize(("kind", "values"), [(k, v) for k, v, _ in JSON_SOURCES]
                         + [("hl7", {"system": "EHR"})], ids=lambda v: str(v)[:12])
@PROPERTY
@given(body=st.one_of(st.binary(max_size=300), st.just(b"[" * 100_000)))
def test_any_bytes_give_records_or_rejections(tmp_path: Path, kind: str,
                                              values: dict[str, Any], body: bytes) -> None:
    check(run(tmp_path, kind, values, body))


def hl7_samples() -> list[str]:
    return [path.read_text().replace("\n", "\r") for path in sorted(HL7.glob("*.hl7"))]


@st.composite
def hl7_message(draw: st.DrawFn) -> str:
    """A sample message with some fields replaced by arbitrary text (separators included)."""
    segments = [s.split("|") for s in draw(st.sampled_from(hl7_samples())).split("\r") if s]
    for _ in range(draw(st.integers(1, 4))):
        segment = draw(st.integers(0, len(segments) - 1))
        field = draw(st.integers(1, max(1, len(segments[segment]) - 1)))
        if field < len(segments[segment]):
            segments[segment][field] = draw(st.text(
                alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
                | st.sampled_from(["20241345", "^^^", "~~", "\\F\\", "1.2.3 ", ""]))
    return "\r".join("|".join(s) for s in segments)


@PROPERTY
@given(message=hl7_message())
def test_any_hl7_file_gives_records_or_rejections(tmp_path: Path, message: str) -> None:
    check(run(tmp_path, "hl7", {"system": "EHR"}, message.encode()))


@PROPERTY
@given(messages=st.lists(hl7_message() | st.text(max_size=80), min_size=1, max_size=5))
def test_the_listener_survives_any_messages_and_ingests_the_next_good_one(
    tmp_path: Path, messages: list[str]
) -> None:
    good = hl7_samples()[1].replace("MRN12345", "MRN424242")  # ADT^A08
    with LocalStore(tmp_path / "lineage.db") as store:
        store.clear()
        inbox = Inbox(tmp_path / "hl7.inbox")
        listener = Hl7Listener(store, Hl7Source("EHR", SECRET), inbox, current_studies(store),
                               retry_seconds=0)
        try:
            for index, text in enumerate(messages):
                assert listener.accept("test", text).startswith("MSH")
                inbox.add("old-version", f"X{index}", text)  # as if ACKed without a check
            listener.drain_all()
            assert "MSA|AA|" in listener.accept("test", good)
            listener.drain_all()
            assert inbox.counts()["pending"] == 0
        finally:
            inbox.close()
        patients = {n.key for n in store.iter_nodes() if n.key.startswith("patient:")}
        from lineage.identity import patient_key
        assert patient_key("GENHOSP", "MRN424242", SECRET) in patients


@PROPERTY
@given(body=st.binary(max_size=2000), preamble=st.booleans())
def test_any_file_in_a_scanned_folder_gives_records_or_rejections(
    tmp_path: Path, body: bytes, preamble: bool
) -> None:
    folder = tmp_path / "scan"
    folder.mkdir(exist_ok=True)
    (folder / "file.dcm").write_bytes((b"\0" * 128 + b"DICM" if preamble else b"") + body)
    check(run_paths(tmp_path, folder))


def run_paths(tmp_path: Path, folder: Path) -> RunReport:
    with LocalStore(tmp_path / "lineage.db") as store:
        context = SourceContext(store, SECRET, state_path=lambda name: tmp_path / name)
        return run_source("dicom", {"paths": [folder], "system": "PACS", "workers": 1}, context)


@PROPERTY
@given(tags=st.dictionaries(st.sampled_from(
    ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
     "PatientBirthDate", "StudyDate", "Modality", "ImageType", "SourceImageSequence",
     "PatientAge", "ReferencedSeriesSequence"]), json_value, max_size=8))
def test_any_orthanc_tags_give_a_header_or_a_clear_refusal(tags: dict[str, Any]) -> None:
    """What Orthanc's simplified-tags answer holds is read as a header, or refused as the
    follower refuses it (one instance rejected); nothing else escapes."""
    from functools import partial

    from connectors.dicom_header import DicomHeader, HeaderError, parsed_with_warnings
    from connectors.orthanc import UNUSABLE_TAGS, header_of

    try:
        header = parsed_with_warnings(partial(header_of, tags, ""))
    except (HeaderError, *UNUSABLE_TAGS):
        return
    assert isinstance(header, DicomHeader)
