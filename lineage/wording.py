"""Words for people: counts with the right plural, and long keys cut in the middle so that they
fit a terminal cell without wrapping (the whole key stays in `--json`)."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 metadata conflict`, `2 metadata conflicts`: the count and the right form."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


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
