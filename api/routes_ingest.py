"""Ingestion endpoints: a request body is the input of a registered source (`lineage.sources`),
run through the ingest service like any file: a bad record in it is rejected and listed in the
report, the rest is written, and the retention of what changed is recomputed. Bodies are checked
against the size limit while they are read (chunked bodies too), and the ingest itself runs in
the thread pool, so that a large ingest never holds up other requests. No connector is imported
here: the registry finds them by kind.
"""

from __future__ import annotations

import json
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api import models
from api.deps import Ingester, StateDep
from api.state import ApiState
from lineage.errors import TooLargeError, UserError
from lineage.pipeline import RunReport
from lineage.sources import Payload, SourceContext, run_source

router = APIRouter(prefix="", tags=["ingestion"])
System = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                              description="Code of the system the input comes from")]
PROVIDERS = ("s3", "gcs", "azure")


async def _body(request: Request, state: ApiState) -> bytes:
    """The request body, refused as soon as it passes the limit (never read whole first), and
    decompressed when it comes with `Content-Encoding: gzip` or `deflate` (as openlineage-python
    sends with compression on), within the same limit (a small bomb stays small)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > state.max_body:
            raise TooLargeError(f"the body is over {state.max_body} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in DECODERS:
        raise UserError(f"Content-Encoding {encoding[:40]!r} is not supported: send gzip, "
                        "deflate or none")
    return _decompressed(body, DECODERS[encoding], state.max_body, encoding)


# zlib window bits: gzip framing, and deflate as zlib data (raw deflate is tried after).
DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _decompressed(body: bytes, window: int, limit: int, encoding: str) -> bytes:
    for bits in (window, -zlib.MAX_WBITS) if encoding == "deflate" else (window,):
        decoder = zlib.decompressobj(bits)
        try:
            data = decoder.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(data) > limit or decoder.unconsumed_tail:
            raise TooLargeError(f"the body is over {limit} bytes once decompressed")
        return data
    raise UserError(f"the body is not valid {encoding} data")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise UserError("the body is JSON nested too deeply to be read") from None


async def _run(state: ApiState, kind: str, body: bytes, **values: Any) -> RunReport:
    context = SourceContext(state.store, state.settings.pseudonym_secret(),
                            state_path=lambda name: state.work_dir / f"api-{name}")
    payloads = [Payload(location="request", data=body)]
    return await run_in_threadpool(run_source, kind, {**values, "payloads": payloads}, context,
                                   batch_size=state.settings.batch_size)


@router.post("/ingest/dicom-json", response_model=models.IngestReport,
             summary="DICOM headers as PS3.18 JSON (a list of datasets)")
async def ingest_dicom_json(request: Request, state: StateDep, _: Ingester, system: System,
                            region: str | None = None) -> dict[str, Any]:
    body = await _body(request, state)
    return (await _run(state, "dicom-json", body, system=system, region=region)).as_dict()


@router.post("/ingest/hl7", response_model=models.IngestReport,
             summary="HL7 v2 messages (text, each starting at MSH)")
async def ingest_hl7(request: Request, state: StateDep, _: Ingester,
                     system: System) -> dict[str, Any]:
    return (await _run(state, "hl7", await _body(request, state), system=system)).as_dict()


@router.post("/ingest/fhir", response_model=models.IngestReport,
             summary="FHIR R4 JSON: a resource, a Bundle, or Bulk Data ndjson")
async def ingest_fhir(request: Request, state: StateDep, _: Ingester,
                      system: System) -> dict[str, Any]:
    return (await _run(state, "fhir", await _body(request, state), system=system)).as_dict()


@router.post("/ingest/storage-events/{provider}", response_model=models.IngestReport,
             summary="S3 records (SNS, EventBridge), GCS Pub/Sub push, Azure Event Grid")
async def ingest_storage_events(provider: str, request: Request, state: StateDep,
                                _: Ingester) -> Any:
    if provider not in PROVIDERS:
        raise UserError(f"provider must be s3, gcs or azure, not {provider!r}")
    body = await _body(request, state)
    if provider == "azure":
        validation = _azure_validation(_json(body))
        if validation is not None:
            return JSONResponse({"validationResponse": validation})
    return (await _run(state, "storage-events", body, provider=provider,
                       redact_key_patterns=state.settings.redact_key_patterns,
                       sns_confirm_hosts=state.settings.sns_confirm_hosts)).as_dict()


def _azure_validation(document: Any) -> str | None:
    """Event Grid's subscription-validation handshake: echo the code."""
    events = document if isinstance(document, list) else [document]
    for event in events:
        if isinstance(event, dict) and event.get("eventType") == (
                "Microsoft.EventGrid.SubscriptionValidationEvent"):
            return str((event.get("data") or {}).get("validationCode", ""))
    return None


@router.post("/api/v1/lineage", status_code=201, response_model=models.IngestReport,
             summary="OpenLineage RunEvent (the Marquez endpoint)")
async def openlineage(request: Request, state: StateDep, _: Ingester) -> dict[str, Any]:
    body = await _body(request, state)
    if not isinstance(_json(body), dict):
        raise UserError("an OpenLineage RunEvent is a JSON object")
    report = await _run(state, "openlineage", body)
    if report.rejected:  # one event per request: refused as a whole, as Marquez does
        raise UserError(report.rejected[0].reason)
    return report.as_dict()
