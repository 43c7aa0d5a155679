"""`lineage ingest <source>`: run a connector through the pipeline and print the run report."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import counts_table, print_json, progress, stdout
from lineage.estate import estate_records, load_estate
from lineage.pipeline import Pipeline, Record, RunReport

app = typer.Typer(help="Bring facts into the graph from a source.", no_args_is_help=True)


def run_pipeline(
    ctx: typer.Context, records: Iterable[Record], source: str, as_json: bool
) -> RunReport:
    """Run records through the pipeline into the configured store, with a progress counter."""
    context = cli_context(ctx)
    with progress(f"ingesting {source}", enabled=not as_json) as advance:
        pipeline = Pipeline(context.store_for_writing(), context.settings.batch_size, advance)
        return pipeline.run(records, source)


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
        if written.conflicts:
            stdout.print(f"{len(written.conflicts)} metadata conflicts: see `lineage conflicts`")
        for rejected in report.rejected:
            stdout.print(f"[red]rejected[/red] {rejected.location}: {rejected.reason}",
                         markup=True)
    if report.rejected:
        raise typer.Exit(1)


@app.command("estate")
def ingest_estate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Estate declaration (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Declare systems, feeds, datasets, access profiles and compliance events from a YAML file."""
    context = cli_context(ctx)
    estate = load_estate(file)
    source = f"estate:{file.name}"
    records = estate_records(estate, source, context.settings.pseudonym_secret())
    print_report(run_pipeline(ctx, records, source, as_json), as_json)
