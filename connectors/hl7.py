"""HL7 v2 → lineage: orders, reports and patient events from an EHR or RIS.

- ORM^O01 / OMI^O23: `order:<issuer>/<accession>` (OBR-18 with MSH-4 as issuer, or IPC-1 with
  its own issuer), FULFILLED_BY the study of ZDS-1 or IPC-3; the study OF_PATIENT the patient.
- ORU^R01: `report:<issuer>/<accession>` DESCRIBES the study named in an OBX 110180.
- ADT^A01/A04/A08/A28/A31: birth year-month (PID-7) and death (PID-29, PID-30) of the patient;
  ADT^A03 also the discharge (PV1-45) as the patient's last encounter. These are retention
  inputs: an ingest recomputes the retention of the patient's copies.
- ADT^A40: a merge. The prior patient (MRG-1) is kept, marked `merged_into` the survivor, and
  every study linked to it is re-linked to the survivor (the old OF_PATIENT edge gets
  `valid_to`, so history and as-of queries keep the old picture).
Patients are `patient_key(issuer, id)` of PID-3 (the MR identifier, else the first); the issuer
is CX.4 (namespace, else universal id), else the sending facility MSH-4. Names never enter.
Times are the message's (MSH-7), so that messages replayed out of order do not undo newer ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.dicom_header import OLDEST_BIRTH_YEAR
from connectors.hl7_message import HL7Error, Message, hl7_time, parse
from connectors.patients import StudiesOf, current_studies, merge_patients
from lineage.identity import patient_key
from lineage.model import (
    STUDY_UID_CODE,
    Confidence,
    Edge,
    EdgeType,
    Node,
    NodeKind,
    Provenance,
    is_dicom_uid,
    make_key,
)
from lineage.pipeline import Bundle, Commit, Notice, Pending, Record, Rejected
from lineage.sources import FileInputs, Source, SourceContext, SystemCode
from lineage.timefmt import to_date, to_timestamp, utc_now

PATIENT_UPDATES = {"ADT^A01", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A03"}
ORDERS = {"ORM^O01", "OMI^O23"}
SUPPORTED = PATIENT_UPDATES | ORDERS | {"ORU^R01", "ADT^A40"}



@dataclass(frozen=True, slots=True)
class Hl7Source:
    system: str
    secret: bytes

    @property
    def connector(self) -> str:
        return f"hl7:{self.system}"


def message_records(
    text: str, source: Hl7Source, location: str, studies_of: StudiesOf
) -> Pending:
    """One message as a source record: the ingest service builds its facts, and rejects the
    message alone when anything in it is unusable."""
    return Pending(location, lambda: _bundle(parse(text), source, studies_of))


def _bundle(message: Message, source: Hl7Source, studies_of: StudiesOf) -> Bundle:
    notes: list[str] = []
    facts = _facts(message, source, studies_of, notes)
    return Bundle(tuple(facts), notices=tuple(Notice("", note) for note in notes))


def _time(message: Message, segment: str, number: int, what: str) -> str | None:
    """An HL7 time or date field as stored text, None when empty. A value that is not a real
    time is an error naming the field, never repeating the value (it may identify a patient)."""
    value = message.field(segment, number)
    if not value:
        return None
    text = hl7_time(value)
    try:
        if text is None:
            raise ValueError
        return to_timestamp(text) if "T" in text else to_date(text)
    except ValueError:
        raise HL7Error(f"{segment}-{number} ({what}) is not a valid HL7 date or time") from None


def check_supported(message: Message) -> None:
    if message.type not in SUPPORTED:
        raise HL7Error(f"unsupported message type {message.type or '(none)'}: supported are "
                       + ", ".join(sorted(SUPPORTED)))


def _facts(message: Message, source: Hl7Source, studies_of: StudiesOf,
           notes: list[str]) -> list[Node | Edge]:
    check_supported(message)
    sent = _time(message, "MSH", 7, "message time")
    prov = Provenance(source.connector, sent or utc_now(), Confidence.OBSERVED)
    kind = message.type
    if kind == "ADT^A40":
        return _merge(message, source, prov, studies_of, notes)
    patient, patient_facts = _patient(message, source, prov, notes)
    if kind in PATIENT_UPDATES:
        return patient_facts
    if kind in ORDERS:
        return patient_facts + _order(message, patient, prov)
    return patient_facts + _report(message, patient, prov)


def _issuer(message: Message, cx: str, fallback: str) -> str:
    authority = message.component(cx, 4)
    namespace = message.subcomponent(authority, 1) or message.subcomponent(authority, 2)
    return message.text(namespace or _facility(message)) or fallback


def _facility(message: Message) -> str:
    """MSH-4's first component, escapes decoded."""
    return message.text(message.component(message.field("MSH", 4), 1))


