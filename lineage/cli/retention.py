"""`lineage retention ...` and `lineage holds`: apply a policy, and the compliance reports."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from lineage.cli.context import cli_context
from lineage.cli.output import (
    AsOfOption,
    LimitOption,
    OffsetOption,
    print_json,
    progress,
    show_rows,
    stderr,
    stdout,
)

app = typer.Typer(help="Retention: apply a policy, drift and cross-region reports.",
                  no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
OVER_RETAINED_COLUMNS = ["key", "retain_until", "rule", "system", "region", "storage_tier",
                         "bytes"]
EXPORT_PAGE = 10_000


@app.command("apply")
def apply(
    ctx: typer.Context,
    policy: Annotated[Path | None, typer.Option(help="Policy file (YAML); default: the pack "
                                                "shipped with the engine.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Compute retain_until for every stored copy (batched), and record the policy as applied."""
    from lineage.retention.apply import apply_retention
    from lineage.retention.policy import load_policy

    loaded = load_policy(policy)
    store = cli_context(ctx).store_for_writing()
    with progress("computing retention", enabled=not as_json) as advance:
        report = apply_retention(store, loaded, progress=advance)
    if as_json:
        print_json(report.as_dict())
        return
    stdout.print(f"policy {report.policy_version}: {report.objects:,} copies, "
                 f"{report.computed:,} computed, {report.unknown:,} unknown, "
                 f"{report.studies:,} studies, {report.seconds:.2f} s")
    for reason, count in sorted(report.unknown_reasons.items(), key=lambda item: -item[1]):
        stdout.print(f"  unknown: {count:,} x {reason}", markup=False)


NO_POLICY_EXIT = 3  # documented: the report ran, but retention is not (all) computed


def _finish(result: dict[str, Any], as_json: bool, body: Callable[[], None]) -> None:
    """Print a report (its warnings first); exit 3 when no policy was ever applied or live
    copies have no retention under it, so that a script cannot read the sections as complete."""
    from lineage.retention.reports import needs_apply

    if as_json:
        print_json(result)
    else:
        for warning in result.get("warnings", []):
            stdout.print(f"[bold red]warning[/]: {warning}")
        body()
    if needs_apply(result):
        raise typer.Exit(NO_POLICY_EXIT)


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    show_rows(title, columns, [[row.get(c) for c in columns] for row in rows])


@app.command("rules")
def rules(
    policy: Annotated[Path | None, typer.Option(help="Policy file; default: the shipped pack.")
                      ] = None,
) -> None:
    """Print a policy's rules and residency as Markdown tables (rule, duration, trigger, source)."""
    from lineage.retention.policy import load_policy, rules_table

    stdout.print(rules_table(load_policy(policy)), markup=False, highlight=False)


@app.command("drift")
def drift(ctx: typer.Context, as_of: AsOfOption = None, as_json: JsonOption = False,
          limit: LimitOption = None, offset: OffsetOption = 0) -> None:
    """Over-retained copies, premature disposals, policy drift between copies, unknowns, and
    what over-retention costs. --limit/--offset page the over-retained copies and the
    policy-drift studies (in key order; the counts and the cost stay over all of them)."""
    from lineage.retention import reports

    reports.as_of_params(as_of)  # a wrong date fails before the store is opened
    result = reports.drift(cli_context(ctx).store(), as_of, offset=offset, limit=limit)

    def body() -> None:
        stdout.print(f"retention drift as of {result['as_of']} "
                     f"(policy {result['policy_version'] or 'never applied'})")
        _table("over-retained", result["over_retained"], OVER_RETAINED_COLUMNS)
        _table("premature disposal", result["premature_disposal"],
               ["key", "disposed_at", "retain_until", "rule", "holds"])
        _table("policy drift", result["policy_drift"], ["key", "copies"])
        _table("unknown", result["unknown"], ["key", "reason"])
        cost = result["cost"]
        stdout.print(f"over-retained: {result['over_retained_count']:,} copies, "
                     f"{cost['bytes']:,} bytes, about {cost['monthly_cost']:,} "
                     f"{cost['currency'] or ''} a month")
        _shown_of(result, "over_retained", "over-retained copies", offset)
        _shown_of(result, "policy_drift", "studies with policy drift", offset)

    _finish(result, as_json, body)


