"""JSON inputs of connectors: files holding one JSON value, or JSON lines (ndjson).

Each document comes with its location (`file`, or `file:line` for JSON lines); what cannot be
read or parsed comes as `Rejected` with the reason, and the rest goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lineage.pipeline import Rejected

Document = tuple[str, Any]


def documents_from_text(text: str, location: str) -> Iterator[Document | Rejected]:
    """One JSON value, or one per non-empty line when the whole is not JSON."""
    try:
        yield location, json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{location}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield Rejected(f"{location}:{number}", f"not JSON: {exc.msg}")


def read_documents(paths: Iterable[Path]) -> Iterator[Document | Rejected]:
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            yield Rejected(str(path), f"cannot read ({exc.strerror})")
            continue
        yield from documents_from_text(text, str(path))
