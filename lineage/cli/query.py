"""`lineage query`: architects' Cypher on the Neo4j store, read-only, with a timeout and a row
cap; or a documented query of the catalogue under queries/catalogue by name."""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any

import typer
from rich.table import Table

from lineage.cli.context import cli_context
from lineage.cli.output import print_json, stdout
from lineage.errors import UserError


def catalogue() -> dict[str, str]:
    """Catalogue query name → its documentation (the leading `//` comment)."""
    found = {}
    for entry in resources.files("queries").joinpath("catalogue").iterdir():
        if entry.name.endswith(".cypher"):
            text = entry.read_text(encoding="utf-8")
            name = entry.name.removesuffix(".cypher")
            doc = " ".join(line[2:].strip() for line in text.splitlines()
                           if line.startswith("//"))
            found[name] = doc.removeprefix(f"{name}:").strip()
    return dict(sorted(found.items()))


def _param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UserError(f"--param {text!r}: write name=value")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


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
    """Run Cypher on the Neo4j store in a read-only transaction (a write clause is refused)."""
    if list_catalogue:
        for query_name, doc in catalogue().items():
            stdout.print(f"{query_name}: {doc}", markup=False)
        return
    if (cypher is None) == (name is None):
        raise UserError("give either Cypher text or --name NAME (see --list)")
    if name is not None:
        if name not in catalogue():
            raise UserError(f"no catalogue query {name!r}; see lineage query --list")
        cypher = resources.files("queries").joinpath("catalogue", f"{name}.cypher").read_text()
    from lineage.store_location import is_neo4j_uri
    from lineage.stores import Neo4jStore

    context = cli_context(ctx)
    if not is_neo4j_uri(context.settings.store):  # said before any store is opened
        raise UserError(f"lineage query runs Cypher on a Neo4j store; {context.settings.store} "
                        "is not one (use --store bolt://...)")
    store = context.store()
    assert isinstance(store, Neo4jStore)
    columns, rows, truncated = store.run_user_query(
        str(cypher), dict(_param(p) for p in params or []), timeout, max_rows)
    if as_json:
        print_json({"columns": columns, "rows": rows, "truncated": truncated,
                    "count": len(rows)})
        return
    table = Table(title=f"{len(rows)} rows" + (" (cut at --max-rows)" if truncated else ""),
                  title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(json.dumps(row[c]) if not isinstance(row[c], str) else row[c]
                        for c in columns))
    stdout.print(table)