@app.command("over-retained")
def over_retained(
    ctx: typer.Context, as_of: AsOfOption = None, as_json: JsonOption = False,
    limit: LimitOption = None,
    after: Annotated[str, typer.Option(help="Start after this key (the `next` of the page "
                                            "before).")] = "",
) -> None:
    """The over-retained copies alone, in key order, for exports (a page at a time).

    Every one from --after on, read a page at a time (each page costs what its copies cost,
    however deep), one per line (JSON Lines with --json, else tab-separated under a header);
    --limit prints one page, with the key its following page starts after."""
    from lineage.retention import reports

    moment = reports.as_of_params(as_of)["as_of"]  # every page as of the same moment
    store = cli_context(ctx).store()
    if limit is not None:
        one = reports.over_retained(store, as_of, after=after, limit=limit)
        _finish(one, as_json, lambda: _over_retained_page(one))
        return
    first = reports.over_retained(store, moment, after=after, limit=EXPORT_PAGE)
    for warning in first["warnings"]:
        stderr.print(f"[bold red]warning[/]: {warning}")
    page: dict[str, Any] | None = first
    try:
        if not as_json:
            sys.stdout.write("\t".join(OVER_RETAINED_COLUMNS) + "\n")
        while page is not None:
            sys.stdout.writelines(
                (json.dumps(row) if as_json else "\t".join(
                    "" if row[c] is None else str(row[c]) for c in OVER_RETAINED_COLUMNS))
                + "\n" for row in page["copies"])
            after = page["next"]
            page = None if after is None else reports.over_retained(
                store, moment, after=after, limit=EXPORT_PAGE)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    if reports.needs_apply(first):
        raise typer.Exit(NO_POLICY_EXIT)


def _over_retained_page(page: dict[str, Any]) -> None:
    stdout.print(f"over-retained copies as of {page['as_of']} after {page['after']!r}")
    _table("over-retained", page["copies"], OVER_RETAINED_COLUMNS)
    if page["next"] is not None:
        stdout.print(f"(more after {page['next']}: --after {page['next']})", markup=False)


def _shown_of(result: dict[str, Any], section: str, what: str, offset: int) -> None:
    """Say so when a section the store paged shows fewer rows than it has in all."""
    shown, count = len(result[section]), result[f"{section}_count"]
    if shown < count:
        stdout.print(f"({shown:,} of the {count:,} {what} shown, from offset {offset:,}: "
                     "see --offset, --limit, --json)")


@app.command("cross-region")
def cross_region(ctx: typer.Context, as_of: AsOfOption = None, as_json: JsonOption = False,
                 limit: LimitOption = None, offset: OffsetOption = 0) -> None:
    """Studies whose copies in several regions carry different obligations, and copies held
    where their origin's residency rule does not allow. --limit/--offset page both lists (the
    studies in key order, the copies by study then key; the counts stay over all)."""
    from lineage.retention import reports

    reports.as_of_params(as_of)  # a wrong date fails before the store is opened
    result = reports.cross_region(cli_context(ctx).store(), as_of, offset=offset, limit=limit)

    def body() -> None:
        stdout.print(f"cross-region as of {result['as_of']}")
        _table("conflicts", result["conflicts"], ["key", "regions", "copies"])
        _table("residency violations", result["residency_violations"],
               ["key", "study", "origin", "country", "region"])
        _shown_of(result, "conflicts", "studies with conflicts", offset)
        _shown_of(result, "residency_violations", "residency violations", offset)

    _finish(result, as_json, body)


def holds(ctx: typer.Context, as_of: AsOfOption = None, as_json: JsonOption = False) -> None:
    """Active compliance events, what they cover, disposals that broke them, and in-scope
    studies that must be restored from archive tiers first."""
    from lineage.retention import reports

    reports.as_of_params(as_of)  # a wrong date fails before the store is opened
    result = reports.holds(cli_context(ctx).store(), as_of)

    def body() -> None:
        stdout.print(f"compliance events as of {result['as_of']}")
        _table("active", result["holds"], ["key", "type", "started_at", "ended_at", "scope",
                                           "covered", "covered_live"])
        _table("disposals under hold", result["conflicts"], ["key", "hold", "disposed_at"])
        _table("restore needed", result["restore_needed"], ["key", "hold", "copies", "tiers"])

    _finish(result, as_json, body)
