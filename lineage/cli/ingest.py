"""`lineage ingest <source>`: run a registered connector (`lineage.sources`) through the ingest
service and print the run report. No connector is imported until its command runs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import print_counts, print_json, progress, stdout
from lineage.errors import UserError
from lineage.store_location import is_neo4j_uri
from lineage.wording import plural

if TYPE_CHECKING:
    from lineage.pipeline import RunReport

app = typer.Typer(help="Bring facts into the graph from a source.", no_args_is_help=True)


def run_source(ctx: typer.Context, kind: str, values: dict[str, Any], as_json: bool,
               stop: Callable[[], bool] = lambda: False) -> RunReport:
    """Run the registered source `kind` through the ingest service into the configured store,
    with a progress counter. Connectors are imported here, by the registry, never at start."""
    from lineage import sources

    context = cli_context(ctx)
    source = sources.load_source(kind)
    # a wrong option fails before the store is opened, naming the option
    config = source.configure(lambda name: "--" + name.replace("_", "-"), **values)
    store = context.store_for_writing()
    source_context = sources.SourceContext(
        store, context.settings.pseudonym_secret(),
        state_path=lambda name: _state_path(context.settings.store, name), stop=stop)
    with progress(f"ingesting {source.label(config)}", enabled=not as_json) as advance:
        return sources.run_configured(source, config, source_context,
                                      batch_size=context.settings.batch_size, progress=advance)


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
        print_counts("Nodes created or changed", report.nodes_changed_by_kind, "kind")
        print_counts("Edges created or changed", report.edges_changed_by_type, "type")
        if "retention" in report.extra:
            recomputed = report.extra["retention"]["recomputed"]
            copies = plural(recomputed, "affected copy", "affected copies")
            stdout.print(f"retention recomputed for {copies}")
        if written.conflicts:
            stdout.print(f"{plural(len(written.conflicts), 'metadata conflict')}: see "
                         "`lineage conflicts`")
        _print_some("notice", "yellow", [(n.location, n.message) for n in report.notices])
        _print_some("rejected", "red", [(r.location, r.reason) for r in report.rejected])
    if report.rejected:
        raise typer.Exit(1)


def _print_some(label: str, colour: str, entries: list[tuple[str, str]], limit: int = 20) -> None:
    for location, text in entries[:limit]:
        stdout.print(f"[{colour}]{label}[/{colour}] ", end="", markup=True)
        stdout.print(f"{location}: {text}", markup=False)
    if len(entries) > limit:
        stdout.print(f"... and {len(entries) - limit:,} more (see --json)")


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
    print_report(run_source(ctx, "estate", {"file": file}, as_json), as_json)


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
    values = {"paths": paths, "system": system, "region": region,
              "patient_issuer": patient_issuer, "uid_map": uid_map,
              "deid_namespace": deid_namespace, "workers": workers, "sweep": sweep}
    print_report(run_source(ctx, "dicom", values, as_json), as_json)


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
    values = {"url": url, "system": system, "follow": follow, "state": state, "poll": poll,
              "region": region, "patient_issuer": patient_issuer}
    print_report(run_source(ctx, "orthanc", values, as_json, stop=_stop_flag()), as_json)


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
    print_report(run_source(ctx, "hl7", {"files": files, "system": system}, as_json), as_json)


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
    redact_key_pattern: Annotated[list[str] | None, typer.Option(
        "--redact-key-pattern", help="Regular expression of key parts that hold patient data "
        "(names, MRNs): replaced by a keyed hash before anything is stored (repeatable; "
        "default: LINEAGE_REDACT_KEY_PATTERNS).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Object created, deleted, tiered, restored and replication events of S3, GCS or Azure,
    as copies of the series their keys hold (or uncataloged copies)."""
    values = {"files": files, "provider": provider, "key_patterns": key_pattern or [],
              "regions": dict(_pair(text, "--region") for text in region or []),
              "state": state, "redact_key_patterns": (
                  redact_key_pattern or cli_context(ctx).settings.redact_key_patterns)}
    print_report(run_source(ctx, "storage-events", values, as_json), as_json)


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
    values = {"files": files, "system": system,
              "issuers": dict(_pair(text, "--issuer") for text in issuer or [])}
    print_report(run_source(ctx, "fhir", values, as_json), as_json)


@app.command("openlineage")
def ingest_openlineage(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="RunEvent JSON or ndjson files.")],
    as_json: JsonOption = False,
) -> None:
    """OpenLineage RunEvents: jobs, runs, and the datasets and series they read and wrote."""
    print_report(run_source(ctx, "openlineage", {"files": files}, as_json), as_json)


SystemMapOption = Annotated[Path | None, typer.Option(
    "--system-map", help="YAML mapping AE titles or host names to system codes "
                         "(PACS_A: PACS-A); the estate's ae_titles and hosts also count.")]


@app.command("atna")
def ingest_atna(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Files of DICOM audit messages (XML, one "
                                                     "or many <AuditMessage> per file).")],
    system_map: SystemMapOption = None,
    as_json: JsonOption = False,
) -> None:
    """IHE ATNA audit messages replayed from files: transfers, exports and imports become
    copies, study deletions dispose copies (see `lineage listen atna` for the live feed)."""
    print_report(run_source(ctx, "atna", {"files": files, "system_map": system_map}, as_json),
                 as_json)