def _identifier(message: Message, value: str, source: Hl7Source, what: str) -> str:
    """The patient key of a CX list (PID-3, MRG-1): the MR identifier, else the first."""
    ids = message.repetitions(value)
    if not ids or not message.component(ids[0], 1):
        raise HL7Error(f"{what} has no patient identifier")
    chosen = next((cx for cx in ids if message.component(cx, 5) == "MR"), ids[0])
    return patient_key(_issuer(message, chosen, source.system),
                       message.text(message.component(chosen, 1)), source.secret)


def _birth_year_month(message: Message, sent_at: str, notes: list[str]) -> str | None:
    """PID-7 as a year-month, as the DICOM path keeps it: a date before 1880 or after the
    message is not plausible and a year alone is not enough; both are left out, with a notice."""
    value = message.field("PID", 7)
    if not value:
        return None
    text = hl7_time(value) or ""
    if re.fullmatch(r"\d{4}", value):
        notes.append("PID-7 (birth date) gives a year only: left out")
        return None
    if re.fullmatch(r"\d{6}", value):
        text = f"{value[:4]}-{value[4:]}-01"
    try:
        born = to_date(text[:10])
    except ValueError:
        raise HL7Error("PID-7 (birth date) is not a valid HL7 date") from None
    if int(born[:4]) < OLDEST_BIRTH_YEAR or born > sent_at[:10]:
        notes.append("PID-7 (birth date) is not a plausible birth date: left out")
        return None
    return born[:7]


def _patient(
    message: Message, source: Hl7Source, prov: Provenance, notes: list[str]
) -> tuple[str, list[Node | Edge]]:
    pid = message.segment("PID")
    if pid is None:
        raise HL7Error(f"{message.type} has no PID segment")
    key = _identifier(message, message.field("PID", 3), source, "PID-3")
    props: dict[str, Any] = {}
    birth = _birth_year_month(message, prov.seen_at, notes)
    if birth:
        props["birth_year_month"] = birth
    death = _time(message, "PID", 29, "death date")
    if death:
        props["death_date"] = death[:10]
    if message.field("PID", 30) == "Y":
        props["deceased"] = True
    discharge = _time(message, "PV1", 45, "discharge time") if message.type == "ADT^A03" else None
    if message.type == "ADT^A03" and discharge:
        props["last_encounter"] = discharge[:10]
    return key, [Node(key, prov, props)]


def _merge(message: Message, source: Hl7Source, prov: Provenance,
           studies_of: StudiesOf, notes: list[str]) -> list[Node | Edge]:
    survivor, facts = _patient(message, source, prov, notes)
    if message.segment("MRG") is None:
        raise HL7Error("ADT^A40 has no MRG segment")
    prior = _identifier(message, message.field("MRG", 1), source, "MRG-1")
    if prior == survivor:
        raise HL7Error("ADT^A40 merges a patient into itself")
    return facts + merge_patients(prior, survivor, prov, studies_of)


def _study_key(uid: str) -> str | None:
    if not uid:
        return None
    if not is_dicom_uid(uid):
        raise HL7Error(f"study instance UID {uid[:70]!r} is not a DICOM UID")
    return make_key(NodeKind.STUDY, uid)


