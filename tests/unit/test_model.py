"""The graph model's validation: keys, edge endpoints, property names and values, times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from lineage.errors import InvalidKeyError, InvalidRecordError
from lineage.model import (
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    is_dicom_uid,
    kind_of,
    object_key,
    parse_key,
)
from lineage.timefmt import TIMESTAMP_FORMAT, to_timestamp

PROV = Provenance("test", "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("system:PACS-NORTH", NodeKind.SYSTEM),
        ("study:1.2.840.113619.2.55", NodeKind.STUDY),
        ("object:S3-EU:studies/1.2.3/series/4.5.6", NodeKind.ARCHIVE_OBJECT),
        ("object:PACS1:path with spaces/x.dcm", NodeKind.ARCHIVE_OBJECT),
        ("patient:" + "ab" * 32, NodeKind.PATIENT),
        ("order:HOSP/ACC123", NodeKind.ORDER),
        ("job:deid/nightly", NodeKind.JOB),
    ],
)
def test_valid_keys_parse_to_their_kind(key: str, kind: NodeKind) -> None:
    assert kind_of(key) is kind


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("1.2.3", "must start with one of"),
        ("studies:1.2.3", "must start with one of"),
        ("study:", "empty natural id"),
        ("study: 1.2.3", "padded"),
        ("study:1.2\n3", "control characters"),
        ("system:PACS NORTH", "system code"),
        ("object:PACS1", "object:<system_code>"),
        ("object:PACS 1:x", "system code"),
        ("patient:MRN0001234", "not a pseudonym"),
        ("patient:" + "ab" * 32 + "\n", "padded"),
        ("system:PACS\n", "padded"),
    ],
)
def test_invalid_keys_say_why(key: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=reason):
        parse_key(key)


def test_pseudonym_error_does_not_echo_the_identifier() -> None:
    with pytest.raises(InvalidKeyError) as error:
        parse_key("patient:MRN-SECRET-1234567890")
    assert "SECRET-1234567890" not in str(error.value)


def test_object_key_builds_and_validates() -> None:
    assert object_key("PACS1", "1.2.3") == "object:PACS1:1.2.3"
    with pytest.raises(InvalidKeyError):
        object_key("bad code", "1.2.3")


def test_edge_endpoints_follow_the_allow_list() -> None:
    Edge("series:1", EdgeType.PART_OF, "study:1", PROV)
    with pytest.raises(InvalidRecordError, match="Series->Study"):
        Edge("study:1", EdgeType.PART_OF, "series:1", PROV)
    with pytest.raises(InvalidRecordError, match="unknown edge type"):
        Edge("series:1", "PART_OFF", "study:1", PROV)


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"StudyDate": "x"}, "lower snake case"),
        ({"source": "x"}, "reserved for provenance"),
        ({"last_seen": "2026-01-01"}, "reserved for provenance"),
        ({"patient_name": "DOE^JOHN"}, "patient identity"),
        ({"birth_date": "19700101"}, "patient identity"),
        ({"extra": {"nested": 1}}, "values are text, numbers"),
        ({"mixed": [1, "a"]}, "mixes value types"),
        ({"nested": [[1]]}, "values are text, numbers"),
        ({"ratio": float("nan")}, "finite"),
        ({"institution": "North\ud800"}, "not valid Unicode"),
        ({"created_at": "yesterday"}, "not an ISO-8601"),
        ({"study_date": "2024-13-45"}, "not a date"),
        ({"institution\n": "x"}, "lower snake case"),  # `$` would match before the line end
        ({"created_at": "2026-02-30T00:00:00.000000Z"}, "not an ISO-8601"),
        ({"created_at": "2026-01-01T25:00:00.000000Z"}, "not an ISO-8601"),
    ],
)
def test_invalid_properties_say_why(properties: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidRecordError, match=reason):
        Node("study:1.2.3", PROV, properties)


def test_properties_are_normalised() -> None:
    reported: dict[str, Any] = {
        "created_at": datetime(2024, 1, 5, 10, 0, tzinfo=UTC),
        "disposed_at": date(2025, 2, 1),
        "retain_until": "20320105",
        "modalities": ("CT", "SEG"),
        "bytes": None,
    }
    node = Node("object:PACS1:1.2.3", PROV, reported)
    assert node.properties == {
        "created_at": "2024-01-05T10:00:00.000000Z",
        "disposed_at": "2025-02-01T00:00:00.000000Z",
        "retain_until": "2032-01-05",
        "modalities": ["CT", "SEG"],
    }


def test_provenance_normalises_time_and_confidence() -> None:
    prov = Provenance("dicom:PACS1", "2026-01-01T01:00:00+01:00", "declared")  # type: ignore[arg-type]
    assert prov.seen_at == "2026-01-01T00:00:00.000000Z"
    assert prov.confidence is Confidence.DECLARED
    with pytest.raises(InvalidRecordError, match="source"):
        Provenance(" ", "2026-01-01")


def test_a_key_or_a_name_refused_once_is_refused_every_time() -> None:
    """Valid keys and property names are remembered once checked: what failed never is."""
    for _ in range(3):
        with pytest.raises(InvalidKeyError, match="not a pseudonym"):
            parse_key("patient:MRN0001234")
        with pytest.raises(InvalidRecordError, match="patient identity"):
            Node("study:1.2.3", PROV, {"patient_name": "x"})
    assert parse_key("study:1.2.3") == parse_key("study:1.2.3") == (NodeKind.STUDY, "1.2.3")
    long_key = "object:PACS1:" + "p/" * 600  # not remembered, still checked
    assert parse_key(long_key) == (NodeKind.ARCHIVE_OBJECT, long_key[len("object:"):])
    with pytest.raises(InvalidKeyError, match="too long"):
        parse_key("object:PACS1:" + "p" * 3000)


def test_a_dicom_uid_ends_at_its_last_digit() -> None:
    assert is_dicom_uid("1.2.840.10008")
    assert not is_dicom_uid("1.2.840.10008\n")
    assert not is_dicom_uid("1.2..3")


@pytest.mark.parametrize("moment", [
    datetime(2026, 11, 28, 8, 5), datetime(2026, 11, 28, 8, 5, 0, 7),
    datetime(1999, 12, 31, 23, 59, 59, 999999), datetime(999, 1, 2, 3, 4, 5),
    datetime(2026, 3, 29, 2, 30, tzinfo=UTC),
])
def test_a_stored_timestamp_is_one_shape_however_it_was_given(moment: datetime) -> None:
    naive = moment.replace(tzinfo=None)
    stored = naive.strftime(TIMESTAMP_FORMAT)
    assert to_timestamp(moment) == stored
    assert to_timestamp(naive.date()) == naive.replace(hour=0, minute=0, second=0,
                                                      microsecond=0).strftime(TIMESTAMP_FORMAT)
    iso = naive.isoformat(timespec="microseconds") + "Z"  # zero-padded years below 1000
    assert to_timestamp(iso) == stored
    assert to_timestamp(f"  {iso} ") == stored
