"""No patient identifier in clear anywhere the engine writes: after ingesting HL7 messages with
known names, MRNs, birth dates (one message broken in a patient field), none of them appears in
the store, the API's answers and error bodies, the audit log, an export, or the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lineage.stores import GraphStore
from tests.test_api import auth, client_for
from tests.test_hl7 import SAMPLES

NAME, GIVEN, MRN, BIRTH = "QUIXOTEZ", "ZEBEDIAH", "MRN-PHI-98765", "19610704"


def messages() -> str:
    template = (SAMPLES / "adt_a08.hl7").read_text()
    good = template.replace("DOE^JANE^ALICE", f"{NAME}^{GIVEN}").replace(
        "MRN12345", MRN).replace("19800515", BIRTH)
    broken = good.replace("MSG00004", "MSG00005").replace("|20240228|Y", f"|{NAME}|Y")
    return good + broken


def test_no_identifier_in_clear_after_an_ingest(any_store: GraphStore, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with client_for(any_store, tmp_path) as client:
        answer = client.post("/ingest/hl7", params={"system": "EHR"}, content=messages(),
                             headers=auth("ingest"))
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["rejected"]) == 1  # the death date holding a name
        bad_json = client.post("/ingest/fhir", params={"system": "EHR"},
                               content=json.dumps({"resourceType": "Patient", "id": MRN,
                                                   "birthDate": NAME}), headers=auth("ingest"))
        export = client.get("/export", params={"format": "node-link"}, headers=auth("auditor"))
        assert export.status_code == 200
        texts = {"ingest answer": answer.text, "FHIR answer": bad_json.text,
                 "export": export.text, "audit log": (tmp_path / "audit.jsonl").read_text(),
                 "logs": caplog.text,
                 "store": repr([(n.key, n.properties) for n in any_store.iter_nodes()]
                               + [(e.src, e.dst, e.properties) for e in any_store.iter_edges()])}
    for where, text in texts.items():
        for identifier in (NAME, GIVEN, MRN, BIRTH):
            assert identifier not in text, f"{identifier} found in the {where}"