def _order(message: Message, patient: str, prov: Provenance) -> list[Node | Edge]:
    facility = _facility(message)
    if message.type == "OMI^O23":
        ipc = message.field("IPC", 1)
        accession = message.text(message.component(ipc, 1))
        issuer = message.text(message.component(ipc, 2)) or facility
        study_uid = message.field("IPC", 3)
        modality = message.text(message.field("IPC", 5))
    else:
        accession, issuer = message.text(message.field("OBR", 18)), facility
        study_uid = message.component(message.field("ZDS", 1), 1)
        modality = message.text(message.field("OBR", 24))
    if not accession:
        raise HL7Error(f"{message.type} carries no accession number (OBR-18 / IPC-1)")
    order = make_key(NodeKind.ORDER, f"{issuer or 'UNKNOWN'}/{accession}")
    facts: list[Node | Edge] = [Node(order, prov, {
        "accession": accession, "issuer": issuer or None,
        "order_control": message.field("ORC", 1) or None,
        "placer_order": message.text(message.component(message.field("ORC", 2), 1)) or None,
        "filler_order": message.text(message.component(message.field("ORC", 3), 1)) or None,
        "procedure": message.text(message.component(message.field("OBR", 4), 1)) or None,
        "modality": modality or None, "ordered_at": _time(message, "ORC", 9, "order time"),
    })]
    study = _study_key(study_uid)
    if study:
        facts += [Node(study, prov), Edge(order, EdgeType.FULFILLED_BY, study, prov),
                  Edge(study, EdgeType.OF_PATIENT, patient, prov)]
    return facts


def _report(message: Message, patient: str, prov: Provenance) -> list[Node | Edge]:
    facility = _facility(message)
    accession = message.text(message.field("OBR", 18))
    if not accession:
        raise HL7Error("ORU^R01 carries no accession number (OBR-18)")
    report = make_key(NodeKind.REPORT, f"{facility or 'UNKNOWN'}/{accession}")
    facts: list[Node | Edge] = [Node(report, prov, {
        "accession": accession, "status": message.field("OBR", 25) or None,
        "observed_at": _time(message, "OBR", 7, "observation time"),
        "reported_at": _time(message, "OBR", 22, "report time"),
    })]
    for obx in message.all("OBX"):
        if message.component(message.field("OBX", 3, obx), 1) == STUDY_UID_CODE:
            study = _study_key(message.field("OBX", 5, obx))
            if study:
                facts += [Node(study, prov), Edge(report, EdgeType.DESCRIBES, study, prov),
                          Edge(study, EdgeType.OF_PATIENT, patient, prov)]
    return facts


BATCH_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")  # file and batch envelopes around messages


def split_messages(text: str) -> list[tuple[int, str]]:
    """Messages of a file: each starts at an MSH line; (line number, text). The envelope
    segments of batch files (FHS/BHS ... BTS/FTS) are not messages and are passed over."""
    messages: list[tuple[int, str]] = []
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        if line.startswith(BATCH_SEGMENTS):
            continue
        if line.startswith("MSH"):
            messages.append((number, line))
        elif line.strip() and messages:
            start, body = messages[-1]
            messages[-1] = (start, body + "\r" + line)
        elif line.strip():
            messages.append((number, line))  # text before any MSH: rejected as such
    return messages


def read_files(paths: Iterable[Path], source: Hl7Source, studies_of: StudiesOf) -> Iterator[Record]:
    yield from text_records(FileInputs(files=list(paths)).texts(), source, studies_of)


def text_records(texts: Iterable[tuple[str, str] | Rejected], source: Hl7Source,
                 studies_of: StudiesOf) -> Iterator[Record]:
    """The messages of each text (a file or a request body), one source record each."""
    for item in texts:
        if isinstance(item, Rejected):
            yield item
            continue
        location, text = item
        for line, message in split_messages(text):
            if "ADT^A40" in message.split("\r", 1)[0]:
                yield Commit(lambda: None)  # a merge reads the store: write what came before
            yield message_records(message, source, f"{location}:{line}", studies_of)


class Hl7Config(FileInputs):
    system: SystemCode


def _source_records(config: Hl7Config, context: SourceContext) -> Iterator[Record]:
    source = Hl7Source(config.system, context.secret)
    return text_records(config.texts(), source, current_studies(context.store))


SOURCE = Source(
    kind="hl7", summary="HL7 v2 orders, reports and patient events (files or a request body)",
    config_class=Hl7Config, records=_source_records, label=lambda c: f"hl7:{c.system}")
