"""`lineage reconcile <source>`: compare what a system holds with what the graph believes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import AsOfOption, print_json, stdout

SWEEP_HELP = ("The listing is everything the system holds: copies the graph believes live that "
              "it lacks are disposed (reason 'not found on rescan'), never deleted.")

app = typer.Typer(help="Compare a system's holdings with the graph.", no_args_is_help=True)


@app.command("dicomweb")
def reconcile_dicomweb(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="DICOMweb root, e.g. http://pacs:8042/dicom-web")],
    system: Annotated[str, typer.Option("--system", help="Code of the system behind the URL.")],
    sweep: Annotated[bool, typer.Option("--sweep", help=SWEEP_HELP)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """QIDO-RS study and series listing against the graph: lost copies (the graph believes
    live, the PACS does not return), uncataloged series, instance-count mismatches. Exits 1 when
    anything disagrees."""
    from lineage.sources import RECONCILERS_GROUP, load_plugin

    context = cli_context(ctx)
    store = context.store_for_writing() if sweep else context.store()
    result = load_plugin(RECONCILERS_GROUP, "dicomweb")(store, url, system, sweep)
    if as_json:
        print_json(result)
    else:
        stdout.print(f"{system} at {url}: {result['pacs_series']} series in the PACS, "
                     f"{result['graph_copies']} live copies in the graph")
        for label, name in (("lost", "lost"), ("uncataloged", "uncataloged"),
                            ("instance count mismatch", "instance_count_mismatch")):
            stdout.print(f"{label}: {len(result[name])}")
            for entry in result[name][:50]:
                stdout.print(f"  {entry['key']}", markup=False)
        _print_sweep(result)
    if result["lost"] or result["uncataloged"] or result["instance_count_mismatch"]:
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
