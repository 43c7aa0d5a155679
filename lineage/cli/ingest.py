"""`lineage ingest <source>`: run a connector through the pipeline and print the run report."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

import typer

from connectors.dicom_files import scan
from connectors.dicom_records import DicomSource
from connectors.fhir import FhirSource, fhir_records, read_resources
from connectors.hl7 import Hl7Source
from connectors.hl7 import read_files as read_hl7_files
from connectors.http import JsonSource
from connectors.openlineage import read_events
from connectors.orthanc import OrthancFollower
from connectors.orthanc_state import FollowerState
from connectors.patients import current_studies
from connectors.storage_events import (
    PARSERS,
    KeyPatterns,
    ObjectState,
    StorageSource,
    event_records,
    read_documents,
)
from connectors.uid_map import load_uid_map
from lineage.cli.context import cli_context
from lineage.cli.output import counts_table, print_json, progress, stdout
from lineage.errors import UserError
from lineage.estate import estate_records, load_estate
from lineage.ingest import SourceRecord, ingest
from lineage.model import system_key
from lineage.pipeline import RunReport
from lineage.stores import is_neo4j_uri

app = typer.Typer(help="Bring facts into the graph from a source.", no_args_is_help=True)


def run_pipeline(
    ctx: typer.Context, records: Iterable[SourceRecord], source: str, as_json: bool
) -> RunReport:
    """Run records through the pipeline into the configured store, with a progress counter."""
    context = cli_context(ctx)
    store = context.store_for_writing()
    with progress(f"ingesting {source}", enabled=not as_json) as advance:
        return ingest(store, records, source, batch_size=context.settings.batch_size,
                      progress=advance)


def print_report(report: RunReport, as_json: bool) -> None:
    """The run report; exits 1 when records were rejected."""
    if as_json:
        print_json(report.as_dict())
    else:
        written = report.written
        stdout.print(
            f"{report.source}: {report.records:,} records in {report.seconds:.2f} s, "
            f"{report.batches} batches; nodes {written.nodes_created:,} new, "
            f"{written.nodes_updated:,} updated, {written.nodes_unchanged:,} unchanged; "
            f"edges {written.edges_created:,} new, {written.edges_updated:,} updated, "
            f"{written.edges_unchanged:,} unchanged"
        )
        stdout.print(counts_table("Nodes written", report.nodes_by_kind, "kind"))
        stdout.print(counts_table("Edges written", report.edges_by_type, "type"))
        if "retention" in report.extra:
            stdout.print(f"retention recomputed for {report.extra['retention']['recomputed']:,} "
                         "affected copies")
        if written.conflicts:
            stdout.print(f"{len(written.conflicts)} metadata conflicts: see `lineage conflicts`")
        _print_some("notice", "yellow", [(n.location, n.message) for n in report.notices])
        _print_some("rejected", "red", [(r.location, r.reason) for r in report.rejected])
    if report.rejected:
        raise typer.Exit(1)


def _print_some(label: str, colour: str, entries: list[tuple[str, str]], limit: int = 20) -> None:
    for location, text in entries[:limit]:
        stdout.print(f"[{colour}]{label}[/{colour}] ", end="", markup=True)
        stdout.print(f"{location}: {text}", markup=False)
    if len(entries) > limit:
        stdout.print(f"... and {len(entries) - limit} more {label} (see --json)")


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
SystemOption = Annotated[
    str, typer.Option("--system", help="Code of the system holding the copies.")]


@app.command("estate")
def ingest_estate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Estate declaration (YAML).")],
    as_json: JsonOption = False,
) -> None:
    """Declare systems, feeds, datasets, access profiles and compliance events from a YAML file."""
    context = cli_context(ctx)
    estate = load_estate(file)
    source = f"estate:{file.name}"
    records = estate_records(estate, source, context.settings.pseudonym_secret())
    print_report(run_pipeline(ctx, records, source, as_json), as_json)


@app.command("dicom")
def ingest_dicom(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (walked).")],
    system: SystemOption,
    region: Annotated[str | None, typer.Option(help="Storage region of the copies.")] = None,
    patient_issuer: Annotated[
        str | None, typer.Option(help="Issuer of patient IDs without IssuerOfPatientID "
                                 "(default: the system code).")] = None,
    uid_map: Annotated[
        Path | None, typer.Option(help="CSV of a de-identification run: original,deidentified "
                                  "UIDs, to link de-identified copies to their originals.")
    ] = None,
    deid_namespace: Annotated[
        str | None, typer.Option(help="Namespace of de-identified copies that kept the "
                                 "original UIDs (default: the system code).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Header-reading processes.")] = None,
    sweep: Annotated[bool, typer.Option(
        "--sweep", help="The paths are everything the system holds: its live copies that this "
        "scan does not find are disposed (reason 'not found on rescan'), never deleted. "
        "Never use with a part of the system (a sub-folder, some files).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Scan DICOM files held by one system: patients (pseudonymized), studies, series, copies and
    their derivation lineage, IOCM rejection notes."""
    context = cli_context(ctx)
    system_key(system)  # validates the code before any file is read
    source = DicomSource(
        system=system, secret=context.settings.pseudonym_secret(), region=region,
        patient_issuer=patient_issuer, deid_namespace=deid_namespace,
        uid_map=load_uid_map(uid_map) if uid_map else {},
    )
    store = context.store_for_writing()
    records = scan(paths, source, store, workers, sweep=sweep)
    print_report(run_pipeline(ctx, records, f"dicom:{system}", as_json), as_json)


