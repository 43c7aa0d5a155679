"""`lineage decommission` and `lineage trace`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import (
    AsOfOption,
    LimitOption,
    OffsetOption,
    print_json,
    show_rows,
    stdout,
)
from lineage.wording import holdings_sentence

if TYPE_CHECKING:
    from lineage.impact import Direction

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def decommission_command(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="Code of the system to switch off.")],
    as_of: AsOfOption = None,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Readiness report for switching a system off: verdict, what must be migrated, what may be
    disposed, what depends on it, access to revoke, lineage gaps. Exits 1 when blocked."""
    from lineage.impact import decommission

    report = decommission(cli_context(ctx).store(), code, as_of, offset=offset, limit=limit)
    if as_json:
        print_json(report)
    else:
        _print_decommission(report)
    if report["verdict"] == "blocked":
        raise typer.Exit(1)


def _print_decommission(report: dict[str, Any]) -> None:
    for warning in report.get("warnings", []):
        stdout.print(f"[bold red]warning[/]: {warning}")
    colour = "green" if report["verdict"] == "ready" else "red"
    stdout.print(f"[bold {colour}]{report['verdict'].upper()}[/]: decommissioning "
                 f"{report['system']} as of {report['as_of']}")
    for reason in report["reasons"]:
        stdout.print(f"  - {reason}", markup=False)
    stdout.print("  " + holdings_sentence(report["holdings"]), markup=False)
    sections: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
        ("Must migrate", "must_migrate", lambda r: f"{r['reason']}; copies: "
                                                   f"{', '.join(r['copies'])}"),
        ("May dispose", "may_dispose", lambda r: f"retained until {r['retain_until']}"),
        ("Depends on it downstream", "downstream", lambda r: "via " + ", ".join(r["via"])),
        ("Access profiles to revoke", "access_profiles",
         lambda r: f"{r['role']}: {', '.join(r['actions'] or [])}"),
        ("Lineage gaps", "lineage_gaps", lambda r: "; ".join(r["reasons"])),
    ]
    for title, name, describe in sections:
        stdout.print()
        show_rows(title, ["key", "why"],
                  [(row["key"], describe(row)) for row in report[name]])
    if report["truncated"]:
        stdout.print("\n(lists cut to a page: see --offset, --limit, --json)")


def trace_command(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Key of the node to trace from.")],
    direction: Annotated[str, typer.Option(help="up (sources), down (dependents), or both.")
                         ] = "down",
    depth: Annotated[int, typer.Option(min=0, max=50, help="Levels to expand.")] = 3,
    as_of: AsOfOption = None,
    fanout: Annotated[int, typer.Option(min=1, help="Edges followed per node at most.")] = 100,
    max_nodes: Annotated[int, typer.Option(min=1, help="Nodes in the result at most.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Lineage of a node, breadth-first: root, nodes, edges, and whether a cap cut it."""
    from lineage.impact import trace

    result = trace(cli_context(ctx).store(), key, _direction(direction), depth, as_of,
                   fanout=fanout, max_nodes=max_nodes)
    if as_json:
        print_json(result)
        return
    stdout.print(f"trace {result['direction']} from {result['root']} (depth {result['depth']}, "
                 f"as of {result['as_of']}): {len(result['nodes'])} nodes, "
                 f"{len(result['edges'])} edges" + (", TRUNCATED" if result["truncated"] else ""),
                 markup=False)
    for edge in result["edges"]:
        stdout.print(f"  {edge['from']} -[{edge['type']}]-> {edge['to']}", markup=False)


def _direction(text: str) -> Direction:
    if text not in ("up", "down", "both"):
        raise typer.BadParameter("up, down or both", param_hint="--direction")
    return text  # type: ignore[return-value]
