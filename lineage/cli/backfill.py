"""The commands that work on a Neo4j home's files: `lineage backfill PLAN…`, a first load
through the offline importer, and `lineage warm`, its store read into the OS file cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import print_json, progress, stderr, stdout
from lineage.errors import UserError
from lineage.memory import size_text
from lineage.warm import WarmReport, parse_size, warm
from lineage.wording import plural


def backfill_command(
    ctx: typer.Context,
    plans: Annotated[list[Path], typer.Argument(help="Plan files (YAML): the sources to load, "
                                                "in order.")],
    neo4j_home: Annotated[Path, typer.Option("--neo4j-home", help="The Neo4j home whose "
                                             "database is written (its server stopped).")],
    database: Annotated[str, typer.Option(help="The database to create.")] = "neo4j",
    overwrite: Annotated[bool, typer.Option(help="Replace the database if it exists.")] = False,
    start_with: Annotated[str | None, typer.Option(
        "--start-with", help="A command that starts the server after the import (run with "
        "NEO4J_HOME set to the home); without it, the server is waited for.")] = None,
    wait: Annotated[float, typer.Option(min=0, help="Seconds to wait for the server after "
                                        "the import.")] = 300.0,
    work: Annotated[Path | None, typer.Option(help="Folder for the import files (default: "
                                              "<home>/backfill-<database>).")] = None,
    writers: Annotated[int | None, typer.Option(
        min=1, help="Processes that write the import files at once (default: "
        "one per core); each more uses more memory (README).")] = None,
    memory_floor: Annotated[str | None, typer.Option(
        "--memory-floor", help="Stop staging, with an error and nothing written, when the "
        "memory left on this machine falls below this (e.g. 2g; 0: never). Default: a tenth "
        "of the machine's memory, 1 GiB at least.")] = None,
    keep_files: Annotated[bool, typer.Option(
        "--keep-files", help="Keep the CSV files after the import (removed by default; the "
        "import's log and report stay).")] = False,
    disk_check: Annotated[bool, typer.Option(
        "--disk-check/--no-disk-check", help="Before writing the files, refuse when the free "
        "space of their disk and the store's is less than the estimate of both.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Load an empty Neo4j database through its offline importer, with `ingest`'s merge rules.

    The same connectors and merge rules as `lineage ingest` (conflicts, provenance), staged in
    memory, written as CSV and imported by `neo4j-admin database import full`; then the server
    is started (or waited for) and the store's constraints and indexes are created. The store
    (--store) must be the bolt:// URI of the server of --neo4j-home. Use it for a first load;
    `ingest` keeps the database current afterwards.
    """
    from lineage.backfill import Target, backfill
    from lineage.backfill.import_files import MAX_WRITERS, default_writers
    from lineage.backfill.plan import load_plan, plan_sources
    from lineage.store_location import is_neo4j_uri

    context = cli_context(ctx)
    settings = context.settings
    if not is_neo4j_uri(settings.store):
        raise UserError(f"backfill loads Neo4j: --store must be the server's bolt:// or neo4j:// "
                        f"URI, not {settings.store}")
    if writers is not None and writers > MAX_WRITERS:
        raise UserError(f"--writers: at most {MAX_WRITERS}, not {writers}")
    configured = [entry for plan in plans for entry in load_plan(plan)]
    target = Target(home=neo4j_home.resolve(), uri=settings.store, database=database,
                    auth=settings.neo4j_auth(), overwrite=overwrite, start_with=start_with,
                    wait_seconds=wait, work=work.resolve() if work else None,
                    writers=writers or default_writers(),
                    memory_floor=None if memory_floor is None
                    else parse_size(memory_floor, "--memory-floor"), keep_files=keep_files,
                    disk_check=disk_check)
    sources = plan_sources(configured, settings.pseudonym_secret(), target.folder / "state",
                           settings.batch_size,
                           lambda label: progress(label, enabled=not as_json))
    say = (lambda text: None) if as_json else (
        lambda text: stderr.print(f"backfill: {text}", markup=False, soft_wrap=True))
    report = backfill(sources, target, say=say)
    if as_json:
        print_json(report.as_dict())
    else:
        seconds = report.seconds
        stdout.print(
            f"backfilled {report.records:,} records into {database!r} at {target.home}: "
            f"{report.nodes:,} nodes, {report.relationships:,} relationships, "
            f"{plural(report.conflicts, 'metadata conflict')}, in {seconds['total']:.1f} s "
            f"(stage {seconds['stage']:.1f} s, files {seconds['files']:.1f} s, import "
            f"{seconds['import']:.1f} s, finish {seconds['finish']:.1f} s)", markup=False)
        for run in report.runs:
            for rejected in run.rejected[:20]:
                stdout.print(f"rejected {rejected.location}: {rejected.reason}", markup=False)
    if report.rejected:
        raise typer.Exit(1)


def warm_command(
    neo4j_home: Annotated[Path, typer.Option("--neo4j-home", help="The Neo4j home whose "
                                             "database is read (the server may run).")],
    database: Annotated[str, typer.Option(help="The database to read.")] = "neo4j",
    budget: Annotated[str | None, typer.Option(
        help="At most this much is read (e.g. 12g); default: the memory available, less the "
        "page cache and heap the home's neo4j.conf sets and a tenth of the memory.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Read a Neo4j database's store files into the OS file cache (record stores and indexes
    first), so that the first queries after a start and a new index's build do not wait on the
    disk."""
    home = neo4j_home.resolve()
    limit = None if budget is None else parse_size(budget, "--budget")
    say = (lambda text: None) if as_json else (
        lambda text: stderr.print(f"warm: {text}", markup=False, soft_wrap=True))
    report = warm(home, database, limit, say=say)
    if as_json:
        print_json(report.as_dict())
    else:
        _print_warmed(report, database, home)
    if report.unreadable:
        raise typer.Exit(1)


def _print_warmed(report: WarmReport, database: str, home: Path) -> None:
    stdout.print(
        f"read {size_text(report.read_bytes)} of {size_text(report.store_bytes)} of "
        f"{database!r} at {home} into the file cache in {report.seconds:.1f} s "
        f"({report.mib_per_s:.0f} MiB/s; budget {size_text(report.budget)}): "
        f"{plural(report.files_read, 'file')} whole, {len(report.partial)} in part, "
        f"{len(report.skipped)} left out"
        + (f", {len(report.unreadable)} unreadable" if report.unreadable else ""),
        markup=False, soft_wrap=True)
    for name in report.partial + report.skipped:
        stdout.print(f"not whole: {name}", markup=False)
    for problem in report.unreadable:
        stdout.print(f"not read: {problem}", markup=False)