@app.command("orthanc")
def ingest_orthanc(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Orthanc REST root, e.g. http://127.0.0.1:8042")],
    system: SystemOption,
    follow: Annotated[bool, typer.Option(help="Keep following the feed until stopped.")] = False,
    state: Annotated[
        Path | None, typer.Option(help="Follower state file (checkpoint, Orthanc ID map); "
                                  "default: beside a local store, else in the working folder.")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between polls when following.")
                    ] = 2.0,
    region: Annotated[str | None, typer.Option(help="Storage region of the copies.")] = None,
    patient_issuer: Annotated[
        str | None, typer.Option(help="Issuer of patient IDs without IssuerOfPatientID "
                                 "(default: the system code).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Follow an Orthanc change feed: new instances and series, deletions, anonymized and
    modified copies. Resumes from a durable checkpoint; SIGTERM or Ctrl-C stops cleanly."""
    context = cli_context(ctx)
    system_key(system)
    source = DicomSource(system=system, secret=context.settings.pseudonym_secret(),
                         region=region, patient_issuer=patient_issuer)
    store = context.store_for_writing()
    state_path = state or _default_state_path(context.settings.store, system)
    follower_state = FollowerState(state_path, url.rstrip("/"))
    client = JsonSource(url, name="Orthanc")
    follower = OrthancFollower(client, source, follower_state, store)
    stop = _stop_flag()
    try:
        report = run_pipeline(ctx, follower.records(follow, poll, stop), f"orthanc:{system}",
                              as_json)
    finally:
        client.close()
        follower_state.close()
    report.extra["orthanc"] = {"url": url, "changes": follower.changes_seen,
                               "checkpoint": follower.last_seq, "state": str(state_path)}
    print_report(report, as_json)


def _default_state_path(store: str, system: str) -> Path:
    return _state_path(store, f"orthanc-{system}.state")


def _stop_flag() -> Callable[[], bool]:
    """A flag set by SIGTERM or SIGINT: a follower stops at the end of the current page."""
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    return stopped.is_set


@app.command("hl7")
def ingest_hl7(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Files of HL7 v2 messages (one or more "
                                                "per file, each starting at MSH).")],
    system: SystemOption,
    as_json: JsonOption = False,
) -> None:
    """Orders (ORM^O01, OMI^O23), reports (ORU^R01) and patient events (ADT^A01/A03/A04/A08,
    merges ADT^A40) from an EHR or RIS."""
    context = cli_context(ctx)
    system_key(system)
    source = Hl7Source(system, context.settings.pseudonym_secret())
    store = context.store_for_writing()
    records = read_hl7_files(files, source, current_studies(store))
    print_report(run_pipeline(ctx, records, source.connector, as_json), as_json)


@app.command("storage-events")
def ingest_storage_events(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Event files: JSON, or one JSON per line.")],
    provider: Annotated[str, typer.Option(help="s3 | gcs | azure")],
    key_pattern: Annotated[list[str] | None, typer.Option(
        "--key-pattern", help="Regular expression with named groups study, series, instance "
        "(repeatable; default: DICOMweb-style paths).")] = None,
    region: Annotated[list[str] | None, typer.Option(
        "--region", help="CONTAINER=REGION for GCS buckets and Azure accounts (S3 events carry "
        "their region).")] = None,
    state: Annotated[Path | None, typer.Option(help="Per-object state file; default: beside a "
                                               "local store.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Object created, deleted, tiered, restored and replication events of S3, GCS or Azure,
    as copies of the series their keys hold (or uncataloged copies)."""
    if provider not in PARSERS:
        raise UserError(f"--provider must be s3, gcs or azure, not {provider!r}")
    regions = dict(_pair(text, "--region") for text in region or [])
    source = StorageSource(provider, KeyPatterns.of(key_pattern), regions)
    context = cli_context(ctx)
    state_path = state or _state_path(context.settings.store, f"{provider}-events.state")
    object_state = ObjectState(state_path)
    try:
        records = event_records(read_documents(files), source, object_state)
        report = run_pipeline(ctx, records, f"{provider} events", as_json)
    finally:
        object_state.close()
    print_report(report, as_json)


def _pair(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise UserError(f"{option} {text!r}: write NAME=VALUE")
    return name, value


def _state_path(store: str, name: str) -> Path:
    return Path(f".lineage-{name}") if is_neo4j_uri(store) else Path(f"{store}.{name}")


@app.command("fhir")
def ingest_fhir(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="FHIR R4 JSON (resource or Bundle) or "
                                                "Bulk Data ndjson files.")],
    system: SystemOption,
    issuer: Annotated[list[str] | None, typer.Option(
        "--issuer", help="IDENTIFIER_SYSTEM=NAMESPACE: the patient-ID namespace HL7 and DICOM "
        "use for a FHIR identifier system (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """ImagingStudy, DiagnosticReport, Patient (merges), Provenance and AuditEvent resources."""
    context = cli_context(ctx)
    system_key(system)
    issuers = dict(_pair(text, "--issuer") for text in issuer or [])
    source = FhirSource(system, context.settings.pseudonym_secret(), issuers)
    store = context.store_for_writing()
    records = fhir_records(read_resources(files), source, current_studies(store))
    print_report(run_pipeline(ctx, records, source.connector, as_json), as_json)


@app.command("openlineage")
def ingest_openlineage(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="RunEvent JSON or ndjson files.")],
    as_json: JsonOption = False,
) -> None:
    """OpenLineage RunEvents: jobs, runs, and the datasets and series they read and wrote."""
    cli_context(ctx).store_for_writing()
    print_report(run_pipeline(ctx, read_events(files), "openlineage", as_json), as_json)
