"""Printing: human tables with rich on stdout, `--json` for machines, progress on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table


def _console(to_stderr: bool = False) -> Console:
    """A console; when piped (not a terminal, no COLUMNS) it is wide, so keys stay on one line."""
    console = Console(stderr=to_stderr, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=to_stderr, highlight=False, width=240)
    return console


stdout = _console()
stderr = _console(to_stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def counts_table(title: str, counts: Mapping[str, int], label: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label)
    table.add_column("count", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    if not counts:
        table.add_row("(none)", "0")
    return table


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
