"""Ingestion endpoints: the connectors' transforms behind HTTP, one pipeline run per request,
then the retention of affected copies recomputed. Bodies are checked against the size limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydicom.dataset import Dataset

from api.app import ApiState
from api.deps import Ingester, StateDep
from connectors.dicom_files import instance_records
from connectors.dicom_header import HeaderError, parse_header
from connectors.dicom_records import DicomSource, SeenInstance
from connectors.fhir import FhirSource, fhir_records, resources_from_text
from connectors.hl7 import Hl7Source, message_records, split_messages
from connectors.openlineage import OpenLineageError, event_facts
from connectors.patients import current_studies
from connectors.storage_events import (
    PARSERS,
    KeyPatterns,
    ObjectState,
    StorageSource,
    event_records,
)
from lineage.errors import UserError
from lineage.ingest import ingest
from lineage.pipeline import Bundle, Record, Rejected

router = APIRouter(prefix="", tags=["ingestion"])
System = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                              description="Code of the system the input comes from")]


async def _body(request: Request, state: ApiState) -> bytes:
    body = await request.body()
    if len(body) > state.max_body:
        raise UserError(f"the body is over {state.max_body} bytes")
    return body


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"the body is not JSON: {exc}") from None


def _run(state: ApiState, records: Iterable[Record], source: str) -> dict[str, Any]:
    return ingest(state.store, records, source, batch_size=state.settings.batch_size).as_dict()


@router.post("/ingest/dicom-json", summary="DICOM headers as PS3.18 JSON (a list of datasets)")
async def ingest_dicom_json(request: Request, state: StateDep, _: Ingester, system: System,
                            region: str | None = None) -> dict[str, Any]:
    document = _json(await _body(request, state))
    datasets = document if isinstance(document, list) else [document]
    source = DicomSource(system, state.settings.pseudonym_secret(), region=region)
    seen: list[SeenInstance] = []
    rejected: list[Record] = []
    for index, item in enumerate(datasets):
        location = f"request[{index}]"
        try:
            ds = Dataset.from_json(item)
            syntax = str(ds.get((0x0002, 0x0010)).value) if (0x0002, 0x0010) in ds else ""
            seen.append(SeenInstance(parse_header(ds, syntax), location))
        except (HeaderError, ValueError, TypeError, KeyError, AttributeError) as exc:
            rejected.append(Rejected(location, f"not a usable DICOM JSON dataset: {exc}"))
    records = [*rejected, *instance_records(seen, source, state.store, "dicomweb")]
    return _run(state, records, f"dicom-json:{system}")


@router.post("/ingest/hl7", summary="HL7 v2 messages (text, each starting at MSH)")
async def ingest_hl7(request: Request, state: StateDep, _: Ingester,
                     system: System) -> dict[str, Any]:
    text = (await _body(request, state)).decode("utf-8", "replace")
    source = Hl7Source(system, state.settings.pseudonym_secret())
    studies = current_studies(state.store)
    records = (message_records(message, source, f"request:{line}", studies)
               for line, message in split_messages(text))
    return _run(state, records, source.connector)


@router.post("/ingest/fhir", summary="FHIR R4 JSON: a resource, a Bundle, or Bulk Data ndjson")
async def ingest_fhir(request: Request, state: StateDep, _: Ingester,
                      system: System) -> dict[str, Any]:
    text = (await _body(request, state)).decode("utf-8", "replace")
    source = FhirSource(system, state.settings.pseudonym_secret())
    records = fhir_records(resources_from_text(text, "request"), source,
                           current_studies(state.store))
    return _run(state, records, source.connector)


@router.post("/ingest/storage-events/{provider}",
             summary="S3 records (SNS, EventBridge), GCS Pub/Sub push, Azure Event Grid")
async def ingest_storage_events(provider: str, request: Request, state: StateDep,
                                _: Ingester) -> Any:
    if provider not in PARSERS:
        raise UserError(f"provider must be s3, gcs or azure, not {provider!r}")
    document = _json(await _body(request, state))
    validation = _azure_validation(document) if provider == "azure" else None
    if validation is not None:
        return JSONResponse({"validationResponse": validation})
    object_state = ObjectState(state.work_dir / f"api-{provider}-events.state")
    try:
        source = StorageSource(provider, KeyPatterns.of())
        return _run(state, event_records([("request", document)], source, object_state),
                    f"{provider} events")
    finally:
        object_state.close()


def _azure_validation(document: Any) -> str | None:
    """Event Grid's subscription-validation handshake: echo the code."""
    events = document if isinstance(document, list) else [document]
    for event in events:
        if isinstance(event, dict) and event.get("eventType") == (
                "Microsoft.EventGrid.SubscriptionValidationEvent"):
            return str((event.get("data") or {}).get("validationCode", ""))
    return None


@router.post("/api/v1/lineage", status_code=201,
             summary="OpenLineage RunEvent (the Marquez endpoint)")
async def openlineage(request: Request, state: StateDep, _: Ingester) -> dict[str, Any]:
    event = _json(await _body(request, state))
    if not isinstance(event, dict):
        raise UserError("an OpenLineage RunEvent is a JSON object")
    try:
        records: list[Record] = [Bundle(tuple(event_facts(event)), "request")]
    except OpenLineageError as exc:
        raise UserError(str(exc)) from None
    return _run(state, records, "openlineage")
