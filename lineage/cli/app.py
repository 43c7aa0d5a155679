"""The root of the `lineage` command: global options, error handling, and the reporting commands.

Exit codes: 0 done; 1 done, but some records were rejected (see the report) or the store failed;
2 the command line, a file or the settings are wrong, or the store cannot be reached (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from lineage import __version__
from lineage.cli import backfill, export, impact, ingest, listen, query, reconcile, retention
from lineage.cli.context import CliContext, cli_context
from lineage.cli.output import print_counts, print_json, show_rows, stderr, stdout
from lineage.errors import (
    LineageError,
    SourceUnavailableError,
    StoreUnavailableError,
    UserError,
    one_line,
)
from lineage.wording import plural

app = typer.Typer(
    name="lineage",
    help="Lineage of medical images: where every copy is, under which retention, "
    "and what depends on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(ingest.app, name="ingest")
app.add_typer(reconcile.app, name="reconcile")
app.add_typer(listen.app, name="listen")
app.add_typer(retention.app, name="retention")
app.command("holds")(retention.holds)
app.command("decommission")(impact.decommission_command)
app.command("trace")(impact.trace_command)
app.command("export")(export.export_command)
app.command("query")(query.query_command)
app.command("backfill")(backfill.backfill_command)
app.command("warm")(backfill.warm_command)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _version(value: bool) -> None:
    if value:
        stdout.print(f"lineage {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option("--store", help="A local store file, or a bolt:// / neo4j:// URI. "
                     "Env: LINEAGE_STORE; default: lineage.db in the working directory."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Records per write batch.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    from lineage.settings import load_settings

    settings = load_settings(store=store, batch_size=batch_size)
    settings.pseudonym_secret()  # refuses a placeholder key outside development, before any work
    context = CliContext(settings)
    ctx.obj = context
    ctx.call_on_close(context.close)


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Counts of nodes by kind and edges by type."""
    context = cli_context(ctx)
    result = context.store().stats()
    if as_json:
        print_json({"store": context.settings.store, "nodes": result.nodes, "edges": result.edges,
                    "conflicts": result.conflicts, "unresolved": result.unresolved})
        return
    stdout.print(f"store: {context.settings.store}")
    print_counts("Nodes", result.nodes, "kind")
    print_counts("Edges", result.edges, "type")
    stdout.print(f"metadata conflicts: {result.conflicts:,}   "
                 f"unresolved references: {result.unresolved:,}")


@app.command("sources")
def sources_command(as_json: JsonOption = False) -> None:
    """The registered connectors (entry points `image_lineage.sources`): `lineage ingest KIND`."""
    from lineage.sources import describe_sources

    found = describe_sources()
    if as_json:
        print_json({"sources": found})
        return
    for source in found:
        stdout.print(f"{source['kind']:<16} {source['summary']}  ({source['target']})",
                     markup=False)


@app.command()
def conflicts(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Metadata conflicts: properties that two sources report differently."""
    found = cli_context(ctx).store().conflicts()
    if as_json:
        print_json({"conflicts": [c.as_dict() for c in found], "count": len(found)})
        return
    show_rows(plural(len(found), "metadata conflict"),
              ["element", "property", "kept (source)", "reported (source)", "source's time",
               "engine learned it"],
              [(c.element, c.property, f"{c.current_value} ({c.current_source})",
                f"{c.reported_value} ({c.reported_source})", c.last_seen,
                c.recorded_at or "not recorded")
               for c in found], counted=False)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) over the configured store."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(cli_context(ctx).settings), host=host, port=port, log_level="info")


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Folder for the demo's inputs, store and export "
                                         "(emptied first).")] = Path("lineage-demo"),
    orthanc: Annotated[str, typer.Option(
        help="REST URL of a demo Orthanc: when one answers, the PACS's files are stored in it "
        "and reconciled over DICOM C-FIND.")] = "http://127.0.0.1:8042",
) -> None:
    """Build a realistic estate from generated DICOM files and an estate file, through the same
    commands users run, and print its decommission, retention, cross-region and trace reports."""
    from lineage.demo import run_demo

    status = run_demo(folder.resolve(), lambda text: stdout.print(text, markup=False,
                                                                  highlight=False, soft_wrap=True),
                      run_in_process, orthanc=orthanc.rstrip("/"))
    if status:
        raise typer.Exit(status)


def run_in_process(argv: list[str]) -> int:
    """Run one command line here, as `lineage` would in a process of its own; its exit status."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def summaries_on_one_line(group: typer.Typer) -> None:
    """Each command's summary in a listing is its docstring's first sentence on one line (Typer
    keeps the docstring's line breaks there, so listings broke mid-sentence); `--help` of the
    command has the whole text."""
    for command in group.registered_commands:
        if command.short_help is None and command.callback is not None:
            text = inspect.cleandoc(command.help or command.callback.__doc__ or "")
            paragraph = " ".join(text.split("\n\n")[0].split())
            command.short_help = paragraph.split(". ", 1)[0].rstrip(".") + "."
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            summaries_on_one_line(sub.typer_instance)


summaries_on_one_line(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. Typer handles usage errors (exit 2) and exits; engine errors become
    one line on stderr and an exit code, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="lineage: %(levelname)s: %(message)s")
    try:
        app(args=argv, prog_name="lineage")
    except (UserError, StoreUnavailableError, SourceUnavailableError) as exc:
        stderr.print(f"lineage: error: {one_line(exc)}", markup=False, soft_wrap=True)
        sys.exit(2)
    except LineageError as exc:
        stderr.print(f"lineage: error: {one_line(exc)}", markup=False, soft_wrap=True)
        sys.exit(1)
