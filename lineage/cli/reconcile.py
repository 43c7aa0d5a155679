"""`lineage reconcile <source>`: compare what a system holds with what the graph believes."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import AsOfOption, print_json, stdout
from lineage.errors import UserError

SWEEP_HELP = ("The listing is everything the system holds: copies the graph believes live that "
              "it lacks are disposed (reason 'not found on rescan'), never deleted.")

app = typer.Typer(help="Compare a system's holdings with the graph.", no_args_is_help=True)


@app.command("dicomweb")
def reconcile_dicomweb(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="DICOMweb root, e.g. http://pacs:8042/dicom-web")],
    system: Annotated[str, typer.Option("--system", help="Code of the system behind the URL.")],
    max_results: Annotated[int | None, typer.Option(
        min=1, help="The server's cap on one query's answers, when it cuts them without saying "
        "so (Orthanc: LimitFindResults): studies are then listed by study-date windows, halved "
        "when answered in full.")] = None,
    since: Annotated[str, typer.Option(help="With --max-results: earliest study date asked "
                                       "(YYYY-MM-DD).")] = "1990-01-01",
    window_days: Annotated[int, typer.Option(
        min=1, help="With --max-results: days of study dates per query.")] = 365,
    sweep: Annotated[bool, typer.Option("--sweep", help=SWEEP_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """QIDO-RS study and series listing against the graph: lost copies (the graph believes
    live, the PACS does not return), uncataloged series, instance-count mismatches. Exits 1 when
    anything disagrees."""
    from lineage.sources import RECONCILERS_GROUP, load_plugin

    first = _since(since)
    context = cli_context(ctx)
    store = context.store_for_writing() if sweep else context.store()
    result = load_plugin(RECONCILERS_GROUP, "dicomweb")(
        store, url, system, sweep, max_results=max_results, since=first, window_days=window_days)
    _print_listing(result, system, as_json)


def _since(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since {text!r} is not a date (YYYY-MM-DD)") from None


@app.command("dimse")
def reconcile_dimse(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="The archive's DICOM service, HOST:PORT.")],
    system: Annotated[str, typer.Option("--system", help="Code of the system behind it.")],
    calling_ae: Annotated[str, typer.Option("--calling-ae", help="Our AE title.")
                          ] = "IMAGE-LINEAGE",
    called_ae: Annotated[str, typer.Option("--called-ae", help="The archive's AE title.")
                         ] = "ANY-SCP",
    since: Annotated[str, typer.Option(help="Earliest study date asked (YYYY-MM-DD).")
                     ] = "1990-01-01",
    window_days: Annotated[int, typer.Option(
        min=0, help="Days of study dates per C-FIND (0: one query for everything, which also "
        "finds studies without a date).")] = 365,
    max_results: Annotated[int, typer.Option(
        min=1, help="Answers at which a window is taken as cut by the archive and halved (a "
        "window the archive ends with a Cancel or out-of-resources status is too).")
                           ] = 1000,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per network step.")] = 30.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries when the network fails.")] = 2,
    record: Annotated[bool, typer.Option("--ingest", help="Record what the archive holds as "
                                         "observed copies.")] = False,
    sweep: Annotated[bool, typer.Option("--sweep", help=SWEEP_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """DICOM C-FIND (Study Root, study then series level, paged by study date) against the
    graph: lost copies, uncataloged series, instance-count mismatches, as for DICOMweb. A C-ECHO
    first says clearly when the archive refuses us. Exits 1 when anything disagrees."""
    from lineage.sources import RECONCILERS_GROUP, load_plugin

    first = _since(since)
    target = load_plugin(RECONCILERS_GROUP, "dimse-target")(address, calling_ae, called_ae,
                                                            timeout, retries)
    context = cli_context(ctx)
    store = context.store_for_writing() if (sweep or record) else context.store()
    result = load_plugin(RECONCILERS_GROUP, "dimse")(
        store, target, system, since=first, window_days=window_days, max_results=max_results,
        record=record, sweep=sweep)
    _print_listing(result, system, as_json)


def _print_listing(result: dict[str, Any], system: str, as_json: bool) -> None:
    """A reconciliation of a PACS listing (DICOMweb, DIMSE); exits 1 when anything disagrees."""
    if as_json:
        print_json(result)
    else:
        stdout.print(f"{system} at {result['url']}: {result['pacs_series']} series in the "
                     f"PACS, {result['graph_copies']} live copies in the graph", markup=False)
        for label, name in (("lost", "lost"), ("uncataloged", "uncataloged"),
                            ("instance count mismatch", "instance_count_mismatch")):
            stdout.print(f"{label}: {len(result[name])}")
            for entry in result[name][:50]:
                stdout.print(f"  {entry['key']}", markup=False)
        incomplete = result.get("incomplete", [])
        if incomplete:  # lost copies may only be what the archive left out of its answers
            stdout.print(f"incomplete: {len(incomplete)} queries the archive cut (their lost "
                         "copies may be held still)")
            for entry in incomplete[:50]:
                stdout.print(f"  {entry['query']}: {entry['why']}", markup=False)
        _print_sweep(result)
    if (result["lost"] or result["uncataloged"] or result["instance_count_mismatch"]
            or result.get("incomplete")):
        raise typer.Exit(1)


def _print_sweep(result: dict[str, object]) -> None:
    if "sweep" in result:
        sweep = result["sweep"]
        assert isinstance(sweep, dict)
        stdout.print(f"sweep: {sweep['disposed']} copies disposed", markup=False)


@app.command("s3-inventory")
def reconcile_s3_inventory(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="The inventory's manifest.json (data files "
                                             "beside it).")],
    key_pattern: Annotated[list[str] | None, typer.Option(
        "--key-pattern", help="Object key pattern (as for ingest storage-events).")] = None,
    as_of: AsOfOption = None,
    sweep: Annotated[bool, typer.Option("--sweep", help=SWEEP_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """S3 Inventory against the graph: uncataloged copies, lost copies, and Object Lock dates or
    legal holds that disagree with the graph. Exits 1 when anything disagrees."""
    from lineage.sources import RECONCILERS_GROUP, load_plugin

    context = cli_context(ctx)
    store = context.store_for_writing() if sweep else context.store()
    result = load_plugin(RECONCILERS_GROUP, "s3-inventory")(store, manifest, key_pattern or [],
                                                            as_of, sweep)
    if as_json:
        print_json(result)
    else:
        stdout.print(f"{result['system']}: {result['inventory_objects']} objects in the inventory")
        for label in ("uncataloged", "lost", "lock_disagreements"):
            stdout.print(f"{label}: {len(result[label])}")
            for entry in result[label][:50]:
                stdout.print(f"  {entry['key']}  {entry.get('problem', '')}", markup=False)
        _print_sweep(result)
    if result["uncataloged"] or result["lost"] or result["lock_disagreements"]:
        raise typer.Exit(1)
