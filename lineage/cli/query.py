"""`lineage query`: architects' Cypher on the Neo4j store, read-only, with a timeout and a row
cap; or a documented query of the catalogue under queries/catalogue by name."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from lineage.cli.context import CliContext, cli_context
from lineage.cli.output import print_json, show_rows, stdout
from lineage.errors import UserError
from lineage.wording import plural


def _param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UserError(f"--param {text!r}: write name=value")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def _run_catalogue(context: CliContext, name: str, given: dict[str, Any],
                   max_rows: int) -> tuple[list[str], list[dict[str, Any]], bool]:
    """A catalogue query on either store (Cypher on Neo4j, its NetworkX twin locally)."""
    from queries.catalogue import run_catalogue

    rows = run_catalogue(context.store(), name, given)
    columns = list(rows[0]) if rows else []
    return columns, rows[:max_rows], len(rows) > max_rows


def _run_cypher(context: CliContext, cypher: str, given: dict[str, Any], timeout: float,
                max_rows: int) -> tuple[list[str], list[dict[str, Any]], bool]:
    from lineage.store_location import is_neo4j_uri
    from lineage.stores import Neo4jStore

    if not is_neo4j_uri(context.settings.store):  # said before any store is opened
        raise UserError(f"lineage query runs Cypher on a Neo4j store; {context.settings.store} "
                        "is not one (use --store bolt://..., or --name for the catalogue, "
                        "which runs on every store)")
    store = context.store()
    assert isinstance(store, Neo4jStore)
    return store.run_user_query(cypher, given, timeout, max_rows)


def query_command(
    ctx: typer.Context,
    cypher: Annotated[str | None, typer.Argument(help="Cypher to run (read-only).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Run a catalogue query.")] = None,
    params: Annotated[list[str] | None, typer.Option(
        "--param", help="name=value (JSON values parsed: --param depth=3)")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds before it is stopped.")
                       ] = 30.0,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows returned at most.")] = 1000,
    list_catalogue: Annotated[bool, typer.Option("--list", help="List the catalogue.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Run Cypher on the Neo4j store in a read-only transaction (a write clause is refused), or
    a catalogue query by name on either store."""
    if list_catalogue:
        from queries.catalogue import describe

        for query_name, doc in describe().items():
            stdout.print(f"{query_name}: {doc}", markup=False)
        return
    if (cypher is None) == (name is None):
        raise UserError("give either Cypher text or --name NAME (see --list)")
    given = dict(_param(p) for p in params or [])
    context = cli_context(ctx)
    if name is not None:
        columns, rows, truncated = _run_catalogue(context, name, given, max_rows)
    else:
        columns, rows, truncated = _run_cypher(context, str(cypher), given, timeout, max_rows)
    if as_json:
        print_json({"columns": columns, "rows": rows, "truncated": truncated,
                    "count": len(rows)})
        return
    title = plural(len(rows), "row") + (" (cut at --max-rows)" if truncated else "")
    show_rows(title, columns, [[row[c] if isinstance(row[c], str) else json.dumps(row[c])
                                for c in columns] for row in rows], cap=max_rows,
              counted=False)
