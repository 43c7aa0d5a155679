"""`lineage export`: an auditor's copy of the graph, with a manifest of hashes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import print_json, stdout


def export_command(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="graphml | node-link | prov-json | html")
                       ] = "graphml",
    scope: Annotated[str | None, typer.Option(help="Export only the lineage of this key.")
                     ] = None,
    depth: Annotated[int, typer.Option(min=0, max=50, help="Steps around the scope.")] = 3,
    max_nodes: Annotated[int | None, typer.Option(
        min=1, help="Nodes a scope may reach (100,000 if not given); one more and the export "
        "is refused.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write FILE and FILE.manifest.json (SHA-256, counts, time, source store, engine version).
    GraphML and node-link files open again as read-only stores: --store FILE; html is one
    self-contained page (picture, tables, as-of, policy, data hash) that needs no network."""
    from lineage.export import export

    manifest = export(cli_context(ctx).store(), fmt, output, scope, depth,
                      max_nodes=max_nodes)
    if as_json:
        print_json(manifest)
        return
    nodes = sum(manifest["nodes_by_kind"].values())
    edges = sum(manifest["edges_by_type"].values())
    stdout.print(f"wrote {output} ({fmt}, {nodes:,} nodes, {edges:,} edges, sha256 "
                 f"{manifest['sha256'][:16]}...) and {output.name}.manifest.json", markup=False)
