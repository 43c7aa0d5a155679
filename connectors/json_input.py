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
from lineage.sources import FileInputs

Document = tuple[str, Any]
TOO_DEEP = "JSON nested too deeply to be read"


def documents_from_text(text: str, location: str) -> Iterator[Document | Rejected]:
    """One JSON value, or one per non-empty line when the whole is not JSON."""
    try:
        yield location, json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    except RecursionError:
        yield Rejected(location, TOO_DEEP)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield f"{location}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield Rejected(f"{location}:{number}", f"not JSON: {exc.msg}")
            except RecursionError:
                yield Rejected(f"{location}:{number}", TOO_DEEP)


def read_documents(paths: Iterable[Path]) -> Iterator[Document | Rejected]:
    return documents_of(FileInputs(files=list(paths)).texts())


def documents_of(texts: Iterable[tuple[str, str] | Rejected]) -> Iterator[Document | Rejected]:
    """The JSON documents of texts (files or request bodies, as `FileInputs.texts` gives)."""
    for item in texts:
        if isinstance(item, Rejected):
            yield item
        else:
            yield from documents_from_text(item[1], item[0])


def items_of(documents: Iterable[Document | Rejected]) -> Iterator[Document | Rejected]:
    """Each item of a document that is a JSON list (at `location#index`), each other document
    whole: for inputs that hold one object or a list of them."""
    for item in documents:
        if isinstance(item, Rejected) or not isinstance(item[1], list):
            yield item
            continue
        location, document = item
        for index, entry in enumerate(document):
            yield f"{location}#{index}", entry
