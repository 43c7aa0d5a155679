"""Printing: human tables with rich on stdout, `--json` for machines, progress on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from lineage.wording import cell_text, middle_cut

AS_OF_HELP = ("A date (the end of that day) or a time (2026-11-30T14:00:00Z, any UTC offset); "
              "default: now.")
AsOfOption = Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)]
LimitOption = Annotated[int | None, typer.Option(min=1, help="Items per list (a page).")]
OffsetOption = Annotated[int, typer.Option(min=0, help="Items of each list to skip.")]


def _console(to_stderr: bool = False) -> Console:
    """A console; when piped (not a terminal, no COLUMNS) lines are never wrapped, so that keys
    stay whole for grep and cut."""
    console = Console(stderr=to_stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=to_stderr, highlight=False, width=100_000)
    return console


stdout = _console()
stderr = _console(to_stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def print_counts(title: str, counts: Mapping[str, int], label: str) -> None:
    show_rows(title, [label, "count"],
              [(name, f"{count:,}") for name, count in sorted(counts.items())],
              right={"count"}, counted=False)


def show_rows(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
              right: Collection[str] = (), cap: int = 200, counted: bool = True) -> None:
    """A table under `title: N` (`title: none` when there are no rows, and no table). In a
    terminal, columns share its width: the widest give way first, and a key (any token without
    spaces) longer than its column is cut in the middle, never wrapped (`--json` has it whole).
    Piped: plain aligned text, no box lines, nothing cut."""
    if not rows:
        stdout.print(f"{title}: none", markup=False)
        return
    terminal = stdout.is_terminal or "COLUMNS" in os.environ
    texts = [[cell_text(value) for value in row] for row in rows[:cap]]
    widths = _shares(columns, texts, stdout.width) if terminal else None
    table = Table(box=box.SIMPLE_HEAD if terminal else None, show_edge=False, pad_edge=False)
    for index, column in enumerate(columns):
        keys_only = all(" " not in row[index] for row in texts)  # kept on one line, cut
        table.add_column(column, justify="right" if column in right else "left",
                         width=widths[index] if widths and keys_only else None,
                         no_wrap=keys_only)
    for row in texts:
        table.add_row(*(Text(_fit(cell, widths[i]) if widths else cell)
                        for i, cell in enumerate(row)))
    heading = f"{title}: {len(rows):,}" if counted else title
    stdout.print(Text(heading, style="bold" if terminal else ""))
    stdout.print(table, markup=False)
    if len(rows) > cap:
        stdout.print(f"... {len(rows) - cap:,} more (see --json)")


def _shares(columns: Sequence[str], texts: list[list[str]], width: int) -> list[int]:
    """Each column's width: its longest token (or heading), the widest cut first until the row
    fits the terminal, none below 12."""
    widths = [max([len(column), *(len(token) for row in texts for token in row[i].split())])
              for i, column in enumerate(columns)]
    room = width - 3 * (len(columns) - 1) - 1  # a blank line and two pads between columns
    while sum(widths) > room and max(widths) > 12:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    return widths


def _fit(cell: str, width: int) -> str:
    return " ".join(middle_cut(token, width) for token in cell.split(" "))


@contextmanager
def progress(description: str, enabled: bool) -> Iterator[Any]:
    """A rich progress counter on stderr; yields a callback taking the number of records done."""
    if not enabled or not stderr.is_terminal:
        yield None
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), console=stderr, transient=True)
    with bar:
        task = bar.add_task(description, total=None)
        yield lambda done: bar.advance(task, done)
