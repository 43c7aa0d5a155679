"""Words for people: counts with the right plural, and long keys cut in the middle so that they
fit a terminal cell without wrapping (the whole key stays in `--json`)."""

from __future__ import annotations

import json
from typing import Any


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 metadata conflict`, `2 metadata conflicts`: the count and the right form."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def cell_text(value: Any) -> str:
    """A report value as table text: lists by their items' keys, objects as JSON, None empty."""
    if isinstance(value, list):
        return ", ".join(str(v.get("key", v)) if isinstance(v, dict) else str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def middle_cut(text: str, width: int) -> str:
    """`text` if it fits in `width` characters, else its start and end around a `…`, so that
    the kind and the distinguishing end of a key both stay visible."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1 + 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def quoted_key(key: str, width: int = 160) -> str:
    """A key as an error message quotes it: whole when short, else cut in the middle with its
    length, so that a hostile 100 KB key never comes back 100 KB long."""
    if len(key) <= width:
        return repr(key)
    return f"{middle_cut(key, width)!r} ({len(key):,} characters)"


def holdings_sentence(holdings: dict[str, Any]) -> str:
    """What a system holds (a decommission report's `holdings`), and how many of those series or
    studies each other system holds too: a ready verdict says why it is ready."""
    copies, items = holdings["copies"], holdings["items"]
    if not copies:
        return "It holds no live copies."
    held = (f"It holds {plural(copies, 'live copy', 'live copies')} of "
            f"{plural(items, 'series or study', 'series or studies')}")
    if not holdings["elsewhere"]:
        return held + "; none of them is held anywhere else."
    return held + "; also held in " + ", ".join(
        f"{row['system']} ({row['items']:,} of {items:,})" for row in holdings["elsewhere"]) + "."
